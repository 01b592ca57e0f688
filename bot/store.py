"""Durable state through SQLAlchemy: received events, traces, applied effects.

SQLite file by default (WAL mode), PostgreSQL through ``postgresql+psycopg://``.
A *scope* separates live work from replays and dry-runs: a replay starts with no
applied effects of its own, and ``ticketbot why`` shows each trace with its scope.

One event's traces and effect records are written together: inside :meth:`Store.deferred`
(the worker and the replay wrap each event in it) they are kept in memory and inserted in one
transaction when the event is done, instead of a transaction each (one per rule and one per
effect: half of the processing time went to those commits). Reads of the applied keys see the
pending ones. The executor flushes at once after a write whose state check cannot tell the bot's
change from a person's later one (a status, a field, a Slack message, a created ticket; see
Executor._record); what waits for the event's end is the traces, the "already true" findings,
the records of writes found again on the ticket (watchers, comments, links) and the bot's own
bookkeeping. Events that write nothing, most of them, cost one commit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

LIVE = "live"
#: The outcome of the record a Slack message gets just before it is sent (see Executor._send).
SENDING = "sending"
T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class TraceRow(Base):
    """One (event, rule) evaluation: the verdicts, the plan, what happened to each effect."""

    __tablename__ = "traces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(200), index=True)
    event_kind: Mapped[str] = mapped_column(String(64))
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    matched: Mapped[bool] = mapped_column(Boolean)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    effects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AppliedEffectRow(Base):
    """The executor's record: this effect key has been made true (or was found true)."""

    __tablename__ = "applied_effects"
    __table_args__ = (UniqueConstraint("scope", "effect_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    effect_key: Mapped[str] = mapped_column(String(300))
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # applied | already-true
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def is_in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///", "sqlite:///:memory:") or "mode=memory" in url


def make_engine(url: str) -> Engine:
    connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
    engine = create_engine(url, connect_args=connect_args, future=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


class Store:
    """Everything ticketbot must remember, behind small intention-revealing methods."""

    def __init__(self, url: str) -> None:
        self.url = url
        if is_in_memory(url):
            # A private in-memory database lives only in this engine: build it from the models.
            self.engine = make_engine(url)
            from bot.migrations import load_models

            load_models().create_all(self.engine)
        else:
            from bot.migrations import upgrade

            upgrade(url)  # the schema a real database has is always the migrations' (idempotent)
            self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._local = threading.local()  # each worker thread defers its own event's writes

    def session(self) -> Session:
        return self._session()

    # deferred writes ----------------------------------------------------------------------
    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Keep this thread's traces and effect records in memory; write them in one transaction
        at the end (also when the block raises: a failing event's traces and records matter most).
        Nested blocks join the outermost one."""
        if self._pending() is not None:
            yield
            return
        self._local.pending = _Pending()
        try:
            yield
        finally:
            try:
                self.flush()
            finally:
                self._local.pending = None

    def flush(self, also: Callable[[Connection], T] | None = None) -> T | None:
        """Write what this thread's :meth:`deferred` block holds so far, in one transaction with
        ``also`` (the worker marks the event done in it); returns what ``also`` returned."""
        pending = self._pending()
        if (pending is None or pending.empty) and also is None:
            return None
        traces, applied = (pending.traces, list(pending.applied.values())) if pending else ([], [])
        with self.engine.begin() as conn:
            if traces:
                conn.execute(insert(TraceRow), traces)
            if applied:
                conn.execute(self._insert_applied(), applied)
            result = also(conn) if also is not None else None
        if pending is not None:
            pending.clear()
        return result

    def _pending(self) -> _Pending | None:
        return getattr(self._local, "pending", None)

    def _insert_applied(self):  # a dialect-specific Insert
        """INSERT … ON CONFLICT DO NOTHING: another worker may have recorded the same key first."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(AppliedEffectRow).on_conflict_do_nothing(index_elements=["scope", "effect_key"])

    # traces -------------------------------------------------------------------------
    def add_trace(self, *, scope: str, event_id: str, event_kind: str, ticket_key: str, rule_id: str,
                  at: datetime, matched: bool, verdicts: list[dict], effects: list[dict],
                  notes: list[str], error: str | None) -> None:
        row = {"scope": scope, "event_id": event_id, "event_kind": event_kind, "ticket_key": ticket_key,
               "rule_id": rule_id, "at": at, "matched": matched, "verdicts": _jsonable(verdicts),
               "effects": _jsonable(effects), "notes": list(notes), "error": error}
        pending = self._pending()
        if pending is not None:
            pending.traces.append(row)
            return
        with self.engine.begin() as conn:
            conn.execute(insert(TraceRow), [row])

    def traces(self, ticket_key: str | None = None, *, scope: str | None = None, limit: int = 200) -> list[TraceRow]:
        query = select(TraceRow).order_by(TraceRow.id.desc()).limit(limit)
        if ticket_key:
            query = query.where(TraceRow.ticket_key == ticket_key)
        if scope:
            query = query.where(TraceRow.scope == scope)
        with self.session() as s:
            return list(reversed(s.scalars(query).all()))

    # applied effects ------------------------------------------------------------------
    def is_applied(self, scope: str, effect_key: str) -> bool:
        pending = self._pending()
        if pending is not None and (scope, effect_key) in pending.applied:
            return True
        with self.session() as s:
            row = s.scalar(select(AppliedEffectRow.id).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key == effect_key))
            return row is not None

    def applied_keys(self, scope: str, effect_keys: list[str]) -> set[str]:
        """Which of ``effect_keys`` are recorded as applied (one query)."""
        if not effect_keys:
            return set()
        pending = self._pending()
        held = {k for k in effect_keys if pending is not None and (scope, k) in pending.applied}
        with self.engine.connect() as conn:  # Core: an ORM session costs more than this indexed read
            return held | set(conn.execute(select(AppliedEffectRow.effect_key).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key.in_(effect_keys))).scalars())

    def record_applied(self, *, scope: str, effect_key: str, ticket_key: str, rule_id: str, kind: str,
                       outcome: str, detail: str, at: datetime, durable: bool = False) -> None:
        """Record an effect key as made true (the first record of a key wins).

        Inside :meth:`deferred` the record waits for the event's end unless ``durable``: then it is
        written at once, with everything held before it."""
        row = {"scope": scope, "effect_key": effect_key, "ticket_key": ticket_key, "rule_id": rule_id,
               "kind": kind, "outcome": outcome, "detail": detail, "at": at}
        pending = self._pending()
        if pending is not None:
            pending.applied.setdefault((scope, effect_key), row)
            if durable:
                self.flush()
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert_applied(), [row])

    def applied(self, ticket_key: str | None = None, *, scope: str = LIVE) -> list[AppliedEffectRow]:
        """The effects made (or found) true, oldest first; not the notes written before a send."""
        query = select(AppliedEffectRow).where(AppliedEffectRow.scope == scope,
                                               AppliedEffectRow.outcome != SENDING).order_by(AppliedEffectRow.id)
        if ticket_key:
            query = query.where(AppliedEffectRow.ticket_key == ticket_key)
        with self.session() as s:
            return list(s.scalars(query).all())


@dataclass
class _Pending:
    """One thread's writes waiting for the end of its event."""

    traces: list[dict[str, Any]] = field(default_factory=list)
    applied: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.traces or self.applied)

    def clear(self) -> None:
        self.traces = []
        self.applied = {}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
