"""The weekly digest: its text, its moment on the admin calendar, and once a week across restarts and replicas, on
the virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.calendar import BusinessCalendar
from bot.clock import VirtualClock
from bot.console.digest import STALE_CLAIM, Schedule, WeeklyDigest, admin_calendar, sent_weeks
from bot.console.queries import ConsoleQueries
from bot.daemon.console import schedule_digest
from bot.settings import ConfigurationError, ConsoleSettings
from rules import load_rules
from tests.console.conftest import ADMIN, copy_database
from tests.support import daemon as harness

HELSINKI = BusinessCalendar(time_zone="Europe/Helsinki")
#: Monday 25 January 2027, 09:00 in Helsinki (07:00 UTC): the NF-e demo's last week.
MONDAY_NINE = datetime(2027, 1, 25, 7, 0, tzinfo=UTC)


class Channel:
    """The admin channel: what was posted, and a failure to raise on the next post."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self.fail_next = False

    def post(self, week: str, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("Slack is down")
        self.posts.append((week, text))

    def find_sent(self, week: str) -> bool:
        return any(w == week for w, _ in self.posts)


@pytest.fixture
def nfe(demo_files, tmp_path):  # noqa: ANN001
    """The NF-e demo's records (102 past its 60-day target, 101 closed), a clock, a channel, and digests on them."""
    from bot.store import Store

    source, config, _ = demo_files["nfe"]
    store = Store(f"sqlite:///{copy_database(source, tmp_path / 'nfe.sqlite3')}")
    clock = VirtualClock(MONDAY_NINE - timedelta(minutes=1))
    channel = Channel()

    def digest(schedule: Schedule | None = None) -> WeeklyDigest:
        queries = ConsoleQueries(store, load_rules(config), clock)
        return WeeklyDigest(queries, store, clock, schedule or Schedule(0, 9, HELSINKI), post=channel.post,
                            find_sent=channel.find_sent, board_url="https://tb.example/console/")

    yield store, clock, channel, digest
    store.engine.dispose()


def test_the_text_says_in_flight_overdue_closed_this_week_and_the_slowest_stage(nfe):
    _, clock, _, digest = nfe
    text = digest().compose(datetime(2027, 1, 27, 12, tzinfo=UTC))
    assert text.splitlines() == [
        "*ticketbot weekly digest* (week of 25 Jan 2027)",
        "In flight: 1 (NF-e onboarding journey (seed 004) 1)",
        "Overdue: 1: 102 (nfe_onboarding)",
        "Closed this week: 0",
        "Slowest stage: NF-e onboarding journey (seed 004): Emissão em homologação, median 30d 11h (2 finished "
        "stay(s), 90% within 41d 20h; 0 there now)",
        "Board: https://tb.example/console/",
    ]
    earlier = digest().compose(datetime(2027, 1, 14, 12, tzinfo=UTC))  # the week 101 reached its last stage
    assert "Closed this week: 1 (NF-e onboarding journey (seed 004) 1)" in earlier


def test_it_goes_at_the_hour_on_the_admin_calendar_once_a_week(nfe):
    _, clock, channel, digest = nfe
    job = digest()
    assert job.run_once() is False and channel.posts == []  # 08:59 in Helsinki
    clock.advance(timedelta(minutes=1))
    assert job.run_once() is True
    assert [w for w, _ in channel.posts] == ["2027-W04"]
    for _ in range(3):  # the job runs every few minutes: nothing more this week
        clock.advance(timedelta(hours=7))
        assert job.run_once() is False
    assert digest().run_once() is False  # a restart: the marker is in the database
    clock.set(MONDAY_NINE + timedelta(weeks=1) - timedelta(seconds=1))
    assert job.run_once() is False
    clock.advance(timedelta(seconds=1))
    assert job.run_once() is True
    assert [w for w, _ in channel.posts] == ["2027-W04", "2027-W05"]
    assert sent_weeks(nfe[0]) == ["2027-W04", "2027-W05"]


def test_two_replicas_post_it_once(nfe):
    _, clock, channel, digest = nfe
    clock.advance(timedelta(minutes=5))
    assert sorted([digest().run_once(), digest().run_once()]) == [False, True]
    assert len(channel.posts) == 1


def test_a_leader_that_was_down_at_the_hour_sends_it_when_back_the_same_week(nfe):
    _, clock, channel, digest = nfe
    clock.set(datetime(2027, 1, 28, 15, tzinfo=UTC))  # Thursday
    assert digest().run_once() is True and channel.posts[0][0] == "2027-W04"


def test_a_failed_post_is_tried_again_at_the_next_run(nfe):
    _, clock, channel, digest = nfe
    clock.advance(timedelta(minutes=1))
    channel.fail_next = True
    assert digest().run_once() is False and channel.posts == []
    clock.advance(timedelta(minutes=5))
    assert digest().run_once() is True and len(channel.posts) == 1


def test_a_claim_left_by_a_process_that_died_is_taken_over_without_posting_twice(nfe):
    store, clock, channel, digest = nfe
    clock.advance(timedelta(minutes=1))
    job = digest()
    job._claim("2027-W04", clock.now())  # claimed, then the process died: before posting
    assert digest().run_once() is False  # a fresh claim belongs to someone alive
    clock.advance(STALE_CLAIM + timedelta(seconds=1))
    assert digest().run_once() is True and len(channel.posts) == 1
    # and one that died after posting but before marking it sent: found in the channel, not posted again
    clock.set(MONDAY_NINE + timedelta(weeks=1))
    job._claim("2027-W05", clock.now())
    channel.posts.append(("2027-W05", "the message the dead process posted"))
    clock.advance(STALE_CLAIM + timedelta(seconds=1))
    assert digest().run_once() is True
    assert [w for w, _ in channel.posts] == ["2027-W04", "2027-W05"] and sent_weeks(store)[-1] == "2027-W05"


def test_the_day_and_hour_are_configurable_and_a_day_off_moves_it_to_the_next_working_day():
    friday = Schedule(4, 16, BusinessCalendar(time_zone="America/Sao_Paulo"))
    assert friday.this_week(datetime(2027, 1, 27, tzinfo=UTC)) == ("2027-W04", datetime(2027, 1, 29, 19, tzinfo=UTC))
    closed = Schedule(0, 9, BusinessCalendar(time_zone="Europe/Helsinki", closures=["2027-01-25"]))
    assert closed.this_week(datetime(2027, 1, 27, tzinfo=UTC))[1] == datetime(2027, 1, 26, 7, tzinfo=UTC)
    finnish = Schedule(2, 9, BusinessCalendar(time_zone="Europe/Helsinki", country="FI"))  # 6 Jan 2027: Epiphany
    assert finnish.this_week(datetime(2027, 1, 4, tzinfo=UTC))[1] == datetime(2027, 1, 7, 7, tzinfo=UTC)


def test_the_settings_and_a_wrong_calendar():
    settings = ConsoleSettings(digest_day="Friday", digest_hour=16, admin_calendar={"time_zone": "Europe/Helsinki"})
    assert Schedule.from_settings(settings).describe() == "Fri 16:00 Europe/Helsinki"
    with pytest.raises(ConfigurationError, match="TICKETBOT_CONSOLE__ADMIN_CALENDAR"):
        admin_calendar(ConsoleSettings(admin_calendar={"time_zone": "Mars/Olympus"}))


class Notifier:
    """The notifier's two methods the digest uses (Slack's: send, find_sent)."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, message) -> str:  # noqa: ANN001
        self.sent.append(message)
        return "1.0"

    def find_sent(self, message) -> str | None:  # noqa: ANN001
        return next(("1.0" for m in self.sent if m.marker == message.marker), None)

    def alert(self, text: str) -> None:
        pass


def test_the_leader_runs_it_as_a_scheduler_job(make_daemon):
    notifier = Notifier()
    daemon = make_daemon(harness.onboarding_site([]),
                         console={"admins": ADMIN, "public_url": "https://tb.example", "digest_day": "mon",
                                  "admin_calendar": {"time_zone": "Europe/Helsinki"}},
                         slack={"admin_channel": "CADMIN"})
    daemon.notifier = notifier  # type: ignore[assignment]  # Slack's, as build_notifier makes it with a token
    digest = schedule_digest(daemon)
    assert digest is not None and "console-digest" in daemon.scheduler.job_ids
    week, moment = digest.schedule.this_week(daemon.clock.now())
    daemon.clock.set(moment)
    daemon.scheduler.run_job_now("console-digest")
    daemon.scheduler.run_job_now("console-digest")
    [message] = notifier.sent
    assert message.channel == "CADMIN" and message.step == f"digest:{week}"
    assert "Board: https://tb.example/console/" in message.text


@pytest.mark.parametrize(("console", "slack", "why"), [
    ({"admins": ADMIN, "public_url": "https://tb.example", "digest": False}, {"admin_channel": "C1"},
     "DIGEST is false"),
    ({}, {"admin_channel": "C1"}, "TICKETBOT_CONSOLE__ADMINS is not set"),
    ({"admins": ADMIN, "public_url": "https://tb.example"}, {}, "Slack has no admin channel"),
])
def test_without_what_it_needs_it_is_off_and_says_why(make_daemon, caplog, console, slack, why):
    import logging

    daemon = make_daemon(harness.onboarding_site([]), console=console, slack=slack)
    daemon.notifier = Notifier()  # type: ignore[assignment]
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        assert schedule_digest(daemon) is None
    assert "console-digest" not in daemon.scheduler.job_ids and why in caplog.text
