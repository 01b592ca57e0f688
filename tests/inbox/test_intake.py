"""The intake file (SQLite under ``ticketbot run``): webhooks committed where no worker holds a lock, moved
into the inbox by the workers, never lost, never twice, redeliveries still duplicates at every stage."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import VirtualClock
from bot.inbox import spool as intake_module
from bot.inbox.queue import PENDING, Inbox, InboxRow
from bot.inbox.spool import IntakeFile, IntakeProgress, intake_path, intake_table
from bot.migrations import upgrade
from bot.model import TICKET_UPDATED, Event
from bot.store import make_engine

LEASE = 60.0


class Side:
    """One process's view: its own engines and IntakeFile object, as the HTTP process and a worker have."""

    def __init__(self, db_url: str, spool, clock: VirtualClock, *, receives: bool) -> None:  # noqa: ANN001
        self.engine = make_engine(db_url)
        self.intake = IntakeFile(spool)
        self.inbox = Inbox(self.engine, clock)
        if receives:
            self.inbox.receive_through(self.intake)

    def close(self) -> None:
        self.intake.close()
        self.engine.dispose()


@pytest.fixture
def sides(tmp_path):  # noqa: ANN001, ANN201
    db_url = f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
    upgrade(db_url)
    spool = intake_path(db_url)
    clock = VirtualClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    http, worker = Side(db_url, spool, clock, receives=True), Side(db_url, spool, clock, receives=False)
    yield http, worker
    http.close()
    worker.close()


def _event(key: str, n: int) -> Event:
    return Event(id=f"{key}#{n}", source="jira", kind=TICKET_UPDATED, ticket_key=key,
                 occurred_at=datetime(2026, 11, 2, 8, n % 60, tzinfo=UTC) + timedelta(hours=n // 60))


def _add(inbox: Inbox, key: str, n: int, *, digest: str | None = None, delivery: str | None = None) -> bool:
    event = _event(key, n)
    return inbox.add(key=f"jira:{delivery or event.id}", source="jira", event=event,
                     envelope={"n": n, "text": "Sunpeak Solar – ÅÄÖ"}, body_digest=digest)


def _intake_rows(side: Side) -> list[str]:
    with side.intake.engine.connect() as conn:
        return list(conn.execute(select(intake_table.c.dedup_key).order_by(intake_table.c.id)).scalars())


def _prune_at_every_commit(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(intake_module, "PRUNE_EVERY", 0.0)


def test_where_the_intake_file_lives():
    assert str(intake_path("sqlite:////var/lib/ticketbot/ticketbot.sqlite3")) == \
        "/var/lib/ticketbot/ticketbot.sqlite3-intake"
    assert intake_path("sqlite://") is None
    assert intake_path("sqlite:///:memory:") is None
    assert intake_path("postgresql+psycopg://bot@localhost/ticketbot") is None


def test_received_rows_wait_in_the_intake_file_until_a_worker_moves_them(sides):
    http, worker = sides
    for n in (1, 2):
        assert _add(http.inbox, "SS-1", n)
    assert _add(http.inbox, "SS-2", 1)
    assert worker.inbox.rows() == []  # committed, but not where the workers' locks are
    assert _intake_rows(http) == ["jira:SS-1#1", "jira:SS-1#2", "jira:SS-2#1"]
    assert http.inbox.depth() == 3  # /healthz and the metrics count them

    assert worker.inbox.move_from(worker.intake) == 3
    rows = worker.inbox.rows()
    assert [r.dedup_key for r in rows] == ["jira:SS-1#1", "jira:SS-1#2", "jira:SS-2#1"]
    assert {r.status for r in rows} == {PENDING}
    assert rows[0].envelope == {"n": 1, "text": "Sunpeak Solar – ÅÄÖ"}
    assert rows[1].occurred_at.replace(tzinfo=UTC) == _event("SS-1", 2).occurred_at
    assert http.inbox.depth() == 3  # moved, not yet processed: counted once
    assert worker.inbox.move_from(worker.intake) == 0  # nothing new

    first = worker.inbox.claim(LEASE)
    second = worker.inbox.claim(LEASE)
    assert (first.dedup_key, second.dedup_key) == ("jira:SS-1#1", "jira:SS-2#1")  # per-ticket order holds


def test_a_redelivery_is_a_duplicate_before_the_move_after_it_and_never_processed_twice(sides, monkeypatch):
    http, worker = sides
    assert _add(http.inbox, "SS-1", 1, digest="d1")
    assert not _add(http.inbox, "SS-1", 1)  # in the intake file
    assert not _add(http.inbox, "SS-1", 1, digest="d1", delivery="fresh-id")  # same body, another identifier
    assert http.inbox.key_of_body("d1") == "jira:SS-1#1"

    worker.inbox.move_from(worker.intake)
    _prune_at_every_commit(monkeypatch)
    assert _add(http.inbox, "SS-3", 1)
    assert _intake_rows(http) == ["jira:SS-1#1", "jira:SS-3#1"]  # moved, kept for Jira's late redeliveries
    assert not _add(http.inbox, "SS-1", 1)  # answered "duplicate"
    assert not _add(http.inbox, "SS-1", 1, digest="d1", delivery="another-id")
    assert http.inbox.key_of_body("d1") == "jira:SS-1#1"

    http.inbox.clock.advance(timedelta(seconds=intake_module.RETENTION + 1))
    assert _add(http.inbox, "SS-4", 1)  # past the retention the moved rows go; SS-3, not moved, stays
    assert _intake_rows(http) == ["jira:SS-3#1", "jira:SS-4#1"]
    assert _add(http.inbox, "SS-1", 1)  # a redelivery that late is answered "queued" …
    worker.inbox.move_from(worker.intake)
    assert sorted(r.dedup_key for r in worker.inbox.rows()) == ["jira:SS-1#1", "jira:SS-3#1", "jira:SS-4#1"]
    # … and dropped by the move: the inbox holds the event once


def test_a_failed_move_moves_nothing_and_the_next_one_moves_everything(sides):
    http, worker = sides
    for n in range(1, 6):
        _add(http.inbox, f"SS-{n}", n)

    def crash() -> None:
        raise RuntimeError("killed between the insert and the commit")

    with pytest.raises(RuntimeError):
        worker.intake.move(worker.engine, worker.inbox._insert_many, before_commit=crash)
    assert worker.inbox.rows() == []
    with worker.engine.connect() as conn:
        assert conn.execute(select(IntakeProgress.last_id)).scalar() in (None, 0)
    assert worker.inbox.move_from(worker.intake) == 5
    assert len(worker.inbox.rows()) == 5


def test_a_move_in_batches_keeps_arrival_order(sides):
    http, worker = sides
    keys = [f"SS-{random.Random(n).randint(1, 9)}" for n in range(40)]
    for n, key in enumerate(keys):
        _add(http.inbox, key, n)
    assert worker.inbox.move_from(worker.intake, limit=7) == 40
    assert [r.dedup_key for r in worker.inbox.rows()] == [f"jira:{k}#{n}" for n, k in enumerate(keys)]


def test_concurrent_receivers_and_two_movers_lose_nothing_and_move_nothing_twice(tmp_path, sides, monkeypatch):
    http, worker = sides
    other = Side(
        f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
        intake_path(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"),
        worker.inbox.clock,
        receives=False,
    )  # a second worker process
    _prune_at_every_commit(monkeypatch)  # deletions race with the moves too (nothing is old enough here)
    sent, moved, errors = 300, [], []
    done = threading.Event()

    def receive(start: int) -> None:
        for n in range(start, sent, 3):
            assert _add(http.inbox, f"SS-{n % 17}", n)
            if n % 10 == 0 and n >= 30:  # a redelivery of an earlier event (this thread's), at whatever stage
                assert not _add(http.inbox, f"SS-{(n - 30) % 17}", n - 30)

    def move(side: Side) -> None:
        try:
            while not done.is_set():
                moved.append(side.inbox.move_from(side.intake, limit=11))
            moved.append(side.inbox.move_from(side.intake, limit=11))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    movers = [threading.Thread(target=move, args=(s,)) for s in (worker, other)]
    receivers = [threading.Thread(target=receive, args=(i,)) for i in range(3)]
    for t in movers + receivers:
        t.start()
    for t in receivers:
        t.join()
    done.set()
    for t in movers:
        t.join()
    worker.inbox.move_from(worker.intake)
    other.close()
    assert not errors
    with worker.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(InboxRow)).scalar_one()
    assert stored == sent
    assert sum(moved) == sent  # each row moved by exactly one mover, once


def test_a_daemon_running_its_workers_in_process_moves_what_an_earlier_run_left_in_the_intake_file(make_daemon):
    from tests.support.daemon import encode, jira_headers, live_server, onboarding_created, onboarding_site, wait_until

    site = onboarding_site(["SS-1"])
    earlier = make_daemon(site)  # `ticketbot run` with worker processes, killed before its worker moved the row
    earlier.inbox.receive_through(IntakeFile(intake_path(earlier.settings.database_url)))
    body = encode(onboarding_created("SS-1", 1793610840000))
    headers = {name.lower(): value for name, value in jira_headers(body, "d-1").items()}  # as the HTTP layer hands them
    assert earlier.intake.receive("jira", body, headers).status == 202
    assert earlier.inbox.rows() == [] and earlier.inbox.depth() == 1
    earlier.inbox.intake.close()

    daemon = make_daemon(site)  # restarted with TICKETBOT_WORKER__PROCESSES=0
    with live_server(daemon.app):
        wait_until(lambda: [r.status for r in daemon.inbox.rows()] == ["done"])
    assert any("SS-1" in line for line in daemon.handler.trackers["jira"].changes())


def test_a_locked_intake_file_answers_503_after_its_patience_and_the_retry_goes_in(make_daemon):
    import sqlite3

    from tests.support.daemon import encode, jira_headers, onboarding_created, onboarding_site

    daemon = make_daemon(onboarding_site(["SS-1"]))
    spool = intake_path(daemon.settings.database_url)
    daemon.inbox.receive_through(IntakeFile(spool))
    daemon.inbox.write_patience = 0.05
    body = encode(onboarding_created("SS-1", 1793610840000))
    headers = {name.lower(): value for name, value in jira_headers(body, "d-1").items()}
    holder = sqlite3.connect(spool, isolation_level=None)  # e.g. an admin's sqlite3 shell mid-transaction
    holder.execute("BEGIN IMMEDIATE")
    try:
        reply = daemon.intake.receive("jira", body, headers)
        assert (reply.status, reply.body) == (503, {"error": "database unavailable, retry later"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert daemon.inbox.depth() == 0  # nothing half-written
    assert daemon.intake.receive("jira", body, headers).status == 202  # Jira's retry
    assert daemon.intake.receive("jira", body, headers).body["status"] == "duplicate"
    assert daemon.inbox.depth() == 1
