"""An automation as a rule of the engine: one :class:`AutomationRule` per item of ``automations:``.

The rule id is ``automation:<name>``; the bound block is the validated :class:`~rules.automations.schema.Automation`.
So it runs where every rule runs (the daemon, ``replay``, ``dry-run``, ``backtest``), behind the same guards
(ticketbot's own events, the write caps, pauses), and it explains itself the same way: its trace holds the
project, the trigger and every condition, each observed against expected.

On an event it checks its project and its trigger, then every condition (all of them, so ``ticketbot why``
shows each); when all hold, each action becomes effects keyed by the trigger's occurrence and the action's
place (``automation:<name>:<ticket>:<occurrence>:a<n>``): a redelivered event, or the same change arriving
twice, writes nothing twice, and each new occurrence acts anew.

Delays. An action with ``delay`` arms the durable timer ``delay:a<n>`` (business time through the
automation's ``calendar``); when it rings, the action's ``while`` conditions are checked on the ticket as it
is then, and the action runs only if they all hold. An event on which a ``while`` no longer holds cancels the
timer at once (``ticketbot timers`` then no longer lists it), and cancels a message of the action held for
working hours. Triggered again before the delay ends, the automation starts the delay over.

Schedules. A schedule ticks per ticket: the first event on which a ticket meets the conditions arms its
timer ``schedule``; each tick checks the conditions again, acts and arms the next tick, or stops when they
no longer hold (and an event on which they hold arms it again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypedDict

from bot.calendar import BusinessDuration
from bot.check import Requirement, Touch
from bot.effects import (
    AddWatcher,
    CancelTimer,
    ChangeLabels,
    Effect,
    InternalComment,
    LinkTickets,
    SetField,
    SetOrganization,
    SetReporter,
    SetRequestType,
    SlackMessage,
    StartTimer,
    Transition,
    zendesk_tag,
)
from bot.engine import Evaluation, Rule, RuleContext, Verdict, all_passed
from bot.executor import DELIVER
from bot.model import MANUAL, TIMER_FIRED, Event, Ticket, User
from bot.state import PENDING, Timer
from bot.text import untrusted, visible
from bot.trackers.base import TrackerReader
from bot.trackers.keys import is_key
from rules.automations.conditions import (
    AutoFacts,
    attribute,
    compile_condition,
    field_requirements,
    is_attribute,
    texts,
)
from rules.automations.schema import SETTABLE, Action, Automation, PersonRef
from rules.automations.text import Template
from rules.automations.triggers import describe, matches, occurrence, touches
from rules.runbook.checks import Check, email_of, normalize_text, text_matches, ticket_kind
from rules.runbook.machine import foreign_timer

#: The timer of a delayed action (``delay:a0``) and of a schedule.
DELAY = "delay:a"
SCHEDULE = "schedule"
#: The guard ``ticketbot check`` names for an automation's triggers, unless it takes ticketbot's own events.
GUARD = ("ticketbot's own changes do not trigger it (handles_own_events: false); each occurrence of its "
         "trigger acts once")
NOBODY = "(none)"


@dataclass(frozen=True)
class Compiled:
    """An automation's conditions as checks, once per validated block."""

    conditions: tuple[Check, ...]
    whiles: tuple[tuple[Check, ...], ...]  # per action


_COMPILED: dict[int, tuple[Automation, Compiled]] = {}  # holds the block: its id stays its own


def compiled(automation: Automation) -> Compiled:
    """The checks of ``automation``, made once per validated block (a block is not changed once validated)."""
    hit = _COMPILED.get(id(automation))
    if hit is None:
        if len(_COMPILED) >= 512:  # blocks of reloaded configs, of tests
            _COMPILED.clear()
        source = f"automations.{automation.name}"
        made = Compiled(
            tuple(compile_condition(c, f"{source}.conditions[{n}]") for n, c in enumerate(automation.conditions)),
            tuple(tuple(compile_condition(c, f"{source}.actions[{i}].while[{n}]") for n, c in enumerate(a.while_ or ()))
                  for i, a in enumerate(automation.actions)))
        hit = _COMPILED[id(automation)] = (automation, made)
    return hit[1]


class AutomationRule(Rule[Automation]):
    """The rule of one automation (made by :func:`automation_rule`, whose subclass carries the id)."""

    id: ClassVar[str] = "automation"
    title: ClassVar[str] = "YAML automation"

    # evaluating -----------------------------------------------------------------------------------
    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        a = self.config(ctx)
        facts = AutoFacts(ticket=ticket, event=event, now=ctx.clock.now(), people=_people(ctx.reader))
        gate = _gate(a, ticket)
        if not all_passed(gate):
            return Evaluation.skip(gate)
        if event.kind == TIMER_FIRED:
            return self._timer(a, facts, gate)
        pending = [t for t in ctx.state.timers(ticket.key) if t.status == PENDING]
        if a.trigger.schedule is not None and event.kind != MANUAL:
            return self._arm_schedule(a, facts, gate, pending)
        trigger = matches(a.trigger, facts)
        checks = [check(facts) for check in compiled(a).conditions]
        plan = Plan(a, facts, occurrence(event))
        if trigger.passed and all_passed(checks):
            for index in range(len(a.actions)):
                plan.action(index)
        plan.tidy(pending)
        if not plan.effects:
            return Evaluation.skip([*gate, trigger, *checks, *plan.failed], *plan.notes)
        if trigger.passed and all_passed(checks):
            return Evaluation([*gate, trigger, *checks, *plan.verdicts], plan.effects, plan.notes)
        quiet = [f"not triggered: {v}" for v in (trigger, *checks) if not v.passed][:1]
        return Evaluation([*gate, *plan.verdicts], plan.effects, [*plan.notes, *quiet])

    def _timer(self, a: Automation, facts: AutoFacts, gate: list[Verdict]) -> Evaluation:
        foreign = foreign_timer(facts.event, self.id)
        if foreign is not None:
            return Evaluation.skip([*gate, foreign])
        payload = facts.event.payload or {}
        name = str(payload.get("timer") or "")
        if name == SCHEDULE:
            return self._tick(a, facts, gate, payload)
        if name.startswith(DELAY) and name.removeprefix(DELAY).isdigit():
            return self._delayed(a, facts, gate, int(name.removeprefix(DELAY)), payload)
        return Evaluation.skip([*gate, Verdict("timer of this automation", False, name, "delay:a<n> or schedule")])

    def _delayed(self, a: Automation, facts: AutoFacts, gate: list[Verdict], index: int,
                 payload: dict[str, Any]) -> Evaluation:
        data = payload.get("data") or {}
        action = a.actions[index] if index < len(a.actions) else None
        wanted = str(data.get("action") or "")
        if action is None or action.delay is None or action.kind != wanted:
            return Evaluation.skip([*gate, Verdict(f"action {index + 1} still has a delay", False,
                                                   action.kind if action else "no such action", wanted)],
                                   "the automation changed since the delay began; the delayed action is dropped")
        ended = Verdict(f"delay of action {index + 1} ({action.kind}) ended", True, payload.get("due_at"),
                        f"{_delay_text(action.delay)} after {data.get('trigger') or 'the trigger'}")
        checks = [check(facts) for check in compiled(a).whiles[index]]
        if not all_passed(checks):
            return Evaluation.skip([*gate, ended, *checks], f"action {index + 1} ({action.kind}) dropped: its "
                                                            "`while` no longer holds")
        plan = Plan(a, facts, str(data.get("occurrence") or "delayed"), remembered=data)
        plan.action(index, delayed=True)
        if not plan.effects:
            return Evaluation.skip([*gate, ended, *checks, *plan.failed], *plan.notes)
        return Evaluation([*gate, ended, *checks], plan.effects, plan.notes)

    def _arm_schedule(self, a: Automation, facts: AutoFacts, gate: list[Verdict], pending: list[Timer]) -> Evaluation:
        schedule = a.trigger.schedule
        assert schedule is not None
        name = f"trigger: {describe(a.trigger)}"
        checks = [check(facts) for check in compiled(a).conditions]
        tick = next((t for t in pending if t.name == SCHEDULE), None)
        plan = Plan(a, facts, occurrence(facts.event))
        plan.tidy(pending)
        if all_passed(checks) and tick is None:
            due = schedule.next_tick(facts.now, a.calendar)
            plan.effects.append(StartTimer(rule_id=a.rule_id, ticket_key=facts.ticket.key,
                                           step=f"schedule:{due:%Y%m%dT%H%M}", name=SCHEDULE, due_at=due))
            armed = Verdict(name, True, "not ticking on this ticket", "ticking while the conditions hold")
            return Evaluation([*gate, armed, *checks, *plan.verdicts], plan.effects,
                              [*plan.notes, f"schedule armed: first tick {due.isoformat()}"])
        if all_passed(checks):
            quiet = [*gate, Verdict(name, False, f"next tick {tick.due_at.isoformat()}" if tick else "",
                                    "a tick of the schedule"), *checks]
        elif tick is not None:
            failed = next(v for v in checks if not v.passed)
            plan.effects.append(CancelTimer(rule_id=a.rule_id, ticket_key=facts.ticket.key,
                                            step=f"cancel:{SCHEDULE}:{tick.due_at:%Y%m%dT%H%M%S}", name=SCHEDULE))
            plan.verdicts.append(Verdict(f"schedule stopped: {failed.name}", True, failed.observed, failed.expected,
                                         "the condition no longer holds"))
            plan.notes.append("schedule stopped on this ticket: a condition no longer holds")
            quiet = [*gate, *checks]
        else:
            quiet = [*gate, *checks]
            plan.notes.append("the schedule ticks on a ticket only while the conditions hold")
        if plan.effects:
            return Evaluation([*gate, *plan.verdicts], plan.effects, plan.notes)
        return Evaluation.skip(quiet, *plan.notes)

    def _tick(self, a: Automation, facts: AutoFacts, gate: list[Verdict], payload: dict[str, Any]) -> Evaluation:
        schedule = a.trigger.schedule
        if schedule is None:
            return Evaluation.skip([*gate, Verdict("automation has a schedule", False, a.trigger.kind, "schedule")])
        due = _moment(payload.get("due_at")) or facts.now
        tick = Verdict(f"trigger: {describe(a.trigger)}", True, due.isoformat(), "a tick of the schedule")
        checks = [check(facts) for check in compiled(a).conditions]
        if not all_passed(checks):
            return Evaluation.skip([*gate, tick, *checks], "the schedule stops on this ticket until an event shows "
                                                           "the conditions hold again")
        plan = Plan(a, facts, f"t{due:%Y%m%d%H%M}")
        for index in range(len(a.actions)):
            plan.action(index)
        following = schedule.next_tick(due, a.calendar)
        if following <= facts.now:  # the daemon was down over several ticks: the next one from now
            following = schedule.next_tick(facts.now, a.calendar)
        plan.effects.append(StartTimer(rule_id=a.rule_id, ticket_key=facts.ticket.key,
                                       step=f"schedule:{following:%Y%m%dT%H%M}", name=SCHEDULE, due_at=following))
        return Evaluation([*gate, tick, *checks, *plan.verdicts], plan.effects,
                          [*plan.notes, f"next tick {following.isoformat()}"])

    # what the rule declares ---------------------------------------------------------------------------
    def watched_projects(self, config: Automation) -> set[str]:
        return set(config.projects)

    def requirements(self, config: Automation) -> list[Requirement]:
        return requirements(config)

    def writes(self, config: Automation) -> list[Touch]:
        return writes(config)

    def triggers(self, config: Automation) -> list[Touch]:
        guard = "" if config.handles_own_events else GUARD
        return list(dict.fromkeys(t for p in config.projects
                                  for t in touches(config.trigger, p, config.tracker, guard)))


def automation_rule(automation: Automation) -> AutomationRule:
    """The rule of ``automation``: an :class:`AutomationRule` whose id is ``automation:<name>``."""
    title = automation.title or f"automation: on {describe(automation.trigger)}"
    cls = type(f"Automation_{automation.name.replace('-', '_')}", (AutomationRule,),
               {"id": automation.rule_id, "title": title, "__module__": __name__})
    return cls()


def _gate(a: Automation, ticket: Ticket) -> list[Verdict]:
    system = "zendesk" if ticket.tracker == "zendesk" else "jira"
    if system != a.tracker:
        return [Verdict("tracker", False, system, a.tracker)]
    if len(a.projects) == 1:
        return [text_matches("project", ticket.project, a.projects[0])]
    ok = normalize_text(ticket.project) in [normalize_text(p) for p in a.projects]
    return [Verdict("project", ok, ticket.project, list(a.projects), "case and whitespace ignored")]


def _people(reader: TrackerReader) -> Callable[[str], User | None]:
    def find(email: str) -> User | None:
        try:
            return reader.find_user(email)
        except Exception:  # noqa: BLE001 - a lookup that fails compares by e-mail only
            return None
    return find


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# the plan of one event ---------------------------------------------------------------------------------
class _Keyed(TypedDict):
    """What names an effect: the automation's rule, the ticket, the step (occurrence and action)."""

    rule_id: str
    ticket_key: str
    step: str


@dataclass
class Plan:
    """The effects one event calls for: the actions' (keyed by ``occurrence``), and the pending timers whose
    ``while`` no longer holds cancelled. ``remembered``: what a delay kept of its trigger (actor, comment)."""

    automation: Automation
    facts: AutoFacts
    occurrence: str
    remembered: dict[str, Any] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # why timers are cancelled (they hold)
    failed: list[Verdict] = field(default_factory=list)  # why an action that should run could not
    armed: set[str] = field(default_factory=set)

    def _kw(self, index: int, suffix: str = "") -> _Keyed:
        return {"rule_id": self.automation.rule_id, "ticket_key": self.facts.ticket.key,
                "step": f"{self.occurrence}:a{index}{suffix}"}

    def action(self, index: int, *, delayed: bool = False) -> None:
        """Add action ``index``'s effects (or, when it has a delay not yet run, its timer)."""
        a, facts = self.automation, self.facts
        action = a.actions[index]
        if action.delay is not None and not delayed:
            due = a.calendar.due(facts.now, action.delay)
            event = facts.event
            data = {"occurrence": self.occurrence, "action": action.kind, "trigger": describe(a.trigger),
                    "at": facts.now.isoformat(), "actor": _person_text(event.actor),
                    "actor_email": event.actor.email if event.actor else "",
                    "comment": visible(event.comment.body, limit=500) if event.comment else ""}
            self.effects.append(StartTimer(**self._kw(index, ":delay"), name=f"{DELAY}{index}", due_at=due, data=data))
            self.armed.add(f"{DELAY}{index}")
            self.notes.append(f"action {index + 1} ({action.kind}) after {_delay_text(action.delay)}: "
                              f"{due.isoformat()}")
            return
        made = self._effects(index, action)
        if not made:
            return
        self.effects += made

    def _effects(self, index: int, action: Action) -> list[Effect]:
        a, ticket = self.automation, self.facts.ticket
        if action.set is not None:
            return [_setting(name, value, self._kw(index, f".{n}"))
                    for n, (name, value) in enumerate(action.set.items())]
        if action.comment is not None:
            mentions = [p[0] for p in (self.person(m, index) for m in action.comment.mention) if p and p[0]]
            return [InternalComment(**self._kw(index), body=self.render(action.comment.text, untrusted),
                                    mentions=tuple(mentions))]
        if action.watch is not None:
            out: list[Effect] = []
            for n, person in enumerate(action.watch):
                found = self.person(person, index)
                if found and found[0]:
                    out.append(AddWatcher(**self._kw(index, f".{n}"), email=found[0]))
            return out
        if action.transition is not None:
            return [Transition(**self._kw(index), status=action.transition.to,
                               resolution=action.transition.resolution)]
        if action.link is not None:
            link = action.link
            other = link.to or next(iter(texts(attribute(self.facts, link.to_field or ""))), "")
            if not other or not is_key(other, a.tracker) or other == ticket.key:
                self._cannot(index, f"link to the ticket in {link.to_field!r}", other or "empty",
                             "another ticket's key")
                return []
            ends = (other, ticket.key) if link.reverse else (ticket.key, other)
            return [LinkTickets(**self._kw(index), link_type=link.type, inward_key=ends[0], outward_key=ends[1])]
        if (change := action.label_change) is not None:
            # Zendesk keeps tags lower-case: the effect says (and the trace shows) the tag as it will be.
            fold = zendesk_tag if a.tracker == "zendesk" else str
            return [ChangeLabels(**self._kw(index), add=tuple(dict.fromkeys(map(fold, change.add))),
                                 remove=tuple(dict.fromkeys(map(fold, change.remove))))]
        slack = action.slack
        assert slack is not None
        email = slack_user = channel = ""
        if slack.channel is not None:
            channel = slack.channel.strip()
        else:
            assert slack.to is not None
            found = self.person(slack.to, index)
            if not found:
                return []
            email, slack_user = found
        return [SlackMessage(**self._kw(index), text=self.render(slack.text, visible), user_email=email,
                             slack_user=slack_user, channel=channel,
                             hours=a.calendar if slack.quiet_hours else None)]

    def person(self, ref: PersonRef, index: int) -> tuple[str, str] | None:
        """(e-mail, Slack id) of a person an action names; None (and a note) when the ticket has nobody there."""
        if ref.fixed:
            return ref.email or "", ref.slack_user or ""
        facts = self.facts
        if ref.role == "assignee":
            email = email_of(facts.ticket.assignee)
        elif ref.role == "reporter":
            email = email_of(facts.ticket.reporter)
        elif ref.role == "actor":
            email = str(self.remembered.get("actor_email") or "") if self.remembered else \
                email_of(facts.event.actor)
        else:
            email = email_of(next(iter(_values(attribute(facts, ref.field or ""))), None))
        if not email:
            self._cannot(index, f"find {ref}", NOBODY, "a person with an e-mail")
            return None
        return email, ""

    def _cannot(self, index: int, what: str, observed: Any, expected: Any) -> None:
        kind = self.automation.actions[index].kind
        self.notes.append(f"action {index + 1} ({kind}) skipped: could not {what}")
        self.failed.append(Verdict(f"action {index + 1} ({kind}) can {what}", False, observed, expected))

    def render(self, template: Template, escape: Callable[[str], str]) -> str:
        return template.render(self.value, self.field_text, escape)

    def value(self, name: str) -> str:
        facts, ticket, kept = self.facts, self.facts.ticket, self.remembered
        if name == "key":
            return ticket.key
        if name == "summary":
            return ticket.summary
        if name == "status":
            return ticket.status
        if name == "kind":
            return ticket_kind(ticket)
        if name == "project":
            return ticket.project
        if name == "url":
            return ticket.url
        if name == "assignee":
            return _person_text(ticket.assignee)
        if name == "reporter":
            return _person_text(ticket.reporter)
        if name == "trigger":
            return str(kept.get("trigger") or describe(self.automation.trigger))
        if name == "actor":
            return str(kept.get("actor") or NOBODY) if kept else _person_text(facts.event.actor)
        if name == "comment":
            if kept:
                return str(kept.get("comment") or "")
            return facts.event.comment.body if facts.event.comment else ""
        return ""

    def field_text(self, name: str) -> str:
        return ", ".join(texts(attribute(self.facts, name))) or "(empty)"

    def tidy(self, pending: Sequence[Timer]) -> None:
        """Cancel pending delays (and held messages) of actions whose ``while`` no longer holds."""
        a, facts = self.automation, self.facts
        whiles = compiled(a).whiles
        for timer in pending:
            if timer.name in self.armed:
                continue
            index = _action_of(timer.name)
            if index is None:
                continue
            action = a.actions[index] if index < len(a.actions) else None
            if action is None or (timer.name.startswith(DELAY) and action.delay is None):
                self._cancel(timer, Verdict(f"action {index + 1} is still delayed", True, "no longer configured",
                                            "cancel its timer"))
                continue
            failed = next((v for v in (w(facts) for w in whiles[index]) if not v.passed), None)
            if failed is not None:
                self._cancel(timer, Verdict(f"`while` of action {index + 1} no longer holds: {failed.name}", True,
                                            failed.observed, failed.expected, "its pending run is cancelled"))

    def _cancel(self, timer: Timer, why: Verdict) -> None:
        self.effects.append(CancelTimer(rule_id=self.automation.rule_id, ticket_key=self.facts.ticket.key,
                                        step=f"cancel:{timer.name}:{timer.due_at:%Y%m%dT%H%M%S}", name=timer.name))
        self.verdicts.append(why)
        what = "held message" if timer.name.startswith(DELIVER) else "delayed action"
        self.notes.append(f"{what} cancelled ({timer.name}, due {timer.due_at.isoformat()}): {why.name}")


def _action_of(timer_name: str) -> int | None:
    """The action a timer of this automation belongs to: ``delay:a2`` → 2, ``deliver:<occurrence>:a2`` → 2."""
    if timer_name.startswith(DELAY):
        rest = timer_name.removeprefix(DELAY)
    elif timer_name.startswith(DELIVER):
        rest = timer_name.rsplit(":", 1)[-1].removeprefix("a")
    else:
        return None
    return int(rest) if rest.isdigit() else None


def _setting(name: str, value: Any, kw: _Keyed) -> Effect:
    kind = SETTABLE.get(name.casefold())
    if kind == "reporter":
        return SetReporter(**kw, email=str(value))
    if kind == "request type":
        return SetRequestType(**kw, name=str(value))
    if kind == "organization":
        return SetOrganization(**kw, name=str(value))
    return SetField(**kw, field=name, value=list(value) if isinstance(value, tuple) else value)


def _delay_text(value: timedelta | BusinessDuration) -> str:
    """``2 business days``, ``2 days``, ``48 h``, ``90 min``: a delay as the YAML said it, for notes and traces."""
    if isinstance(value, BusinessDuration):
        return str(value)
    if value % timedelta(days=1) == timedelta(0):
        return f"{value.days} day{'s' if value.days != 1 else ''}"
    if value % timedelta(hours=1) == timedelta(0):
        return f"{value // timedelta(hours=1)} h"
    return f"{value / timedelta(minutes=1):g} min"


def _person_text(user: User | None) -> str:
    if user is None:
        return NOBODY
    return user.email or user.display_name or user.account_id or NOBODY


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# what ``ticketbot check`` resolves ---------------------------------------------------------------------
def requirements(a: Automation) -> list[Requirement]:
    """Every name the automation uses on its site, each with the key that names it."""
    source, system = f"automations.{a.name}", a.tracker
    checks = compiled(a)
    out: list[Requirement] = []
    for p in a.projects:
        out += [r for c in checks.conditions for r in c.requirements(p, system)]
        out += [r for ws in checks.whiles for c in ws for r in c.requirements(p, system)]
        out += _trigger_requirements(a, p, f"{source}.trigger")
        for i, action in enumerate(a.actions):
            out += _action_requirements(a, action, p, f"{source}.actions[{i}]")
    return _once(out)


def _once(requirements: list[Requirement]) -> list[Requirement]:
    """Each name once, under the first key that names it (required if any use of it is)."""
    first: dict[tuple[Any, ...], Requirement] = {}
    for r in requirements:
        identity = (r.kind, r.name.casefold(), r.project, r.system, r.parent, r.free_text_ok)
        seen = first.get(identity)
        if seen is None:
            first[identity] = r
        elif r.required and not seen.required:
            first[identity] = Requirement(seen.kind, seen.name, seen.project, seen.system, seen.parent, True,
                                          seen.source, "", seen.free_text_ok)
    return list(first.values())


def _trigger_requirements(a: Automation, project: str, source: str) -> list[Requirement]:
    spec = a.trigger.field_changed or a.trigger.status_changed
    if spec is None:
        return []
    field_name = a.trigger.field_changed.field if a.trigger.field_changed else "status"
    names = [*(spec.from_ or ()), *(spec.to or ())]
    if normalize_text(field_name) == "status":
        return [Requirement("status", s, project, a.tracker, source=source) for s in names]
    return field_requirements(field_name, names, project, a.tracker, source)


def _action_requirements(a: Automation, action: Action, project: str, source: str) -> list[Requirement]:
    system = a.tracker
    out: list[Requirement] = []
    if action.set is not None:
        for name, value in action.set.items():
            where, kind = f"{source}.set.{name}", SETTABLE.get(name.casefold())
            if kind == "reporter":
                out.append(Requirement("user", str(value), system=system, source=where))
            elif kind == "request type":
                out.append(Requirement("request_type", str(value), project, system, source=where))
            elif kind == "organization":
                out.append(Requirement("organization", str(value), project, system, source=where, required=False,
                                       note="created when first set"))
            else:
                options = [str(v) for v in _values(value) if isinstance(v, str) and v.strip()]
                out += field_requirements(name, options, project, system, where)
    if action.comment is not None:
        out += _text_requirements(action.comment.text, system, f"{source}.comment")
        out += _people_requirements(action.comment.mention, system, f"{source}.comment.mention", tell=False)
    if action.watch is not None:
        out += _people_requirements(action.watch, system, f"{source}.watch", tell=False, required=True)
    if action.transition is not None:
        out.append(Requirement("transition", action.transition.to, project, system, source=f"{source}.transition"))
    if action.link is not None:
        out.append(Requirement("link_type", action.link.type, system=system, source=f"{source}.link.type"))
        if action.link.to_field and not is_attribute(action.link.to_field):
            out.append(Requirement("field", action.link.to_field, system=system, source=f"{source}.link.to_field"))
    if action.slack is not None:
        out += _text_requirements(action.slack.text, system, f"{source}.slack")
        if action.slack.to is not None:
            out += _people_requirements((action.slack.to,), system, f"{source}.slack.to", tell=True)
    return out


def _text_requirements(template: Template, system: str, source: str) -> list[Requirement]:
    return [Requirement("field", f, system=system, source=source) for f in template.fields if not is_attribute(f)]


def _people_requirements(people: Sequence[PersonRef], system: str, source: str, *, tell: bool,
                         required: bool = False) -> list[Requirement]:
    """The people an action names: a field to read them from, or (named in the YAML) a tracker user to mention
    or add, or a Slack user to tell."""
    out: list[Requirement] = []
    for n, ref in enumerate(people):
        where = f"{source}[{n}]" if len(people) > 1 else source
        if ref.field and not is_attribute(ref.field):
            out.append(Requirement("field", ref.field, system=system, source=where))
        if not ref.fixed:
            continue
        if tell:
            out.append(Requirement("slack_user", ref.slack_user or ref.email or "", system="slack", source=where,
                                   note="told on Slack"))
        elif ref.email:
            out.append(Requirement("user", ref.email, system=system, source=where, required=required,
                                   note="" if required else "mentioned in internal comments"))
    return out


def writes(a: Automation) -> list[Touch]:
    """What its actions change, per project (on Zendesk a dropdown also sets a tag, a link is a tag and a note).
    Labels and tags need no requirement (:func:`requirements`): both systems take any label, free text."""
    out: list[Touch] = []
    zendesk = a.tracker == "zendesk"
    for p in a.projects:
        for action in a.actions:
            if action.set is not None:
                for name in action.set:
                    shown = {"reporter": "Reporter", "request type": "Request Type",
                             "organization": "Organizations"}.get(SETTABLE.get(name.casefold(), ""), name)
                    out.append(Touch("field", shown, p, a.tracker))
                if zendesk:
                    out.append(Touch("label", None, p, a.tracker))
            if action.comment is not None:
                out.append(Touch("comment", None, p, a.tracker))
            if action.watch is not None:
                out.append(Touch("watcher", None, p, a.tracker))
            if action.transition is not None:
                out.append(Touch("status", None, p, a.tracker))
            if action.label_change is not None:
                out.append(Touch("label", None, p, a.tracker))
            if action.link is not None:
                out.append(Touch("link", None, p, a.tracker))
                if zendesk:
                    out += [Touch("label", None, p, a.tracker), Touch("comment", None, p, a.tracker)]
    return list(dict.fromkeys(out))
