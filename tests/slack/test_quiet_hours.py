"""Quiet hours: a message to a person waits for that person's working hours, in the time zone Slack has
for them (users.info ``tz``), else in the runbook's calendar; a durable timer delivers it, once.

Real parts: SlackNotifier on the fake Slack Web API, the executor and processor on a SQLite file, a
virtual clock; the held message's timer fires through ``fire_due_timers`` as the replay and tests do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.calendar import BusinessCalendar
from bot.clock import VirtualClock
from bot.effects import SlackMessage
from bot.executor import APPLIED, DELIVER, HELD, WOULD_APPLY, Executor
from bot.ops.services import format_timers
from bot.pipeline import Processor
from bot.settings import Settings
from bot.slack.sender import SlackNotifier
from bot.state import StateStore, fire_due_timers
from bot.store import LIVE, Store
from bot.trackers.memory import MemoryTracker
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import APPROVER
from tests.support.daemon import onboarding_site

NEW_YORK = BusinessCalendar(time_zone="America/New_York", country="US")
RULE = "everbright_onboarding"


def message(step: str = "reminder:1", **kwargs: object) -> SlackMessage:
    fields = {"rule_id": RULE, "ticket_key": "SS-7", "step": step, "text": "SS-7 waits for your approval",
              "user_email": "approver@acme.test", "hours": NEW_YORK} | kwargs
    return SlackMessage(**fields)  # type: ignore[arg-type]


class World:
    def __init__(self, settings: Settings, tmp_path: Path, start: datetime) -> None:
        self.clock = VirtualClock(start)
        self.store = Store(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}")
        self.states = StateStore(self.store)
        self.notifier = SlackNotifier.from_settings(settings.slack, sleep=lambda _: None)
        tracker = MemoryTracker(onboarding_site([]), now=self.clock.now)
        self.processor = Processor([], tracker, self.store, self.clock, notifier=self.notifier, states=self.states)

    def apply(self, *effects: SlackMessage):
        return self.processor.executor.apply(list(effects))

    def run_until(self, moment: datetime) -> list:
        return list(fire_due_timers(self.states, LIVE, moment, self.clock, self.processor.process))


@pytest.fixture
def world(slack_settings: Settings, tmp_path: Path):
    return lambda start: World(slack_settings, tmp_path, start)


def test_in_the_recipients_slack_time_zone_a_late_message_waits_for_their_morning(world, fake_slack: FakeSlack):
    """The approver works from Helsinki (Slack says so): 16:00 UTC is 18:00 for them, 11:00 in New York.
    The calendar's working week still counts (US holidays, Mon-Fri 09-17), on their clock."""
    fake_slack.add_user(APPROVER, "approver@acme.test", "Ann Approver", tz="Europe/Helsinki")
    w = world(datetime(2026, 12, 7, 16, tzinfo=UTC))  # Monday

    [outcome] = w.apply(message())

    assert outcome.status == HELD
    assert "of approver@acme.test (their Slack time zone: mon-fri 09:00-17:00 Europe/Helsinki" in outcome.detail
    assert "Tue 2026-12-08 09:00 EET" in outcome.detail
    assert fake_slack.dm(APPROVER) == []
    [timer] = w.states.timers(LIVE, "SS-7")
    assert (timer.name, timer.due_at) == (DELIVER + "reminder:1", datetime(2026, 12, 8, 7, tzinfo=UTC))

    [report] = w.run_until(datetime(2026, 12, 9, tzinfo=UTC))
    assert [o.status for o in report.outcomes] == [APPLIED]
    assert [m["text"] for m in fake_slack.dm(APPROVER)] == ["SS-7 waits for your approval"]
    assert w.clock.now() == datetime(2026, 12, 8, 7, tzinfo=UTC)


def test_the_same_moment_is_working_time_for_someone_in_another_zone(world, fake_slack: FakeSlack):
    """08:00 UTC on a Monday: 03:00 in New York, but 10:00 in Helsinki: the Helsinki approver gets it now."""
    fake_slack.add_user(APPROVER, "approver@acme.test", "Ann Approver", tz="Europe/Helsinki")
    w = world(datetime(2026, 12, 7, 8, tzinfo=UTC))

    assert [o.status for o in w.apply(message())] == [APPLIED]
    assert len(fake_slack.dm(APPROVER)) == 1
    assert w.states.timers(LIVE, "SS-7") == []


def test_without_a_slack_time_zone_the_calendar_decides_across_a_weekend_and_a_holiday(world,
                                                                                         fake_slack: FakeSlack):
    """Thursday 24 December, 18:00 New York: Christmas on Friday, then the weekend: Monday 28th, 09:00."""
    w = world(datetime(2026, 12, 24, 23, tzinfo=UTC))  # 18:00 in New York; the fake's approver has no tz

    [outcome] = w.apply(message())

    assert outcome.status == HELD and "the runbook's calendar" in outcome.detail
    assert outcome.detail.startswith("held: Thu 18:00 EST is outside")
    assert "Mon 2026-12-28 09:00 EST" in outcome.detail
    w.run_until(datetime(2026, 12, 28, 13, 59, tzinfo=UTC))
    assert fake_slack.dm(APPROVER) == []
    w.run_until(datetime(2026, 12, 28, 14, tzinfo=UTC))
    assert len(fake_slack.dm(APPROVER)) == 1


def test_a_held_message_is_delivered_once_however_often_its_event_comes_again(world, fake_slack: FakeSlack):
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))  # Friday 21:00 in New York

    for _ in range(3):  # the webhook redelivered: the same plan again
        assert [o.status for o in w.apply(message())] == [HELD]
    assert len(w.states.timers(LIVE, "SS-7")) == 1
    w.run_until(datetime(2026, 12, 8, tzinfo=UTC))
    assert [o.status for o in w.apply(message())] == ["already-true"]  # redelivered after the delivery
    assert len(fake_slack.dm(APPROVER)) == 1


def test_a_reminder_held_overnight_is_dropped_when_the_runbook_moved_on(world, fake_slack: FakeSlack):
    """The approval came on Saturday: Monday's 'still waiting for your approval' would be wrong."""
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))
    w.states.put(LIVE, RULE, "SS-7", stage="awaiting_approval", data={}, at=w.clock.now())
    w.apply(message(only_at_stages=("awaiting_approval",)))
    w.states.put(LIVE, RULE, "SS-7", stage="approved", data={}, at=w.clock.now() + timedelta(hours=12))

    [report] = w.run_until(datetime(2026, 12, 8, tzinfo=UTC))

    assert fake_slack.dm(APPROVER) == []
    [rule] = report.rules
    assert [o.status for o in rule.outcomes] == ["skipped"]
    assert "moved on" in rule.result.evaluation.notes[0]
    [trace] = w.store.traces("SS-7", scope=LIVE)
    assert trace.matched is False and trace.effects[0]["outcome"] == "skipped"


def test_a_reminder_still_true_in_the_morning_is_delivered(world, fake_slack: FakeSlack):
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))
    w.states.put(LIVE, RULE, "SS-7", stage="awaiting_approval", data={}, at=w.clock.now())
    w.apply(message(only_at_stages=("awaiting_approval",), unless_recorded="met:approval"))
    w.run_until(datetime(2026, 12, 8, tzinfo=UTC))
    assert len(fake_slack.dm(APPROVER)) == 1


def test_a_team_channel_waits_for_the_calendar_and_an_admin_alert_never_waits(world, fake_slack: FakeSlack):
    fake_slack.add_channel("CSUPPORT")
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))

    channel, alert = w.apply(message("check", channel="CSUPPORT", user_email=""),
                             message("escalation", alert=True, user_email="", hours=None))

    assert channel.status == HELD and "of CSUPPORT (the runbook's calendar: mon-fri" in channel.detail
    assert alert.status == APPLIED
    assert fake_slack.messages.get("CSUPPORT", []) == []


def test_timers_and_dry_run_say_that_a_message_waits(world, fake_slack: FakeSlack, tmp_path: Path):
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))
    w.apply(message())
    [timer] = w.states.timers(LIVE, "SS-7")
    text = format_timers("SS-7", [{**timer.as_dict(), "due_in": "in 2 days"}])
    assert "message to approver@acme.test held for working hours" in text
    assert "2026-12-07 14:00" in text

    dry = Executor(w.processor.tracker, w.store, w.clock, scope="dry", dry_run=True, notifier=w.notifier)
    [outcome] = dry.apply([message("reminder:2")])
    assert outcome.status == WOULD_APPLY and outcome.detail.startswith("dry-run: would be held")
    assert len(w.states.timers(LIVE, "SS-7")) == 1  # the dry run armed nothing


def test_the_recipients_zone_is_asked_once_and_remembered(world, fake_slack: FakeSlack):
    fake_slack.add_user(APPROVER, "approver@acme.test", "Ann Approver", tz="Europe/Helsinki")
    w = world(datetime(2026, 12, 7, 8, tzinfo=UTC))
    w.apply(message("a"), message("b"), message("c"))
    assert fake_slack.count("users.lookupByEmail") == 1
    assert fake_slack.count("users.info") == 0  # lookupByEmail's answer carries the zone
    assert len(fake_slack.dm(APPROVER)) == 3


def test_a_state_of_no_use_is_not_required(world, fake_slack: FakeSlack):
    """A held message without any stage condition (a notice, not a reminder) goes whatever the record says."""
    w = world(datetime(2026, 12, 5, 2, tzinfo=UTC))
    w.apply(message("notice"))
    assert w.states.get(LIVE, RULE, "SS-7") is None
    w.run_until(datetime(2026, 12, 8, tzinfo=UTC))
    assert len(fake_slack.dm(APPROVER)) == 1
