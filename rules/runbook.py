"""A declarative runbook: ordered stages, entry actions, deadlines with reminders and escalation.

Four of the seed runbooks have the same shape: a ticket moves through named stages; entering a
stage calls for actions (tell someone, create a task, tick a field); some stages must not last
too long (a follow-up after 5 business days, a check every 12 hours that escalates after 48, a
60-day target with warnings). This module is that shape, built once:

* :class:`Stage` — entered when its condition holds (a status, a field value, ticked checklist
  items, a label, a comment, a child task's state…). Stages are ordered and the machine only
  moves forward: on every event it finds the *furthest* stage whose condition holds and enters
  every stage up to it, in order, running each one's entry actions. Why the furthest: people
  skip steps in a tracker (a status moved two columns at once) and the runbook must still
  catch up; why never back: entry actions already happened and must not happen twice.
* :class:`Deadline` — armed when its start stage is entered, disarmed when a stop stage is
  entered or its ``until`` condition holds. It rings at computed moments (*alarms*): warnings
  before the due moment, the due moment itself, reminders every N after it (at most M, and
  only before the escalation), and one escalation. Delays are business time through the rule's
  :class:`~bot.calendar.BusinessCalendar` (``5 business days``) or wall-clock time (``48h``).
* One durable timer per deadline (``StartTimer`` re-armed for the next alarm each time it
  fires), one record per ticket (``SetState``: the stage, the history, which deadlines were
  met, which child tickets belong to it). Effects are desired state with unique steps
  (``enter:<stage>:<action>``, ``<deadline>:remind2:<action>``), so a redelivered event or a
  timer fired twice writes nothing new.

Rules stay pure: :meth:`Runbook.evaluate` gets the facts (ticket, related tickets, the event,
the time) and the rule's record, and returns an :class:`~bot.engine.Evaluation`. Conditions
are small objects that explain themselves (observed vs expected) and list the names they need
on the site, so ``requirements(config)`` of a runbook rule mostly writes itself.

Child tasks: a tracker gives the key of a created ticket to the executor, not to the rule. So a
child task carries its parent's key in a field (:class:`Children`), and the rule adopts the child
(records its key in the parent's record and links the two) on the first event it sees on it —
in Jira, the ``issue_created`` webhook of the bot's own creation. Rules with children therefore
set ``handles_own_events = True``; the stage record is what keeps them from acting twice.

Jira or Zendesk: a runbook rule runs unchanged on either tracker. Its block says which one its
project lives on (``tracker``, :class:`RunbookConfig`); the rule reads the normalized ticket (on
Zendesk the project is the group, the kind of ticket its form, see :func:`ticket_kind`), and writes
through effects the tracker adapter renders (a transition is a status update on Zendesk, an
internal comment a ``public: false`` note, a watcher a follower). :class:`Declarations` states a
rule's names as data and derives its ``requirements``/``writes``/``triggers`` for that tracker.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.calendar import BusinessCalendar, BusinessDuration, Delay
from bot.check import Requirement, Touch
from bot.config import Duration, RuleBlock
from bot.effects import (
    CancelTimer,
    CreateTicket,
    Effect,
    InternalComment,
    LinkTickets,
    SetField,
    SetState,
    SlackMessage,
    StartTimer,
    Transition,
)
from bot.engine import Evaluation, Rule, RuleContext, Verdict, all_passed
from bot.model import TIMER_FIRED, Event, Ticket, User
from bot.state import RuleState, member
from bot.trackers.base import TrackerError, TrackerReader
from rules.conditions import normalize_text, text_matches

#: Reminders of a deadline without ``max_reminders`` and without an escalation stop here.
REMINDER_CAP = 50


# config pieces shared by runbook rules ---------------------------------------------------------------
class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Person(Block):
    """Someone the runbook tells things: by e-mail on the tracker, by Slack id (else looked up by e-mail)."""

    email: str
    slack_user: str | None = None


class Alarms(Block):
    """When a deadline rings, counted from the moment its start stage is entered.

    ``due``: the first ring (the follow-up, the first check, the target). ``warn_before``: warnings
    that long before ``due`` (wall-clock durations). ``remind_every``: rings again after ``due``,
    at most ``max_reminders`` times (repeats after the first ring; unset: until the escalation, at
    most :data:`REMINDER_CAP`), and only before ``escalate_after``. ``escalate_after``: one last ring,
    counted from the start, when it falls after ``due``. Delays take business time (``5 business days``,
    ``16bh``) through the rule's calendar, or wall-clock time (``48h``, ``60d``).
    """

    due: Delay
    warn_before: list[Duration] = Field(default_factory=list)
    remind_every: Delay | None = None
    max_reminders: int | None = Field(default=None, ge=0)
    escalate_after: Delay | None = None

    @model_validator(mode="after")
    def _sensible(self) -> Alarms:
        for name in ("due", "remind_every", "escalate_after"):
            value = getattr(self, name)
            if value is not None and _is_zero(value):
                raise ValueError(f"{name} must be longer than zero")
        return self


def _is_zero(value: timedelta | BusinessDuration) -> bool:
    return value.is_zero if isinstance(value, BusinessDuration) else value <= timedelta(0)


class RunbookConfig(RuleBlock):
    """What every runbook rule's block has: the tracker its project lives on, and the project.

    ``tracker``: ``jira`` (a project key) or ``zendesk`` (a group name); it decides where ``ticketbot
    check`` resolves the block's names and how the kinds of ticket are found (:func:`ticket_kind`).
    """

    tracker: Literal["jira", "zendesk"] = "jira"
    project: str


#: Zendesk's ticket types; any other kind of ticket is a ticket form there.
ZENDESK_TICKET_TYPES = ("question", "incident", "problem", "task")


def ticket_kind(ticket: Ticket) -> str:
    """What kind of ticket this is: Jira's issue type; on Zendesk its ticket form (what was asked for,
    e.g. "E-invoice order"), else its type (a ticket created as a ``task`` has no form)."""
    if ticket.tracker == "zendesk":
        return ticket.request_type or ticket.issue_type
    return ticket.issue_type


def kind_is(ticket: Ticket, *kinds: str) -> Verdict:
    """The ticket is of one of ``kinds`` (case and spacing ignored); see :func:`ticket_kind`."""
    return _kind_verdict(ticket.tracker == "zendesk", ticket_kind(ticket), kinds)


@functools.lru_cache(maxsize=1024)  # every event asks each runbook rule the same few questions
def _kind_verdict(zendesk: bool, observed: str, kinds: tuple[str, ...]) -> Verdict:
    wanted = [normalize_text(k) for k in kinds]
    name = "ticket form or type" if zendesk else "issue type"
    return Verdict(name, normalize_text(observed) in wanted, observed, kinds[0] if len(kinds) == 1 else list(kinds),
                   "case and whitespace ignored")


# facts and conditions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """What conditions and actions look at: the runbook's ticket, the event, the time, the rule's record
    of the ticket (``None`` before its first stage) and its child tickets by role."""

    ticket: Ticket
    event: Event
    now: datetime
    state: RuleState | None = None
    children: Mapping[str, Ticket] = field(default_factory=dict)

    def started(self) -> datetime | None:
        """When the runbook started on this ticket (its record was created)."""
        return self.state.created_at if self.state else None


def items_of(value: Any) -> list[str]:
    """A checkbox / multi-select value as a list of names: a list (REST, webhook snapshot) or the
    comma-separated text a changelog carries (``"API data,Login details"``)."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).replace("\n", ",").split(",") if part.strip()]


def email_of(value: Any) -> str:
    """A person field's e-mail: a user value, or text that is an e-mail address."""
    if isinstance(value, User):
        return value.email
    text = str(value or "").strip()
    return text if "@" in text and " " not in text else ""


class Check:
    """A condition on the facts that explains itself. Subclasses set ``__call__``."""

    def __call__(self, facts: Facts) -> Verdict:
        raise NotImplementedError

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        """The names this condition needs on the site."""
        return []

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        """The changes that can turn this condition (for a rule's ``triggers``)."""
        return []


@dataclass(frozen=True)
class Always(Check):
    name: str = "ticket is in the runbook"

    def __call__(self, facts: Facts) -> Verdict:
        return Verdict(self.name, True, facts.ticket.key, "any ticket of the runbook")


@dataclass(frozen=True)
class StatusIn(Check):
    statuses: tuple[str, ...]

    def __call__(self, facts: Facts) -> Verdict:
        wanted = [normalize_text(s) for s in self.statuses]
        return Verdict("status", normalize_text(facts.ticket.status) in wanted, facts.ticket.status,
                       list(self.statuses))

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("status", s, project, system) for s in self.statuses]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("status", None, project, system)]


@dataclass(frozen=True)
class FieldIs(Check):
    """A field has one of ``values`` (a select option, a text; case and spacing ignored)."""

    field: str
    values: tuple[str, ...]

    def __call__(self, facts: Facts) -> Verdict:
        value = facts.ticket.field(self.field)
        observed = value.email if isinstance(value, User) else value
        ok = normalize_text(str(observed or "")) in [normalize_text(v) for v in self.values]
        return Verdict(self.field, ok, observed, list(self.values))

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("field", self.field, system=system),
                *(Requirement("option", v, project, system, parent=self.field) for v in self.values)]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("field", self.field, project, system)]


@dataclass(frozen=True)
class FieldFilled(Check):
    field: str

    def __call__(self, facts: Facts) -> Verdict:
        value = facts.ticket.field(self.field)
        filled = bool(value.email or value.account_id) if isinstance(value, User) else bool(str(value or "").strip())
        return Verdict(self.field, filled, value.email if isinstance(value, User) else value, "any value")

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("field", self.field, system=system)]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("field", self.field, project, system)]


@dataclass(frozen=True)
class Checklist(Check):
    """Every one of ``items`` is ticked in the checkbox field ``field``."""

    field: str
    items: tuple[str, ...]

    def __call__(self, facts: Facts) -> Verdict:
        ticked = {normalize_text(i) for i in items_of(facts.ticket.field(self.field))}
        missing = [i for i in self.items if normalize_text(i) not in ticked]
        return Verdict(f"{self.field} ticked", not missing, items_of(facts.ticket.field(self.field)),
                       list(self.items), f"open: {', '.join(missing)}" if missing else "")

    def missing(self, ticket: Ticket) -> list[str]:
        ticked = {normalize_text(i) for i in items_of(ticket.field(self.field))}
        return [i for i in self.items if normalize_text(i) not in ticked]

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("field", self.field, system=system),
                *(Requirement("option", i, project, system, parent=self.field) for i in self.items)]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("field", self.field, project, system)]


@dataclass(frozen=True)
class Labelled(Check):
    labels: tuple[str, ...]

    def __call__(self, facts: Facts) -> Verdict:
        have = {normalize_text(label) for label in facts.ticket.labels}
        return Verdict("labels", all(normalize_text(label) in have for label in self.labels),
                       list(facts.ticket.labels), list(self.labels))

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("label", None, project, system)]


@dataclass(frozen=True)
class Commented(Check):
    """Some comment (not the bot's own) contains ``phrase`` (case and spacing ignored)."""

    phrase: str

    def __call__(self, facts: Facts) -> Verdict:
        wanted = normalize_text(self.phrase)
        hit = next((c for c in facts.ticket.comments if wanted in normalize_text(c.body)), None)
        return Verdict("comment", hit is not None, hit.id if hit else f"{len(facts.ticket.comments)} comment(s)",
                       f"a comment containing {self.phrase!r}")

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("comment", None, project, system)]


@dataclass(frozen=True)
class Child(Check):
    """``check`` holds on the child ticket of ``role``; fails while no such child is known."""

    role: str
    check: Check

    def __call__(self, facts: Facts) -> Verdict:
        child = facts.children.get(self.role)
        if child is None:
            return Verdict(f"{self.role} task", False, "not known yet", "a child task of this role")
        inner = self.check(Facts(ticket=child, event=facts.event, now=facts.now))
        return Verdict(f"{self.role} task {child.key}: {inner.name}", inner.passed, inner.observed, inner.expected,
                       inner.note)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return self.check.requirements(project, system)

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return self.check.touches(project, system)


@dataclass(frozen=True)
class AllOf(Check):
    checks: tuple[Check, ...]

    def __call__(self, facts: Facts) -> Verdict:
        verdicts = [c(facts) for c in self.checks]
        failed = next((v for v in verdicts if not v.passed), None)
        if failed is not None:
            return failed
        return Verdict(" and ".join(v.name for v in verdicts), True, [v.observed for v in verdicts],
                       [v.expected for v in verdicts])

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [r for c in self.checks for r in c.requirements(project, system)]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [t for c in self.checks for t in c.touches(project, system)]


@dataclass(frozen=True)
class AnyOf(Check):
    checks: tuple[Check, ...]

    def __call__(self, facts: Facts) -> Verdict:
        verdicts = [c(facts) for c in self.checks]
        passed = next((v for v in verdicts if v.passed), None)
        if passed is not None:
            return passed
        return Verdict(" or ".join(v.name for v in verdicts), False, [v.observed for v in verdicts],
                       [v.expected for v in verdicts])

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [r for c in self.checks for r in c.requirements(project, system)]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [t for c in self.checks for t in c.touches(project, system)]


def all_of(*checks: Check) -> Check:
    return checks[0] if len(checks) == 1 else AllOf(tuple(checks))


def any_of(*checks: Check) -> Check:
    return checks[0] if len(checks) == 1 else AnyOf(tuple(checks))


# actions ---------------------------------------------------------------------------------------------
class _Keyed(TypedDict):
    """What names an effect: its rule, its ticket and its step."""

    rule_id: str
    ticket_key: str
    step: str


class Acts:
    """Builds the effects of one action group (a stage entry, an alarm) with unique, stable steps.

    Every effect's step is ``<prefix>:<name>``; ``on(key)`` gives the same builder for another
    ticket (a child task). Messages to people go to Slack; comments are always internal.
    """

    def __init__(self, rule_id: str, ticket_key: str, prefix: str) -> None:
        self.rule_id, self.ticket_key, self.prefix = rule_id, ticket_key, prefix

    def on(self, ticket_key: str) -> Acts:
        return Acts(self.rule_id, ticket_key, self.prefix)

    def _kw(self, name: str) -> _Keyed:
        return {"rule_id": self.rule_id, "ticket_key": self.ticket_key, "step": f"{self.prefix}:{name}"}

    def comment(self, name: str, body: str, mentions: Iterable[str] = ()) -> Effect:
        return InternalComment(**self._kw(name), body=body, mentions=tuple(m for m in mentions if m))

    def slack(self, name: str, text: str, *, to: Person | None = None, email: str = "", channel: str = "",
              alert: bool = False) -> Effect:
        """To a person (``to`` or ``email``), a channel, or (``alert``, or nobody given) the admin channel."""
        email = to.email if to else email
        slack_user = (to.slack_user or "") if to else ""
        alert = alert or not (email or slack_user or channel)
        return SlackMessage(**self._kw(name), text=text, user_email=email, slack_user=slack_user, channel=channel,
                            alert=alert)

    def create(self, name: str, *, project: str, issue_type: str, summary: str, description: str = "",
               fields: Mapping[str, Any] | None = None) -> Effect:
        return CreateTicket(**self._kw(name), project=project, issue_type=issue_type, summary=summary,
                            description=description, field_values=dict(fields or {}))

    def transition(self, name: str, status: str, resolution: str = "") -> Effect:
        return Transition(**self._kw(name), status=status, resolution=resolution)

    def set_field(self, name: str, field_name: str, value: Any) -> Effect:
        return SetField(**self._kw(name), field=field_name, value=value)

    def link(self, name: str, link_type: str, inward_key: str, outward_key: str) -> Effect:
        return LinkTickets(**self._kw(name), link_type=link_type, inward_key=inward_key, outward_key=outward_key)


#: A stage's entry actions: (facts, acts) -> effects.
EntryActions = Callable[[Facts, Acts], list[Effect]]


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
        rings: list[tuple[datetime, str, int]] = [
            (due - before, "warn", n) for n, before in enumerate(sorted(cfg.warn_before, reverse=True), 1)
            if due - before > start]
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
            effects.append(SetState(rule_id=self.rule_id, ticket_key=ticket.key, step=f"stage:{stage.name}",
                                    stage=stage.name))
            reached = stage is self.stages[target]
            if stage.enter is not None and (reached or stage.catch_up):
                effects += stage.enter(facts, Acts(self.rule_id, ticket.key, f"enter:{stage.name}"))
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
                out += d.on_met(facts, Acts(self.rule_id, key, f"{d.name}:met"))
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
        out = d.ring(facts, Acts(self.rule_id, facts.ticket.key, f"{d.name}:{alarm.label}"), alarm)
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


def person_requirements(people: Mapping[str, Person | None], source: str, system: str = "jira"
                        ) -> list[Requirement]:
    """Tracker users (on ``system``) and Slack users for the people a runbook tells things."""
    out: list[Requirement] = []
    for name, person in people.items():
        if person is None:
            continue
        out.append(Requirement("user", person.email, system=system, source=f"{source}.{name}.email", required=False,
                               note="mentioned in internal comments"))
        out.append(Requirement("slack_user", person.slack_user or person.email, system="slack",
                               source=f"{source}.{name}", note="told on Slack"))
    return out


def one_line(value: Any, limit: int = 120) -> str:
    """A value from a ticket, for a Slack message: one line, at most ``limit`` characters.

    Slack's own markup is escaped by the notifier; :func:`bot.text.untrusted` is for tracker comments.
    """
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def delay_text(value: timedelta | BusinessDuration) -> str:
    """``5 business days``, ``60 days``, ``48 h``, ``90 min`` — a configured delay as people say it."""
    if isinstance(value, BusinessDuration):
        return str(value)
    if value % timedelta(days=1) == timedelta(0):
        return f"{value.days} day{'s' if value.days != 1 else ''}"
    if value % timedelta(hours=1) == timedelta(0):
        return f"{value // timedelta(hours=1)} h"
    return f"{value / timedelta(minutes=1):g} min"


def days_left(alarm: Alarm, now: datetime) -> int:
    """Whole days from ``now`` to the alarm's due moment (0 when due today or past)."""
    return max(0, (alarm.due - now).days)


# declarations for `ticketbot check` -------------------------------------------------------------------
@dataclass(frozen=True)
class Declarations:
    """What a runbook rule names on its site and what it changes there, stated as data.

    Each mapping goes from the config key that holds a name (``"customer_field"``) to the name, so
    a miss is reported against the key to fix. From these and the rule's runbooks come the
    rule's ``requirements``, ``writes``, ``triggers`` and watched projects, for the tracker its
    block names (on Zendesk a kind of ticket that is no ticket type is a ticket form, a link is a
    tag and a note, a dropdown puts a tag on the ticket).

    ``kinds``: kinds of ticket the rule recognises in its project. ``creates``: (project, kind) of the
    tickets it creates. ``fields``: fields it reads or fills. ``options``: (field, option) pairs it
    names. ``sets``: fields it writes. ``moves``: statuses it moves tickets to. ``link_types``: link
    types it links with. ``people``: people it tells things. ``guard``: what stops it acting twice on
    what it, or another rule, just wrote.
    """

    rule_id: str
    config: RunbookConfig
    runbooks: Sequence[Runbook]
    guard: str
    kinds: Mapping[str, str] = field(default_factory=dict)
    creates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    sets: Sequence[str] = ()
    moves: Mapping[str, str] = field(default_factory=dict)
    link_types: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, Person | None] = field(default_factory=dict)
    comments: bool = True

    @property
    def system(self) -> str:
        return self.config.tracker

    def projects(self) -> set[str]:
        return {self.config.project, *(p for p, _ in self.creates.values())}

    def _kind(self, kind: str, project: str, source: str) -> Requirement:
        form = self.system == "zendesk" and kind.strip().casefold() not in ZENDESK_TICKET_TYPES
        return Requirement("request_type" if form else "issue_type", kind, project, self.system, source=source)

    def requirements(self) -> list[Requirement]:
        block, p, system = f"rules.{self.rule_id}", self.config.project, self.system
        reqs = [r for rb in self.runbooks for r in rb.requirements(p, system)]
        reqs += [self._kind(kind, p, f"{block}.{key}") for key, kind in self.kinds.items()]
        reqs += [Requirement("issue_type", kind, project, system, source=f"{block}.{key}")
                 for key, (project, kind) in self.creates.items()]
        reqs += [
            Requirement("field", name, system=system, source=f"{block}.{key}") for key, name in self.fields.items()
        ]
        reqs += [Requirement("option", option, p, system, parent=name, source=f"{block}.{key}")
                 for key, (name, option) in self.options.items()]
        reqs += [Requirement("transition", status, p, system, source=f"{block}.{key}")
                 for key, status in self.moves.items()]
        reqs += [Requirement("link_type", name, system=system, source=f"{block}.{key}")
                 for key, name in self.link_types.items()]
        return _unique([*reqs, *person_requirements(self.people, block, system)])

    def writes(self) -> list[Touch]:
        p, system, zendesk = self.config.project, self.system, self.system == "zendesk"
        out = [Touch("ticket", None, project, system) for project, _ in self.creates.values()]
        out += [Touch("comment", None, p, system)] if self.comments else []
        out += [Touch("field", name, p, system) for name in self.sets]
        out += [Touch("status", None, p, system)] if self.moves else []
        out += [Touch("link", None, p, system)] if self.link_types else []
        if zendesk and (self.link_types or self.sets):  # link tags; a dropdown's option tag
            out.append(Touch("label", None, p, system))
        if zendesk and self.link_types:  # the note Zendesk gets in place of a link
            out.append(Touch("comment", None, p, system))
        return _unique(out)

    def triggers(self) -> list[Touch]:
        p, system = self.config.project, self.system
        return _unique([Touch("ticket", None, p, system, self.guard),
                        *(t for rb in self.runbooks for t in rb.triggers(p, self.guard, system))])


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


ConfigT = TypeVar("ConfigT", bound=RunbookConfig)


class RunbookRule(Rule[ConfigT]):
    """A rule built on runbooks, generic over its config block: ``class Nfe(RunbookRule[Config])``.

    A runbook module is then its Config, its stages (:meth:`runbook`) and its texts: the default
    :meth:`evaluate` reads the typed block, runs :meth:`checks` (its project and kind of ticket) through
    :meth:`gate`, and plays the runbook on the ticket. Its ``requirements``, ``writes``, ``triggers`` and
    watched projects all come from :meth:`declarations`.
    """

    def checks(self, cfg: ConfigT, ticket: Ticket) -> list[Verdict]:
        """What an event must meet before anything else: the block's project (and, in a subclass, kind)."""
        return [text_matches("project", ticket.project, cfg.project)]

    def runbook(self, cfg: ConfigT) -> Runbook:
        """The runbook played on the ticket by the default :meth:`evaluate`."""
        raise NotImplementedError

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        cfg = self.config(ctx)
        checks = self.checks(cfg, ticket)
        if (skip := self.gate(event, checks)) is not None:
            return skip
        return self.proceed(cfg, event, ticket, ctx, checks)

    def proceed(self, cfg: ConfigT, event: Event, ticket: Ticket, ctx: RuleContext,
                checks: list[Verdict]) -> Evaluation:
        """After the gate: play :meth:`runbook` on the ticket (a rule with child tickets does more)."""
        facts = Facts(ticket=ticket, event=event, now=ctx.clock.now(), state=ctx.state.get(ticket.key))
        return self.runbook(cfg).evaluate(facts, checks)

    def declarations(self, config: ConfigT) -> Declarations:
        raise NotImplementedError

    def watched_projects(self, config: ConfigT) -> set[str]:
        return self.declarations(config).projects()

    def requirements(self, config: ConfigT) -> list[Requirement]:
        return self.declarations(config).requirements()

    def writes(self, config: ConfigT) -> list[Touch]:
        return self.declarations(config).writes()

    def triggers(self, config: ConfigT) -> list[Touch]:
        return self.declarations(config).triggers()

    def gate(self, event: Event, checks: list[Verdict]) -> Evaluation | None:
        """The skip every runbook starts with: a check failed (its project, its kind of ticket), or the
        event is another rule's timer; None: go on."""
        if event.kind == TIMER_FIRED and (foreign := foreign_timer(event, self.id)) is not None:
            return Evaluation([*checks, foreign], [], [])
        return None if all_passed(checks) else Evaluation(list(checks), [], [])
