"""Workers: retries with backoff, dead letters, per-ticket order, and a crash between a write and its record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.inbox.queue import DEAD, DONE, PENDING, PROCESSING
from bot.trackers.base import TrackerError
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import SiteTicket
from tests.support import daemon as harness


def _receive(daemon, body: dict, delivery: str | None = None) -> None:  # noqa: ANN001
    raw = harness.encode(body)
    reply = daemon.intake.receive("jira", raw, {k.lower(): v for k, v in harness.jira_headers(raw, delivery).items()})
    assert reply.status == 202, reply


class FlakyTracker(SharedMemoryTracker):
    """Jira that cannot read the tickets in ``down`` (a 5xx outage on them)."""

    down: set[str] = set()

    def get_ticket(self, key: str, *, with_people: bool = False):  # noqa: ANN201
        if key in self.down:
            raise TrackerError(f"Jira GET issue {key} failed (HTTP 502): bad gateway")
        return super().get_ticket(key, with_people=with_people)


def test_a_failing_event_is_retried_with_backoff_then_dead_lettered_without_blocking_others(
        make_daemon, tmp_path, clock):
    site = harness.onboarding_site(["SS-1", "SS-2"])
    tracker = FlakyTracker(site, tmp_path / "flaky.sqlite3", now=clock.now)
    tracker.down = {"SS-1"}
    daemon = make_daemon(site, tracker=tracker, worker={"max_attempts": 3, "backoff_base": 10})
    _receive(daemon, harness.onboarding_created("SS-1", 1793610840000))
    _receive(daemon, harness.onboarding_updated("SS-1", 1793610900000))
    _receive(daemon, harness.onboarding_created("SS-2", 1793610840000))

    assert daemon.workers.drain() == 2  # SS-1 fails once, SS-2 is processed; SS-1's update waits
    statuses = {(r.ticket_key, r.kind): (r.status, r.attempts) for r in daemon.inbox.rows()}
    assert statuses == {("SS-1", "ticket.created"): (PENDING, 1), ("SS-1", "ticket.updated"): (PENDING, 0),
                        ("SS-2", "ticket.created"): (DONE, 1)}
    assert daemon.workers.drain() == 0  # not due yet: backoff 10 s
    clock.advance(timedelta(seconds=10))
    assert daemon.workers.drain() == 1  # second attempt fails: next in 20 s
    clock.advance(timedelta(seconds=19))
    assert daemon.workers.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert daemon.workers.drain() == 2  # third and last attempt -> dead letter; then the update runs (and fails)
    dead = daemon.inbox.dead_letters()
    assert [(r.kind, r.attempts) for r in dead] == [("ticket.created", 3)]
    assert "HTTP 502" in dead[0].last_error
    assert 'ticketbot_events_dead_lettered_total{source="jira"} 1.0' in daemon.metrics.render().decode()

    tracker.down = set()  # Jira is back; an admin retries the dead letter
    clock.advance(timedelta(seconds=10))
    assert daemon.inbox.retry_dead(dead[0].id) == 1
    daemon.workers.drain()
    assert {r.status for r in daemon.inbox.rows()} == {DONE}
    assert sorted(line for line in harness.lines_of(tracker.changes(), "SS-1") if "created" not in line) == \
        sorted(harness.INTAKE_LINES)


def test_an_undecodable_event_is_dead_lettered_at_once(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]))
    _receive(daemon, harness.onboarding_created("SS-1", 1793610840000))
    from sqlalchemy import update

    from bot.inbox.queue import InboxRow

    with daemon.store.engine.begin() as conn:  # a stored body the parser no longer accepts
        conn.execute(update(InboxRow).values(envelope={"source": "jira", "body": {"webhookEvent": ""}}))
    daemon.workers.drain()
    [row] = daemon.inbox.rows()
    assert (row.status, row.attempts) == (DEAD, 1)
    assert "MalformedEvent" in row.last_error


class Crash(BaseException):
    """The process dies here: nothing after this line of the executor runs (not even except: Exception)."""


class CrashAfterWrite(SharedMemoryTracker):
    """Performs one chosen write, durably, then 'dies' before the executor can record it."""

    crash_on: str = ""

    def add_watcher(self, key: str, email: str) -> None:
        super().add_watcher(key, email)
        self._maybe_crash(f"watcher {email}")

    def add_internal_comment(self, key: str, body: str, mentions=()) -> str:  # noqa: ANN001
        comment_id = super().add_internal_comment(key, body, mentions)
        self._maybe_crash("comment")
        return comment_id

    def _maybe_crash(self, what: str) -> None:
        if self.crash_on == what:
            self.crash_on = ""
            raise Crash(what)


@pytest.mark.parametrize("crash_on", ["watcher david.ellis@goeverbright.com", "comment"])
def test_a_crash_between_a_write_and_its_record_does_not_repeat_the_write(make_daemon, tmp_path, clock, crash_on):
    site = harness.onboarding_site([])
    form = "Installer name: Helio Homes\nInstaller contact email: hello@heliohomes.example"  # no account manager
    site.tickets.append(SiteTicket(key="SS-7", summary="EverBright Partner Onboarding", status="Waiting for support",
                                   description=form, reporter="hello@heliohomes.example",
                                   participants=["hello@heliohomes.example"]))
    state = tmp_path / "crash-site.sqlite3"
    tracker = CrashAfterWrite(site, state, now=clock.now)
    tracker.crash_on = crash_on
    first = make_daemon(site, tracker=tracker)
    _receive(first, harness.onboarding_created("SS-7", 1793610840000))
    with pytest.raises(Crash):
        first.workers.drain()
    assert [r.status for r in first.inbox.rows()] == [PROCESSING]  # the dead process's claim
    written = tracker.changes()

    # A new process on the same database and site; the lease of the dead claim runs out.
    restarted = make_daemon(site, tracker=SharedMemoryTracker(site, state, now=clock.now))
    clock.advance(timedelta(seconds=61))
    assert restarted.workers.drain() == 1
    log = restarted.handler.trackers["jira"].changes()
    assert log[: len(written)] == written
    assert len(log) == len(set(log)), "a write was repeated"
    assert sum("watcher + david.ellis" in line for line in log) == 1
    # The plan completes on the retry: the "no account manager" comment is posted exactly once either way.
    assert sum("internal comment" in line for line in log) == 1
    assert [r.status for r in restarted.inbox.rows()] == [DONE]


def test_a_retry_after_a_partial_plan_completes_it(make_daemon, tmp_path, clock):
    site = harness.onboarding_site(["SS-1"])
    tracker = CrashAfterWrite(site, tmp_path / "partial.sqlite3", now=clock.now)
    tracker.crash_on = "watcher tom.becker@goeverbright.com"
    daemon = make_daemon(site, tracker=tracker)
    _receive(daemon, harness.onboarding_created("SS-1", 1793610840000))
    with pytest.raises(Crash):
        daemon.workers.drain()
    clock.advance(timedelta(seconds=61))
    daemon.workers.drain()
    assert "watcher + david.ellis@goeverbright.com" in harness.lines_of(tracker.changes(), "SS-1")


def test_a_crash_after_create_ticket_does_not_create_it_twice(make_daemon, tmp_path, clock):
    """The created ticket carries the effect's marker label from its creation on; the retry finds it."""
    from bot.clock import VirtualClock
    from bot.effects import CreateTicket
    from bot.executor import Executor
    from bot.store import Store

    site = harness.onboarding_site([])
    store = Store(f"sqlite:///{tmp_path / 'exec.sqlite3'}")

    class CrashAfterCreate(SharedMemoryTracker):
        def create_ticket(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            super().create_ticket(*args, **kwargs)
            raise Crash("after create")

    effect = CreateTicket(rule_id="r", ticket_key="SS-1", step="config-ticket", project="CS", issue_type="Task",
                          summary="Configure Sunpeak Solar")
    with pytest.raises(Crash):
        Executor(CrashAfterCreate(site, tmp_path / "c.sqlite3", now=clock.now), store, VirtualClock(),
                 scope="live").apply([effect])
    survivor = SharedMemoryTracker(site, tmp_path / "c.sqlite3", now=clock.now)
    [outcome] = Executor(survivor, store, VirtualClock(), scope="live").apply([effect])
    assert sum("created Task" in line for line in survivor.changes()) == 1
    assert (outcome.status, outcome.detail) == ("already-true", f"CS-1 was created earlier (label {effect.marker})")
    assert store.applied("SS-1")[0].detail == "created CS-1"


def test_a_claim_left_by_a_killed_local_process_is_taken_over_in_seconds_not_at_lease_end(make_daemon):
    """A SIGKILLed replica's events must not wait for its lease (a minute) or the leader's sweep:
    the surviving pool's heartbeat hands them back. The virtual clock never moves, so no lease expires."""
    import subprocess
    import sys

    from bot.inbox.queue import Inbox, owner_id

    daemon = make_daemon(harness.onboarding_site(["SS-1"]))
    _receive(daemon, harness.onboarding_created("SS-1", 1793610840000))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    host = owner_id().rsplit(":", 2)[0]
    killed = Inbox(daemon.store.engine, daemon.clock, owner=f"{host}:{int(gone.stdout)}:deadbeef")
    assert killed.claim(lease_seconds=60) is not None  # it claimed the event, then died
    assert daemon.workers.drain() == 0  # nothing claimable by the ordinary rules

    daemon.workers.orphan_check = 0.05
    daemon.workers.start()
    try:
        harness.wait_until(lambda: [r.status for r in daemon.inbox.rows()] == [DONE], timeout=10)
    finally:
        daemon.workers.stop()
    written = [
        line for line in harness.lines_of(daemon.handler.trackers["jira"].changes(), "SS-1") if "created" not in line
    ]
    assert sorted(written) == sorted(harness.INTAKE_LINES)
