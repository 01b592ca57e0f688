"""The console's read model: what the board, a ticket's timeline, the timers, the dead letters, the rules and
the audit log show, read from the tables the bot already keeps. Nothing here writes.

An *instance* is one rule's state row (``rule_state``: the rule, its ticket, the stage, the record, the
stage history), with the tickets its record names as members (``member:<key>``, see :mod:`bot.state`) and
the pending timers of those tickets. It is *in flight* until it reaches a stage that ends its runbook
(:mod:`bot.console.stages`).

Every list is bounded (a page, or a number of cards per stage) and every filter the database can use an
index for is put to it, so the pages stay fast with 10,000 instances in flight and a million trace rows:

* the board counts instances per (rule, stage) from ``ix_rule_state_board`` alone (scope, rule, stage,
  updated_at: the index holds every column the count reads), then fetches at most ``per_stage`` cards of
  each in-flight stage in one statement (per stage, the first rows of its index range, unchanged longest
  first; only the cards picked are read whole), and their pending timers by ticket; within a stage the
  overdue come first, then the soon due;
* the closed instances of a period are ranges of the same index (a final stage, updated since), newest first;
* a timeline reads the traces of its tickets through ``ix_traces_ticket_scope``, newest first, a page at a
  time; the timers page reads ``ix_timers_pending_due``; dead letters ``ix_inbox_status_due``; the audit
  log its primary key, newest first.

Searching a name or a person scans the JSON text of the instances' records (and of their pending timers):
no index can serve a substring, and 10,000 records are read in a few milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Index, Text, and_, cast, exists, func, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from bot.clock import Clock
from bot.console.stages import DeadlineAlarm, RunbookShape, StageInfo, shape_of
from bot.engine import BoundRule
from bot.executor import DELIVER
from bot.inbox.guards import RulePauseRow
from bot.inbox.queue import DEAD, InboxRow
from bot.ops.audit import AuditRow
from bot.ops.report import RuleAccount, from_trace
from bot.settings import GuardSettings
from bot.sources.internal import system_for_key
from bot.state import MEMBER, PENDING, RuleState, RuleStateRow, TimerRow, members
from bot.store import LIVE, Store, TraceRow

#: The board's count per (rule, stage), its in-flight cards per stage and the closed instances of a period
#: all read rule_state by scope, rule and stage (and updated_at for a period); the table's other indexes
#: lead with the rule alone or the ticket. Declared here, beside its readers; created by migration 0010.
Index("ix_rule_state_board", RuleStateRow.scope, RuleStateRow.rule_id, RuleStateRow.stage, RuleStateRow.updated_at)

#: Record keys that name the customer of an instance, first found wins.
CUSTOMER_KEYS = ("customer", "customer_name", "installer", "organization", "company", "client")
CARDS_PER_STAGE = 25
PAGE = 50
MAX_PAGE = 200
TIMELINE_TRACES = 120
#: Instances whose stage history decides the order of the stages of a rule that declares none.
HISTORY_SAMPLE = 200
#: (rule, stage) ranges read in one statement (SQLite allows 500 SELECTs in a compound one).
MAX_BRANCHES = 200
#: Pending timers the digest reads to find the overdue instances, at most.
MAX_TIMERS_READ = 100_000
#: A pending timer this far past its due time was not fired: it is overdue whatever it is.
STUCK_AFTER = timedelta(minutes=5)


# what the pages show ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimerView:
    timer_id: str
    rule_id: str
    ticket_key: str
    name: str
    due_at: datetime
    what: str  # "approval-reminder", "deadline target: remind2 (due …)", "message to … held for working hours"
    who: str  # whom it concerns, where the timer says
    deadline: DeadlineAlarm | None
    overdue: bool
    soon: bool
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.timer_id, "rule": self.rule_id, "ticket": self.ticket_key, "name": self.name,
                "due_at": _iso(self.due_at), "what": self.what, "who": self.who or None,
                "deadline": _deadline_dict(self.deadline), "overdue": self.overdue, "due_soon": self.soon,
                "data": dict(self.data)}


@dataclass(frozen=True)
class Card:
    """One instance on the board (in flight, or closed in the period asked for)."""

    rule_id: str
    ticket_key: str
    stage: StageInfo
    customer: str
    entered_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    members: tuple[str, ...]
    next_timer: TimerView | None
    deadline: DeadlineAlarm | None  # the instance's nearest deadline, where a runbook deadline runs
    waits_on: str
    overdue: bool
    soon: bool
    link: str | None

    def in_stage(self, now: datetime) -> timedelta | None:
        return now - self.entered_at if self.entered_at else None

    def as_dict(self, now: datetime) -> dict[str, Any]:
        in_stage = self.in_stage(now)
        return {"rule": self.rule_id, "ticket": self.ticket_key, "stage": self.stage.name,
                "stage_title": self.stage.title, "closed": self.stage.final, "customer": self.customer or None,
                "entered_at": _iso(self.entered_at), "seconds_in_stage": int(in_stage.total_seconds())
                if in_stage is not None else None, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at), "members": list(self.members),
                "next_timer": self.next_timer.as_dict() if self.next_timer else None,
                "deadline": _deadline_dict(self.deadline), "waits_on": self.waits_on or None,
                "overdue": self.overdue, "due_soon": self.soon, "url": self.link}


@dataclass
class StageColumn:
    info: StageInfo
    count: int
    cards: list[Card]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.cards))


@dataclass
class RunbookGroup:
    shape: RunbookShape
    columns: list[StageColumn]

    @property
    def in_flight(self) -> int:
        return sum(c.count for c in self.columns)


@dataclass(frozen=True)
class BoardFilter:
    runbook: str = ""
    stage: str = ""
    person: str = ""
    q: str = ""
    closed_days: int = 0  # 0: closed instances hidden
    offset: int = 0  # with a runbook and a stage: the page of that stage
    per_stage: int = CARDS_PER_STAGE

    @property
    def narrowed(self) -> bool:
        return bool(self.person or self.q)

    @property
    def one_stage(self) -> bool:
        return bool(self.runbook and self.stage)

    def as_dict(self) -> dict[str, Any]:
        return {"runbook": self.runbook or None, "stage": self.stage or None, "person": self.person or None,
                "q": self.q or None, "closed_days": self.closed_days or None, "offset": self.offset,
                "per_stage": self.per_stage}


@dataclass
class Board:
    now: datetime
    filter: BoardFilter
    groups: list[RunbookGroup]
    shapes: list[RunbookShape]  # every rule, for the filter's choices
    closed: list[Card] | None

    @property
    def in_flight(self) -> int:
        return sum(g.in_flight for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        return {"now": _iso(self.now), "filter": self.filter.as_dict(), "in_flight": self.in_flight,
                "runbooks": [{"rule": g.shape.rule_id, "title": g.shape.title, "in_flight": g.in_flight,
                              "stages": [{"stage": c.info.name, "title": c.info.title, "count": c.count,
                                          "more": c.more, "instances": [card.as_dict(self.now) for card in c.cards]}
                                         for c in g.columns]} for g in self.groups],
                "closed": [card.as_dict(self.now) for card in self.closed] if self.closed is not None else None}


@dataclass(frozen=True)
class HistoryStep:
    stage: str
    title: str
    at: datetime | None
    lasted: timedelta | None  # until the next stage (None: still there)


@dataclass(frozen=True)
class InstanceRunbook:
    """One rule's record of the ticket."""

    shape: RunbookShape
    state: RuleState
    stage: StageInfo
    entered_at: datetime | None
    history: tuple[HistoryStep, ...]
    decision: Mapping[str, Any] | None

    @property
    def record(self) -> list[tuple[str, Any]]:
        return sorted((k, v) for k, v in self.state.data.items() if not k.startswith(MEMBER) and k != "decision")

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.shape.rule_id, "title": self.shape.title, "stage": self.stage.name,
                "stage_title": self.stage.title, "closed": self.stage.final, "entered_at": _iso(self.entered_at),
                "created_at": _iso(self.state.created_at), "updated_at": _iso(self.state.updated_at),
                "history": [{"stage": h.stage, "title": h.title, "at": _iso(h.at),
                             "seconds": int(h.lasted.total_seconds()) if h.lasted is not None else None}
                            for h in self.history],
                "record": dict(self.record), "decision": dict(self.decision) if self.decision else None}


@dataclass(frozen=True)
class TimelineEvent:
    """One evaluated event of the instance: each rule's account of it (verdicts, notes, effects, error)."""

    event_id: str
    kind: str
    at: datetime
    ticket_key: str
    accounts: tuple[RuleAccount, ...]
    first_trace: int  # the smallest trace id of the event (the page's cursor)

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.event_id, "kind": self.kind, "at": _iso(self.at), "ticket": self.ticket_key,
                "rules": [{"rule": a.rule_id, "head": a.head, "verdicts": [dict(v) for v in a.verdicts],
                           "notes": list(a.notes), "error": a.error or None,
                           "effects": [{"outcome": e.outcome, "what": e.what, "detail": e.detail or None,
                                        "url": e.link or None} for e in a.effects]} for a in self.accounts]}


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    via: str
    command: str
    outcome: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": _iso(self.at), "actor": self.actor, "via": self.via, "command": self.command,
                "outcome": self.outcome, "detail": self.detail}


@dataclass
class InstanceView:
    key: str
    link: str | None
    runbooks: list[InstanceRunbook]
    members: list[tuple[str, str, str | None]]  # (key, role, url)
    timers: list[TimerView]
    events: list[TimelineEvent]
    older: int | None  # the cursor of the next (older) page of the timeline, if there is one
    decisions: list[AuditView]
    all_rules: bool

    def as_dict(self) -> dict[str, Any]:
        return {"ticket": self.key, "url": self.link, "runbooks": [r.as_dict() for r in self.runbooks],
                "members": [{"ticket": k, "role": role, "url": url} for k, role, url in self.members],
                "timers": [t.as_dict() for t in self.timers], "timeline": [e.as_dict() for e in self.events],
                "older": self.older, "audit": [a.as_dict() for a in self.decisions], "all_rules": self.all_rules}


@dataclass
class Page:
    """A page of a list: its items, how many there are in all, where it starts."""

    items: list[Any]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset else None

    def as_dict(self, item: Any = None) -> dict[str, Any]:
        render = item or (lambda i: i.as_dict())
        return {"total": self.total, "offset": self.offset, "limit": self.limit, "next_offset": self.next_offset,
                "items": [render(i) for i in self.items]}


@dataclass(frozen=True)
class DeadLetter:
    id: int
    source: str
    kind: str
    ticket_key: str
    received_at: datetime
    finished_at: datetime | None
    attempts: int
    last_error: str
    link: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "kind": self.kind, "ticket": self.ticket_key or None,
                "received_at": _iso(self.received_at), "given_up_at": _iso(self.finished_at),
                "attempts": self.attempts, "last_error": self.last_error, "url": self.link}


@dataclass(frozen=True)
class PauseView:
    ticket_key: str
    reason: str
    by: str
    since: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"ticket": self.ticket_key or None, "reason": self.reason, "by": self.by, "since": _iso(self.since)}


@dataclass(frozen=True)
class RuleView:
    shape: RunbookShape
    enabled: bool
    configured: bool
    projects: tuple[str, ...]
    paused: PauseView | None  # the whole rule
    ticket_pauses: tuple[PauseView, ...]
    in_flight: int

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.shape.rule_id, "title": self.shape.title, "enabled": self.enabled,
                "configured": self.configured, "projects": list(self.projects),
                "paused": self.paused.as_dict() if self.paused else None,
                "paused_on_tickets": [p.as_dict() for p in self.ticket_pauses], "in_flight": self.in_flight,
                "stages": [s.as_dict() for s in self.shape.stages]}


@dataclass(frozen=True)
class Overdue:
    count: int
    named: list[tuple[str, str]]  # (rule, ticket), the most overdue first


@dataclass(frozen=True)
class TicketLinks:
    """Where a ticket is seen in its tracker, when the tracker's address is configured."""

    jira_url: str = ""
    zendesk_url: str = ""

    def url(self, key: str) -> str | None:
        if not key:
            return None
        if system_for_key(key) == "zendesk":
            return f"{self.zendesk_url.rstrip('/')}/agent/tickets/{key}" if self.zendesk_url else None
        return f"{self.jira_url.rstrip('/')}/browse/{key}" if self.jira_url else None


# the queries ---------------------------------------------------------------------------------------------
S = RuleStateRow
T = TimerRow


class ConsoleQueries:
    """Reads for the console pages and the JSON API, in one scope (``live``, or a replay's)."""

    def __init__(self, store: Store, rules: Sequence[BoundRule], clock: Clock, *, scope: str = LIVE,
                 due_soon: timedelta = timedelta(days=1), links: TicketLinks | None = None,
                 guards: GuardSettings | None = None) -> None:
        self.store = store
        self.bound = list(rules)
        self.clock = clock
        self.scope = scope
        self.due_soon = due_soon
        self.links = links or TicketLinks()
        self.caps = guards or GuardSettings()
        self._declared: dict[str, RunbookShape] = {}

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    # shapes -----------------------------------------------------------------------------------------
    def _counts(self) -> dict[tuple[str, str], int]:
        """Instances per (rule, stage) in the scope (an index-only read of ix_rule_state_board)."""
        query = select(S.rule_id, S.stage, func.count()).where(S.scope == self.scope).group_by(S.rule_id, S.stage)
        with self.store.engine.connect() as conn:
            return {(rule, stage): count for rule, stage, count in conn.execute(query)}

    def shapes(self, counts: Mapping[tuple[str, str], int] | None = None) -> list[RunbookShape]:
        """Every configured rule, then every other rule the records name, each with its stages in order."""
        counts = self._counts() if counts is None else counts
        bound = {b.id: b for b in self.bound}
        shapes = []
        for rule_id in [*bound, *sorted({r for r, _ in counts} - set(bound))]:
            shape = self._shape(bound.get(rule_id), rule_id)
            for (rule, stage) in counts:
                if rule == rule_id:
                    shape.add_observed(stage)
            shapes.append(shape)
        return shapes

    def _shape(self, bound: BoundRule | None, rule_id: str) -> RunbookShape:
        if bound is not None and rule_id in self._declared:  # a declared shape never changes: made once
            return self._declared[rule_id].copy_fresh()
        if bound is not None:
            declared = shape_of(bound)
            if declared.declared:
                self._declared[rule_id] = declared
                return declared.copy_fresh()
        query = (select(S.history).where(S.scope == self.scope, S.rule_id == rule_id).order_by(S.id.desc())
                 .limit(HISTORY_SAMPLE))
        with self.store.engine.connect() as conn:
            histories = [[str(h.get("stage")) for h in (row[0] or ()) if isinstance(h, Mapping)]
                         for row in conn.execute(query)]
        if bound is not None:
            return shape_of(bound, histories)
        placeholder = BoundRule(_Unknown(rule_id), None)  # type: ignore[arg-type]
        return shape_of(placeholder, histories)

    # the board --------------------------------------------------------------------------------------
    def board(self, wanted: BoardFilter) -> Board:
        now = self.now()
        counts = self._counts()
        shapes = self.shapes(counts)
        by_rule = {s.rule_id: s for s in shapes}
        shown = [s for s in shapes if not wanted.runbook or s.rule_id == wanted.runbook]
        enabled = {b.id for b in self.bound if b.config.enabled}
        flying = {(r, st) for (r, st) in counts if r in by_rule and not by_rule[r].is_final(st)
                  and (not wanted.runbook or r == wanted.runbook) and (not wanted.stage or st == wanted.stage)}
        narrowing = self._narrowing(wanted, by_rule)
        if narrowing is not None and flying:
            with self.store.engine.connect() as conn:
                query = (select(S.rule_id, S.stage, func.count()).where(S.scope == self.scope, _pairs(flying),
                                                                        narrowing).group_by(S.rule_id, S.stage))
                found = {(r, st): n for r, st, n in conn.execute(query)}
        else:
            found = {pair: counts[pair] for pair in flying}
        limit = min(MAX_PAGE, wanted.per_stage if not wanted.one_stage else PAGE)
        offset = wanted.offset if wanted.one_stage else 0
        rows = self._cards(set(found), narrowing, offset, limit)
        cards = self._make_cards(rows, by_rule, now)
        groups = []
        for shape in shown:
            columns = [StageColumn(info, found.get((shape.rule_id, info.name), 0),
                                   _urgent_first(c for c in cards if c.rule_id == shape.rule_id
                                                 and c.stage.name == info.name))
                       for info in shape.stages if not info.final and (not wanted.stage or info.name == wanted.stage)]
            if wanted.narrowed:  # a search shows where it found something, not every empty stage
                columns = [c for c in columns if c.count]
            if columns and (wanted.narrowed or wanted.runbook or any(c.count for c in columns)
                            or shape.rule_id in enabled):
                groups.append(RunbookGroup(shape, columns))
        closed = self._closed(wanted, by_rule, counts, narrowing, now) if wanted.closed_days else None
        return Board(now, wanted, groups, shapes, closed)

    def _narrowing(self, wanted: BoardFilter, shapes: Mapping[str, RunbookShape]) -> ColumnElement[bool] | None:
        """The search and person filters as one condition on rule_state (None: neither is set)."""
        conditions: list[ColumnElement[bool]] = []
        if wanted.q:
            conditions.append(or_(_contains(func.lower(S.ticket_key), wanted.q), _json_contains(S.data, wanted.q)))
        if wanted.person:
            person = wanted.person.strip()
            timers = exists().where(T.scope == S.scope, T.ticket_key == S.ticket_key, T.status == PENDING,
                                    _json_contains(T.data, person))
            deciding = [and_(S.rule_id == rule_id, S.stage.in_(shape.decision_stages))
                        for rule_id, shape in shapes.items()
                        if shape.decision_stages and any(person.casefold() in a for a in shape.approvers)]
            conditions.append(or_(_json_contains(S.data, person), timers, *deciding))
        return and_(*conditions) if conditions else None

    def _cards(self, pairs: set[tuple[str, str]], narrowing: ColumnElement[bool] | None, offset: int,
               limit: int) -> list[Any]:
        """At most ``limit`` instances of each (rule, stage) of ``pairs`` after the first ``offset``, those
        unchanged longest first. One statement: per pair, a range of ix_rule_state_board read in its order
        up to the limit picks the ids (a UNION ALL of them), and only the rows picked are read whole."""
        if not pairs:
            return []
        rows: list[Any] = []
        ordered = sorted(pairs)
        for start in range(0, len(ordered), MAX_BRANCHES):
            branches = []
            for rule_id, stage in ordered[start:start + MAX_BRANCHES]:
                picked = (select(S.id).where(S.scope == self.scope, S.rule_id == rule_id, S.stage == stage)
                          .order_by(S.updated_at, S.id).offset(offset).limit(limit))
                if narrowing is not None:
                    picked = picked.where(narrowing)
                branches.append(select(picked.subquery().c.id))
            ids = union_all(*branches).subquery()
            query = (select(S.id, S.rule_id, S.ticket_key, S.stage, S.data, S.history, S.created_at, S.updated_at)
                     .where(S.id.in_(select(ids.c.id))).order_by(S.rule_id, S.stage, S.updated_at, S.id))
            with self.store.engine.connect() as conn:
                rows += conn.execute(query).all()
        return rows

    def _closed(self, wanted: BoardFilter, shapes: Mapping[str, RunbookShape], counts: Mapping[tuple[str, str], int],
                narrowing: ColumnElement[bool] | None, now: datetime) -> list[Card]:
        """Instances that reached a final stage (last changed) within the period, newest first."""
        finals = {(r, st) for (r, st) in counts if r in shapes and shapes[r].is_final(st)
                  and (not wanted.runbook or r == wanted.runbook)}
        if not finals:
            return []
        since = now - timedelta(days=wanted.closed_days)
        branches = []
        for rule_id, stage in sorted(finals)[:MAX_BRANCHES]:  # per final stage, the newest of its index range
            picked = (select(S.id, S.updated_at).where(S.scope == self.scope, S.rule_id == rule_id, S.stage == stage,
                                                       S.updated_at >= since)
                      .order_by(S.updated_at.desc(), S.id.desc()).limit(MAX_PAGE))
            if narrowing is not None:
                picked = picked.where(narrowing)
            branches.append(select(picked.subquery()))
        newest = union_all(*branches).subquery()
        ids = select(newest.c.id).order_by(newest.c.updated_at.desc(), newest.c.id.desc()).limit(MAX_PAGE)
        query = (select(S.id, S.rule_id, S.ticket_key, S.stage, S.data, S.history, S.created_at, S.updated_at)
                 .where(S.id.in_(ids)).order_by(S.updated_at.desc(), S.id.desc()))
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(query))
        return self._make_cards(rows, shapes, now, with_timers=False)

    def _make_cards(self, rows: Sequence[Any], shapes: Mapping[str, RunbookShape], now: datetime, *,
                    with_timers: bool = True) -> list[Card]:
        states = [_state(r) for r in rows]
        keys = {k for st in states for k in (st.ticket_key, *members(st.data))}
        timers = self._pending_timers(keys) if with_timers else {}
        cards = []
        for state in states:
            shape = shapes[state.rule_id]
            mine = sorted((t for k in (state.ticket_key, *members(state.data)) for t in timers.get(k, ())
                           if t.rule_id == state.rule_id), key=lambda t: t.due_at)
            views = [self._timer_view(t, shape, now) for t in mine]
            deadlines = sorted((v.deadline for v in views if v.deadline), key=lambda d: d.due)
            cards.append(Card(
                rule_id=state.rule_id, ticket_key=state.ticket_key, stage=shape.info(state.stage),
                customer=customer_of(state.data), entered_at=state.entered(state.stage),
                created_at=state.created_at, updated_at=state.updated_at, members=tuple(members(state.data)),
                next_timer=views[0] if views else None, deadline=deadlines[0] if deadlines else None,
                waits_on=waits_on(shape, state.stage, views), overdue=any(v.overdue for v in views),
                soon=any(v.soon for v in views), link=self.links.url(state.ticket_key)))
        return cards

    def _pending_timers(self, keys: Iterable[str]) -> dict[str, list[Any]]:
        """The pending timers of these tickets, by ticket (through ix_timers_ticket_key, 500 keys a statement)."""
        found: dict[str, list[Any]] = {}
        wanted = sorted(set(keys))
        with self.store.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = select(T).where(T.scope == self.scope, T.status == PENDING,
                                        T.ticket_key.in_(wanted[start:start + 500]))
                for row in conn.execute(query):
                    found.setdefault(row.ticket_key, []).append(_TimerRow.of(row))
        return found

    def _timer_view(self, timer: _TimerRow, shape: RunbookShape | None, now: datetime) -> TimerView:
        data = timer.data
        deadline = shape.deadline(timer.name, data) if shape is not None else None
        message = data.get("message") if isinstance(data.get("message"), Mapping) else None
        who = ""
        if timer.name.startswith(DELIVER) and message is not None:
            who = str(message.get("channel") or message.get("user_email") or message.get("slack_user") or "")
            what = f"message to {who or '?'} held for working hours" + (f" ({data['hours']})" if data.get("hours")
                                                                        else "")
            overdue, soon = timer.due_at < now - STUCK_AFTER, False
        elif deadline is not None:
            what = f"deadline {deadline.deadline}: next {deadline.alarm}"
            overdue = deadline.due <= now or timer.due_at < now - STUCK_AFTER
            soon = not overdue and deadline.due - now <= self.due_soon
        else:
            what = timer.name
            overdue = timer.due_at < now
            soon = not overdue and timer.due_at - now <= self.due_soon
        return TimerView(timer.timer_id, timer.rule_id, timer.ticket_key, timer.name, timer.due_at, what, who,
                         deadline, overdue, soon, data)

    # the digest's counts ----------------------------------------------------------------------------
    def overdue_instances(self, *, limit: int = 5) -> Overdue:
        """Instances with an overdue timer or deadline (rule, ticket), the most overdue named first: read from
        the scope's pending timers (ix_timers_pending_due; at most :data:`MAX_TIMERS_READ` of them)."""
        now = self.now()
        shapes = {s.rule_id: s for s in self.shapes()}
        query = (select(T).where(T.scope == self.scope, T.status == PENDING).order_by(T.due_at)
                 .limit(MAX_TIMERS_READ))
        late: dict[tuple[str, str], datetime] = {}
        with self.store.engine.connect() as conn:
            for row in conn.execute(query):
                view = self._timer_view(_TimerRow.of(row), shapes.get(row.rule_id), now)
                if view.overdue:
                    due = view.deadline.due if view.deadline else view.due_at
                    pair = (view.rule_id, view.ticket_key)
                    late[pair] = min(due, late.get(pair, due))
        named = sorted(late, key=lambda pair: late[pair])[:limit]
        return Overdue(len(late), named)

    def closed_since(self, since: datetime) -> dict[str, int]:
        """Instances that reached a final stage since ``since``, per runbook title (ranges of ix_rule_state_board)."""
        counts = self._counts()
        shapes = {s.rule_id: s for s in self.shapes(counts)}
        finals = {(r, st) for (r, st) in counts if r in shapes and shapes[r].is_final(st)}
        found = {shape.title: 0 for shape in shapes.values()}
        if not finals:
            return found
        query = (select(S.rule_id, func.count()).where(S.scope == self.scope, _pairs(finals), S.updated_at >= since)
                 .group_by(S.rule_id))
        with self.store.engine.connect() as conn:
            for rule_id, n in conn.execute(query):
                found[shapes[rule_id].title] = n
        return found

    # one instance ----------------------------------------------------------------------------------
    def instance(self, key: str, *, before: int | None = None, all_rules: bool = False) -> InstanceView | str | None:
        """The instance of ``key``: its runbooks, members, timers, timeline (a page of traces older than trace
        ``before``) and audit entries; the key of the instance when ``key`` is one of its members (a str);
        None when nothing is recorded of it."""
        now = self.now()
        with self.store.engine.connect() as conn:
            states = [_state(r) for r in conn.execute(
                select(S).where(S.scope == self.scope, S.ticket_key == key).order_by(S.id))]
            if not states:
                owner = conn.execute(select(S.ticket_key).where(
                    S.scope == self.scope, _json_contains(S.data, f'"{MEMBER}{key}"')).order_by(S.id).limit(1)).scalar()
                if owner is not None and owner != key:
                    return str(owner)
        shapes = {s.rule_id: s for s in self.shapes()}
        roles: dict[str, str] = {}
        for state in states:
            for name, role in state.data.items():
                if name.startswith(MEMBER) and role and name.removeprefix(MEMBER) != key:
                    roles.setdefault(name.removeprefix(MEMBER), str(role))
        keys = [key, *roles]
        pending = self._pending_timers(keys)
        timers = [self._timer_view(t, shapes.get(t.rule_id), now) for k in keys for t in pending.get(k, ())]
        timers.sort(key=lambda t: t.due_at)
        rule_ids = {st.rule_id for st in states}
        events, older = self._timeline(keys, None if all_rules or not rule_ids else rule_ids, before)
        decisions = self._audit_of(keys)
        if not states and not events and not timers and not decisions:
            return None
        runbooks = [self._instance_runbook(state, shapes.get(state.rule_id) or self._shape(None, state.rule_id), now)
                    for state in states]
        return InstanceView(key, self.links.url(key), runbooks,
                            [(k, role, self.links.url(k)) for k, role in roles.items()], timers, events, older,
                            decisions, all_rules)

    def _instance_runbook(self, state: RuleState, shape: RunbookShape, now: datetime) -> InstanceRunbook:
        steps = []
        history = [h for h in state.history if isinstance(h, Mapping)]
        for index, item in enumerate(history):
            at = parse_time(item.get("at"))
            following = parse_time(history[index + 1].get("at")) if index + 1 < len(history) else None
            stage = str(item.get("stage"))
            final = shape.is_final(stage)
            lasted = (following - at) if at and following else (None if final or at is None else now - at)
            steps.append(HistoryStep(stage, shape.info(stage).title, at, lasted))
        decision = state.get("decision")
        return InstanceRunbook(shape, state, shape.info(state.stage), state.entered(state.stage), tuple(steps),
                               decision if isinstance(decision, Mapping) else None)

    def _timeline(self, keys: Sequence[str], rule_ids: set[str] | None,
                  before: int | None) -> tuple[list[TimelineEvent], int | None]:
        query = (select(TraceRow).where(TraceRow.scope == self.scope, TraceRow.ticket_key.in_(list(keys)))
                 .order_by(TraceRow.id.desc()).limit(TIMELINE_TRACES + 1))
        if rule_ids is not None:
            query = query.where(TraceRow.rule_id.in_(sorted(rule_ids)))
        if before is not None:
            query = query.where(TraceRow.id < before)
        with self.store.session() as s:
            traces = list(s.scalars(query))
        more = len(traces) > TIMELINE_TRACES
        traces = traces[:TIMELINE_TRACES]
        if more:  # do not cut an event in two: its older traces start the next page
            last = traces[-1].event_id
            while traces and traces[-1].event_id == last and len(traces) > 1:
                traces.pop()
        events: list[TimelineEvent] = []
        for trace in traces:  # newest first; one event's traces are consecutive
            if events and events[-1].event_id == trace.event_id and events[-1].ticket_key == trace.ticket_key:
                last_event = events[-1]
                events[-1] = TimelineEvent(last_event.event_id, last_event.kind, last_event.at, last_event.ticket_key,
                                           (from_trace(trace), *last_event.accounts), trace.id)
            else:
                events.append(TimelineEvent(trace.event_id, trace.event_kind, _aware(trace.at), trace.ticket_key,
                                            (from_trace(trace),), trace.id))
        return events, (events[-1].first_trace if more and events else None)

    def _audit_of(self, keys: Sequence[str]) -> list[AuditView]:
        """Audit entries about these tickets (``approve SS-1``, ``reject SS-1`` …), oldest first."""
        query = (select(AuditRow).where(or_(*(AuditRow.command.like(f"% {_escape_like(k)}", escape="\\")
                                              for k in keys))).order_by(AuditRow.id).limit(MAX_PAGE))
        with self.store.session() as s:
            return [_audit_view(r) for r in s.scalars(query)]

    # timers, dead letters, rules, audit ------------------------------------------------------------
    def timers(self, *, rule: str = "", key: str = "", offset: int = 0, limit: int = PAGE) -> Page:
        """Pending timers, the next due first (ix_timers_pending_due)."""
        limit = max(1, min(limit, MAX_PAGE))
        where = [T.scope == self.scope, T.status == PENDING]
        if rule:
            where.append(T.rule_id == rule)
        if key:
            where.append(T.ticket_key == key)
        now = self.now()
        shapes = {s.rule_id: s for s in self.shapes()}
        with self.store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(T).where(*where)).scalar() or 0
            rows = conn.execute(select(T).where(*where).order_by(T.due_at, T.id).offset(offset).limit(limit))
            items = [self._timer_view(_TimerRow.of(r), shapes.get(r.rule_id), now) for r in rows]
        return Page(items, total, offset, limit)

    def dead_letters(self, *, offset: int = 0, limit: int = PAGE) -> Page:
        """Events given up after their last attempt, the newest first."""
        limit = max(1, min(limit, MAX_PAGE))
        i = InboxRow
        with self.store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(i).where(i.status == DEAD)).scalar() or 0
            rows = conn.execute(select(i.id, i.source, i.kind, i.ticket_key, i.received_at, i.finished_at, i.attempts,
                                       i.last_error).where(i.status == DEAD).order_by(i.id.desc())
                                .offset(offset).limit(limit))
            items = [DeadLetter(r.id, r.source, r.kind, r.ticket_key, _aware(r.received_at),
                                _aware(r.finished_at) if r.finished_at else None, r.attempts, r.last_error or "",
                                self.links.url(r.ticket_key)) for r in rows]
        return Page(items, total, offset, limit)

    def dead_letter_count(self) -> int:
        with self.store.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(InboxRow).where(InboxRow.status == DEAD)).scalar() or 0

    def rules(self) -> list[RuleView]:
        counts = self._counts()
        shapes = self.shapes(counts)
        with self.store.session() as s:
            pauses = list(s.scalars(select(RulePauseRow).where(RulePauseRow.resumed_at.is_(None))
                                    .order_by(RulePauseRow.id)))
        bound = {b.id: b for b in self.bound}
        views = []
        for shape in shapes:
            b = bound.get(shape.rule_id)
            mine = [PauseView(p.ticket_key, p.reason, p.by, _aware(p.paused_at)) for p in pauses
                    if p.rule_id == shape.rule_id]
            views.append(RuleView(
                shape, enabled=bool(b and b.config.enabled), configured=b is not None, projects=_projects(b),
                paused=next((p for p in mine if not p.ticket_key), None),
                ticket_pauses=tuple(p for p in mine if p.ticket_key),
                in_flight=sum(n for (r, st), n in counts.items() if r == shape.rule_id and not shape.is_final(st))))
        return views

    def audit(self, *, q: str = "", outcome: str = "", before: int | None = None, limit: int = PAGE
              ) -> tuple[list[AuditView], int | None]:
        """Audit entries, newest first, matching ``q`` in who, what or the detail; the cursor of the next page."""
        limit = max(1, min(limit, MAX_PAGE))
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit + 1)
        if q:
            query = query.where(or_(*(_contains(func.lower(column), q) for column in
                                      (AuditRow.actor, AuditRow.command, AuditRow.detail, AuditRow.via))))
        if outcome:
            query = query.where(AuditRow.outcome == outcome)
        if before is not None:
            query = query.where(AuditRow.id < before)
        with self.store.session() as s:
            rows = [_audit_view(r) for r in s.scalars(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].id if more and rows else None)


# helpers -------------------------------------------------------------------------------------------------
class _Unknown:
    """Stands for a rule the records name but the configuration does not (removed, renamed)."""

    def __init__(self, rule_id: str) -> None:
        self.id = rule_id
        self.title = f"{rule_id} (not configured)"

    def approvers(self, _config: Any) -> list[tuple[str, str | None]]:
        return []


@dataclass(frozen=True)
class _TimerRow:
    timer_id: str
    rule_id: str
    ticket_key: str
    name: str
    due_at: datetime
    data: Mapping[str, Any]

    @classmethod
    def of(cls, row: Any) -> _TimerRow:
        return cls(row.timer_id, row.rule_id, row.ticket_key, row.name, _aware(row.due_at), dict(row.data or {}))


def _urgent_first(cards: Iterable[Card]) -> list[Card]:
    """The overdue first, then the soon due, each in the order the query gave (unchanged longest first)."""
    return sorted(cards, key=lambda c: (not c.overdue, not c.soon))


def customer_of(data: Mapping[str, Any]) -> str:
    """The customer an instance's record names (see :data:`CUSTOMER_KEYS`), else ''."""
    for name in CUSTOMER_KEYS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def waits_on(shape: RunbookShape, stage: str, timers: Sequence[TimerView]) -> str:
    """Whom (or what) an instance waits for, where the records say: the person a held message goes to, what
    the rule says the stage waits for, or the approvers while the rule chases a decision."""
    for timer in timers:
        if timer.who:
            return timer.who
    if stage in shape.waits:
        return shape.waits[stage]
    if stage in shape.decision_stages and timers and shape.approvers:
        return "a decision from " + ", ".join(shape.approvers)
    return ""


def _state(row: Any) -> RuleState:
    return RuleState(rule_id=row.rule_id, ticket_key=row.ticket_key, stage=row.stage, data=dict(row.data or {}),
                     history=tuple(row.history or ()), created_at=_aware(row.created_at),
                     updated_at=_aware(row.updated_at))


def _projects(bound: BoundRule | None) -> tuple[str, ...]:
    if bound is None:
        return ()
    try:
        return tuple(sorted(bound.rule.watched_projects(bound.config)))
    except Exception:  # noqa: BLE001 - shown without its projects rather than not at all
        return ()


def _audit_view(row: AuditRow) -> AuditView:
    return AuditView(row.id, _aware(row.at), row.actor, row.via, row.command, row.outcome, row.detail or "")


def _pairs(pairs: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """rule_state rows of these (rule, stage) pairs: per rule, its stages (index ranges of ix_rule_state_board)."""
    stages: dict[str, list[str]] = {}
    for rule, stage in sorted(pairs):
        stages.setdefault(rule, []).append(stage)
    return or_(*(and_(S.rule_id == rule, S.stage.in_(names)) for rule, names in stages.items()))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return column.like(f"%{_escape_like(text.strip().casefold())}%", escape="\\")


def _json_contains(column: Any, text: str) -> ColumnElement[bool]:
    """The JSON text of ``column`` holds ``text`` (case-insensitively for ASCII), also where the JSON
    writer escaped its non-ASCII letters (``S\\u00e3o``)."""
    wanted = text.strip().casefold()
    haystack = func.lower(cast(column, Text))
    escaped = json.dumps(wanted)[1:-1]
    if escaped == wanted:
        return _contains(haystack, wanted)
    return or_(_contains(haystack, wanted), _contains(haystack, escaped))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 text from a rule's record as an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _iso(value: datetime | None) -> str | None:
    return _aware(value).isoformat() if value is not None else None


def _deadline_dict(deadline: DeadlineAlarm | None) -> dict[str, Any] | None:
    if deadline is None:
        return None
    return {"deadline": deadline.deadline, "next_alarm": deadline.alarm, "due_at": _iso(deadline.due)}
