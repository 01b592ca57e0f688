"""The rule engine: every enabled rule evaluates an event; rules are pure.

A rule reads the normalized ticket, the event and a read-only context, and returns an
:class:`Evaluation`: the verdicts of its conditions and the effects it wants. It never
writes. One rule raising is caught here, recorded in its trace, and the others go on.

A :class:`~bot.effects.PublicReply` (the one customer-visible write) passes only when the rule's
config block says ``customer_replies: true`` itself; otherwise the engine drops it, keeps the rest of
the plan, and the rule's evaluation carries a failing verdict and a note saying why
(:func:`guard_public_replies`). This holds for every rule, in the repository or not.
"""

from __future__ import annotations

import logging
import operator
import traceback
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from bot.clock import Clock
from bot.config import RuleBlock
from bot.effects import Effect, PublicReply
from bot.model import Event, Ticket
from bot.settings import log_context
from bot.state import RuleState, StateStore, Timer
from bot.trackers.base import TrackerReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    observed: Any = None
    expected: Any = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies observed/expected only for them to be replaced.
        return {"name": self.name, "passed": self.passed, "observed": _plain(self.observed),
                "expected": _plain(self.expected), "note": self.note}

    def __str__(self) -> str:
        mark = "ok " if self.passed else "NO "
        text = f"{mark}{self.name}: observed {self.observed!r}, expected {self.expected!r}"
        return f"{text} ({self.note})" if self.note else text


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def all_passed(verdicts: Iterable[Verdict]) -> bool:
    for verdict in verdicts:  # noqa: SIM110 - a loop, not all() over a generator: twice as fast on a few verdicts
        if not verdict.passed:
            return False
    return True


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
        return cls(list(verdicts), [], list(notes))  # positional: half the cost of keywords and a default list


class StateView:
    """A rule's read-only view of its own records (stage per ticket, timers) in one scope."""

    def __init__(self, states: StateStore | None, scope: str, rule_id: str) -> None:
        self._states = states
        self.scope = scope
        self.rule_id = rule_id

    def get(self, ticket_key: str) -> RuleState | None:
        return self._states.get(self.scope, self.rule_id, ticket_key) if self._states else None

    def find(self, *, stages: Sequence[str] = (), **data: object) -> list[RuleState]:
        return self._states.find(self.scope, self.rule_id, stages=stages, **data) if self._states else []

    def timers(self, ticket_key: str) -> list[Timer]:
        if not self._states:
            return []
        return [t for t in self._states.timers(self.scope, ticket_key) if t.rule_id == self.rule_id]


@dataclass(frozen=True)
class RuleContext:
    """Read-only view a rule gets: the tracker's reads, the clock, its own config block and records.

    ``people``: the notifier, for reads about people (a rule checks for the narrow port it needs, such as
    :class:`bot.slack.notifier.StatusReader`); None without Slack."""

    reader: TrackerReader
    clock: Clock
    config: RuleBlock
    state: StateView = field(default_factory=lambda: StateView(None, "", ""))
    people: object = None


ConfigT = TypeVar("ConfigT", bound=RuleBlock)


class Rule(Generic[ConfigT]):
    """Base class of a rule, generic over its config block: ``class Onboarding(Rule[Config])``.

    Subclasses set ``id``, ``title`` and ``evaluate``; the type argument is the block the rules YAML is
    validated against (``Config``), and :meth:`config` gives an evaluation that block, typed.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[RuleBlock]] = RuleBlock

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin, args = typing.get_origin(base), typing.get_args(base)
            if isinstance(origin, type) and issubclass(origin, Rule) and args and isinstance(args[0], type) \
                    and issubclass(args[0], RuleBlock):
                cls.Config = args[0]

    def config(self, ctx: RuleContext) -> ConfigT:
        """The rule's block, as its type: the engine binds the block validated against ``Config``."""
        return typing.cast(ConfigT, ctx.config)

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        raise NotImplementedError

    def watched_projects(self, config: ConfigT) -> set[str]:
        """Projects whose events this rule wants (the poll and the event filter use them)."""
        return set()

    def approvers(self, config: ConfigT) -> list[tuple[str, str | None]]:
        """People who may approve or reject for this rule: (e-mail, Slack member id or None)."""
        return []


@dataclass
class RuleResult:
    rule_id: str
    evaluation: Evaluation
    error: str | None = None


@dataclass(frozen=True)
class BoundRule:
    """A rule with its validated config block."""

    rule: Rule[Any]
    config: RuleBlock

    @property
    def id(self) -> str:
        return self.rule.id


class Engine:
    def __init__(self, rules: Sequence[BoundRule], reader: TrackerReader, clock: Clock, *,
                 states: StateStore | None = None, scope: str = "", people: object = None) -> None:
        self.rules = [r for r in rules if r.config.enabled]
        self.reader = reader
        self.people = people
        self.clock = clock
        self.states = states
        self.scope = scope
        self._contexts: list[tuple[str, Rule, RuleContext]] = []
        self._contexts_of: tuple[object, ...] = ()

    def contexts(self) -> list[tuple[str, Rule, RuleContext]]:
        """(id, rule, context) of each rule. A context is read-only: made once, and again only after the
        engine's rules, reader, clock, states or scope were replaced (a test swaps the states)."""
        inputs = (*self.rules, self.reader, self.clock, self.states, self.scope, self.people)
        made = self._contexts_of
        if len(inputs) != len(made) or not all(map(operator.is_, inputs, made)):
            self._contexts = [(b.id, b.rule, RuleContext(reader=self.reader, clock=self.clock, config=b.config,
                                                         state=StateView(self.states, self.scope, b.id),
                                                         people=self.people))
                              for b in self.rules]
            self._contexts_of = inputs
        return self._contexts

    def evaluate(self, event: Event, ticket: Ticket) -> list[RuleResult]:
        results = []
        for rule_id, rule, ctx in self.contexts():
            try:
                evaluation = rule.evaluate(event, ticket, ctx)
                if evaluation.effects and not evaluation.matched:
                    raise RuntimeError("rule returned effects although a condition failed")
                results.append(RuleResult(rule_id, guard_public_replies(rule_id, ctx.config, evaluation)))
            except Exception as exc:  # one rule's failure never stops the others
                with log_context(rule_id=rule_id):
                    log.exception("rule %s failed on %s", rule_id, event.ticket_key)
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                results.append(RuleResult(rule_id, Evaluation(), error=detail))
        return results


#: The verdict a rule gets when it wanted a public reply its block does not allow.
CUSTOMER_REPLIES_VERDICT = "block allows customer replies"


def allows_customer_replies(config: object) -> bool:
    """Whether a rule's bound block itself says ``customer_replies: true``: a default (even one a rule's
    own Config class sets) does not count, nor does anything but the boolean True."""
    fields_set: set[str] = getattr(config, "model_fields_set", set())
    return "customer_replies" in fields_set and getattr(config, "customer_replies", False) is True


def guard_public_replies(rule_id: str, config: object, evaluation: Evaluation) -> Evaluation:
    """``evaluation`` without its public replies unless ``config`` allows them (:func:`allows_customer_replies`).

    What is dropped is said in a failing verdict and a note (and a warning in the log); the rest of the
    plan is kept. Without a public reply, or with the block's permission, ``evaluation`` is returned as is."""
    for effect in evaluation.effects:  # a loop: most plans are short or empty, and this runs for every rule
        if isinstance(effect, PublicReply):
            break
    else:
        return evaluation
    if allows_customer_replies(config):
        return evaluation
    kept = [e for e in evaluation.effects if not isinstance(e, PublicReply)]
    dropped = len(evaluation.effects) - len(kept)
    note = f"public reply not posted: rules.{rule_id}.customer_replies is not true"
    with log_context(rule_id=rule_id):
        log.warning("rule %s wanted %d public repl%s; %s", rule_id, dropped, "y" if dropped == 1 else "ies", note)
    verdict = Verdict(CUSTOMER_REPLIES_VERDICT, False, observed=False, expected=True)
    return Evaluation([*evaluation.verdicts, verdict], kept, [*evaluation.notes, note])
