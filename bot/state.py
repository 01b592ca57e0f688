"""What a runbook remembers between events: each ticket's stage, and its durable timers.

*Rule state* is one row per (scope, rule, ticket): the stage the runbook is at, a small JSON
record (who approved, which CS ticket belongs to this SS ticket, …) and the history of stages
with their timestamps. Rules read it through :class:`StateView` (read-only); they change it only
by returning :class:`~bot.effects.SetState`, which the executor applies after the plan's
tracker writes succeeded.

*Instance members*: one runbook instance (an onboarding) can span several tickets (SS, its CS ticket, a
separate approval ticket). A rule says that a ticket belongs to the instance whose state it records by
putting :func:`member` in that state's data; :meth:`StateStore.put` then also writes the ticket → instance
row of ``instance_members``, in the same transaction, and the inbox processes the events of one instance
one after another (:mod:`bot.inbox.queue`). Only the live scope has an inbox, so only its members are written.

*Timers* are rows with an explicit id ``<rule>:<ticket>:<name>`` and a due time. Nothing
sleeps: a sweep (the leader's scheduler job in the daemon, the virtual clock in a replay)
turns each due timer into a ``timer.fired`` event whose id is derived from the timer id and its
due time, so the inbox's dedup makes a timer fire once even when the sweep repeats after a crash.
"""

from __future__ import annotations

import functools
import heapq
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Mapped, mapped_column

from bot.model import TIMER_FIRED, Event
from bot.store import LIVE, Base, Store, _jsonable, executemany

T = TypeVar("T")
PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"
#: Prefix of a state's data key naming another ticket of its instance (see :func:`member`).
MEMBER = "member:"


def member(ticket_key: str, role: str) -> dict[str, str]:
    """State data saying that ``ticket_key`` belongs to the instance whose state records it, as ``role``
    (``"config ticket"``): its events are then processed in order with the instance's own."""
    return {MEMBER + ticket_key: role}


def members(data: Mapping[str, Any]) -> list[str]:
    """The tickets that ``data`` (a state's record, or a change of it) names as members of its instance."""
    return [name.removeprefix(MEMBER) for name, value in data.items() if name.startswith(MEMBER) and value]


class RuleStateRow(Base):
    __tablename__ = "rule_state"
    __table_args__ = (UniqueConstraint("scope", "rule_id", "ticket_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstanceMemberRow(Base):
    """A ticket that belongs to another ticket's runbook instance (migration 0008_ordering)."""

    __tablename__ = "instance_members"
    __table_args__ = (Index("ix_instance_members_instance", "instance_key"),)
    ticket_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance_key: Mapped[str] = mapped_column(String(64))


class TimerRow(Base):
    __tablename__ = "timers"
    #: ix_timers_pending_due: the sweep's "pending and due by now, oldest first" is one index range scan,
    #: however many timers wait (100k pending: measured in benchmarks/scale.py).
    __table_args__ = (
        UniqueConstraint("scope", "timer_id"),
        Index("ix_timers_pending_due", "scope", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    timer_id: Mapped[str] = mapped_column(String(300))
    rule_id: Mapped[str] = mapped_column(String(100))
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | fired | cancelled
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    fire_count: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class RuleState:
    """A rule's record of one ticket, as rules read it."""

    rule_id: str
    ticket_key: str
    stage: str
    data: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def entered(self, stage: str) -> datetime | None:
        """When the ticket (last) entered ``stage``."""
        for item in reversed(self.history):
            if item.get("stage") == stage:
                return _parse(item.get("at"))
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "ticket": self.ticket_key, "stage": self.stage, "data": dict(self.data),
                "history": [dict(h) for h in self.history],
                "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at)}


@dataclass(frozen=True)
class Timer:
    timer_id: str
    rule_id: str
    ticket_key: str
    name: str
    due_at: datetime
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)
    fired_at: datetime | None = None
    fire_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.timer_id, "rule": self.rule_id, "ticket": self.ticket_key, "name": self.name,
                "due_at": _iso(self.due_at), "status": self.status, "data": dict(self.data),
                "fired_at": _iso(self.fired_at), "fire_count": self.fire_count}

    def fired_event(self) -> Event:
        """The ``timer.fired`` event of this timer at this due time (same id every time it is built)."""
        return Event(id=f"timer:{self.timer_id}:{_iso(self.due_at)}", source="timer", kind=TIMER_FIRED,
                     ticket_key=self.ticket_key, occurred_at=self.due_at, raw_type="timer",
                     payload={"timer": self.name, "timer_id": self.timer_id, "rule": self.rule_id,
                              "data": dict(self.data), "due_at": _iso(self.due_at)})


def timer_id(rule_id: str, ticket_key: str, name: str) -> str:
    return f"{rule_id}:{ticket_key}:{name}"


class StateStore:
    """Rule state and timers in the bot's database (same engine as :class:`~bot.store.Store`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # rule state ---------------------------------------------------------------------------
    # The reads below run on every event (the rules' context, the executor's checks, the replay's and the
    # sweep's look for due timers): plain Core rows from prepared statements, not ORM instances.
    def get(self, scope: str, rule_id: str, ticket_key: str) -> RuleState | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(_GET_STATE, {"b_scope": scope, "b_rule_id": rule_id, "b_ticket_key": ticket_key}).first()
        return _state(row) if row else None

    def find(self, scope: str, rule_id: str, *, stages: Sequence[str] = (), **data: Any) -> list[RuleState]:
        """States of one rule whose stage is in ``stages`` (any when empty) and whose data has these values."""
        table = _STATES
        query = select(table).where(table.c.scope == scope, table.c.rule_id == rule_id)
        if stages:
            query = query.where(table.c.stage.in_(list(stages)))
        for name, value in data.items():
            # Narrow in SQL (a rule's states grow with every ticket it ever saw); the exact check stays below.
            if isinstance(value, str):
                query = query.where(table.c.data[name].as_string() == value)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.id)).all()
        found = [_state(r) for r in rows]
        return [st for st in found if all(st.data.get(k) == v for k, v in data.items())]

    def all(self, scope: str, ticket_key: str | None = None) -> list[RuleState]:
        query = select(RuleStateRow).where(RuleStateRow.scope == scope).order_by(RuleStateRow.id)
        if ticket_key:
            query = query.where(RuleStateRow.ticket_key == ticket_key)
        with self.store.session() as s:
            return [_state(r) for r in s.scalars(query).all()]

    def put(self, scope: str, rule_id: str, ticket_key: str, *, stage: str, data: Mapping[str, Any],
            at: datetime) -> RuleState:
        """Set the stage (empty keeps it) and merge ``data`` (a None value deletes a key)."""
        table = _STATES
        changes = _jsonable(dict(data))
        with self.store.engine.begin() as conn:
            row = conn.execute(_GET_STATE_FOR_UPDATE,
                               {"b_scope": scope, "b_rule_id": rule_id, "b_ticket_key": ticket_key}).first()
            if row is None:
                current, history, created = stage or "new", [{"stage": stage or "new", "at": _iso(at)}], at
                merged = {k: v for k, v in changes.items() if v is not None}
                conn.execute(insert(table).values(scope=scope, rule_id=rule_id, ticket_key=ticket_key, stage=current,
                                                  data=merged, history=history, created_at=at, updated_at=at))
            else:
                current, history, created = row.stage, list(row.history or ()), row.created_at
                if stage and stage != row.stage:
                    current, history = stage, [*history, {"stage": stage, "at": _iso(at)}]
                merged = {k: v for k, v in {**(row.data or {}), **changes}.items() if v is not None}
                conn.execute(update(table).where(table.c.id == row.id).values(
                    stage=current, data=merged, history=history, updated_at=at))
            joined = [key for key in members(changes) if key != ticket_key]
            if joined and scope == LIVE:
                conn.execute(_upsert_member(conn.dialect.name), [{"ticket_key": key, "instance_key": ticket_key}
                                                                  for key in joined])
        return RuleState(rule_id=rule_id, ticket_key=ticket_key, stage=current, data=merged, history=tuple(history),
                         created_at=_aware(created), updated_at=_aware(at))

    # timers -------------------------------------------------------------------------------
    def start_timer(self, scope: str, *, rule_id: str, ticket_key: str, name: str, due_at: datetime,
                    data: Mapping[str, Any], at: datetime) -> Timer:
        """Arm (or re-arm) the timer ``rule:ticket:name`` for ``due_at``."""
        tid = timer_id(rule_id, ticket_key, name)
        with self.store.session() as s, s.begin():
            row = s.scalar(select(TimerRow).where(TimerRow.scope == scope, TimerRow.timer_id == tid).with_for_update())
            if row is None:
                row = TimerRow(scope=scope, timer_id=tid, rule_id=rule_id, ticket_key=ticket_key, name=name,
                               created_at=at, fire_count=0)
                s.add(row)
            row.due_at = due_at.astimezone(UTC)
            row.status = PENDING
            row.data = _jsonable(dict(data))
            row.fired_at = None
            s.flush()
            return _timer(row)

    def cancel_timer(self, scope: str, rule_id: str, ticket_key: str, name: str) -> bool:
        """Cancel a pending timer; False when there was none pending."""
        tid = timer_id(rule_id, ticket_key, name)
        with self.store.session() as s, s.begin():
            result = s.execute(update(TimerRow).where(TimerRow.scope == scope, TimerRow.timer_id == tid,
                                                      TimerRow.status == PENDING).values(status=CANCELLED))
            return bool(cast(CursorResult[Any], result).rowcount)

    def timer(self, scope: str, tid: str) -> Timer | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(_GET_TIMER, {"b_scope": scope, "b_timer_id": tid}).first()
        return _timer(row) if row else None

    def timers(self, scope: str, ticket_key: str | None = None, *, status: str | None = None) -> list[Timer]:
        query = select(TimerRow).where(TimerRow.scope == scope).order_by(TimerRow.due_at, TimerRow.id)
        if ticket_key:
            query = query.where(TimerRow.ticket_key == ticket_key)
        if status:
            query = query.where(TimerRow.status == status)
        with self.store.session() as s:
            return [_timer(r) for r in s.scalars(query).all()]

    def due(self, scope: str, now: datetime, *, limit: int = 500) -> list[Timer]:
        """Pending timers due at or before ``now``, oldest first."""
        query = _DUE.get(limit)
        if query is None:
            table = _TIMERS
            query = _DUE[limit] = (select(table).where(table.c.scope == bindparam("b_scope"), table.c.status == PENDING,
                                                       table.c.due_at <= bindparam("b_now"))
                                   .order_by(table.c.due_at, table.c.id).limit(limit))
        with self.store.engine.connect() as conn:
            return [_timer(r) for r in conn.execute(query, {"b_scope": scope, "b_now": now}).all()]

    def next_due(self, scope: str) -> datetime | None:
        query = (select(TimerRow.due_at).where(TimerRow.scope == scope, TimerRow.status == PENDING)
                 .order_by(TimerRow.due_at).limit(1))
        with self.store.session() as s:
            value = s.scalar(query)
        return _aware(value) if value else None

    def mark_fired(self, scope: str, timer: Timer, at: datetime) -> bool:
        """Pending → fired, only if it is still the same arming (same due time); False if someone else did."""
        with self.store.session() as s, s.begin():
            result = s.execute(update(TimerRow).where(
                TimerRow.scope == scope, TimerRow.timer_id == timer.timer_id, TimerRow.status == PENDING,
                TimerRow.due_at == timer.due_at).values(status=FIRED, fired_at=at,
                                                        fire_count=TimerRow.fire_count + 1))
            return bool(cast(CursorResult[Any], result).rowcount)

    def mark_fired_many(self, scope: str, timers: Sequence[Timer], at: datetime) -> list[bool]:
        """:meth:`mark_fired` for many timers in one transaction (the sweep's backlog); one flag per timer."""
        if not timers:
            return []
        table = _TIMERS
        statement = update(table).where(
            table.c.scope == bindparam("b_scope"), table.c.timer_id == bindparam("b_timer_id"),
            table.c.status == PENDING, table.c.due_at == bindparam("b_due_at"),
        ).values(status=FIRED, fired_at=at, fire_count=table.c.fire_count + 1)
        with self.store.engine.begin() as conn:
            return [bool(conn.execute(statement, {"b_scope": scope, "b_timer_id": t.timer_id,
                                                  "b_due_at": t.due_at}).rowcount) for t in timers]


class BufferedStateStore(StateStore):
    """A write-behind :class:`StateStore` for a scope that has one writer only: a replay.

    ``ticketbot replay`` plays into a scope of its own (``replay-<id>``) that nothing else reads or
    writes while it runs, so that scope's rule state and timers can be kept in memory: reads are
    dictionary look-ups (``find(cs_key=…)`` an index look-up, the next due timer the top of a heap),
    and writes wait until :meth:`write` puts them in the database, all in the transaction it is given
    (the replay commits them with its batch of traces and effect records: every
    ``Replay.batch_events`` events and at its end). The scope's rows already in the database are
    loaded when the store is made. Another scope goes to the database directly, as in
    :class:`StateStore`. The results are those of :class:`StateStore` (same order, same values, the
    same rows once written): ``tests/test_replay_batching.py``. The daemon never uses this class:
    its workers share rule state and timers across threads, processes and replicas.
    """

    def __init__(self, store: Store, scope: str) -> None:
        super().__init__(store)
        self.scope = scope
        self._state_seq: dict[tuple[str, str], int] = {}  # (rule, ticket) -> its place in row order
        self._rows: list[RuleState] = []  # each place's state as it is now, in row order
        # The indexes hold places, so that a look-up's result is sorted ints away from row order.
        self._by_stage: dict[tuple[str, str], set[int]] = {}  # (rule, stage) -> places
        self._by_value: dict[tuple[str, str, str], set[int]] = {}  # (rule, data key, str value) -> places
        self._timers: dict[str, Timer] = {}  # timer id -> timer, in row order
        self._timer_seq: dict[str, int] = {}
        self._timer_created: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, int, str]] = []  # (due, seq, timer id); stale entries skipped
        self._stored_states: set[tuple[str, str]] = set()
        self._stored_timers: set[str] = set()
        self._dirty_states: set[tuple[str, str]] = set()
        self._dirty_timers: set[str] = set()
        self._load()

    @property
    def dirty(self) -> int:
        """How many rule states and timers wait for :meth:`write`."""
        return len(self._dirty_states) + len(self._dirty_timers)

    def _load(self) -> None:
        if not self.store.persistent:  # a MemoryStore: no database, nothing stored before
            return
        states, timers = _STATES, _TIMERS
        with self.store.engine.connect() as conn:
            for row in conn.execute(select(states).where(states.c.scope == self.scope).order_by(states.c.id)):
                self._keep_state(_state(row))
                self._stored_states.add((row.rule_id, row.ticket_key))
            for row in conn.execute(select(timers).where(timers.c.scope == self.scope).order_by(timers.c.id)):
                self._keep_timer(_timer(row), _aware(row.created_at))
                self._stored_timers.add(row.timer_id)

    def _keep_state(self, state: RuleState) -> None:
        rule_id, data = state.rule_id, state.data
        seq = self._state_seq.setdefault((rule_id, state.ticket_key), len(self._rows))
        if seq == len(self._rows):
            self._rows.append(state)
            self._by_stage.setdefault((rule_id, state.stage), set()).add(seq)
            for name, value in data.items():
                if isinstance(value, str):
                    self._by_value.setdefault((rule_id, name, value), set()).add(seq)
            return
        old = self._rows[seq]
        self._rows[seq] = state
        if old.stage != state.stage:
            self._by_stage[(rule_id, old.stage)].discard(seq)
            self._by_stage.setdefault((rule_id, state.stage), set()).add(seq)
        before = old.data
        for name, value in before.items():  # only what changed: a put changes a few of a state's values
            if isinstance(value, str) and data.get(name) != value:
                self._by_value[(rule_id, name, value)].discard(seq)
        for name, value in data.items():
            if isinstance(value, str) and before.get(name) != value:
                self._by_value.setdefault((rule_id, name, value), set()).add(seq)

    def _keep_timer(self, timer: Timer, created: datetime | None = None) -> None:
        tid = timer.timer_id
        if tid not in self._timer_seq:
            self._timer_seq[tid] = len(self._timer_seq)
            self._timer_created[tid] = created or timer.due_at
        self._timers[tid] = timer
        if timer.status == PENDING:
            heapq.heappush(self._heap, (timer.due_at, self._timer_seq[tid], tid))

    # rule state ---------------------------------------------------------------------------
    def get(self, scope: str, rule_id: str, ticket_key: str) -> RuleState | None:
        if scope != self.scope:
            return super().get(scope, rule_id, ticket_key)
        return self._current(rule_id, ticket_key)

    def _current(self, rule_id: str, ticket_key: str) -> RuleState | None:
        seq = self._state_seq.get((rule_id, ticket_key))
        return None if seq is None else self._rows[seq]

    def find(self, scope: str, rule_id: str, *, stages: Sequence[str] = (), **data: Any) -> list[RuleState]:
        if scope != self.scope:
            return super().find(scope, rule_id, stages=stages, **data)
        places: set[int] | None = None
        for name, value in data.items():
            if isinstance(value, str):  # what StateStore narrows in SQL
                found = self._by_value.get((rule_id, name, value), set())
                places = set(found) if places is None else places & found
        if stages:
            staged = set().union(*(self._by_stage.get((rule_id, stage), ()) for stage in stages))
            places = staged if places is None else places & staged
        if places is None:
            candidates = [st for st in self._rows if st.rule_id == rule_id]
        else:
            candidates = list(map(self._rows.__getitem__, sorted(places)))
        if not data:
            return candidates
        return [st for st in candidates if all(st.data.get(k) == v for k, v in data.items())]

    def all(self, scope: str, ticket_key: str | None = None) -> list[RuleState]:
        if scope != self.scope:
            return super().all(scope, ticket_key)
        return [st for st in self._rows if not ticket_key or st.ticket_key == ticket_key]

    def put(self, scope: str, rule_id: str, ticket_key: str, *, stage: str, data: Mapping[str, Any],
            at: datetime) -> RuleState:
        if scope != self.scope:
            return super().put(scope, rule_id, ticket_key, stage=stage, data=data, at=at)
        changes = _jsonable(data if type(data) is dict else dict(data))  # a dict either way, a new one
        old = self._current(rule_id, ticket_key)
        history: tuple[Mapping[str, Any], ...]
        created: datetime | None
        if old is None:
            current, history, created = stage or "new", ({"stage": stage or "new", "at": _iso(at)},), at
            merged = {k: v for k, v in changes.items() if v is not None}
        else:
            current, history, created = old.stage, old.history, old.created_at
            if stage and stage != old.stage:
                current, history = stage, (*history, {"stage": stage, "at": _iso(at)})
            merged = {k: v for k, v in {**old.data, **changes}.items() if v is not None}
        state = RuleState(rule_id=rule_id, ticket_key=ticket_key, stage=current, data=merged, history=history,
                          created_at=_aware(created), updated_at=_aware(at))
        self._keep_state(state)
        self._dirty_states.add((rule_id, ticket_key))
        return state

    # timers -------------------------------------------------------------------------------
    def start_timer(self, scope: str, *, rule_id: str, ticket_key: str, name: str, due_at: datetime,
                    data: Mapping[str, Any], at: datetime) -> Timer:
        if scope != self.scope:
            return super().start_timer(scope, rule_id=rule_id, ticket_key=ticket_key, name=name, due_at=due_at,
                                       data=data, at=at)
        tid = timer_id(rule_id, ticket_key, name)
        old = self._timers.get(tid)
        if old is not None:  # a row keeps what it was created with
            rule_id, ticket_key, name = old.rule_id, old.ticket_key, old.name
        timer = Timer(timer_id=tid, rule_id=rule_id, ticket_key=ticket_key, name=name, due_at=due_at.astimezone(UTC),
                      status=PENDING, data=_jsonable(dict(data)), fired_at=None,
                      fire_count=old.fire_count if old is not None else 0)
        self._keep_timer(timer, at)
        self._dirty_timers.add(tid)
        return timer

    def cancel_timer(self, scope: str, rule_id: str, ticket_key: str, name: str) -> bool:
        if scope != self.scope:
            return super().cancel_timer(scope, rule_id, ticket_key, name)
        tid = timer_id(rule_id, ticket_key, name)
        timer = self._timers.get(tid)
        if timer is None or timer.status != PENDING:
            return False
        self._keep_timer(replace(timer, status=CANCELLED))
        self._dirty_timers.add(tid)
        return True

    def timer(self, scope: str, tid: str) -> Timer | None:
        if scope != self.scope:
            return super().timer(scope, tid)
        return self._timers.get(tid)

    def timers(self, scope: str, ticket_key: str | None = None, *, status: str | None = None) -> list[Timer]:
        if scope != self.scope:
            return super().timers(scope, ticket_key, status=status)
        found = [t for t in self._timers.values()
                 if (not ticket_key or t.ticket_key == ticket_key) and (not status or t.status == status)]
        return sorted(found, key=lambda t: (t.due_at, self._timer_seq[t.timer_id]))

    def _next_pending(self) -> Timer | None:
        heap = self._heap
        while heap:
            due_at, _, tid = heap[0]
            timer = self._timers[tid]
            if timer.status == PENDING and timer.due_at == due_at:
                return timer
            heapq.heappop(heap)  # fired, cancelled or re-armed since it was pushed
        return None

    def due(self, scope: str, now: datetime, *, limit: int = 500) -> list[Timer]:
        if scope != self.scope:
            return super().due(scope, now, limit=limit)
        if limit == 1:  # the replay's question before every event
            timer = self._next_pending()
            return [timer] if timer is not None and timer.due_at <= now else []
        return [t for t in self.timers(scope, status=PENDING) if t.due_at <= now][:limit]

    def next_due(self, scope: str) -> datetime | None:
        if scope != self.scope:
            return super().next_due(scope)
        timer = self._next_pending()
        return timer.due_at if timer is not None else None

    def mark_fired(self, scope: str, timer: Timer, at: datetime) -> bool:
        if scope != self.scope:
            return super().mark_fired(scope, timer, at)
        current = self._timers.get(timer.timer_id)
        if current is None or current.status != PENDING or current.due_at != timer.due_at:
            return False
        self._keep_timer(replace(current, status=FIRED, fired_at=at, fire_count=current.fire_count + 1))
        self._dirty_timers.add(timer.timer_id)
        return True

    def mark_fired_many(self, scope: str, timers: Sequence[Timer], at: datetime) -> list[bool]:
        if scope != self.scope:
            return super().mark_fired_many(scope, timers, at)
        return [self.mark_fired(scope, t, at) for t in timers]

    # write-behind -------------------------------------------------------------------------
    def write(self, conn: Connection) -> None:
        """Write the changed rule states and timers in ``conn``'s transaction: new rows in the order they
        were created (so their ids are in the order :class:`StateStore` would have given them), then
        the changes of rows already written."""
        _write_changed(conn, _INSERT_STATE, _UPDATE_STATE, self._dirty_states, self._state_seq,
                       self._stored_states, self._state_row)
        _write_changed(conn, _INSERT_TIMER, _UPDATE_TIMER, self._dirty_timers, self._timer_seq,
                       self._stored_timers, self._timer_row)

    def _state_row(self, ident: tuple[str, str]) -> dict[str, Any]:
        st = self._rows[self._state_seq[ident]]
        return {"scope": self.scope, "rule_id": st.rule_id, "ticket_key": st.ticket_key, "stage": st.stage,
                "data": dict(st.data), "history": [dict(h) for h in st.history], "created_at": st.created_at,
                "updated_at": st.updated_at}

    def _timer_row(self, tid: str) -> dict[str, Any]:
        t = self._timers[tid]
        return {"scope": self.scope, "timer_id": tid, "rule_id": t.rule_id, "ticket_key": t.ticket_key,
                "name": t.name, "due_at": t.due_at, "status": t.status, "data": dict(t.data),
                "created_at": self._timer_created[tid], "fired_at": t.fired_at, "fire_count": t.fire_count}


def _update_by(table: Any, *keys: str) -> Any:
    """UPDATE of every column but the id and ``created_at``, found by ``keys``; parameters ``b_<column>``."""
    columns = [c for c in table.c if c.name not in ("id", "created_at", *keys)]
    return update(table).where(*(table.c[k] == bindparam(f"b_{k}") for k in keys)).values(
        {c.name: bindparam(f"b_{c.name}", type_=c.type) for c in columns})


#: The tables of the ORM classes, typed for Core statements.
_STATES = cast(Table, RuleStateRow.__table__)
_TIMERS = cast(Table, TimerRow.__table__)
_MEMBERS = cast(Table, InstanceMemberRow.__table__)
_INSERT_STATE = insert(_STATES)
_INSERT_TIMER = insert(_TIMERS)
_UPDATE_STATE = _update_by(_STATES, "scope", "rule_id", "ticket_key")
_UPDATE_TIMER = _update_by(_TIMERS, "scope", "timer_id")


@functools.cache
def _upsert_member(dialect: str) -> Any:
    """INSERT … ON CONFLICT (ticket_key) DO UPDATE: a ticket belongs to the instance that recorded it last."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_MEMBERS)
    return statement.on_conflict_do_update(index_elements=["ticket_key"],
                                           set_={"instance_key": statement.excluded.instance_key})


_GET_STATE = select(_STATES).where(
    _STATES.c.scope == bindparam("b_scope"), _STATES.c.rule_id == bindparam("b_rule_id"),
    _STATES.c.ticket_key == bindparam("b_ticket_key"))
_GET_STATE_FOR_UPDATE = _GET_STATE.with_for_update()
_GET_TIMER = select(_TIMERS).where(_TIMERS.c.scope == bindparam("b_scope"),
                                              _TIMERS.c.timer_id == bindparam("b_timer_id"))
_DUE: dict[int, Any] = {}  # by limit


def fire_due_timers(states: StateStore, scope: str, until: datetime, clock: SettableClock,
                    handle: Callable[[Event], T]) -> Iterator[T]:
    """In-process firing (replay, tests): every timer due by ``until``, each at its own due time, in order.

    The clock is moved to each due time before ``handle`` gets the timer's event, so a timer the
    handler arms again (a repeated reminder) fires in the same sweep when it, too, is due by ``until``.
    """
    while True:
        due = states.due(scope, until, limit=1)
        if not due:
            return
        timer = due[0]
        clock.set(timer.due_at)
        if states.mark_fired(scope, timer, clock.now()):
            yield handle(timer.fired_event())


class SettableClock(Protocol):
    def now(self) -> datetime: ...

    def set(self, moment: datetime) -> None: ...


@typing.overload
def _aware(value: datetime) -> datetime: ...


@typing.overload
def _aware(value: datetime | None) -> datetime | None: ...


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value else None


def _parse(value: Any) -> datetime | None:
    return _aware(datetime.fromisoformat(value)) if isinstance(value, str) else None


def _state(row: Any) -> RuleState:  # an ORM row or a Core row of the table
    return RuleState(rule_id=row.rule_id, ticket_key=row.ticket_key, stage=row.stage, data=dict(row.data or {}),
                     history=tuple(row.history or ()), created_at=_aware(row.created_at),
                     updated_at=_aware(row.updated_at))


def _timer(row: Any) -> Timer:  # an ORM row or a Core row of the table
    return Timer(timer_id=row.timer_id, rule_id=row.rule_id, ticket_key=row.ticket_key, name=row.name,
                 due_at=_aware(row.due_at), status=row.status, data=dict(row.data or {}),
                 fired_at=_aware(row.fired_at), fire_count=row.fire_count or 0)


def _write_changed(conn: Connection, insert_stmt: Any, update_stmt: Any, dirty: set[Any], seq: dict[Any, int],
                   stored: set[Any], row_of: Callable[[Any], dict[str, Any]]) -> None:
    """Insert the ``dirty`` rows never written (in creation order, ``seq``), update the others; all are then
    ``stored`` and no longer dirty."""
    changed = sorted(dirty, key=seq.__getitem__)
    new = [row_of(key) for key in changed if key not in stored]
    old = [row_of(key) for key in changed if key in stored]
    if new:
        executemany(conn, insert_stmt, new)
    if old:
        executemany(conn, update_stmt, [{f"b_{k}": v for k, v in row.items()} for row in old])
    stored.update(dirty)
    dirty.clear()
