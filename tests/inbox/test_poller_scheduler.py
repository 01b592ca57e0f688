"""The polling fallback, the leader-only scheduler, and the leader locks (file and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.inbox.leader import FileLeaderLock, LeaderElector, PgAdvisoryLock
from bot.inbox.poller import WATERMARK
from bot.inbox.scheduler import Scheduler
from tests.support.daemon import INTAKE_LINES, encode, jira_headers, lines_of, onboarding_created, onboarding_site


def test_poll_enqueues_updated_tickets_of_watched_projects_once(make_daemon, clock):
    daemon = make_daemon(onboarding_site(["SS-1", "SS-2"], others=["TES-1"]), jira={"poll_overlap": 120})
    tracker = daemon.handler.trackers["jira"]
    for key in ("SS-1", "SS-2", "TES-1"):
        tracker.apply_external_change(key, "labels", "touched")  # a person edits; the webhook is lost
    clock.advance(timedelta(seconds=30))

    first = daemon.poller.poll_once()
    assert (first.found, first.queued, first.error) == (2, 2, "")  # TES is not a watched project
    assert daemon.state.get(WATERMARK) == clock.now().isoformat()
    clock.advance(timedelta(seconds=60))
    again = daemon.poller.poll_once()  # the overlap finds them again; dedup keeps one row each
    assert (again.found, again.queued) == (2, 0)
    assert daemon.workers.drain() == 2
    for key in ("SS-1", "SS-2"):
        assert sorted(line for line in lines_of(tracker.changes(), key) if "created" not in line) == \
            sorted(INTAKE_LINES)
    assert daemon.poller.last_poll()["found"] == 2


def test_poll_skips_an_update_the_inbox_already_has_from_a_webhook(make_daemon, clock):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    daemon.handler.trackers["jira"].apply_external_change("SS-1", "labels", "x")
    updated_ms = int(clock.now().timestamp() * 1000)
    raw = encode(onboarding_created("SS-1", updated_ms))
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202
    result = daemon.poller.poll_once()
    assert (result.found, result.queued) == (1, 0)


def test_poll_queues_again_a_ticket_whose_only_inbox_row_is_a_dead_letter(make_daemon, clock):
    """A dead letter was never applied: the poll that finds its ticket updated must not take it for handled."""
    daemon = make_daemon(onboarding_site(["SS-1"]))
    daemon.handler.trackers["jira"].apply_external_change("SS-1", "labels", "x")
    raw = encode(onboarding_created("SS-1", int(clock.now().timestamp() * 1000)))
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202
    daemon.inbox.fail(daemon.inbox.claim(60), "EventFailed: a rule failed", retry_in=None)
    result = daemon.poller.poll_once()
    assert (result.found, result.queued) == (1, 1)
    assert [(r.source, r.status) for r in daemon.inbox.rows()] == [("jira", "dead"), ("poll", "pending")]


def test_a_failed_poll_keeps_the_watermark(make_daemon, clock):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    daemon.poller.poll_once()
    mark = daemon.state.get(WATERMARK)

    def broken(projects, since):  # noqa: ANN001, ANN202
        raise ConnectionError("Jira unreachable")

    daemon.poller.tracker = type("Broken", (), {"search_updated": staticmethod(broken)})()
    clock.advance(timedelta(minutes=5))
    result = daemon.poller.poll_once()
    assert result.error == "ConnectionError: Jira unreachable"
    assert daemon.state.get(WATERMARK) == mark
    assert daemon.poller.last_poll()["error"] == result.error


def test_poll_job_follows_the_setting(make_daemon):
    assert "jira-poll" not in make_daemon(onboarding_site([])).scheduler.job_ids  # interval 0: off
    assert "jira-poll" in make_daemon(onboarding_site([]), jira={"poll_interval": 60}).scheduler.job_ids


class SwitchLock:
    """A leader lock the test hands out and takes back."""

    def __init__(self) -> None:
        self.free = False
        self.mine = False

    def acquire(self) -> bool:
        self.mine = self.free
        return self.mine

    def held(self) -> bool:
        return self.mine and self.free

    def release(self) -> None:
        self.mine = False


def test_jobs_run_only_while_leader():
    lock = SwitchLock()
    elector = LeaderElector(lock, retry=3600)
    scheduler = Scheduler(elector)
    ran: list[str] = []
    scheduler.add_job("tick", lambda: ran.append("tick"), "interval", seconds=3600)
    elector.step()
    assert not elector.is_leader and not scheduler.running
    lock.free = True
    elector.step()
    assert elector.is_leader and scheduler.running
    scheduler.add_job("late", lambda: None, "interval", seconds=3600)  # added while running: scheduled now
    assert {j.id for j in scheduler._aps.get_jobs()} == {"tick", "late"}  # noqa: SLF001
    scheduler.add_job("tick", lambda: ran.append("tock"), "interval", seconds=3600)  # same id: replaced
    assert len(scheduler._aps.get_jobs()) == 2  # noqa: SLF001
    assert scheduler.run_job_now("tick") is None and ran == ["tock"]
    lock.free = False  # e.g. the database connection holding the lock died
    elector.step()
    assert not elector.is_leader and not scheduler.running
    elector.stop()


def test_file_lock_has_one_holder(tmp_path):
    a, b = FileLeaderLock(tmp_path / "db.lock"), FileLeaderLock(tmp_path / "db.lock")
    assert a.acquire() and not b.acquire()
    a.release()
    assert b.acquire()
    b.release()


def test_postgres_advisory_lock_has_one_holder_and_fails_over(pg_url):
    a, b = PgAdvisoryLock(pg_url), PgAdvisoryLock(pg_url)
    assert a.acquire() and not b.acquire()
    assert a.held()
    pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()  # noqa: SLF001
    admin = create_engine(pg_url, poolclass=NullPool)
    with admin.connect() as conn:  # the leader's session dies (crash, network cut, restart)
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    assert not a.held()
    assert b.acquire() and not a.acquire()
    b.release()
    a.release()
