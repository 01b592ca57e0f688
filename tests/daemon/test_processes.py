"""``ticketbot run`` as real processes: SIGKILL mid-stream and restart, SIGTERM, two replicas on PostgreSQL.

The daemon runs against the file-backed in-memory site (``TICKETBOT_TRACKER=memory:…``): every
tracker write is durable when it returns, like a Jira write, so a process killed between a
write and its record leaves what a real crash leaves; and the test reads the site's change log
afterwards to check that no write happened twice.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.inbox.poller import LAST_POLL, StateRow
from bot.inbox.queue import DONE, PROCESSING, Inbox, InboxRow, as_utc
from bot.inbox.spool import IntakeFile, intake_path, intake_table
from bot.store import TraceRow, make_engine
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import Site
from tests.support import daemon as harness

TICKETS = [f"SS-{i}" for i in range(1, 31)]


def _events(keys: list[str]) -> list[tuple[str, bytes]]:
    """(delivery id, body): a created and an updated event per ticket."""
    out = []
    for n, key in enumerate(keys):
        out.append((f"{key}-created", harness.encode(harness.onboarding_created(key, 1793610840000 + n))))
        out.append((f"{key}-updated", harness.encode(harness.onboarding_updated(key, 1793610900000 + n))))
    return out


def _post(url: str, delivery: str, body: bytes, client: httpx.Client | None = None) -> bool:
    """One delivery as Jira makes it; True when acknowledged (Jira would not send it again)."""
    try:
        r = (client or httpx).post(f"{url}/webhooks/jira", content=body, headers=harness.jira_headers(body, delivery),
                                   timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 202


def _env(tmp_path: Path, db_url: str, site: Site, **extra: str) -> dict[str, str]:
    harness.write_site(tmp_path / "site.yaml", site)
    return {"TICKETBOT_DATABASE_URL": db_url, "TICKETBOT_JIRA__WEBHOOK_SECRET": harness.SECRET,
            "TICKETBOT_TRACKER": f"memory:{tmp_path / 'site.yaml'}:{tmp_path / 'site-state.sqlite3'}",
            "TICKETBOT_JIRA__POLL_INTERVAL": "0", "TICKETBOT_WORKER__IDLE_POLL": "0.05",
            "TICKETBOT_WORKER__COUNT": "3", "TICKETBOT_LOG_LEVEL": "INFO", **extra}


def _site_log(tmp_path: Path, site: Site) -> list[str]:
    return SharedMemoryTracker(site, tmp_path / "site-state.sqlite3").changes()


def _assert_each_ticket_written_once(log: list[str], keys: list[str], *, may_be_cut: int = 0) -> None:
    """No write twice; every ticket fully processed, except at most ``may_be_cut`` whose plan a kill cut.

    A plan cut after its field edit is not completed on retry: the intake rule's "already
    applied" check looks at the fields only (reported; see test_worker's xfail).
    """
    assert len(log) == len(set(log)), f"a write was repeated: {sorted(log)}"
    assert sum("organization 'Sunpeak Solar' created" in line for line in log) == 1
    cut = []
    for key in keys:
        written = sorted(line for line in harness.lines_of(log, key) if "created" not in line)
        assert set(written) <= set(harness.INTAKE_LINES), key
        if written != sorted(harness.INTAKE_LINES):
            cut.append(key)
    assert len(cut) <= may_be_cut, f"tickets left half-done: {cut}"
    if cut:
        print(f"plans cut by the kill and not completed afterwards (rule gap): {cut}")


def _assert_metrics_from_the_worker_process(daemon: harness.DaemonProcess) -> None:
    """/metrics is one valid exposition: the HTTP process's counters and the worker process's."""
    from prometheus_client.parser import text_string_to_metric_families

    harness.wait_until(
        lambda: "ticketbot_events_processed_total{" in httpx.get(f"{daemon.url}/metrics").text, timeout=5
    )
    text = httpx.get(f"{daemon.url}/metrics").text
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "a metric is described twice"
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    total = lambda name: sum(s.value for s in samples if s.name == name)  # noqa: E731
    assert total("ticketbot_events_processed_total") > 0  # counted in the worker process
    assert total("ticketbot_events_received_total") > 0  # counted in the HTTP process
    assert any(s.name == "ticketbot_inbox_depth" for s in samples)


def _in_intake_file(db_url: str) -> set[str]:
    """The dedup keys the HTTP process committed to its intake file (bot/inbox/spool.py), moved or not."""
    spool = IntakeFile(intake_path(db_url))
    try:
        with spool.engine.connect() as conn:
            return set(conn.execute(select(intake_table.c.dedup_key)).scalars())
    finally:
        spool.close()


def _depth(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(InboxRow)
                                .where(InboxRow.status.in_(("pending", "processing")))).scalar_one()
    finally:
        engine.dispose()


def test_sigkill_mid_stream_and_restart_loses_nothing_and_repeats_no_write(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
    site = harness.onboarding_site(TICKETS)
    daemon = harness.DaemonProcess(_env(tmp_path, db_url, site), tmp_path / "daemon.log").start()
    events = _events(TICKETS)
    acked: set[str] = set()
    try:
        with httpx.Client() as client:
            for delivery, body in events[:30]:
                if _post(daemon.url, delivery, body, client):
                    acked.add(delivery)
            harness.wait_until(lambda: len(_site_log(tmp_path, site)) >= 10, timeout=20)  # processing is under way

            def keep_sending() -> None:  # Jira goes on sending while the process dies
                for delivery, body in events[30:]:
                    if _post(daemon.url, delivery, body):
                        acked.add(delivery)

            sender = threading.Thread(target=keep_sending)
            sender.start()
            harness.wait_until(lambda: len(acked) >= 36, timeout=10, interval=0.001)
            assert daemon.kill(signal.SIGKILL) == -signal.SIGKILL
            sender.join(timeout=30)
        engine = make_engine(db_url)
        with engine.connect() as conn:
            stored = {r.dedup_key for r in conn.execute(select(InboxRow.dedup_key))}
            in_flight = conn.execute(select(func.count()).select_from(InboxRow)
                                     .where(InboxRow.status == PROCESSING)).scalar_one()
        engine.dispose()
        spooled = _in_intake_file(db_url)  # committed by the HTTP process, not yet moved by the worker
        assert {f"jira:{d}" for d in acked} <= stored | spooled, "an acknowledged event was lost"
        print(f"killed with {len(acked)} of {len(events)} acknowledged, {in_flight} in flight, "
              f"{len(spooled - stored)} in the intake file")

        daemon.start()  # the same database and site; Jira redelivers what was not acknowledged, and more
        with httpx.Client() as client:
            for delivery, body in events:
                if delivery not in acked or delivery.endswith("-created"):
                    assert _post(daemon.url, delivery, body, client)
        harness.wait_until(lambda: daemon.health()["inbox_depth"] == 0, timeout=30, interval=0.1)
        _assert_metrics_from_the_worker_process(daemon)
    finally:
        daemon.stop()

    inbox = Inbox(make_engine(db_url), None)  # type: ignore[arg-type]
    rows = inbox.rows()
    assert len(rows) == len(events) and {r.status for r in rows} == {DONE}
    _assert_each_ticket_written_once(_site_log(tmp_path, site), TICKETS, may_be_cut=3)  # 3 workers
    inbox.engine.dispose()


def test_sigterm_finishes_in_flight_work_and_leaves_the_rest_in_the_inbox(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
    site = harness.onboarding_site(TICKETS)
    daemon = harness.DaemonProcess(_env(tmp_path, db_url, site, TICKETBOT_WORKER__COUNT="1"),
                           tmp_path / "daemon.log").start()
    events = _events(TICKETS)
    try:
        with httpx.Client() as client:
            assert all(_post(daemon.url, d, b, client) for d, b in events)
        harness.wait_until(lambda: len(_site_log(tmp_path, site)) >= 10, timeout=20)  # processing is under way
        # The worker process gives way to acknowledgements: SCHED_IDLE, not only niced (Linux).
        if hasattr(os, "SCHED_IDLE"):
            children = [int(pid) for task in Path(f"/proc/{daemon.proc.pid}/task").iterdir()
                        for pid in (task / "children").read_text().split()]  # spawned from any thread
            assert os.SCHED_IDLE in {os.sched_getscheduler(pid) for pid in children}
            assert os.sched_getscheduler(daemon.proc.pid) == os.SCHED_OTHER
        # uvicorn re-raises the signal once shut down, so the exit status says "terminated by SIGTERM".
        assert daemon.kill(signal.SIGTERM) in (0, -signal.SIGTERM)
        log = (tmp_path / "daemon.log").read_text()
        assert "ticketbot daemon stopped" in log
        engine = make_engine(db_url)
        with engine.connect() as conn:
            statuses = dict(conn.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())
            moved = set(conn.execute(select(InboxRow.dedup_key)).scalars())
        engine.dispose()
        assert PROCESSING not in statuses  # in-flight work was finished, nothing left half-claimed
        assert len(moved | _in_intake_file(db_url)) == len(events)
        print(f"stopped with {statuses}")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{daemon.url}/healthz", timeout=2)

        daemon.start()
        harness.wait_until(lambda: daemon.health()["inbox_depth"] == 0, timeout=30, interval=0.1)
    finally:
        daemon.stop()
    _assert_each_ticket_written_once(_site_log(tmp_path, site), TICKETS)


def _settled(db_url: str) -> bool:
    """Nothing left to do: no unfinished event, and the latest poll began after the last event finished
    and queued nothing. (The leader's polls enqueue the tickets the bot has just written, so a moment
    with ``depth == 0`` is only a lull: rows keep arriving for up to a poll interval after it.)
    Read in one snapshot, so a poll committing meanwhile cannot make the answer inconsistent."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            depth = conn.execute(select(func.count()).select_from(InboxRow)
                                 .where(InboxRow.status.in_(("pending", "processing")))).scalar_one()
            newest_finish = conn.execute(select(func.max(InboxRow.finished_at))).scalar()
            last_poll = conn.execute(select(StateRow.value).where(StateRow.name == LAST_POLL)).scalar()
    finally:
        engine.dispose()
    if depth or last_poll is None or newest_finish is None:
        return False
    poll = json.loads(last_poll)
    return not poll["queued"] and not poll["error"] and datetime.fromisoformat(poll["at"]) > as_utc(newest_finish)


def _kill_while_holding_claims(db_url: str, victim: harness.DaemonProcess, patience: float = 5.0) -> int:
    """SIGKILL ``victim`` (and its worker process) as soon as one of its workers holds a claim, so its
    claims are left behind as a crash leaves them; returns how many it left (0 if it never held one)."""
    engine = make_engine(db_url)
    held: list[str] = []
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + patience
            while not held and time.monotonic() < deadline:
                owners = conn.execute(select(InboxRow.lease_owner).where(InboxRow.status == PROCESSING)).scalars()
                held = [o for o in owners if o and _in_group(o, victim)]
                conn.rollback()  # a fresh snapshot on the next look
                if not held:
                    time.sleep(0.001)
            victim.kill(signal.SIGKILL)
            left = conn.execute(select(func.count()).select_from(InboxRow).where(
                InboxRow.status == PROCESSING, InboxRow.lease_owner.in_(held))).scalar_one() if held else 0
    finally:
        engine.dispose()
    return left


def _in_group(owner: str, daemon: harness.DaemonProcess) -> bool:
    """Is the lease owner ``host:pid:nonce`` the daemon's process or one of its worker processes?"""
    try:
        return os.getpgid(int(owner.rsplit(":", 2)[1])) == daemon.proc.pid  # started with a session of its own
    except (ProcessLookupError, ValueError):
        return False


def test_two_replicas_on_postgresql_process_each_event_once_and_fail_over(tmp_path, pg_url):
    late_tickets = [f"SS-{i}" for i in range(31, 41)]
    site = harness.onboarding_site(TICKETS + late_tickets)
    env = _env(tmp_path, pg_url, site, TICKETBOT_WORKER__LEADER_RETRY="0.3", TICKETBOT_JIRA__POLL_INTERVAL="1")
    a = harness.DaemonProcess(env, tmp_path / "a.log").start()
    b = harness.DaemonProcess(env, tmp_path / "b.log")
    try:
        b.start()
        leaders = [p for p in (a, b) if p.health()["scheduler"]["leader"]]
        assert len(leaders) == 1, "exactly one scheduler"
        events = _events(TICKETS)
        with httpx.Client() as client:
            for i, (delivery, body) in enumerate(events):  # alternate, and redeliver to the other one
                first, second = (a, b) if i % 2 else (b, a)
                assert _post(first.url, delivery, body, client)
                assert _post(second.url, delivery, body, client)
        harness.wait_until(lambda: _settled(pg_url), timeout=30, interval=0.1)

        engine = make_engine(pg_url)
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")  # traces and rows of one moment
            traces = conn.execute(select(TraceRow.event_id, TraceRow.rule_id, func.count())
                                  .group_by(TraceRow.event_id, TraceRow.rule_id)).all()
            sources = dict(conn.execute(select(InboxRow.source, func.count()).group_by(InboxRow.source)).all())
        engine.dispose()
        assert sources["jira"] == len(events)  # plus "poll" rows: the leader's polls see the bot's writes
        assert len({event for event, _, _ in traces}) == sum(sources.values()), (
            "every event (webhook or poll) evaluated"
        )
        assert {count for _, _, count in traces} == {1}, "an event was processed twice (a rule's trace twice)"
        _assert_each_ticket_written_once(_site_log(tmp_path, site), TICKETS)

        leader, standby = (a, b) if a.health()["scheduler"]["leader"] else (b, a)
        assert leader.health()["last_poll"] is not None  # the leader polls (every second here)
        # More tickets arrive, and the leader dies in the middle of them, holding claims.
        with httpx.Client() as client:
            for i, (delivery, body) in enumerate(_events(late_tickets)):
                assert _post((a, b)[i % 2].url, delivery, body, client)
        orphans = _kill_while_holding_claims(pg_url, leader)
        print(f"the leader died holding {orphans} claim(s)")
        health = harness.wait_until(
            lambda: (h := standby.health())["scheduler"]["running"] and h, timeout=10, interval=0.1
        )
        assert health["scheduler"]["leader"] and "jira-poll" in health["scheduler"]["jobs"]
        assert _post(standby.url, "late", harness.encode(harness.onboarding_updated("SS-1", 1793611900000)))
        # The survivor takes the dead replica's claims over within seconds: neither waiting for the
        # lease (60 s) nor for its first sweep as the new leader (30 s).
        harness.wait_until(lambda: _depth(pg_url) == 0, timeout=10, interval=0.1)
        _assert_each_ticket_written_once(_site_log(tmp_path, site), TICKETS + late_tickets, may_be_cut=orphans)
    finally:
        a.stop()
        b.stop()
