"""Each trigger of an automation: created, updated, commented, a field or status changed, a schedule, a dry-run."""

from __future__ import annotations

from pathlib import Path

from bot.clock import VirtualClock
from bot.model import MANUAL, Event
from bot.pipeline import Processor
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import SiteTicket
from tests.automations.support import (
    ANA,
    KARL,
    NINA,
    OMAR,
    Desk,
    Helpdesk,
    at,
    automation,
    effects,
    jira_site,
    notes,
    play,
    rules_of,
    verdicts,
    zendesk_site,
)

NOTE = [{"comment": "ticketbot: {trigger} on {key}."}]
RULE = "automation:a"


def test_created_acts_on_a_new_ticket_and_not_on_its_updates(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    run = play(tmp_path, [desk.create(sup), sup.move(at("2026-11-02T10:00"), NINA, "In Progress")],
               automation("a", "created", NOTE))
    assert effects(run, RULE) == ["internal comment: ticketbot: ticket created on SUP-1."]
    assert verdicts(run, 1, RULE)[1] == ("trigger: ticket created", False, "ticket.updated", "ticket.created")


def test_updated_acts_on_every_update_once_each(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    run = play(tmp_path, [desk.create(sup), sup.move(at("2026-11-02T10:00"), NINA, "In Progress"),
                          sup.change(at("2026-11-02T11:00"), NINA, {"Impact": (None, "Minor")})],
               automation("a", "updated", [{"comment": "ticketbot: {key} is now {status}, impact {field:Impact}."}]))
    assert effects(run, RULE) == ["internal comment: ticketbot: SUP-1 is now In Progress, impact (empty).",
                                  "internal comment: ticketbot: SUP-1 is now In Progress, impact Minor."]


def test_commented_and_its_public_filter(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    events = [desk.create(sup), sup.comment(at("2026-11-02T10:00"), NINA, "Looking into it"),
              sup.comment(at("2026-11-02T11:00"), KARL, "Here is the log", internal=False)]
    run = play(tmp_path, events, automation("a", "commented", [{"comment": "ticketbot: seen {comment}"}]),
               automation("b", {"commented": {"public": True}},
                          [{"comment": "ticketbot: the customer said {comment}"}]))
    assert effects(run, RULE) == ["internal comment: ticketbot: seen Looking into it",
                                  "internal comment: ticketbot: seen Here is the log"]
    assert effects(run, "automation:b") == ["internal comment: ticketbot: the customer said Here is the log"]
    assert verdicts(run, 1, "automation:b")[1] == ("trigger: a public comment", False, "internal comment",
                                                   "a public comment")


def test_field_changed_to_a_value(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00", kind="Incident")
    events = [desk.create(sup), sup.change(at("2026-11-02T10:00"), NINA, {"Impact": (None, "Minor")}),
              sup.change(at("2026-11-02T11:00"), NINA, {"Impact": ("Minor", "outage")}),  # any case
              sup.change(at("2026-11-02T12:00"), NINA, {"Priority": (None, "High")})]
    run = play(tmp_path, events, automation("a", {"field_changed": {"field": "Impact", "to": ["Major", "Outage"]}},
                                            NOTE),
               automation("b", {"field_changed": {"field": "impact", "from": "Minor"}}, NOTE))
    assert effects(run, RULE) == ["internal comment: ticketbot: Impact changed to 'Major' or 'Outage' on SUP-1."]
    assert effects(run, "automation:b") == ["internal comment: ticketbot: impact changed from 'Minor' on SUP-1."]
    assert verdicts(run, 1, RULE)[1] == ("trigger: Impact changed to 'Major' or 'Outage'", False,
                                         "Impact: None → 'Minor'", "Impact changed to 'Major' or 'Outage'")
    assert verdicts(run, 3, RULE)[1][2] == ["Priority"]  # another field changed


def test_status_changed_from_and_to(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    events = [desk.create(sup), sup.move(at("2026-11-02T10:00"), NINA, "In Progress"),
              sup.move(at("2026-11-02T11:00"), NINA, "Waiting for customer"),
              sup.move(at("2026-11-02T12:00"), KARL, "Waiting for support")]
    run = play(tmp_path, events, automation("a", {"status_changed": {"to": "waiting for customer"}}, NOTE),
               automation("b", {"status_changed": {"from": "Waiting for customer"}}, NOTE),
               automation("c", {"status_changed": {}}, NOTE))
    assert effects(run, RULE) == ["internal comment: ticketbot: status changed to 'waiting for customer' on SUP-1."]
    assert effects(run, "automation:b") == [
        "internal comment: ticketbot: status changed from 'Waiting for customer' on SUP-1."]
    assert len(effects(run, "automation:c")) == 1  # the same text each time is one comment (desired state)


def test_a_zendesk_status_change_comes_with_the_event_webhook(tmp_path: Path) -> None:
    helpdesk = Helpdesk()
    ticket = helpdesk.ticket("5001", "2026-11-02T09:00")
    ticket.status = "pending"  # the event webhook Zendesk sends for it (the test kit builds the trigger body)
    moved = ticket._envelope("ticket.status_changed", at("2026-11-02T10:00"), NINA,
                             {"current": "PENDING", "previous": "NEW"})
    trigger_body = ticket.move(at("2026-11-02T11:00"), NINA, "solved")  # a trigger body: no change in it
    run = play(tmp_path, [ticket.create(KARL), moved, trigger_body],
               automation("a", {"status_changed": {"to": "Pending"}}, NOTE, tracker="zendesk", project="Support"),
               site=zendesk_site())
    assert effects(run, RULE) == ["internal comment: ticketbot: status changed to 'Pending' on 5001."]
    assert verdicts(run, 2, RULE)[1][1:3] == (False, "an update without a changelog (a poll or a Zendesk trigger "
                                                     "body)")


def test_a_zendesk_dropdown_change_matches_by_option_name(tmp_path: Path) -> None:
    helpdesk = Helpdesk()
    ticket = helpdesk.ticket("5001", "2026-11-02T09:00")
    run = play(tmp_path, [ticket.create(KARL), ticket.change(at("2026-11-02T10:00"), NINA,
                                                             {"Escalation": (None, "Urgent")})],
               automation("a", {"field_changed": {"field": "Escalation", "to": "Urgent"}}, NOTE, tracker="zendesk",
                          project="Support"), site=zendesk_site())
    assert effects(run, RULE) == ["internal comment: ticketbot: Escalation changed to 'Urgent' on 5001."]
    assert verdicts(run, 1, RULE)[1][2] == "Escalation: None → 'urgent'"  # the webhook carries the option's tag


def test_every_business_day_ticks_per_ticket_while_the_conditions_hold(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-05T10:00")  # Thursday
    chase = automation("a", {"schedule": {"every": "1 business day"}}, [{"slack": {"to": "assignee", "text":
                                                                                 "{key} still waits."}}],
                       conditions=[{"status": "Waiting for support"}],
                       calendar={"time_zone": "Europe/Oslo", "country": "NO"})
    events = [desk.create(sup),
              sup.move(at("2026-11-05T11:00"), NINA, "Waiting for support"),  # armed: first tick Fri 11:00
              sup.move(at("2026-11-10T12:00"), NINA, "Done")]  # Tuesday: stops
    run = play(tmp_path, events, chase, until="2026-11-20T00:00")
    ticks = [s.event.occurred_at for s in run.steps if s.event.kind == "timer.fired" and
             any(o.status == "applied" and o.effect.kind == "slack_message" for o in s.report.outcomes)]
    assert ticks == [at("2026-11-06T11:00"), at("2026-11-09T11:00"), at("2026-11-10T11:00")]  # Fri, Mon, Tue
    assert run.slack_to(NINA) == ["SUP-1 still waits."] * 3
    assert "schedule armed: first tick 2026-11-06T11:00:00+00:00" in notes(run, 1, RULE)
    assert any("schedule stopped" in n for n in notes(run, 5, RULE))
    assert [t.status for t in run.timers("SUP-1")] == ["cancelled"]


def test_a_cron_schedule_ticks_in_the_calendars_zone_and_rearms_after_it_stopped(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T07:00")  # Monday
    nudge = automation("a", {"schedule": {"cron": "30 8 * * mon-fri"}},
                       [{"slack": {"to": "assignee", "text": "{key}: {status}"}}],
                       conditions=[{"status": ["Open", "In Progress"]}],
                       calendar={"time_zone": "America/New_York"})  # working hours 09:00-17:00
    events = [desk.create(sup), sup.move(at("2026-11-03T15:00"), NINA, "Waiting for customer"),
              sup.move(at("2026-11-05T15:00"), KARL, "In Progress")]
    run = play(tmp_path, events, nudge, until="2026-11-07T00:00")
    # 08:30 New York is 13:30 UTC (EST): Mon 2, Tue 3; stopped Tue 15:00, armed again Thu 15:00: Fri 6.
    fired = [(s.event.occurred_at, s.event.payload["timer"].split(":")[0]) for s in run.steps
             if s.event.kind == "timer.fired"]
    assert [t for t, name in fired if name == "schedule"] == [
        at("2026-11-02T13:30"), at("2026-11-03T13:30"), at("2026-11-06T13:30")]
    # each nudge at 08:30 waits for the working day's start, 09:00 New York (quiet hours)
    assert [t for t, name in fired if name == "deliver"] == [
        at("2026-11-02T14:00"), at("2026-11-03T14:00"), at("2026-11-06T14:00")]
    assert run.slack_to(NINA) == ["SUP-1: Open", "SUP-1: Open", "SUP-1: In Progress"]


def test_a_dry_run_stands_for_the_trigger_now(tmp_path: Path) -> None:
    site = jira_site()
    site.tickets.append(SiteTicket(key="SUP-9", summary="Printer", status="Waiting for customer",
                                   issue_type="Incident", reporter=ANA, assignee=OMAR))
    rules = rules_of(tmp_path, automation("waiting", {"status_changed": {"to": "Waiting for customer"}},
                                          [{"comment": "ticketbot: {key} waits."},
                                           {"slack": {"to": "assignee", "text": "{key}"}, "delay": "2 business days"}]),
                     automation("open", {"status_changed": {"to": "Open"}}, NOTE))
    clock = VirtualClock(at("2026-11-06T10:00"))
    processor = Processor(rules, MemoryTracker(site), Store("sqlite://"), clock, scope="dry-run", dry_run=True,
                          record_traces=False)
    report = processor.process(Event(id="dry-run:1", source="cli", kind=MANUAL, ticket_key="SUP-9",
                                     occurred_at=clock.now()))
    waiting, other = report.rules
    assert [(o.status, o.effect.describe()) for o in waiting.outcomes] == [
        ("would-apply", "internal comment: ticketbot: SUP-9 waits."),
        ("would-apply", "start timer automation:waiting:SUP-9:delay:a1 due 2026-11-10T10:00:00+00:00")]
    assert waiting.result.evaluation.verdicts[1].note.startswith("dry-run")
    assert not other.outcomes and other.result.evaluation.verdicts[1].observed == "Waiting for customer"


def test_a_ticket_moving_on_stops_its_schedule_and_drops_a_tick_held_for_working_hours(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")  # Monday
    early = automation("a", {"schedule": {"cron": "0 7 * * mon-fri"}},  # 07:00 Oslo: before working hours
                       [{"slack": {"to": "assignee", "text": "{key} waits"}, "while": [{"status": "Open"}]}],
                       conditions=[{"status": "Open"}],
                       calendar={"time_zone": "Europe/Oslo", "start": "08:00", "end": "16:00"})
    events = [desk.create(sup), sup.move(at("2026-11-03T06:30"), NINA, "Done")]  # Tuesday 07:30 Oslo
    run = play(tmp_path, events, early, until="2026-11-05T00:00")
    assert effects(run, RULE, outcome="held") == ["slack to nina.berg@acme.example: SUP-1 waits"]  # Tue 07:00 Oslo
    moved = next(s for s in run.steps if s.event.kind == "ticket.updated")
    assert sorted(o.effect.describe() for o in moved.report.outcomes) == [
        "cancel timer automation:a:SUP-1:deliver:t202611030600:a0", "cancel timer automation:a:SUP-1:schedule"]
    assert run.slack == [] and [(t.name.split(":")[0], t.status) for t in run.timers("SUP-1")] == [
        ("deliver", "cancelled"), ("schedule", "cancelled")]
