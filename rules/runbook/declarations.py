"""A runbook rule's names as data: what ``ticketbot check`` resolves and what the rule reads and writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.check import Requirement, Touch
from rules.runbook.checks import ZENDESK_TICKET_TYPES
from rules.runbook.config import Person, RunbookConfig
from rules.runbook.machine import Runbook, _unique


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
