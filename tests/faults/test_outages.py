"""Outages: Jira or Slack down for 90 s or 10 min while events arrive; nothing is dead-lettered, every
event is applied once when the system is back, in order, and the admin channel hears of an outage that
lasted past ``TICKETBOT_WORKER__OUTAGE_ALERT_AFTER`` (180 s, the default: the 90 s one stays quiet) once
when it is noticed and once when it is over.

An outage is a window of virtual time during which the fake answers every request 503 (or 500) without
``Retry-After``. The events that meet it are held, their attempts given back (they end with the one
attempt that succeeded), and one event at a time probes the system, at most every 60 s
(``TICKETBOT_WORKER__OUTAGE_PROBE_MAX``): the fake's log shows how often the bot knocked.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from bot.config import RuleBlock
from bot.engine import BoundRule
from bot.inbox.queue import DONE
from tests.faults.test_poison import Exploding
from tests.faults.world import (
    ADMIN_CHANNEL,
    APPROVER_SLACK,
    Clean,
    FaultyJira,
    FaultySlack,
    World,
    clean_run,
    diff,
    operational_alerts,
)

PROBE_MAX = 60.0  # TICKETBOT_WORKER__OUTAGE_PROBE_MAX
ALERT_AFTER = 180.0  # TICKETBOT_WORKER__OUTAGE_ALERT_AFTER


def outage(world: World, fake: FaultyJira | FaultySlack, start: datetime, seconds: float, status: int = 503) -> None:
    """From ``start``, for ``seconds`` of virtual time, ``fake`` answers every request ``status``."""
    until = start + timedelta(seconds=seconds)
    body = '{"ok": false, "error": "fatal_error"}' if isinstance(fake, FaultySlack) else \
        '{"errorMessages": ["Service unavailable."]}'

    def refuse(method: str, path: str) -> tuple[int, dict[str, str], str] | None:
        if start <= world.clock.now() < until:  # Slack down: the admin channel too
            return status, {"Content-Type": "application/json"}, body
        return None

    fake.before.append(refuse)


def knocks(fake: FaultyJira | FaultySlack) -> list[datetime]:
    """When the bot's requests were refused."""
    return [at for at, _, _, status in fake.log if status >= 500]


def alerts(world: World) -> list[str]:
    return operational_alerts(world)


def without_admin_channel(state: dict) -> dict:
    return {**state, "slack": {k: v for k, v in state["slack"].items() if k != ADMIN_CHANNEL}}


def assert_applied_once_as_clean(world: World, clean: Clean) -> None:
    """The people's world ends as a clean run's (the admin channel aside), each write made once, nothing dead."""
    assert diff(without_admin_channel(clean.state), without_admin_channel(world.state())) == []
    assert Counter(world.writes()) == Counter(clean.writes)
    assert {r.status for r in world.inbox()} == {DONE}
    assert world.daemon.inbox.dead_letters() == []


@pytest.mark.parametrize(("seconds", "status", "alerted"), [
    (90, 503, False),  # shorter than the alert threshold: held and applied after, no alert
    (600, 500, True),  # ten minutes: one alert when it passes 3 min, one when it is over
])
def test_a_jira_outage_while_events_arrive_holds_them_and_applies_each_once_after(tmp_path, seconds, status,
                                                                                   alerted):
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run") as world:
        start = world.steps[0].at  # SS-101 arrives at once, CS-201 two minutes later
        outage(world, world.jira, start, seconds, status)
        world.run_clean()
        assert_applied_once_as_clean(world, clean)
        held = [r for r in world.inbox() if r.received_ts < (start + timedelta(seconds=seconds)).timestamp()]
        assert [r.ticket_key for r in held][:2] == ["SS-101", "CS-201"][:len(held)]
        assert held and all(r.attempts == 1 for r in held), "an outage spent the events' attempts"
        end = start + timedelta(seconds=seconds)
        # Applied as soon as Jira answered again (a probe at most PROBE_MAX s apart), in arrival order.
        assert all(r.finished_at.timestamp() <= end.timestamp() + PROBE_MAX + 1 for r in held)
        assert [r.id for r in sorted(held, key=lambda r: (r.finished_at, r.id))] == [r.id for r in held]
        # Not hammered: one probe at a time, doubling from 2 s to at most every PROBE_MAX s.
        refused = knocks(world.jira)
        assert len(refused) <= (7 if seconds <= 90 else 6 + seconds / PROBE_MAX)
        assert all((b - a).total_seconds() >= 1 for a, b in zip(refused, refused[1:], strict=False))
        sent = alerts(world)
        if alerted:
            down, back = sent
            assert down.startswith("jira has been unavailable for 3 min") and "event(s) held" in down
            assert back.startswith("jira is back after 10 min") and "now being processed" in back
        else:
            assert sent == []


def test_a_slack_outage_when_the_reminder_fires_delivers_it_once_when_slack_is_back(tmp_path):
    """Slack down for 10 min when the approval reminder is due: the fired timer's event is held (its Jira
    reads succeed, Slack answers ``fatal_error`` 503), the reminder DM is sent once when Slack answers
    again, and the admin channel is told Slack was down once it can be told."""
    from tests.faults.test_storms import reminder_due

    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run") as world:
        outage(world, world.slack, reminder_due(world), 600)
        world.run_clean()
        assert_applied_once_as_clean(world, clean)
        assert len(world.slack.dm(APPROVER_SLACK)) == 1
        fired = next(r for r in world.inbox() if r.source == "timer")
        assert fired.attempts == 1
        assert fired.finished_at.timestamp() <= (reminder_due(world) + timedelta(seconds=600 + PROBE_MAX + 1)
                                                 ).timestamp()
        [back] = alerts(world)  # the "down" alert could not reach Slack: it was logged
        assert back.startswith("slack is back after 10 min") and "could not reach Slack" in back


def test_a_poison_event_still_dead_letters_after_its_attempts_with_the_command_that_retries_it(tmp_path):
    with World(tmp_path, extra_rules=[BoundRule(Exploding(), RuleBlock())]) as world:
        ss103 = next(s for s in world.steps if s.key == "SS-103")
        world.act(ss103)
        world.deliver_until_acknowledged(ss103)
        world.wait_until(world.clock.now() + timedelta(minutes=5))
        [dead] = world.daemon.inbox.dead_letters()
        assert dead.attempts == 5
        [alert] = alerts(world)
        assert f"Inbox event {dead.id} (jira, ticket SS-103) was dead-lettered after 5 attempt(s)" in alert
        assert "exploding: ZeroDivisionError" in alert
        assert alert.rstrip().endswith(f"retry it with `ticketbot dead-letters --retry {dead.id}`.")


def test_an_outage_longer_than_the_bound_dead_letters_the_held_events_with_one_alert(tmp_path):
    """TICKETBOT_WORKER__OUTAGE_MAX_HOURS (1 here): past it the held events are set aside, told once."""
    with World(tmp_path, outage_max_hours=1) as world:
        ss101 = world.steps[0]
        outage(world, world.jira, ss101.at, 3 * 3600)
        world.act(ss101)
        world.deliver_until_acknowledged(ss101)
        world.wait_until(ss101.at + timedelta(hours=2))
        [dead] = world.daemon.inbox.dead_letters()
        assert dead.ticket_key == "SS-101" and "unavailable" in dead.last_error
        assert len(knocks(world.jira)) <= 3600 / PROBE_MAX + 8
        down, gave_up = alerts(world)
        assert down.startswith("jira has been unavailable for 3 min")
        assert "dead-lettered" in gave_up and "ticketbot dead-letters --all" in gave_up
