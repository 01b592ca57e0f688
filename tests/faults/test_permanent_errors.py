"""A write Jira refuses for good does not stall the runbook (issue 14 §3).

The CS project lacks the "Installer name" field the EverBright rule copies onto CS: Jira answers the
edit 400. The real daemon on the fake Jira and Slack must still link CS, copy the other value, record
the stage, ask for approval and arm the reminder; the event ends ``done``; the admin channel hears of
it once (rule, ticket, effect, the exact name, the CS project, what to do); the trace says
``rejected``; and the reminder fires a day later on the virtual clock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.state import StateStore
from bot.store import LIVE
from tests.faults.world import APPROVER_SLACK, World, operational_alerts

RULE = "everbright_onboarding"
REMINDER = f"{RULE}:SS-101:approval-reminder"


def _play(world: World, stop: int, start: int = 0) -> None:
    """The recorded stream from step ``start`` up to (not including) step ``stop``, each webhook processed at once."""
    for step in world.steps[start:stop]:
        world.wait_until(step.at)
        world.act(step)
        world.deliver_until_acknowledged(step)
        world.process()


def _effects(world: World, ticket: str) -> list[dict]:
    return [e for t in world.daemon.store.traces(ticket, scope=LIVE) for e in t.effects]


def test_installer_name_missing_on_cs_is_reported_once_and_the_onboarding_goes_on(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        world.jira.remove_from_screens("CS", "Installer name")
        cs_on_hold = next(i for i, s in enumerate(world.steps) if s.key == "CS-201" and "On Hold" in s.label)
        _play(world, cs_on_hold + 1)

        # every event finished: none waits for a retry, none is dead
        assert {row.status for row in world.inbox()} <= {"done", "ignored"}, \
            [(r.id, r.status, r.last_error) for r in world.inbox()]
        # the independent effects went through: link, the contact e-mail, the stage, the request, the timer
        assert world.jira.field("CS-201", "Installer name") is None
        assert world.jira.field("CS-201", "Installer contact email") == "ops@sunpeaksolar.example"
        assert ("Relates", "SS-101", "CS-201") in world.state()["tickets"]["CS-201"]["links"]
        states = StateStore(world.daemon.store)
        state = states.get(LIVE, RULE, "SS-101")
        assert state is not None and state.stage == "awaiting-approval" and state.get("cs_key") == "CS-201"
        assert any("Are we approved" in c.body and c.internal for c in world.jira.ticket("SS-101").comments)
        timer = states.timer(LIVE, REMINDER)
        assert timer is not None and timer.status == "pending"
        # the trace records the refused write as rejected, with Jira's answer
        [rejected] = [e for e in _effects(world, "CS-201") if e["outcome"] == "rejected"]
        assert rejected["field"] == "Installer name" and "400" in rejected["detail"]
        # one alert, naming the rule, the ticket, the field, the project and what to do
        [text] = operational_alerts(world)
        for words in (RULE, "CS-201", "Installer name", "add the field Installer name to the CS project's screens",
                      "rules.everbright_onboarding.config_ticket_fields.installer_name"):
            assert words in text, (words, text)

        # CS-202 (Helio Homes) meets the same refusal: traced, not alerted again
        cs_202_on_hold = next(i for i, s in enumerate(world.steps) if s.key == "CS-202" and "On Hold" in s.label)
        _play(world, cs_202_on_hold + 1, start=cs_on_hold + 1)
        assert any(e["outcome"] == "rejected" for e in _effects(world, "CS-202"))
        assert len(operational_alerts(world)) == 1

        # a day after the request, the approver is reminded in Slack
        world.wait_until(timer.due_at + timedelta(minutes=1))
        assert any("waiting for your approval" in m["text"] for m in world.slack.dm(APPROVER_SLACK))
        assert {row.status for row in world.inbox()} <= {"done", "ignored"}


def test_a_restart_does_not_report_the_same_missing_name_again(tmp_path: Path) -> None:
    with World(tmp_path) as world:
        world.jira.remove_from_screens("CS", "Installer name")
        first_cs = next(i for i, s in enumerate(world.steps) if s.key == "CS-201")
        _play(world, first_cs + 1)
        assert len(operational_alerts(world)) == 1
        world.restart()
        second_cs = next(i for i, s in enumerate(world.steps) if s.key == "CS-202")
        _play(world, second_cs + 1, start=first_cs + 1)
        assert any(e["outcome"] == "rejected" for e in _effects(world, "CS-202"))
        assert len(operational_alerts(world)) == 1
