"""Delays: an action after business time on the virtual clock, dropped or cancelled when its ``while`` stops holding."""

from __future__ import annotations

from pathlib import Path

from bot.clock import VirtualClock
from bot.engine import RuleContext
from bot.model import TIMER_FIRED, Event
from bot.testing import replay
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import SiteTicket
from tests.automations.support import (
    CONFIG_DIR,
    KARL,
    NINA,
    Desk,
    at,
    automation,
    effects,
    jira_site,
    notes,
    play,
    rules_of,
    write_config,
)

REMINDER = "automation:waiting-for-customer-reminder"
WAITING = "Waiting for customer"


def _shipped(tmp_path: Path, events: list, until: str):  # noqa: ANN202 - a Run
    """``events`` through the shipped Jira example (config/automations-jira-waiting-for-customer.yaml)."""
    config = write_config(tmp_path / "rules.yaml", [],
                          include=[str(CONFIG_DIR / "automations-jira-waiting-for-customer.yaml")])
    return replay(events, site=jira_site(), config=config, until=at(until),
                  database=f"sqlite:///{tmp_path / 'run.sqlite3'}")


def test_the_reminder_comes_two_business_days_later_across_the_weekend(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-05T09:00")
    # Friday 14:00 UTC is 15:00 in Oslo: 2 business days later is Tuesday 15:00 Oslo, not Sunday
    run = _shipped(tmp_path, [desk.create(sup), sup.move(at("2026-11-06T14:00"), NINA, WAITING)], "2026-11-12T00:00")
    fired = [s for s in run.steps if s.event.kind == TIMER_FIRED]
    assert [s.event.occurred_at for s in fired] == [at("2026-11-10T14:00")] * 2  # the message, the note
    assert run.slack_to(NINA) == ["SUP-1 (Invoice export fails) has waited 2 business days for the customer. "
                                  "Chase them, or resolve it."]
    assert run.comments("SUP-1") == ["ticketbot: no answer from the customer for 2 business days; "
                                     "nina.berg\\@acme.example was reminded in Slack."]
    assert run.errors() == []


def test_the_reminder_is_dropped_when_the_ticket_moved_on_unseen(tmp_path: Path) -> None:
    """The customer answers: customer-replied moves the ticket (ticketbot's own change, which the reminder does
    not see); when the delay ends, its ``while`` no longer holds and nothing is sent."""
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-05T09:00")
    events = [desk.create(sup), sup.move(at("2026-11-06T14:00"), NINA, WAITING),
              sup.comment(at("2026-11-09T10:00"), KARL, "Here it is", internal=False)]
    run = _shipped(tmp_path, events, "2026-11-12T00:00")
    assert run.ticket("SUP-1").status == "Waiting for support"
    assert run.slack_to(NINA) == ["The customer answered on SUP-1 (Invoice export fails): Here it is"]
    fired = [i for i, s in enumerate(run.steps) if s.event.kind == TIMER_FIRED]
    assert len(fired) == 2 and not any(run.steps[i].report.outcomes for i in fired)
    assert notes(run, fired[0], REMINDER) == ["action 1 (slack) dropped: its `while` no longer holds"]
    assert [r for r in run.steps[fired[0]].report.rules if r.rule_id == REMINDER][0].result.evaluation.verdicts[-1] \
        .observed == "Waiting for support"


def test_an_event_showing_the_ticket_moved_on_cancels_the_timer_at_once(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-05T09:00")
    events = [desk.create(sup), sup.move(at("2026-11-06T14:00"), NINA, WAITING),
              sup.move(at("2026-11-09T09:00"), NINA, "In Progress")]
    run = _shipped(tmp_path, events, "2026-11-12T00:00")
    assert effects(run, REMINDER) == [
        "start timer automation:waiting-for-customer-reminder:SUP-1:delay:a0 due 2026-11-10T14:00:00+00:00",
        "start timer automation:waiting-for-customer-reminder:SUP-1:delay:a1 due 2026-11-10T14:00:00+00:00",
        "cancel timer automation:waiting-for-customer-reminder:SUP-1:delay:a0",
        "cancel timer automation:waiting-for-customer-reminder:SUP-1:delay:a1"]
    assert notes(run, 2, REMINDER)[0].startswith("delayed action cancelled (delay:a0, due 2026-11-10T14:00:00+00:00)")
    assert [t.status for t in run.timers("SUP-1")] == ["cancelled", "cancelled"]
    assert not any(s.event.kind == TIMER_FIRED for s in run.steps) and run.slack == []


def test_triggered_again_the_delay_starts_over(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    events = [desk.create(sup), sup.move(at("2026-11-02T10:00"), NINA, WAITING),
              sup.move(at("2026-11-03T10:00"), KARL, "Waiting for support"),
              sup.move(at("2026-11-03T11:00"), NINA, WAITING)]
    run = _shipped(tmp_path, events, "2026-11-12T00:00")
    assert [s.event.occurred_at for s in run.steps if s.event.kind == TIMER_FIRED] == [at("2026-11-05T11:00")] * 2
    assert len(run.slack_to(NINA)) == 1


def test_a_held_message_is_cancelled_when_its_while_stops_holding(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    answer = automation("a", {"commented": {"public": True}},
                        [{"slack": {"to": "assignee", "text": "{key}: the customer answered"},
                          "while": [{"status": "Waiting for customer"}]}],
                        calendar={"time_zone": "Europe/Oslo"})
    events = [desk.create(sup), sup.move(at("2026-11-02T10:00"), NINA, WAITING),
              sup.comment(at("2026-11-02T20:00"), KARL, "Fixed it myself", internal=False),  # night: held
              sup.move(at("2026-11-02T21:00"), KARL, "Done")]
    run = play(tmp_path, events, answer, until="2026-11-04T00:00")
    assert effects(run, "automation:a", outcome="held") == ["slack to nina.berg@acme.example: SUP-1: the customer "
                                                            "answered"]
    assert effects(run, "automation:a") == ["cancel timer automation:a:SUP-1:deliver:c70000:a0"]
    assert run.slack == [] and not any(s.event.kind == TIMER_FIRED for s in run.steps)


def test_a_delayed_run_of_an_action_that_changed_since_is_dropped(tmp_path: Path) -> None:
    (bound,) = rules_of(tmp_path, automation("a", "created", [{"comment": "now"}]))
    site = jira_site()
    site.tickets.append(SiteTicket(key="SUP-1", summary="x", status="Open"))
    tracker, clock = MemoryTracker(site), VirtualClock(at("2026-11-03T10:00"))
    event = Event(id="t", source="timer", kind=TIMER_FIRED, ticket_key="SUP-1", occurred_at=clock.now(),
                  payload={"timer": "delay:a0", "rule": "automation:a", "due_at": clock.now().isoformat(),
                           "data": {"occurrence": "created", "action": "slack"}})
    evaluation = bound.rule.evaluate(event, tracker.get_ticket("SUP-1"), RuleContext(tracker, clock, bound.config))
    assert evaluation.effects == [] and evaluation.notes == [
        "the automation changed since the delay began; the delayed action is dropped"]
