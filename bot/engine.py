"""The rule engine: every enabled rule evaluates an event; rules are pure.

A rule reads the normalized ticket, the event and a read-only context, and returns an
:class:`Evaluation`: the verdicts of its conditions and the effects it wants. It never
writes. One rule raising is caught here, recorded in its trace, and the others go on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from bot.clock import Clock
from bot.conditions import Verdict, all_passed
from bot.config import RuleBlock
from bot.effects import Effect
from bot.model import Event, Ticket
from bot.trackers.base import TrackerReader

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What one rule concluded about one event."""

    verdicts: list[Verdict] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return all_passed(self.verdicts)

    @classmethod
    def skip(cls, verdicts: Iterable[Verdict], *notes: str) -> Evaluation:
        return cls(verdicts=list(verdicts), notes=list(notes))


@dataclass(frozen=True)
class RuleContext:
    """Read-only view a rule gets: the tracker's reads, the clock, its own config block."""

    reader: TrackerReader
    clock: Clock
    config: RuleBlock


class Rule:
    """Base class of a runbook rule. Subclasses set ``id``, ``title``, ``Config`` and ``evaluate``."""

    id: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[RuleBlock]] = RuleBlock

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        raise NotImplementedError

    def watched_projects(self, config: RuleBlock) -> set[str]:
        """Projects whose events this rule wants (used to filter and, later, to poll)."""
        return set()


@dataclass
class RuleResult:
    rule_id: str
    evaluation: Evaluation
    error: str | None = None


@dataclass(frozen=True)
class BoundRule:
    """A rule with its validated config block."""

    rule: Rule
    config: RuleBlock

    @property
    def id(self) -> str:
        return self.rule.id


class Engine:
    def __init__(self, rules: Sequence[BoundRule], reader: TrackerReader, clock: Clock) -> None:
        self.rules = [r for r in rules if r.config.enabled]
        self.reader = reader
        self.clock = clock

    def evaluate(self, event: Event, ticket: Ticket) -> list[RuleResult]:
        results = []
        for bound in self.rules:
            ctx = RuleContext(reader=self.reader, clock=self.clock, config=bound.config)
            try:
                evaluation = bound.rule.evaluate(event, ticket, ctx)
                if not evaluation.matched and evaluation.effects:
                    raise RuntimeError("rule returned effects although a condition failed")
                results.append(RuleResult(bound.id, evaluation))
            except Exception as exc:  # one rule's failure never stops the others
                log.exception("rule %s failed on %s", bound.id, event.ticket_key)
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                results.append(RuleResult(bound.id, Evaluation(), error=detail))
        return results
