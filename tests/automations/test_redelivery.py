"""Redelivery writes nothing twice: an automation's effects are keyed by the occurrence of its trigger."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from bot.clock import VirtualClock
from bot.executor import ALREADY, APPLIED
from bot.model import TIMER_FIRED
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import SiteTicket
from tests.automations.support import KARL, NINA, Desk, at, automation, effects, play, rules_of
from tests.support.daemon import daemon_settings, encode, in_process_daemon, jira_headers

ACTIONS = [{"comment": "ticketbot: {key} moved to {status}."}, {"watch": "lead@acme.example"},
           {"slack": {"to": "assignee", "text": "{key} moved"}, "delay": "1 business day"},
           {"slack": {"channel": "#support", "text": "{key} moved", "quiet_hours": False}}]
MOVED = automation("a", {"status_changed": {"to": "In Progress"}}, ACTIONS)


def _envelope(body: dict[str, Any], delivery: str) -> dict[str, Any]:
    """What the daemon's inbox keeps of a webhook (``ticketbot events export`` writes these)."""
    return {"source": "jira", "headers": {"X-Atlassian-Webhook-Identifier": delivery}, "body": body}


def test_the_same_change_delivered_twice_writes_once(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T09:00")
    moved = sup.move(at("2026-11-03T10:00"), NINA, "In Progress")
    events = [desk.create(sup), _envelope(moved, "delivery-1"), _envelope(copy.deepcopy(moved), "delivery-2")]
    run = play(tmp_path, events, MOVED, until="2026-11-06T00:00")
    first, second = run.steps[1].report.outcomes, run.steps[2].report.outcomes
    assert [o.status for o in first] == [APPLIED] * 4
    assert [o.status for o in second] == [ALREADY] * 4
    assert {o.detail for o in second} == {"recorded as applied earlier"}
    assert len(run.comments("SUP-1")) == 1 and len(run.slack_to("#support")) == 1
    assert run.slack_to(NINA) == ["SUP-1 moved"]  # the delayed one, once
    assert len([s for s in run.steps if s.event.kind == TIMER_FIRED]) == 1


def test_one_comment_in_both_shapes_acts_once(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T09:00")
    created = sup.comment(at("2026-11-03T10:00"), KARL, "Still broken", internal=False)
    as_update = {**copy.deepcopy(created), "webhookEvent": "jira:issue_updated",
                 "issue_event_type_name": "issue_commented", "user": desk.hooks.user(KARL)}
    run = play(tmp_path, [desk.create(sup), created, as_update],
               automation("a", "commented", [{"comment": "ticketbot: the customer wrote {comment}"}]))
    assert effects(run, "automation:a") == ["internal comment: ticketbot: the customer wrote Still broken"]
    assert [o.status for o in run.steps[2].report.outcomes] == [ALREADY]


def test_a_timer_fired_twice_runs_its_action_once(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T09:00")
    run = play(tmp_path, [desk.create(sup), sup.move(at("2026-11-03T10:00"), NINA, "In Progress")], MOVED,
               until="2026-11-06T00:00")
    fired = next(s for s in run.steps if s.event.kind == TIMER_FIRED)
    again = run.player.processor.process(fired.event)  # the sweep repeated after a crash, say
    assert [o.status for o in again.outcomes] == [ALREADY]
    assert run.slack_to(NINA) == ["SUP-1 moved"]


def test_the_daemon_acts_once_on_a_webhook_delivered_three_times(tmp_path: Path) -> None:
    desk = Desk()
    site = desk.site
    site.tickets.append(SiteTicket(key="SUP-1", summary="Invoice export fails", status="In Progress",
                                   issue_type="Service Request", reporter=KARL, assignee=NINA))
    clock = VirtualClock(at("2026-11-03T10:00"))
    tracker = SharedMemoryTracker(site, tmp_path / "site.sqlite3", now=clock.now)
    daemon = in_process_daemon(daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"), site,
                               rules=rules_of(tmp_path, MOVED), tracker=tracker, clock=clock)
    try:
        sup = desk.issue("SUP-1", "2026-11-03T09:00")
        raw = encode(sup.move(clock.now(), NINA, "In Progress"))
        for delivery in ("d-1", "d-1", str(uuid.uuid4())):  # Jira's retry, and the same body under a new id
            headers = {k.lower(): v for k, v in jira_headers(raw, delivery=delivery).items()}
            daemon.intake.receive("jira", raw, headers)
            daemon.workers.drain()
        writes = [line for line in tracker.changes() if line.startswith("SUP-1: ")]
        assert writes == ["SUP-1: internal comment: ticketbot: SUP-1 moved to In Progress.",
                          "SUP-1: watcher + lead@acme.example"]
        assert len(daemon.inbox.rows()) == 1
    finally:
        daemon.store.engine.dispose()
