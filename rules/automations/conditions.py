"""An automation's conditions as checks of the runbooks' vocabulary (:class:`rules.runbook.checks.Check`).

Each condition the YAML states becomes a check that explains itself (observed against expected, in
``ticketbot why``) and names what ``ticketbot check`` must find on the site. Names are compared as the
runbooks compare them: case and runs of white space ignored; on Zendesk a dropdown value matches by its
option's name or its tag, and a status by Zendesk's own name (``on-hold`` is ``hold``).

What a condition reads (:func:`attribute`): the ticket attributes :data:`~rules.automations.schema.ATTRIBUTES`
(``summary``, ``status``, ``assignee``, ``labels``/``tags`` …), ``comment`` (the comment that triggered the
automation), else the ticket's field of that display name. A value with several items (labels, a
multi-select) matches when one of its items does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.check import Requirement
from bot.engine import Verdict
from bot.model import User
from bot.trackers.site import option_tag, zendesk_status
from rules.automations.schema import ATTRIBUTES, Condition
from rules.runbook.checks import (
    ZENDESK_TICKET_TYPES,
    Check,
    Facts,
    all_of,
    any_of,
    kind_is,
    normalize_text,
    ticket_kind,
)

#: How much of a text a regex reads (a ticket's description can be long; the pattern is the admin's).
REGEX_TEXT_LIMIT = 20_000


@dataclass(frozen=True)
class AutoFacts(Facts):
    """The runbooks' facts, and a way to find a person by e-mail (who acted, on a tracker that names them by id)."""

    people: Callable[[str], User | None] = field(default=lambda email: None)


# what a condition reads ----------------------------------------------------------------------------
def attribute(facts: Facts, name: str) -> Any:
    """The value of ``name`` on the ticket (or, for ``comment``, the triggering comment's text)."""
    ticket, key = facts.ticket, name.casefold()
    if key in ("summary", "subject"):
        return ticket.summary
    if key == "description":
        return ticket.description
    if key == "comment":
        return facts.event.comment.body if facts.event.comment else None
    if key == "status":
        return ticket.status
    if key == "assignee":
        return ticket.assignee
    if key in ("reporter", "requester"):
        return ticket.reporter
    if key in ("labels", "tags"):
        return list(ticket.labels)
    if key == "resolution":
        return ticket.resolution
    if key in ("request type", "form"):
        return ticket.request_type
    if key in ("organization", "organizations"):
        return list(ticket.organizations)
    if key == "kind":
        return ticket_kind(ticket)
    if name in ticket.fields:
        return ticket.fields[name]
    return next((v for k, v in ticket.fields.items() if k.casefold() == key), None)


def is_attribute(name: str) -> bool:
    return name.casefold() in ATTRIBUTES


def shown(value: Any) -> Any:
    """A value as the trace shows it: a person by e-mail (or name), a list as a list."""
    if isinstance(value, User):
        return value.email or value.display_name or value.account_id
    if isinstance(value, list | tuple):
        return [shown(v) for v in value]
    return value


def texts(value: Any) -> list[str]:
    """A value as the texts it holds: none when empty, one per item of a list."""
    if value is None:
        return []
    if isinstance(value, User):
        return [t for t in (value.email, value.display_name, value.account_id) if t][:1]
    if isinstance(value, list | tuple | set | frozenset):
        return [t for v in value for t in texts(v)]
    text = str(value).strip()
    return [text] if text else []


def same(observed: str, expected: str, zendesk: bool) -> bool:
    """``observed`` names ``expected``: case and spacing ignored; on Zendesk also a dropdown option's tag."""
    if normalize_text(observed) == normalize_text(expected):
        return True
    return zendesk and observed.strip().casefold() == option_tag(expected)


# the checks ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KindIs(Check):
    kinds: tuple[str, ...]
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        return kind_is(facts.ticket, *self.kinds)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        out = []
        for kind in self.kinds:
            form = system == "zendesk" and kind.strip().casefold() not in ZENDESK_TICKET_TYPES
            out.append(Requirement("request_type" if form else "issue_type", kind, project, system, source=self.source))
        return out


@dataclass(frozen=True)
class StatusIs(Check):
    statuses: tuple[str, ...]
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        zendesk = facts.ticket.tracker == "zendesk"
        ok = any(status_same(facts.ticket.status, s, zendesk) for s in self.statuses)
        return Verdict("status", ok, facts.ticket.status, list(self.statuses), "case and whitespace ignored")

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("status", s, project, system, source=self.source) for s in self.statuses]


def status_same(observed: str | None, expected: str, zendesk: bool) -> bool:
    if zendesk:
        return (zendesk_status(observed or "") or normalize_text(observed)) == \
            (zendesk_status(expected) or normalize_text(expected))
    return normalize_text(observed) == normalize_text(expected)


@dataclass(frozen=True)
class FieldIn(Check):
    """The field (or attribute) has one of ``values``; a multi-value field: one of its items does."""

    field: str
    values: tuple[str, ...]
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        value = attribute(facts, self.field)
        zendesk = facts.ticket.tracker == "zendesk"
        if self.field.casefold() == "status":
            ok = any(status_same(facts.ticket.status, v, zendesk) for v in self.values)
        else:
            ok = any(same(t, v, zendesk) for t in texts(value) for v in self.values)
        expected: Any = self.values[0] if len(self.values) == 1 else list(self.values)
        return Verdict(self.field, ok, shown(value), expected, "case and whitespace ignored")

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return field_requirements(self.field, self.values, project, system, self.source)


@dataclass(frozen=True)
class FieldEmpty(Check):
    field: str
    empty: bool
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        value = attribute(facts, self.field)
        is_empty = not texts(value)
        return Verdict(self.field, is_empty == self.empty, shown(value), "empty" if self.empty else "any value")

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return field_requirements(self.field, (), project, system, self.source)


@dataclass(frozen=True)
class TextMatches(Check):
    """The text of ``source`` contains one of ``phrases``, or matches ``pattern`` (case-insensitive)."""

    text: str
    phrases: tuple[str, ...] = ()
    pattern: str = ""
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        value = attribute(facts, self.text)
        whole = " ".join(texts(value))
        name = f"{self.text} text"
        if self.text.casefold() == "comment" and facts.event.comment is None:
            return Verdict(name, False, "no comment in this event", self._expected())
        if self.pattern:
            hit = re.search(self.pattern, whole[:REGEX_TEXT_LIMIT], re.IGNORECASE)
            observed = hit.group(0) if hit else _excerpt(whole)
            return Verdict(name, hit is not None, observed, self._expected(), "case ignored")
        wanted = normalize_text(whole)
        found = next((p for p in self.phrases if normalize_text(p) in wanted), None)
        return Verdict(name, found is not None, found if found is not None else _excerpt(whole), self._expected(),
                       "case and whitespace ignored")

    def _expected(self) -> str:
        if self.pattern:
            return f"matches /{self.pattern}/"
        return "contains " + " or ".join(repr(p) for p in self.phrases)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return field_requirements(self.text, (), project, system, self.source)


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ActorIs(Check):
    """Who did what triggered the automation is (``negate``: is not) one of ``emails``."""

    emails: tuple[str, ...]
    negate: bool = False
    source: str = ""

    def __call__(self, facts: Facts) -> Verdict:
        actor = facts.event.actor
        people = facts.people if isinstance(facts, AutoFacts) else (lambda email: None)
        hit = actor is not None and any(actor.is_email(e) or actor.same_person(people(e)) for e in self.emails)
        observed = shown(actor) if actor is not None else "nobody (no actor in this event)"
        expected = ("none of " if self.negate else "one of ") + ", ".join(self.emails)
        return Verdict("actor", hit != self.negate, observed, expected)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return [Requirement("user", e, system=system, source=self.source, required=False, note="named in a condition")
                for e in self.emails]


@dataclass(frozen=True)
class ActorIsReporter(Check):
    """Who did what triggered the automation is (``reporter=False``: is not) the ticket's reporter."""

    reporter: bool = True

    def __call__(self, facts: Facts) -> Verdict:
        actor, reporter = facts.event.actor, facts.ticket.reporter
        hit = actor is not None and reporter is not None and (actor.same_person(reporter) or bool(
            actor.email and reporter.email and actor.email.casefold() == reporter.email.casefold()))
        observed = shown(actor) if actor is not None else "nobody (no actor in this event)"
        expected = f"{'' if self.reporter else 'not '}the reporter ({shown(reporter) if reporter else 'none'})"
        return Verdict("actor", hit == self.reporter, observed, expected)


@dataclass(frozen=True)
class NotBot(Check):
    """The actor is not ticketbot: its own events never reach an automation unless ``handles_own_events``
    (the guards refuse them before any rule runs), and the loader refuses both together."""

    def __call__(self, facts: Facts) -> Verdict:
        actor = facts.event.actor
        return Verdict("actor is not ticketbot", True, shown(actor) if actor else "nobody",
                       "not ticketbot's own account", "ticketbot's own events do not reach this automation "
                       "(handles_own_events: false)")


@dataclass(frozen=True)
class Not(Check):
    check: Check

    def __call__(self, facts: Facts) -> Verdict:
        inner = self.check(facts)
        return Verdict(f"not {inner.name}", not inner.passed, inner.observed, f"not {inner.expected!r}", inner.note)

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        return self.check.requirements(project, system)


def field_requirements(name: str, values: Sequence[str], project: str, system: str, source: str) -> list[Requirement]:
    """A field's name and the options named for it, unless it is a ticket attribute (status, summary …).
    An option is only looked for when the field offers options (a text field takes any value)."""
    if is_attribute(name):
        return []
    return [Requirement("field", name, system=system, source=source),
            *(Requirement("option", v, project, system, parent=name, source=source, free_text_ok=True)
              for v in values)]


# compiling ------------------------------------------------------------------------------------------
def compile_condition(condition: Condition, source: str) -> Check:
    """The check a condition of the YAML stands for; ``source`` is its key path, for ``ticketbot check``."""
    subject = condition.subject
    if subject == "kind":
        return KindIs(condition.kind or (), source)
    if subject == "status":
        return StatusIs(condition.status or (), source)
    if subject == "field":
        name = condition.field or ""
        if condition.empty is not None:
            return FieldEmpty(name, condition.empty, source)
        values = condition.in_ if condition.in_ is not None else (condition.equals,)
        if values == (None,):
            return FieldEmpty(name, True, source)
        return FieldIn(name, tuple(str(v) for v in values if v is not None), source)
    if subject == "text":
        return TextMatches(condition.text or "", condition.contains or (), condition.regex or "", source)
    if subject == "actor":
        actor = condition.actor
        assert actor is not None
        if actor.not_bot:
            return NotBot()
        if actor.reporter is not None:
            return ActorIsReporter(actor.reporter)
        return ActorIs(actor.email or actor.not_email or (), negate=actor.email is None, source=f"{source}.actor")
    if subject == "not":
        assert condition.not_ is not None
        return Not(compile_condition(condition.not_, f"{source}.not"))
    inner = condition.any if subject == "any" else condition.all
    checks = tuple(compile_condition(c, f"{source}.{subject}[{n}]") for n, c in enumerate(inner or ()))
    return any_of(*checks) if subject == "any" else all_of(*checks)

