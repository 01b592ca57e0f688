"""The event archive: what the daemon received, kept beside the inbox for backtests.

The inbox keeps a finished event for :data:`bot.daemon.core.INBOX_RETENTION` (long enough to recognise a
redelivery); the archive keeps it much longer (``TICKETBOT_ARCHIVE__RETENTION_DAYS``, 90 by default; 0 keeps
nothing), so that ``ticketbot events export`` can write a month of what a site sent as the file ``ticketbot
replay`` and ``ticketbot backtest`` read. Nothing is added on the intake path: when the leader's sweep prunes the
inbox, the rows it forgets move here in the same transaction (a crash keeps them in one place or the other,
never neither), their envelope compressed (zlib over compact JSON: the demos' Jira webhooks take a third of
their size, about 850 bytes an event and 1.1 KB of database file with its indexes, so a busy site's month of
100,000 events is about 110 MB; ``ticketbot events stats`` and benchmarks/README.md give the figures). Events
still in the inbox are exported from there, so an export covers everything received within the archive's
retention.

What is kept is every envelope as it arrived: webhook bodies with their headers, poll results, Slack decisions,
timer firings. What is exported for replay is what replay plays: the Jira and Zendesk webhooks and the Slack
decisions (``{"source": "slack", "event": …}``). A replay fires its own timers, so the daemon's timer firings are
left out; a poll result names a ticket and a moment, not what changed, and Jira Automation's web requests and
Slack delivery receipts are not people's actions: those are counted and named, not written (:data:`NOT_PLAYED`).
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import DateTime, Float, Index, Integer, LargeBinary, String, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.inbox.queue import InboxRow
from bot.store import Base

#: Envelope sources an export leaves out, and why (a replay could not play them, or plays them itself).
NOT_PLAYED = {
    "timer": "timer firings (a replay fires its own timers)",
    "poll": "poll results (they name a ticket and a moment, not what a person did)",
    "zendesk-poll": "poll results (they name a ticket and a moment, not what a person did)",
    "jira-automation": "Jira Automation web requests (not a person's action replay can play)",
    "slack_delivery": "Slack delivery receipts (the bot's own messages)",
}
#: Envelopes replay plays: webhooks as received, and what people did in Slack.
PLAYED = ("jira", "zendesk", "slack")
_PAGE = 500


class ArchiveRow(Base):
    """One received event, past the inbox's retention (migration 0009)."""

    __tablename__ = "event_archive"
    __table_args__ = (
        Index("ix_event_archive_received", "received_ts"),
        Index("ix_event_archive_ticket", "ticket_key", "received_ts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    ticket_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # the inbox's last word: done, ignored
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_ts: Mapped[float] = mapped_column(Float)
    #: The inbox envelope, compact JSON compressed with zlib (:func:`pack`).
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


def pack(envelope: Any) -> bytes:
    return zlib.compress(orjson.dumps(envelope), 6)


def unpack(data: bytes) -> Any:
    return orjson.loads(zlib.decompress(data))


@dataclass(frozen=True)
class Received:
    """One event as the daemon received it: from the archive or, still, from the inbox."""

    dedup_key: str
    source: str
    kind: str
    ticket_key: str
    status: str
    received_ts: float
    envelope: Any

    def record(self) -> dict[str, Any] | None:
        """What ``ticketbot replay`` reads for it, or None when replay does not play it (:data:`NOT_PLAYED`)."""
        if self.source not in PLAYED or not isinstance(self.envelope, dict):
            return None
        if self.source == "slack":
            return {"source": "slack", "event": self.envelope.get("event")} if "event" in self.envelope else None
        if "body" not in self.envelope:
            return None
        return {"source": self.source, "headers": self.envelope.get("headers") or {}, "body": self.envelope["body"]}


@dataclass(frozen=True)
class Stats:
    events: int
    stored_bytes: int
    raw_bytes: int
    oldest: datetime | None

    @property
    def bytes_per_event(self) -> float:
        return self.stored_bytes / self.events if self.events else 0.0


class EventArchive:
    def __init__(self, engine: Engine, clock: Clock, *, retention: timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.retention = retention
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = insert(ArchiveRow).on_conflict_do_nothing()

    @property
    def enabled(self) -> bool:
        return self.retention > timedelta(0)

    def keep(self, conn: Connection, rows: Sequence[Any]) -> int:
        """Archive inbox rows (anything with the inbox's columns) inside the caller's transaction; how many
        were new (an event archived before, by a sweep that died before its delete, is not doubled)."""
        if not self.enabled or not rows:
            return 0
        cutoff = self._cutoff()
        values = [dict(dedup_key=r.dedup_key, source=r.source, kind=r.kind, ticket_key=r.ticket_key, status=r.status,
                       occurred_at=r.occurred_at, received_ts=r.received_ts, envelope=pack(r.envelope))
                  for r in rows if r.received_ts >= cutoff]
        if not values:
            return 0
        return conn.execute(self._insert, values).rowcount or 0

    def prune(self) -> int:
        """Forget archived events older than the retention."""
        with self.engine.begin() as conn:
            return conn.execute(delete(ArchiveRow).where(ArchiveRow.received_ts < self._cutoff())).rowcount

    def _cutoff(self) -> float:
        return (self.clock.now() - self.retention).timestamp()

    def stats(self) -> Stats:
        with self.engine.connect() as conn:
            count, stored, oldest = conn.execute(select(func.count(), func.coalesce(func.sum(
                func.length(ArchiveRow.envelope)), 0), func.min(ArchiveRow.received_ts))).one()
            raw = sum(len(zlib.decompress(data)) for (data,) in conn.execute(
                select(ArchiveRow.envelope).order_by(ArchiveRow.id.desc()).limit(1000)))
            sampled = min(count, 1000)
        return Stats(count, int(stored), int(raw * count / sampled) if sampled else 0,
                     datetime.fromtimestamp(oldest, tz=UTC) if oldest is not None else None)

    def received(self, *, since: datetime | None = None, until: datetime | None = None,
                 ticket: str | None = None) -> Iterator[Received]:
        """Every event received in [since, until) (by when it arrived), oldest first: the archive's and those the
        inbox still holds, merged, each once. One read transaction sees one moment of both tables, so a sweep
        moving rows meanwhile neither hides nor doubles any; read a page at a time: a month is not held in memory."""
        low, high = (since.timestamp() if since else None), (until.timestamp() if until else None)
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                conn.begin()
            else:
                conn.exec_driver_sql("BEGIN")  # SQLite (WAL): the snapshot holds from the first read on
            try:
                archived = self._pages(conn, ArchiveRow, low, high, ticket, unpack)
                held = self._pages(conn, InboxRow, low, high, ticket, lambda envelope: envelope)
                yield from heapq.merge(archived, held, key=lambda r: (r.received_ts, r.dedup_key))
            finally:
                conn.rollback()

    @staticmethod
    def _pages(conn: Connection, table: Any, low: float | None, high: float | None, ticket: str | None,
               decode: Callable[[Any], Any]) -> Iterator[Received]:
        after: tuple[float, int] | None = None
        columns = (table.id, table.dedup_key, table.source, table.kind, table.ticket_key, table.status,
                   table.received_ts, table.envelope)
        while True:
            query = select(*columns).order_by(table.received_ts, table.id).limit(_PAGE)
            if low is not None:
                query = query.where(table.received_ts >= low)
            if high is not None:
                query = query.where(table.received_ts < high)
            if ticket:
                query = query.where(table.ticket_key == ticket)
            if after is not None:
                query = query.where((table.received_ts > after[0])
                                    | ((table.received_ts == after[0]) & (table.id > after[1])))
            rows = conn.execute(query).all()
            for r in rows:
                yield Received(r.dedup_key, r.source, r.kind, r.ticket_key, r.status, r.received_ts,
                               decode(r.envelope))
            if len(rows) < _PAGE:
                return
            after = (rows[-1].received_ts, rows[-1].id)
