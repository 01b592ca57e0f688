"""The inbox: every received event, committed before it is acknowledged, processed from here.

One row per distinct event (a unique *dedup key*), so a redelivery is a no-op. Workers
*claim* rows with a compare-and-set UPDATE on a version column plus a lease, which works the
same on SQLite and PostgreSQL and across replicas:

* only the oldest unfinished event of a runbook *instance* is claimable, so one instance's events
  are processed in arrival order, while other instances' events run in parallel. An instance is a
  ticket and the tickets its rule recorded as members (``instance_members``, see
  :func:`bot.state.member`: an onboarding's SS ticket with its CS and approval tickets); a ticket
  nobody recorded is an instance of its own. Nothing is read for it when an event is received;
* a failed event goes back to ``pending`` with a later ``next_attempt_at`` (and keeps
  blocking the instance's later events, which must not overtake it); after the last attempt it
  becomes ``dead`` and no longer blocks anything;
* a claim whose owner died is claimable again when its lease runs out, or within seconds
  when the owner was a process on this host that no longer exists (every worker pool looks
  for such claims every ``ORPHAN_CHECK`` seconds, see :mod:`bot.inbox.workers`).

Scheduling columns hold epoch seconds (floats): comparisons behave the same on both
databases, with no time-zone handling.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    outerjoin,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from bot.clock import Clock
from bot.inbox.spool import IntakeFile
from bot.model import Event
from bot.sources.jira_webhook import comment_identity
from bot.state import InstanceMemberRow
from bot.store import Base

log = logging.getLogger(__name__)

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
IGNORED = "ignored"
DEAD = "dead"
#: Seconds a commit to the intake file, made on the event loop, waits for a lock (nobody else writes that
#: file; only something like an admin's open sqlite3 shell can hold it) before the webhook is answered 503.
INLINE_PATIENCE = 1.0
#: States that hold a ticket's later events back.
UNFINISHED = (PENDING, PROCESSING)



class InboxRow(Base):
    """One received event and where it is in its life."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_ticket_status", "ticket_key", "status", "id"),
        Index("ix_inbox_status_due", "status", "next_attempt_at"),
        UniqueConstraint("body_digest", name="uq_inbox_body_digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    ticket_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    #: What is needed to rebuild the Event: ``{"source", "headers", "body"}`` for webhooks
    #: (the shape ``ticketbot replay`` reads), ``{"source": "poll", ...}`` for polls.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_ts: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: SHA-256 of a signed webhook body whose content identifies its event (Jira's: timestamp, ids):
    #: a replay of the body under another delivery identifier is a duplicate too (the identifier
    #: header is not covered by the signature). NULL for the rest (unique NULLs do not collide).
    body_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True)
class Claim:
    """A row this worker now owns; ``version`` proves it when the result is written back."""

    id: int
    version: int
    dedup_key: str
    source: str
    ticket_key: str
    envelope: dict[str, Any]
    attempts: int
    received_ts: float


#: Tells this life of a pid from an earlier one (every container's main process is pid 1).
_PROCESS_NONCE = uuid.uuid4().hex[:8]


def owner_id() -> str:
    """This process, as a lease owner: host, pid and a per-process nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_NONCE}"


def _owner_is_dead(owner: str, me: str) -> bool:
    """True when ``owner`` was a process on this host that is gone (we can tell without waiting)."""
    try:
        host, pid_text, nonce = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    my_host, my_pid, my_nonce = me.rsplit(":", 2)
    if host != my_host:
        return False
    if pid == int(my_pid):
        return nonce != my_nonce  # an earlier life of this pid (a restarted container)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def dedup_key(source: str, event: Event) -> str:
    """The inbox key of an event: its source's stable id for it.

    Parsers give an event the same id on every delivery (Jira: the delivery identifier
    header, else a digest of the event's identity); an id-less event gets a digest here.
    A Jira comment is keyed by the comment itself (:func:`~bot.sources.jira_webhook.comment_identity`):
    the "Comment created" and the "Issue updated" webhooks both deliver it, each under its own
    identifier and in its own body, and it must count once.
    """
    comment = comment_identity(event)
    if comment:
        return f"{source}:{comment}"
    if event.id:
        return f"{source}:{event.id}"[:300]
    identity = [
        event.raw_type or event.kind, event.ticket_key, event.occurred_at.astimezone(UTC).isoformat(),
        event.comment.id if event.comment else "",
        [[c.field, c.from_value, c.to_value] for c in event.changes],
    ]
    digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()
    return f"{source}:sha256:{digest}"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _GroupCommit:
    """Inserts from many request threads, committed together by one writer thread.

    Each caller still returns only once its row is committed. One writer instead of dozens
    of threads taking turns at SQLite's write lock (whose waiters sleep in 1-100 ms steps)
    is what keeps acknowledgements fast under load; PostgreSQL saves commits too.
    """

    MAX_BATCH = 256
    LOCK_PATIENCE = 10.0

    def __init__(self, engine: Engine, statement: Any) -> None:
        self.engine = engine
        self.statement = statement  # INSERT … ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key
        self.patience = self.LOCK_PATIENCE
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._conn: Any = None  # the writer thread's own connection, configured once
        self._stale = False  # the engine was disposed: connect afresh before the next batch
        sa_event.listen(engine, "engine_disposed", self._on_dispose)

    def write(self, values: dict[str, Any]) -> bool:
        """Insert ``values`` (ignoring a duplicate key); True when a row went in. Raises what the commit raised."""
        pending = _Pending(values)
        self._ensure_thread()
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.inserted

    async def write_async(self, values: dict[str, Any]) -> bool:
        """:meth:`write` for the event loop: waits for the commit without holding a thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def resolve() -> None:
            if future.done():
                return
            if pending.error is not None:
                future.set_exception(pending.error)
            else:
                future.set_result(pending.inserted)

        def on_done() -> None:
            loop.call_soon_threadsafe(resolve)

        pending = _Pending(values, on_done=on_done)
        self._ensure_thread()
        self._queue.put(pending)
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        """One multi-row INSERT for the batch; a key twice in one batch is a redelivery of the first."""
        first: dict[str, _Pending] = {}
        for p in batch:
            first.setdefault(p.values["dedup_key"], p)
        try:
            conn = self._connection()
            self._begin(conn)
            rows = conn.execute(self.statement, [p.values for p in first.values()]).scalars().all()
            conn.commit()
        except Exception as exc:  # every caller of the batch gets the failure (their HTTP answer: 503)
            self._drop_connection()  # the next batch connects afresh (the database may have come back)
            for p in batch:
                p.error = exc
                p.finish()
            return
        inserted = set(rows)
        for p in batch:
            p.inserted = first[p.values["dedup_key"]] is p and p.values["dedup_key"] in inserted
            p.finish()

    def _on_dispose(self, _engine: Engine) -> None:
        self._stale = True

    def _connection(self) -> Any:
        """The writer thread keeps one connection: no pool checkout and no PRAGMAs per commit
        (they were five of the seven statements an acknowledgement waited for)."""
        if self._stale:
            self._stale = False
            self._drop_connection()
        if self._conn is None:
            conn = self.engine.connect()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")  # see _begin
                # Leave WAL checkpoints (which copy pages and fsync) to the workers' commits, off this path.
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
                conn.commit()
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # not back to the pool: its PRAGMAs are this writer's
                conn.close()
            except Exception:  # already broken: nothing to give back
                log.debug("inbox writer: closing a failed connection", exc_info=True)

    def _begin(self, conn: Any) -> None:
        """On SQLite, take the write lock up front, retrying every half millisecond.

        SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so a writer
        competing with a busy worker process waits far longer than the lock is held; the
        acknowledgement path retries fast instead (for at most ``patience`` seconds; past that the
        webhook is answered 503 and its sender retries).
        """
        if conn.dialect.name != "sqlite":
            return
        deadline = time.monotonic() + self.patience
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                conn.rollback()
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)


class _IntakeWriter:
    """The inbox writer's interface over an intake file: commits in the caller's thread (see bot.inbox.spool)."""

    def __init__(self, intake: IntakeFile, inbox: Inbox) -> None:
        self.intake = intake
        self.inbox = inbox
        self.patience = INLINE_PATIENCE

    def write(self, values: dict[str, Any]) -> bool:
        return self.intake.write(values, self.inbox.engine, now=self.inbox.clock.now().timestamp(),
                                 patience=self.patience)

    async def write_async(self, values: dict[str, Any]) -> bool:
        return self.write(values)


@dataclass
class _Pending:
    values: dict[str, Any]
    inserted: bool = False
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)
    on_done: Callable[[], None] | None = None

    def finish(self) -> None:
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done()
            except RuntimeError:  # the caller's event loop is closed: nobody waits for the answer any more
                log.debug("inbox writer: the caller of a write is gone", exc_info=True)


def _change(*where: Any) -> Update:
    """An UPDATE of the rows matching ``where`` that moves their version on. Every change of a row
    goes through here, so a worker holding an older version (a stale claim) can no longer finish it."""
    return update(InboxRow).where(*where).values(version=InboxRow.version + 1)


class Inbox:
    """The durable queue of received events, shared by every replica on one database."""

    def __init__(self, engine: Engine, clock: Clock, *, owner: str | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.owner = owner or owner_id()
        self._dialect = engine.dialect.name
        self._wake = threading.Condition()
        self._claim_lock = threading.Lock()  # in-process claimers take turns; CAS guards across replicas
        self._queries = self._claim_queries()
        self._writer: _GroupCommit | _IntakeWriter = _GroupCommit(engine, self._insert_ignoring_duplicates())
        self._insert_many = self._insert_ignoring_duplicates(returning=False)
        #: Set by :meth:`receive_through`: where this process's adds are committed.
        self.intake: IntakeFile | None = None
        #: Called after each new event (e.g. to wake workers running in another process).
        self.on_notify: list[Callable[[], None]] = []

    # receiving ------------------------------------------------------------------------------
    def receive_through(self, intake: IntakeFile) -> None:
        """Commit what this process adds to ``intake`` (a file only it writes) instead of the inbox; worker
        processes move the rows in (:meth:`move_from`). See :mod:`bot.inbox.spool`."""
        intake.prune_now(self.engine, now=self.clock.now().timestamp())
        writer = _IntakeWriter(intake, self)
        writer.patience = min(self._writer.patience, INLINE_PATIENCE)  # it holds up the event loop meanwhile
        self._writer, self.intake = writer, intake
        intake.start_checkpoints()

    def move_from(self, intake: IntakeFile, *, limit: int = 500) -> int:
        """Move rows the HTTP process committed to ``intake`` into the inbox (wakes the workers); how many."""
        moved = 0
        while True:
            count = intake.move(self.engine, self._insert_many, limit=limit)
            moved += count
            if count < limit:
                break
        if moved:
            with self._wake:
                self._wake.notify_all()
        return moved

    @property
    def write_patience(self) -> float:
        """Seconds a webhook's commit waits for a database locked by someone else before it gives up (503)."""
        return self._writer.patience

    @write_patience.setter
    def write_patience(self, seconds: float) -> None:
        self._writer.patience = seconds

    def add(self, *, key: str, source: str, event: Event, envelope: dict[str, Any], ignored: str = "",
            body_digest: str | None = None) -> bool:
        """Commit one event; False when its key (or its ``body_digest``) is already there (a redelivery:
        nothing happens).

        ``ignored`` records the event as received but not to be processed, with that reason.
        """
        inserted = self._writer.write(self._row(key, source, event, envelope, ignored, body_digest))
        if inserted and not ignored:
            self.notify()
        return inserted

    def key_of_body(self, body_digest: str) -> str | None:
        """The dedup key of the event received with this body digest, if any."""
        with self.engine.connect() as conn:
            key = conn.execute(select(InboxRow.dedup_key).where(InboxRow.body_digest == body_digest)).scalar()
        if key is None and self.intake is not None:
            key = self.intake.key_of_body(body_digest)
        return key

    async def add_async(self, *, key: str, source: str, event: Event, envelope: dict[str, Any],
                        ignored: str = "", body_digest: str | None = None) -> bool:
        """:meth:`add` for the event loop (the webhook endpoints)."""
        inserted = await self._writer.write_async(self._row(key, source, event, envelope, ignored, body_digest))
        if inserted and not ignored:
            self.notify()
        return inserted

    def _row(self, key: str, source: str, event: Event, envelope: dict[str, Any], ignored: str,
             body_digest: str | None = None) -> dict[str, Any]:
        now = self.clock.now()
        return dict(
            dedup_key=key, source=source, kind=event.kind, ticket_key=event.ticket_key or "",
            status=IGNORED if ignored else PENDING, envelope=envelope, occurred_at=event.occurred_at,
            received_at=now, received_ts=now.timestamp(), attempts=0, next_attempt_at=now.timestamp(),
            version=0, note=ignored, finished_at=now if ignored else None, body_digest=body_digest,
        )

    def _insert_ignoring_duplicates(self, *, returning: bool = True):  # noqa: ANN202 - dialect-specific Insert
        insert: Callable[..., Any]
        if self._dialect == "postgresql":
            insert = postgresql.insert
        elif self._dialect == "sqlite":
            insert = sqlite.insert
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"unsupported database {self._dialect}")
        # Any unique column (dedup_key, body_digest) makes a repeat a no-op. RETURNING says which
        # rows went in (rowcount is not reliable with RETURNING on psycopg).
        statement = insert(InboxRow).on_conflict_do_nothing()
        return statement.returning(InboxRow.dedup_key) if returning else statement

    def notify(self) -> None:
        """Wake idle workers (other replicas find the row on their next look)."""
        with self._wake:
            self._wake.notify_all()
        for hook in self.on_notify:
            hook()

    def wait(self, timeout: float) -> None:
        with self._wake:
            self._wake.wait(timeout)

    # claiming -------------------------------------------------------------------------------
    def claim(self, lease_seconds: float) -> Claim | None:
        """Take the oldest ready event whose instance has nothing earlier unfinished, or None."""
        with self._claim_lock:
            now = self.clock.now().timestamp()
            for row_id, version in self._candidates(now):
                claim = self._take(row_id, version, now, lease_seconds)
                if claim is not None:
                    return claim
        return None

    def _candidates(self, now: float) -> list[tuple[int, int]]:
        """Unblocked ready rows: expired claims first, then due events in due order."""
        expired, due = self._queries
        with self.engine.connect() as conn:
            return [(r.id, r.version) for query in (expired, due) for r in conn.execute(query, {"now": now})]

    @staticmethod
    def _claim_queries(limit: int = 8) -> tuple[Select, Select]:
        """Built once (statement caching then skips recompiling). Each query walks the
        (status, next_attempt_at) index in order and stops at ``limit``: its cost does not
        grow with the backlog or with the finished rows.

        A row is blocked while an earlier row of its *instance* is unfinished: the instance is the one the
        row's ticket belongs to (``instance_members``, a primary-key look-up), else the ticket itself, and
        its earlier rows are found per ticket of the instance in the (ticket_key, status, id) index, so
        finished rows are never read."""
        row, earlier, by_member = InboxRow, aliased(InboxRow), aliased(InboxRow)
        joined, others = aliased(InstanceMemberRow), aliased(InstanceMemberRow)
        now = bindparam("now", type_=Float)
        instance = func.coalesce(joined.instance_key, row.ticket_key)
        # Two EXISTS rather than one over "the instance's tickets": each is an index look-up PostgreSQL
        # plans as such (an IN over a UNION became a filter over every earlier row there).
        blocked_by_instance = exists().where(earlier.ticket_key == instance, earlier.status.in_(UNFINISHED),
                                             earlier.id < row.id)
        # The members first, then each one's unfinished rows: with ``exists().where(…)`` (inbox first in FROM)
        # SQLite without statistics (no ANALYZE) walked every unfinished row by status instead. Checked by
        # tests/daemon/test_inbox.py::test_the_claim_query_reads_no_finished_rows.
        blocked_by_member = select(literal(1)).select_from(others).join(
            by_member, by_member.ticket_key == others.ticket_key).where(
            others.instance_key == instance, by_member.status.in_(UNFINISHED), by_member.id < row.id).exists()
        blocked = or_(blocked_by_instance, blocked_by_member)
        rows = outerjoin(row, joined, joined.ticket_key == row.ticket_key)
        expired = (select(row.id, row.version).select_from(rows)
                   .where(row.status == PROCESSING, row.lease_until < now, ~blocked).limit(limit))
        due = (select(row.id, row.version).select_from(rows)
               .where(row.status == PENDING, row.next_attempt_at <= now, ~blocked)
               .order_by(row.next_attempt_at, row.id).limit(limit))
        return expired, due

    @staticmethod
    def _ready(now: float):  # noqa: ANN205 - a SQL expression
        return or_(and_(InboxRow.status == PENDING, InboxRow.next_attempt_at <= now),
                   and_(InboxRow.status == PROCESSING, InboxRow.lease_until < now))

    def _take(self, row_id: int, version: int, now: float, lease_seconds: float) -> Claim | None:
        """Compare-and-set: the row is ours only if nobody changed it since we looked."""
        r = InboxRow
        stmt = (_change(r.id == row_id, r.version == version, self._ready(now))
                .values(status=PROCESSING, lease_owner=self.owner, lease_until=now + lease_seconds,
                        attempts=r.attempts + 1)
                .returning(r.id, r.version, r.dedup_key, r.source, r.ticket_key, r.envelope, r.attempts,
                           r.received_ts))
        with self.engine.begin() as conn:
            taken = conn.execute(stmt).first()
        return Claim(**taken._asdict()) if taken is not None else None

    def renew(self, claims: Sequence[Claim], lease_seconds: float) -> None:
        """Extend the leases of events still being worked on (a slow tracker is not a dead worker)."""
        if not claims:
            return
        until = self.clock.now().timestamp() + lease_seconds
        with self.engine.begin() as conn:
            conn.execute(update(InboxRow).where(
                InboxRow.id.in_([c.id for c in claims]), InboxRow.lease_owner == self.owner,
                InboxRow.status == PROCESSING).values(lease_until=until))

    # results --------------------------------------------------------------------------------
    def complete(self, claim: Claim, *, note: str = "", status: str = DONE, conn: Connection | None = None) -> bool:
        """Mark a claimed event finished (in ``conn``'s transaction when given); False if the claim
        had been lost meanwhile."""
        return self._finish(claim, conn, status=status, note=note, finished_at=self.clock.now(),
                            lease_owner=None, lease_until=None, last_error=None)

    def fail(self, claim: Claim, error: str, *, retry_in: float | None, spent: bool = True) -> bool:
        """Record a failure: retry after ``retry_in`` seconds, or dead-letter when None.

        ``spent=False`` gives back the attempt counted at the claim: the event met its system down
        (an outage), which says nothing about the event itself."""
        attempts = {} if spent else {"attempts": InboxRow.attempts - 1}
        if retry_in is None:
            return self._finish(claim, None, status=DEAD, last_error=error[:4000], finished_at=self.clock.now(),
                                lease_owner=None, lease_until=None, **attempts)
        return self._finish(claim, None, status=PENDING, last_error=error[:4000], lease_owner=None, lease_until=None,
                            next_attempt_at=self.clock.now().timestamp() + retry_in, **attempts)

    def hurry(self, row_ids: Sequence[int]) -> int:
        """Make these events (held during an outage that is now over) due now, if they still wait; wakes
        the workers. How many were."""
        now = self.clock.now().timestamp()
        count = 0
        with self.engine.begin() as conn:
            for start in range(0, len(row_ids), 500):
                count += conn.execute(_change(InboxRow.id.in_(row_ids[start:start + 500]), InboxRow.status == PENDING,
                                              InboxRow.next_attempt_at > now).values(next_attempt_at=now)).rowcount
        if count:
            self.notify()
        return count

    def _finish(self, claim: Claim, conn: Connection | None, **values: Any) -> bool:
        stmt = _change(InboxRow.id == claim.id, InboxRow.version == claim.version,
                       InboxRow.lease_owner == self.owner).values(**values)
        if conn is not None:
            done = conn.execute(stmt).rowcount == 1
        else:
            with self.engine.begin() as own:
                done = own.execute(stmt).rowcount == 1
        if not done:
            log.warning("inbox event %s was reclaimed by another worker before it finished here", claim.id)
        return done

    # housekeeping ---------------------------------------------------------------------------
    def reclaim_orphans(self) -> int:
        """Make events claimed by dead processes of this host claimable now, not at lease end."""
        with self.engine.connect() as conn:
            owners = conn.execute(select(InboxRow.lease_owner).where(
                InboxRow.status == PROCESSING, InboxRow.lease_owner != self.owner).distinct()).scalars().all()
        dead = [o for o in owners if o and _owner_is_dead(o, self.owner)]
        if not dead:
            return 0
        count = self._release(InboxRow.lease_owner.in_(dead), next_attempt_at=self.clock.now().timestamp())
        if count:
            log.warning("reclaimed %d event(s) left in flight by %d dead process(es)", count, len(dead))
            self.notify()
        return count

    def release_mine(self) -> int:
        """Give back every claim of this process (shutdown with work still unfinished)."""
        return self._release(InboxRow.lease_owner == self.owner, attempts=InboxRow.attempts - 1)

    def _release(self, owned_by: Any, **values: Any) -> int:
        """Put the claims matching ``owned_by`` back in line (pending, unowned); how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(_change(InboxRow.status == PROCESSING, owned_by).values(
                status=PENDING, lease_owner=None, lease_until=None, **values)).rowcount

    def prune(self, older_than: timedelta, *, keep: Callable[[Connection, Sequence[Any]], int] | None = None,
              batch: int = 1000) -> int:
        """Forget finished events past the redelivery horizon (dead letters stay); how many.

        ``keep(conn, rows)`` is handed each batch of rows before they are deleted, in the same transaction (the
        event archive, :mod:`bot.inbox.archive`): an event is then in one table or the other, never neither."""
        cutoff = (self.clock.now() - older_than).timestamp()
        old = and_(InboxRow.status.in_((DONE, IGNORED)), InboxRow.received_ts < cutoff)
        if keep is None:
            with self.engine.begin() as conn:
                return conn.execute(delete(InboxRow).where(old)).rowcount
        pruned = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(select(InboxRow.id, InboxRow.dedup_key, InboxRow.source, InboxRow.kind,
                                           InboxRow.ticket_key, InboxRow.status, InboxRow.occurred_at,
                                           InboxRow.received_ts, InboxRow.envelope)
                                    .where(old).order_by(InboxRow.id).limit(batch)).all()
                if not rows:
                    return pruned
                keep(conn, rows)
                pruned += conn.execute(delete(InboxRow).where(InboxRow.id.in_([r.id for r in rows]))).rowcount

    # reading --------------------------------------------------------------------------------
    def depth(self) -> int:
        """Events received and not yet finished (those still in the intake file included)."""
        with self.engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(InboxRow)
                                .where(InboxRow.status.in_(UNFINISHED))).scalar_one()
        return held + (self.intake.backlog(self.engine) if self.intake is not None else 0)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all()
        return {status: count for status, count in rows}

    def rows(self, *, status: str | None = None, limit: int = 1000) -> list[InboxRow]:
        query = select(InboxRow).order_by(InboxRow.id).limit(limit)
        if status:
            query = query.where(InboxRow.status == status)
        with Session(self.engine) as session:
            return list(session.scalars(query).all())

    def newest_occurrence(self, ticket_key: str) -> datetime | None:
        """When the latest event we hold for a ticket happened (the poller skips what it has). Dead
        letters do not count: the ticket's state at that moment was never applied, so a poll that finds
        the ticket updated queues it again."""
        with self.engine.connect() as conn:
            moment = conn.execute(select(func.max(InboxRow.occurred_at))
                                  .where(InboxRow.ticket_key == ticket_key, InboxRow.status != DEAD)).scalar()
        return as_utc(moment) if moment else None

    # dead letters ---------------------------------------------------------------------------
    def dead_letters(self) -> list[InboxRow]:
        return self.rows(status=DEAD)

    def retry_dead(self, row_id: int | None = None) -> int:
        """Put one dead letter (or all, with None) back in line, with fresh attempts."""
        stmt = _change(InboxRow.status == DEAD)
        if row_id is not None:
            stmt = stmt.where(InboxRow.id == row_id)
        stmt = stmt.values(status=PENDING, attempts=0, next_attempt_at=self.clock.now().timestamp(), finished_at=None)
        with self.engine.begin() as conn:
            count = conn.execute(stmt).rowcount
        self.notify()
        return count
