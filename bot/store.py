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

A replay, the only writer of a scope of its own, goes further (:meth:`Store.batch`): its traces and
records wait for a commit every ``Replay.batch_events`` events and at its end, durable ones included,
and its applied keys are answered from memory; see :class:`bot.replay.Replay` for what an interrupted
replay keeps. The daemon's path above is unchanged.

On SQLite, these inserts (and the replay's rule state and timers) skip SQLAlchemy's per-row work:
:func:`executemany` hands the rows to the sqlite3 driver, converted as SQLAlchemy would convert them.

A backtest keeps nothing (:mod:`bot.ops.backtest`): its replays run on a :class:`MemoryStore`, the effect
records in a dictionary and no database at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache, partial
from operator import itemgetter
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.settings import ConfigurationError

LIVE = "live"
#: The outcome of the record a Slack message gets just before it is sent (see Executor._send).
SENDING = "sending"
T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class TraceRow(Base):
    """One (event, rule) evaluation: the verdicts, the plan, what happened to each effect."""

    __tablename__ = "traces"
    __table_args__ = (Index("ix_traces_ticket_scope", "ticket_key", "scope"),)  # how they are read (migration 0007)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    event_kind: Mapped[str] = mapped_column(String(64))
    ticket_key: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(100))
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
    try:
        engine = create_engine(url, connect_args=connect_args, future=True, json_serializer=_json_serializer)
    except ModuleNotFoundError as exc:  # the database's driver is an extra: say which
        extra = " (pip install 'ticketbot[postgres]')" if url.startswith("postgresql") else ""
        raise ConfigurationError(f"TICKETBOT_DATABASE_URL needs the Python module {exc.name!r}, which is not "
                                 f"installed{extra}") from None
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

    #: Whether what it is given reaches a database (:class:`MemoryStore`: no).
    persistent = True

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
        self._insert_applied = _insert_applied(self.engine.dialect.name)
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
        if pending is not None and pending.held and also is None:
            return None  # a batch (see batch()): its owner commits it at its own boundaries
        if (pending is None or pending.empty) and also is None:
            return None
        return self._write(pending, also)

    def _write(self, pending: _Pending | None, also: Callable[[Connection], T] | None) -> T | None:
        traces, applied = (pending.traces, list(pending.applied.values())) if pending else ([], [])
        with self.engine.begin() as conn:
            if traces:
                executemany(conn, _INSERT_TRACE, traces)
            if applied:
                executemany(conn, self._insert_applied, applied)
            result = also(conn) if also is not None else None
        if pending is not None:
            pending.clear()
        return result

    # batches (a replay) ---------------------------------------------------------------------
    def batch(self, scope: str) -> _Pending:
        """A batch of traces and effect records of ``scope`` for a writer that is the scope's only one (a
        replay, in a scope of its own): it holds many events' writes, :meth:`commit` writes them in one
        transaction. While it holds, the applied keys of ``scope`` are answered from memory (those in
        the database when the batch was made, and those recorded since) instead of a query per plan."""
        with self.engine.connect() as conn:
            known = set(conn.execute(select(AppliedEffectRow.effect_key).where(
                AppliedEffectRow.scope == scope)).scalars())
        return _Pending(held=True, scope=scope, known=known)

    @contextmanager
    def using(self, batch: _Pending) -> Iterator[None]:
        """Make ``batch`` this thread's deferred block: :meth:`deferred` blocks inside join it and
        :meth:`flush` leaves it to :meth:`commit` (a durable record waits for the batch's commit too)."""
        previous = self._pending()
        self._local.pending = batch
        try:
            yield
        finally:
            self._local.pending = previous

    def commit(self, batch: _Pending, also: Callable[[Connection], T] | None = None) -> T | None:
        """Write what ``batch`` holds, with ``also`` (the replay's rule state and timers), in one transaction."""
        if batch.empty and also is None:
            return None
        return self._write(batch, also)

    def _pending(self) -> _Pending | None:
        return getattr(self._local, "pending", None)

    # traces -------------------------------------------------------------------------
    def add_trace(self, *, scope: str, event_id: str, event_kind: str, ticket_key: str, rule_id: str,
                  at: datetime, matched: bool, verdicts: list[dict], effects: list[dict],
                  notes: list[str], error: str | None) -> None:
        row = {"scope": scope, "event_id": event_id, "event_kind": event_kind, "ticket_key": ticket_key,
               "rule_id": rule_id, "at": at, "matched": matched, "verdicts": _json_text(verdicts),
               "effects": _json_text(effects), "notes": _json_text(list(notes)), "error": error}
        pending = self._pending()
        if pending is not None:
            pending.traces.append(row)
            return
        with self.engine.begin() as conn:
            conn.execute(_INSERT_TRACE, [row])

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
        if pending is not None and pending.known is not None and pending.scope == scope:
            return effect_key in pending.known
        with self.session() as s:
            row = s.scalar(select(AppliedEffectRow.id).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key == effect_key))
            return row is not None

    def applied_keys(self, scope: str, effect_keys: list[str]) -> set[str]:
        """Which of ``effect_keys`` are recorded as applied (one query)."""
        if not effect_keys:
            return set()
        pending = self._pending()
        if pending is not None and pending.known is not None and pending.scope == scope:
            return {k for k in effect_keys if k in pending.known}
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
            if pending.known is not None and pending.scope == scope:
                pending.known.add(effect_key)
            if durable:
                self.flush()
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert_applied, [row])

    def applied(self, ticket_key: str | None = None, *, scope: str = LIVE) -> list[AppliedEffectRow]:
        """The effects made (or found) true, oldest first; not the notes written before a send."""
        query = select(AppliedEffectRow).where(AppliedEffectRow.scope == scope,
                                               AppliedEffectRow.outcome != SENDING).order_by(AppliedEffectRow.id)
        if ticket_key:
            query = query.where(AppliedEffectRow.ticket_key == ticket_key)
        with self.session() as s:
            return list(s.scalars(query).all())


class MemoryStore(Store):
    """What the pipeline asks of a :class:`Store`, in memory only: no database, no SQL (a backtest's replays).

    The effect records are a dictionary (the first record of a key wins, as the table's unique key makes it);
    traces are not kept, only counted (a backtest plays with ``record_traces=False`` and adds none); a
    deferred block or a batch holds nothing back, since nothing is written: :meth:`commit` has nothing to do.
    What it answers is what a :class:`Store` of the same records answers (``tests/ops/test_backtest.py``)."""

    persistent = False

    def __init__(self) -> None:  # no engine: nothing here reaches a database
        self.url = "memory:"
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self.trace_count = 0

    def session(self) -> Session:
        raise TypeError("a MemoryStore has no database")

    @contextmanager
    def deferred(self) -> Iterator[None]:
        yield

    def flush(self, also: Callable[[Connection], T] | None = None) -> T | None:
        if also is not None:
            raise TypeError("a MemoryStore has no database to write in")
        return None

    def batch(self, scope: str) -> _Pending:
        return _Pending(held=True, scope=scope)

    @contextmanager
    def using(self, batch: _Pending) -> Iterator[None]:
        yield

    def commit(self, batch: _Pending, also: Callable[[Connection], T] | None = None) -> T | None:
        return None  # nothing held: the records are made as they come; the caller keeps its own state

    def add_trace(self, **_: Any) -> None:
        self.trace_count += 1

    def traces(self, ticket_key: str | None = None, *, scope: str | None = None, limit: int = 200) -> list[TraceRow]:
        return []

    def is_applied(self, scope: str, effect_key: str) -> bool:
        return (scope, effect_key) in self._records

    def applied_keys(self, scope: str, effect_keys: list[str]) -> set[str]:
        records = self._records
        return {k for k in effect_keys if (scope, k) in records}

    def record_applied(self, *, scope: str, effect_key: str, ticket_key: str, rule_id: str, kind: str,
                       outcome: str, detail: str, at: datetime, durable: bool = False) -> None:
        if (scope, effect_key) not in self._records:
            self._records[(scope, effect_key)] = {
                "scope": scope, "effect_key": effect_key, "ticket_key": ticket_key, "rule_id": rule_id, "kind": kind,
                "outcome": outcome, "detail": detail, "at": at}

    def applied(self, ticket_key: str | None = None, *, scope: str = LIVE) -> list[AppliedEffectRow]:
        return [AppliedEffectRow(**row) for row in self._records.values() if row["scope"] == scope
                and row["outcome"] != SENDING and (not ticket_key or row["ticket_key"] == ticket_key)]


#: The tables of the ORM classes, typed for Core statements.
_TRACES = cast(Table, TraceRow.__table__)
_APPLIED = cast(Table, AppliedEffectRow.__table__)
_INSERT_TRACE = insert(_TRACES)


@cache
def _insert_applied(dialect: str) -> Any:  # a dialect-specific Insert, made once
    """INSERT … ON CONFLICT DO NOTHING: another worker may have recorded the same key first."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(_APPLIED).on_conflict_do_nothing(index_elements=["scope", "effect_key"])


def executemany(conn: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(statement, rows)``: ``rows`` (one at least) each with every parameter of ``statement``.

    On SQLite the rows go to the driver as they are (``exec_driver_sql``), each value converted as its
    SQLAlchemy type converts it (:func:`_sqlite_plan`): the same rows, without SQLAlchemy's work per row
    (benchmarks/scale.py). ``statement`` is made once: its plan is cached."""
    if conn.dialect.name != "sqlite":
        conn.execute(statement, rows)
        return
    sql, fields = _sqlite_plan(statement, tuple(rows[0]), conn.dialect)
    columns = [convert(map(itemgetter(key), rows)) for key, convert in fields]
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


@lru_cache(maxsize=32)
def _sqlite_plan(statement: Any, keys: tuple[str, ...], dialect: Dialect) -> tuple[str, list[tuple[str, Any]]]:
    """``statement`` compiled for rows with ``keys``: its SQL, and for each ``?`` the key of its value and what
    converts a column of them: the bind processor of its type, a DateTime's replaced by :func:`_sqlite_datetimes`."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    fields: list[tuple[str, Callable[[Iterable[Any]], Iterable[Any]]]] = []
    for key in compiled.positiontup:
        type_ = compiled.binds[key].type
        process = type_.dialect_impl(dialect).bind_processor(dialect)
        if type(type_) is DateTime:
            fields.append((key, partial(_sqlite_datetimes, process)))
        else:
            fields.append((key, _as_is if process is None else partial(map, process)))
    return compiled.string, fields


def _as_is(values: Iterable[Any]) -> Iterable[Any]:
    return values


def _sqlite_datetimes(process: Callable[[Any], Any], values: Iterable[Any]) -> Iterator[Any]:
    """What SQLAlchemy's SQLite DATETIME (``process``) stores for each of ``values``, made faster for datetimes:
    the text ``YYYY-MM-DD HH:MM:SS.ffffff`` (the value's own wall time, its offset dropped), made once for
    consecutive rows holding the same datetime object (the rows of one event share its moment)."""
    last = text = _NOTHING
    for value in values:
        if value is not last:
            last, text = value, value.isoformat(" ", "microseconds")[:26] if type(value) is datetime else process(value)
        yield text


_NOTHING = object()


@dataclass
class _Pending:
    """One thread's writes waiting for the end of its event."""

    traces: list[dict[str, Any]] = field(default_factory=list)
    applied: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: A batch (Store.batch): held until its owner commits it; ``known``: every applied key of ``scope``.
    held: bool = False
    scope: str = ""
    known: set[str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.traces or self.applied)

    def clear(self) -> None:
        self.traces = []
        self.applied = {}


def _jsonable(value: Any) -> Any:
    """``value`` as it comes back from the database's JSON: tuples as lists, other objects (datetimes …)
    as their ``str``. Plain values are walked (no JSON text made and parsed again); anything else goes
    through that round trip, so the result is the same."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list or kind is tuple:
        return [item if type(item) in _PLAIN else _jsonable(item) for item in value]
    if kind is dict:
        plain: dict[str, Any] = {}
        for k, v in value.items():  # one pass (rule state and timer data, every time they are put)
            if type(k) is not str:
                break
            plain[k] = v if type(v) in _PLAIN else _jsonable(v)
        else:
            return plain
    return json.loads(json.dumps(value, default=str))


#: The types :func:`_jsonable` returns as they are.
_PLAIN = frozenset({str, int, bool, float, type(None)})


class JSONText(str):
    """A value already serialized as JSON (:func:`_json_text`): a JSON column stores it as it is."""


def _json_serializer(value: Any) -> str:
    """The engines' JSON serializer: SQLAlchemy's default (``json.dumps``), except for :class:`JSONText`."""
    return value if type(value) is JSONText else json.dumps(value)


def _json_text(value: Any) -> JSONText:
    """The JSON text of ``_jsonable(value)``, made in one pass: it parses to that value (except for a dict with
    two keys of the same JSON name, as ``1`` and ``"1"``: both are kept, the round trip kept one; and for an
    Enum member, which orjson writes as its value, not as ``str(member)``).

    orjson writes it (compact, UTF-8); ``json.dumps(value, default=str)`` does when orjson raises (a key that
    is not a str, an int beyond 64 bits, a lone surrogate, a namedtuple: see :func:`_orjson_default`) or
    writes a null, as orjson does for NaN and the infinities (json.dumps writes ``NaN``, ``Infinity``)."""
    try:
        text = orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS)
        if b"null" not in text:
            return JSONText(text, "utf-8")
    except TypeError:  # orjson.JSONEncodeError
        pass
    return JSONText(_ENCODER.encode(value))


def _orjson_default(value: Any) -> str:
    """``str(value)``, as ``default=str`` gives it; a subclass of a type json.dumps writes itself (a namedtuple,
    a float subclass) raises, for json.dumps to write it."""
    if isinstance(value, list | tuple | dict | str | int | float):
        raise TypeError(type(value).__name__)
    return str(value)


#: Datetimes and dataclasses go to ``default`` (``str``), as they did with json.dumps.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
#: ``json.dumps(value, default=str)`` without making an encoder per call (any argument to ``json.dumps`` does).
_ENCODER = json.JSONEncoder(default=str)
