"""The database goes away for a while: webhooks are answered 503 (the sender retries; nothing is
acknowledged that was not stored), and the daemon carries on by itself once it is back."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.inbox.queue import DONE, PENDING
from tests.support import daemon as harness


def _post(url: str, key: str, ts: int) -> httpx.Response:
    body = harness.encode(harness.onboarding_created(key, ts))
    return httpx.post(
        f"{url}/webhooks/jira", content=body, headers=harness.jira_headers(body, f"{key}-created"), timeout=30
    )


def _intake_done(daemon, key: str) -> bool:
    log = daemon.handler.trackers["jira"].changes()
    return sorted(line for line in harness.lines_of(log, key) if "created" not in line) == sorted(harness.INTAKE_LINES)


class _Outage:
    """Refuse new connections to one PostgreSQL database and cut the open ones; undo on ``end()``."""

    def __init__(self, db_url: str) -> None:
        self.name = make_url(db_url).database
        self.admin = harness.pg_admin()

    def begin(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": self.name})

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.admin.dispose()


def test_postgresql_outage_answers_503_then_recovers(make_daemon, pg_url):
    daemon = make_daemon(harness.onboarding_site(["SS-1", "SS-2", "SS-3"]), db_url=pg_url)
    outage = _Outage(pg_url)
    with harness.live_server(daemon.app) as url:
        assert _post(url, "SS-1", 1793610840000).status_code == 202
        harness.wait_until(lambda: _intake_done(daemon, "SS-1") and [r.status for r in daemon.inbox.rows()] == [DONE])

        outage.begin()
        try:
            down = _post(url, "SS-2", 1793610841000)
            assert down.status_code == 503 and "retry" in down.json()["error"]
            assert httpx.get(f"{url}/healthz").status_code == 503
        finally:
            outage.end()

        # The sender retries; the first attempts after the outage may still meet dead pooled connections.
        harness.wait_until(lambda: _post(url, "SS-2", 1793610841000).status_code == 202, timeout=10, interval=0.2)
        assert _post(url, "SS-3", 1793610842000).status_code == 202
        harness.wait_until(lambda: _intake_done(daemon, "SS-2") and _intake_done(daemon, "SS-3"), timeout=20)
        harness.wait_until(lambda: [r.status for r in daemon.inbox.rows()] == [DONE] * 3, timeout=10)
        harness.wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=10)


def test_an_outage_in_the_middle_of_an_event_does_not_leave_it_waiting_for_its_lease(make_daemon, pg_url, tmp_path,
                                                                                     clock, caplog):
    """The database goes while a worker is half-way through an event: its outcome cannot be written.
    The worker keeps trying, and once the database is back the event is finished within seconds (its
    lease, 60 s, is far from over; the virtual clock never moves anyway)."""
    import logging
    import threading

    from bot.trackers.shared_memory import SharedMemoryTracker

    gate = threading.Event()
    reached = threading.Event()

    class HeldTracker(SharedMemoryTracker):
        """Jira that answers the read of SS-2 only when the test says so."""

        def get_ticket(self, key: str, *, with_people: bool = False):
            if key == "SS-2" and not gate.is_set():
                reached.set()
                assert gate.wait(20), "the test never opened the gate"
            return super().get_ticket(key, with_people=with_people)

    site = harness.onboarding_site(["SS-1", "SS-2"])
    daemon = make_daemon(site, db_url=pg_url, tracker=HeldTracker(site, tmp_path / "held.sqlite3", now=clock.now),
                         worker={"backoff_base": 0.1})
    outage = _Outage(pg_url)
    caplog.set_level(logging.WARNING, logger="bot.inbox.workers")
    with harness.live_server(daemon.app) as url:
        assert _post(url, "SS-2", 1793610841000).status_code == 202
        assert reached.wait(10)  # a worker holds SS-2
        outage.begin()
        try:
            gate.set()
            harness.wait_until(lambda: any("could not record" in r.getMessage() for r in caplog.records), timeout=10)
        finally:
            outage.end()
        # Recorded as a failed first attempt, due again after its backoff: not stuck "processing" for a lease.
        harness.wait_until(lambda: [(r.status, r.attempts) for r in daemon.inbox.rows()] == [(PENDING, 1)], timeout=10)
        clock.advance(timedelta(seconds=1))  # the backoff (0.1 s) passes
        daemon.inbox.notify()
        harness.wait_until(lambda: _intake_done(daemon, "SS-2") and [r.status for r in daemon.inbox.rows()] == [DONE],
                   timeout=15, interval=0.1)


def test_a_sqlite_database_locked_by_another_process_answers_503_then_recovers(make_daemon, tmp_path):
    """Another process (a backup, an admin's sqlite3 shell) holds the write lock: the webhook's commit
    waits at most the inbox's write patience, then the answer is 503; once the lock is gone, 202."""
    import sqlite3

    daemon = make_daemon(harness.onboarding_site(["SS-1", "SS-2"]))
    daemon.inbox.write_patience = 0.3
    with harness.live_server(daemon.app) as url:
        assert _post(url, "SS-1", 1793610840000).status_code == 202
        harness.wait_until(lambda: _intake_done(daemon, "SS-1") and [r.status for r in daemon.inbox.rows()] == [DONE])
        other = sqlite3.connect(tmp_path / "ticketbot.sqlite3", isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            locked = _post(url, "SS-2", 1793610841000)
            assert locked.status_code == 503 and "retry" in locked.json()["error"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert _post(url, "SS-2", 1793610841000).status_code == 202  # the sender's retry
        harness.wait_until(lambda: _intake_done(daemon, "SS-2"))
        harness.wait_until(
            lambda: [(r.ticket_key, r.status) for r in daemon.inbox.rows()] == [("SS-1", DONE), ("SS-2", DONE)]
        )
