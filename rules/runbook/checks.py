"""One vocabulary of conditions: what a runbook looks at (Facts) and the checks that explain themselves."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.check import Requirement, Touch
from bot.engine import Verdict
from bot.model import Event, Ticket, User
from bot.state import RuleState


def normalize_text(text: str | None) -> str:
    """Case- and whitespace-insensitive form.

    ``'  EverBright   partner onboarding '`` -> ``'everbright partner onboarding'``."""
    return " ".join((text or "").split()).casefold()


def equals(name: str, observed: Any, expected: Any) -> Verdict:
    return Verdict(name, observed == expected, observed, expected)


# Pure, and asked the same questions on every event (each rule's project, the onboarding subject): a
# frozen Verdict is built once per question.
@functools.lru_cache(maxsize=4096)
def text_matches(name: str, observed: str | None, expected: str) -> Verdict:
    """Equal once case and runs of whitespace are ignored."""
    return Verdict(name, normalize_text(observed) == normalize_text(expected), observed, expected,
                   "case and whitespace ignored")


def one_of(name: str, observed: Any, allowed: Iterable[Any]) -> Verdict:
    allowed = list(allowed)
    return Verdict(name, observed in allowed, observed, allowed)


_LABEL_SEPARATORS = r"[ \t]*(?::|-|–|—|=|\|)?[ \t]*(?:\r?\n[ \t]*)*"
_BULLET = r"(?:^|\n)[ \t]*(?:[-*•·>#|]+|\d+[.)])?[ \t]*(?:\*\*|\*|_)?"


def labelled_value(text: str, label: str, *, other_labels: Iterable[str] = ()) -> str | None:
    """Find ``label`` in a form-like text and return the value after it.

    Tolerates bullets (``-``, ``*``, ``•``, numbering), bold/italic markers, a colon,
    dash or equals sign, line breaks between label and value, and extra spaces. The value
    runs to the end of its line. Returns ``None`` when the label is absent or empty; a
    "value" that is really the next label (``other_labels``) counts as empty.
    """
    others = tuple(normalize_text(o) for o in other_labels)
    for match in _label_pattern(label).finditer(text or ""):
        value = " ".join(match.group("value").strip(" \t*_|").split())
        if value and not value.startswith(":") and not (others and normalize_text(value).startswith(others)):
            return value
    return None


@functools.lru_cache(maxsize=256)
def _label_pattern(label: str) -> re.Pattern[str]:
    """The pattern of :func:`labelled_value` for ``label`` (a rule asks for the same few labels every time)."""
    words = r"\s+".join(re.escape(w) for w in label.split())
    return re.compile(
        _BULLET + words + r"(?:\*\*|\*|_)?" + _LABEL_SEPARATORS + r"(?:\*\*|\*|_)?(?P<value>[^\n]*)",
        re.IGNORECASE,
    )


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
