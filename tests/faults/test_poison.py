"""Poison events: an event that always fails is dead-lettered after its retries, and every other
ticket's events flow past it and complete as in a clean run.

Two kinds of poison: a ticket the tracker can never serve (Jira answers 500 to every request about
SS-104), and a rule with a bug that raises on every event of one ticket (SS-103, an onboarding in
full swing). The inbox retries a rule's failure with its backoff (2, 4, 8, 16 s), then sets it aside
as a dead letter and tells the admin channel how to retry it; until then only that ticket's later
events wait behind it. A 500 says Jira is unavailable, which may be an outage: that event is held
without spending attempts (2 s doubling to 60 s between tries) for TICKETBOT_WORKER__OUTAGE_MAX_HOURS,
then dead-lettered.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

import pytest

from bot.config import RuleBlock
from bot.engine import BoundRule, Evaluation, Rule, RuleContext
from bot.inbox.queue import DEAD, DONE
from bot.model import Event, Ticket
from tests.faults.world import World, clean_run, diff, pop_operational_alerts

ATTEMPTS = 5  # TICKETBOT_WORKER__MAX_ATTEMPTS
BACKOFF = [2.0, 4.0, 8.0, 16.0]  # TICKETBOT_WORKER__BACKOFF_BASE = 2, doubling


def _attempt_gaps(world: World, path: str) -> list[float]:
    """Seconds between the bot's successive reads of one issue."""
    times = [t for t, method, p, _ in world.jira.log if method == "GET" and p == path]
    return [(b - a).total_seconds() for a, b in pairwise(times)]


def test_a_ticket_jira_cannot_serve_is_dead_lettered_and_the_rest_completes(tmp_path):
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", outage_max_hours=1) as world:
        def broken(method: str, path: str) -> tuple[int, dict[str, str], str] | None:
            if "/issue/SS-104" in path:
                return 500, {"Content-Type": "application/json"}, '{"errorMessages": ["Internal server error"]}'
            return None

        world.jira.before.append(broken)
        world.run_clean()

        [dead] = world.daemon.inbox.dead_letters()
        assert (dead.ticket_key, dead.kind, dead.attempts) == ("SS-104", "ticket.created", 1)
        assert "HTTP 500" in dead.last_error
        # Held with a backoff, not in a tight loop: one read of SS-104 per try, 2 s doubling to 60 s, for an hour.
        gaps = _attempt_gaps(world, "/rest/api/2/issue/SS-104")
        assert gaps[:5] == pytest.approx([*BACKOFF, 32.0], abs=0.01)
        # (a retry may run up to a second of virtual time after its due moment when the world steps past it)
        assert all(59.9 < gap < 61.5 for gap in gaps[5:]) and 55 < len(gaps) < 65
        # Everything else flowed and completed exactly as in a clean run; SS-104 got nothing.
        assert {r.status for r in world.inbox() if r.ticket_key != "SS-104"} == {DONE}
        alerts = pop_operational_alerts(world)
        assert [a.split(" for ")[0] for a in alerts] == ["jira has been unavailable"] * 2
        assert "dead-lettered" in alerts[1] and "ticketbot dead-letters --all" in alerts[1]
        state = world.state()
        lost = state["tickets"].pop("SS-104")
        expected = {**clean.state, "tickets": {k: v for k, v in clean.state["tickets"].items() if k != "SS-104"}}
        assert diff(expected, state) == []
        assert lost["comments"] == [] and clean.state["tickets"]["SS-104"]["comments"] != []
        assert Counter(world.writes()) == Counter(w for w in clean.writes if "SS-104" not in w[1])


class Exploding(Rule):
    """A rule with a bug: it raises on every event of SS-103."""

    id = "exploding"
    title = "A rule that cannot handle SS-103"
    Config = RuleBlock

    def watched_projects(self, config: RuleBlock) -> set[str]:
        return {"SS", "CS"}

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        if ticket.key == "SS-103":
            raise ZeroDivisionError("poison: this rule cannot handle SS-103")
        return Evaluation.skip([])


def test_a_rule_that_always_raises_on_a_ticket_dead_letters_its_events_without_stopping_anything(tmp_path):
    """The EverBright rule still does its work on SS-103 (on the first attempt; the retries repeat no
    write), the events of SS-103 end as dead letters, everything else completes: Jira ends exactly as
    in a clean run."""
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", extra_rules=[BoundRule(Exploding(), RuleBlock())]) as world:
        world.run_clean()
        dead = world.daemon.inbox.dead_letters()
        assert [(r.ticket_key, r.kind, r.attempts) for r in dead] == [
            ("SS-103", "ticket.created", ATTEMPTS), ("SS-103", "comment.created", ATTEMPTS),
            ("SS-103", "ticket.updated", ATTEMPTS)]
        assert all("exploding" in r.last_error and "ZeroDivisionError" in r.last_error for r in dead)
        assert {r.status for r in world.inbox() if r.ticket_key != "SS-103"} == {DONE}
        alerts = pop_operational_alerts(world)
        assert [a.splitlines()[-1] for a in alerts] == [
            f"Once the cause is fixed, retry it with `ticketbot dead-letters --retry {r.id}`." for r in dead]
        assert diff(clean.state, world.state()) == []
        assert Counter(world.writes()) == Counter(clean.writes), "a retry of a poisoned event wrote again"


def test_while_a_poisoned_event_waits_for_its_retry_other_tickets_go_on(tmp_path):
    """The poisoned event holds back only its own ticket: during its backoff, another ticket's new
    event is processed at once."""
    with World(tmp_path, extra_rules=[BoundRule(Exploding(), RuleBlock())]) as world:
        ss103, cs202 = next(s for s in world.steps if s.key == "SS-103"), next(s for s in world.steps
                                                                               if s.key == "CS-202")
        world.act(ss103)
        world.deliver_until_acknowledged(ss103)
        world.process()
        [row] = world.inbox()
        assert (row.status, row.attempts) == ("pending", 1)
        world.act(cs202, now=True)  # the automation's CS ticket, a second later
        world.clock.advance(timedelta(seconds=1))
        world.deliver_until_acknowledged(cs202)
        assert world.process() == 1  # CS-202 now; SS-103's retry is not due yet
        assert [(r.ticket_key, r.status) for r in world.inbox()] == [("SS-103", "pending"), ("CS-202", DONE)]
        assert ("Relates", "SS-103", "CS-202") in world.state()["tickets"]["CS-202"]["links"]
        world.wait_until(world.clock.now() + timedelta(minutes=5))
        assert [(r.ticket_key, r.status) for r in world.inbox()] == [("SS-103", DEAD), ("CS-202", DONE)]
