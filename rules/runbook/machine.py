"""The machine: ordered stages, deadlines with reminders and escalation, child tickets."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot.calendar import BusinessCalendar
from bot.check import Requirement, Touch
from bot.effects import CancelTimer, Effect, LinkTickets, SetState, StartTimer
from bot.engine import Evaluation, Verdict
from bot.model import TIMER_FIRED, Event, Ticket
from bot.state import RuleState, member
from bot.trackers.base import TrackerError, TrackerReader
from rules.runbook.acts import Acts, EntryActions
from rules.runbook.checks import Check, Facts
from rules.runbook.config import REMINDER_CAP, Alarms, RunbookConfig


@dataclass(frozen=True)
class Alarm:
    """One ring of a deadline. ``kind``: warn | due | remind | escalate; ``n``: its number within its kind."""

    index: int
    kind: str
    n: int
    at: datetime
    due: datetime  # the deadline's due moment, for messages ("3 days left")

    @property
    def label(self) -> str:
        return f"{self.kind}{self.n}" if self.kind in ("warn", "remind") else self.kind


#: A deadline's actions when it rings: (facts, acts, alarm) -> effects.
AlarmActions = Callable[[Facts, Acts, Alarm], list[Effect]]


@dataclass(frozen=True)
class Stage:
    """``catch_up=False``: run ``enter`` only when this stage is the one reached, not when a later stage
    is reached in the same event (a task that is pointless once the ticket is further along)."""

    name: str
    when: Check
    enter: EntryActions | None = None
    title: str = ""  # how people name it ("Montagem do layout"); defaults to ``name``
    catch_up: bool = True

    @property
    def label(self) -> str:
        return self.title or self.name


@dataclass(frozen=True)
class Deadline:
    """Alarms that run from entering ``starts`` until a stage of ``stops`` is entered or ``until`` holds."""

    name: str
    starts: str
    stops: tuple[str, ...]
    alarms: Alarms
    ring: AlarmActions
    until: Check | None = None
    on_met: EntryActions | None = None

    def schedule(self, start: datetime, calendar: BusinessCalendar) -> Iterator[Alarm]:
        """The alarms from ``start``, in time order (reminders are generated lazily)."""
        cfg = self.alarms
        due = calendar.due(start, cfg.due)
        escalate = calendar.due(start, cfg.escalate_after) if cfg.escalate_after is not None else None
        warnings = sorted(calendar.before(due, before) for before in cfg.warn_before)
        rings: list[tuple[datetime, str, int]] = [(at, "warn", n) for n, at in enumerate(warnings, 1) if at > start]
        rings.append((due, "due", 1))
        early = sorted(rings, key=lambda r: r[0])
        index = 0
        for at, kind, n in early:
            if escalate is not None and at >= escalate and kind != "due":
                continue
            yield Alarm(index, kind, n, at, due)
            index += 1
        limit = cfg.max_reminders if cfg.max_reminders is not None else REMINDER_CAP
        at = due
        if cfg.remind_every is not None:
            for n in range(1, limit + 1):
                at = calendar.due(at, cfg.remind_every)
                if escalate is not None and at >= escalate:
                    break
                yield Alarm(index, "remind", n, at, due)
                index += 1
        if escalate is not None and escalate > due:
            yield Alarm(index, "escalate", 1, escalate, due)

    def alarm(self, index: int, start: datetime, calendar: BusinessCalendar) -> Alarm | None:
        return next(itertools.islice(self.schedule(start, calendar), index, None), None)


MET = "met:"  # state data key prefix: when a deadline's ``until`` held


CHILD = "child:"  # state data key prefix: the key of a child ticket by role


@dataclass(frozen=True)
class Runbook:
    rule_id: str
    stages: tuple[Stage, ...]
    deadlines: tuple[Deadline, ...] = ()
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    #: Who the instance is for, as people name it (the customer): recorded when the runbook starts, for
    #: ``ticketbot status`` and the console's board.
    customer: Callable[[Ticket], str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        for d in self.deadlines:
            unknown = [s for s in (d.starts, *d.stops) if s not in names]
            if unknown:
                raise ValueError(f"deadline {d.name!r} names unknown stage(s) {unknown}")

    # reading ---------------------------------------------------------------------------------
    def index(self, stage: str | None) -> int:
        names = [s.name for s in self.stages]
        return names.index(stage) if stage in names else -1

    def _span(self, d: Deadline) -> tuple[int, int]:
        stops = [self.index(s) for s in d.stops]
        return self.index(d.starts), min(stops) if stops else len(self.stages)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        checks = [s.when for s in self.stages] + [d.until for d in self.deadlines if d.until]
        return _unique(r for c in checks for r in c.requirements(project, system))

    def triggers(self, project: str, guard: str, system: str = "jira") -> list[Touch]:
        checks = [s.when for s in self.stages] + [d.until for d in self.deadlines if d.until]
        return _unique(Touch(t.kind, t.name, t.project, t.system, guard)
                       for c in checks for t in c.touches(project, system))

    # evaluating ------------------------------------------------------------------------------
    def evaluate(self, facts: Facts, verdicts: Sequence[Verdict] = (), extra: Sequence[Effect] = ()) -> Evaluation:
        """Move the ticket's record forward, handle a fired timer, and say what must be written.

        ``verdicts``: the caller's passed checks (this ticket belongs to the runbook). ``extra``:
        effects the caller adds (adopting a child, a nudge on a task).
        """
        ticket, event, state = facts.ticket, facts.event, facts.state
        verdicts = list(verdicts)
        effects: list[Effect] = list(extra)
        notes: list[str] = []
        current = self.index(state.stage if state else None)
        target, progress = self._target(facts, current)
        met = {k.removeprefix(MET) for k in (state.data if state else {}) if k.startswith(MET)}
        if progress is not None:
            verdicts.append(progress)
        for stage in self.stages[current + 1: target + 1]:
            first = current < 0 and stage is self.stages[0]
            named = " ".join(str(self.customer(ticket) or "").split())[:200] if first and self.customer else ""
            effects.append(SetState(rule_id=self.rule_id, ticket_key=ticket.key, step=f"stage:{stage.name}",
                                    stage=stage.name, data={"customer": named} if named else {}))
            reached = stage is self.stages[target]
            if stage.enter is not None and (reached or stage.catch_up):
                effects += stage.enter(facts, Acts(self.rule_id, ticket.key, f"enter:{stage.name}",
                                                   hours=self.calendar))
            notes.append(f"entered stage {stage.label!r}" + ("" if reached else " (caught up)"))
        for d in self.deadlines:
            effects += self._deadline(d, facts, current, target, met, notes)
        if event.kind == TIMER_FIRED and (event.payload or {}).get("rule") == self.rule_id:
            effects += self._ring(event, facts, target, met, notes)
        if effects:
            return Evaluation(verdicts=verdicts, effects=effects, notes=notes)
        return Evaluation.skip([*verdicts, self._waiting(facts, target)], *notes)

    def _target(self, facts: Facts, current: int) -> tuple[int, Verdict | None]:
        """The furthest stage after ``current`` whose condition holds (``current`` when none)."""
        for i in range(len(self.stages) - 1, current, -1):
            verdict = self.stages[i].when(facts)
            if verdict.passed:
                return i, Verdict(f"stage {self.stages[i].label!r}: {verdict.name}", True, verdict.observed,
                                  verdict.expected, verdict.note)
        return current, None

    def _waiting(self, facts: Facts, target: int) -> Verdict:
        """Why nothing happened: what the next stage waits for (or that the runbook is over)."""
        if target + 1 >= len(self.stages):
            last = self.stages[target].label if target >= 0 else "-"
            return Verdict("runbook has a next stage", False, last, "no stage after the last one")
        nxt = self.stages[target + 1]
        verdict = nxt.when(facts)
        return Verdict(f"next stage {nxt.label!r}: {verdict.name}", False, verdict.observed, verdict.expected,
                       verdict.note)

    def _deadline(self, d: Deadline, facts: Facts, current: int, target: int, met: set[str],
                  notes: list[str]) -> list[Effect]:
        start, stop = self._span(d)
        was_on = start <= current < stop and d.name not in met
        is_on = start <= target < stop and d.name not in met
        key = facts.ticket.key
        if is_on and d.until is not None and d.until(facts).passed:
            notes.append(f"deadline {d.name!r} met: {d.until(facts).name}")
            out: list[Effect] = [SetState(rule_id=self.rule_id, ticket_key=key, step=f"{d.name}:met",
                                          data={MET + d.name: facts.now.isoformat()})]
            if was_on:
                out.append(CancelTimer(rule_id=self.rule_id, ticket_key=key, step=f"timer:{d.name}:cancel",
                                       name=d.name))
            if d.on_met is not None:
                out += d.on_met(facts, Acts(self.rule_id, key, f"{d.name}:met", hours=self.calendar))
            return out
        if is_on and not was_on:
            first = d.alarm(0, facts.now, self.calendar)
            if first is None:
                return []
            notes.append(f"deadline {d.name!r} armed: first {first.label} at {first.at.isoformat()}")
            return [self._arm(d, key, first, facts.now)]
        if was_on and not is_on:
            notes.append(f"deadline {d.name!r} stopped: stage {self.stages[target].label!r} reached")
            return [CancelTimer(rule_id=self.rule_id, ticket_key=key, step=f"timer:{d.name}:cancel",
                                name=d.name)]
        return []

    def _arm(self, d: Deadline, key: str, alarm: Alarm, start: datetime) -> Effect:
        return StartTimer(rule_id=self.rule_id, ticket_key=key, step=f"timer:{d.name}:{alarm.index}", name=d.name,
                          due_at=alarm.at, data={"alarm": alarm.index, "start": start.isoformat()})

    def _ring(self, event: Event, facts: Facts, target: int, met: set[str], notes: list[str]) -> list[Effect]:
        payload = event.payload or {}
        d = next((d for d in self.deadlines if d.name == payload.get("timer")), None)
        data = payload.get("data") or {}
        if d is None or "alarm" not in data or "start" not in data:
            notes.append(f"timer {payload.get('timer')!r} is not one of this runbook's deadlines")
            return []
        start_index, stop = self._span(d)
        if not (start_index <= target < stop) or d.name in met or (d.until is not None and d.until(facts).passed):
            notes.append(f"deadline {d.name!r} no longer runs; its timer rang late and is ignored")
            return []
        start = datetime.fromisoformat(str(data["start"]))
        alarm = d.alarm(int(data["alarm"]), start, self.calendar)
        if alarm is None:
            return []
        notes.append(f"deadline {d.name!r}: {alarm.label} (due {alarm.due.isoformat()})")
        during = tuple(s.name for s in self.stages[start_index:stop])
        out = d.ring(facts, Acts(self.rule_id, facts.ticket.key, f"{d.name}:{alarm.label}", hours=self.calendar,
                                 stages=during, unless=MET + d.name), alarm)
        following = d.alarm(alarm.index + 1, start, self.calendar)
        if following is not None:
            out.append(self._arm(d, facts.ticket.key, following, start))
            notes.append(f"next {following.label} at {following.at.isoformat()}")
        return out


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


# timers and children ---------------------------------------------------------------------------------
def foreign_timer(event: Event, rule_id: str) -> Verdict | None:
    """A failing verdict when ``event`` is another rule's timer (a fired timer concerns one rule only)."""
    if event.kind != TIMER_FIRED:
        return None
    owner = (event.payload or {}).get("rule")
    return None if owner == rule_id else Verdict("timer belongs to this rule", False, owner, rule_id)


@dataclass(frozen=True)
class Children:
    """Child tasks that carry their parent's key in ``parent_field`` (a text field on the site)."""

    parent_field: str
    link_type: str = ""

    def parent_key(self, ticket: Ticket) -> str:
        return str(ticket.field(self.parent_field) or "").strip()

    def load(self, reader: TrackerReader, state: RuleState | None, *, known: Mapping[str, Ticket] = {}
             ) -> dict[str, Ticket]:
        """The parent's known children by role, read fresh (a child that cannot be read is left out)."""
        out: dict[str, Ticket] = {}
        for name, key in (state.data if state else {}).items():
            if name.startswith(CHILD) and name.removeprefix(CHILD) not in known:
                try:
                    out[name.removeprefix(CHILD)] = reader.get_ticket(str(key))
                except TrackerError:
                    continue
        return {**out, **known}

    def adopt(self, rule_id: str, parent_key: str, role: str, child: Ticket, state: RuleState | None
              ) -> list[Effect]:
        """Record the child's key in the parent's record (once) and link the two tickets."""
        if state is not None and state.get(CHILD + role) == child.key:
            return []
        # A member of the parent's instance: the inbox processes the child's events in order with the parent's.
        out: list[Effect] = [SetState(rule_id=rule_id, ticket_key=parent_key, step=f"{CHILD}{role}:{child.key}",
                                      data={CHILD + role: child.key, **member(child.key, role)})]
        if self.link_type:
            out.append(LinkTickets(rule_id=rule_id, ticket_key=parent_key, step=f"link:{role}:{child.key}",
                                   link_type=self.link_type, inward_key=parent_key, outward_key=child.key))
        return out


def one_line(value: Any, limit: int = 120) -> str:
    """A value from a ticket, for a Slack message: one line, at most ``limit`` characters.

    Slack's own markup is escaped by the notifier; :func:`bot.text.untrusted` is for tracker comments.
    """
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def days_left(alarm: Alarm, now: datetime) -> int:
    """Whole days from ``now`` to the alarm's due moment (0 when due today or past)."""
    return max(0, (alarm.due - now).days)


C = TypeVar("C", bound=RunbookConfig)


def per_config(build: Callable[[C, str], Runbook]) -> Callable[[C, str], Runbook]:
    """``build(config, rule_id)``, made once per config block and rule id rather than on every event (a
    runbook takes a few hundred microseconds to make). A block is not changed once validated."""
    made: dict[tuple[int, str], tuple[C, Runbook]] = {}  # holds the block: its id stays its own

    @functools.wraps(build)
    def cached(config: C, rule_id: str) -> Runbook:
        hit = made.get((id(config), rule_id))
        if hit is None:
            if len(made) >= 64:  # blocks of reloaded configs, of tests
                made.clear()
            hit = made[(id(config), rule_id)] = (config, build(config, rule_id))
        return hit[1]
    return cached
