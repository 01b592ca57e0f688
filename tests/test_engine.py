"""bot/engine.py: each rule's read-only context, and what the engine makes of a rule's evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import VirtualClock
from bot.config import RuleBlock
from bot.effects import InternalComment
from bot.engine import BoundRule, Engine, Evaluation, Rule, RuleContext, Verdict
from bot.model import TICKET_UPDATED, Event, Ticket
from bot.state import StateStore
from bot.store import Store

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
TICKET = Ticket(key="T-1", project="T", summary="toy")
EVENT = Event(id="e1", source="test", kind=TICKET_UPDATED, ticket_key="T-1", occurred_at=NOW)


class Recorder(Rule):
    """Records the context it is given and passes, with one effect when ``act``."""

    id = "recorder"
    title = "records its context"

    def __init__(self, *, act: bool = False, passed: bool = True) -> None:
        self.contexts: list[RuleContext] = []
        self.act, self.passed = act, passed

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        self.contexts.append(ctx)
        effects = [InternalComment(rule_id=self.id, ticket_key=ticket.key, step="s", body="b")] if self.act else []
        return Evaluation(verdicts=[Verdict("v", self.passed)], effects=effects)


def engine(rule: Rule, states: StateStore | None = None) -> Engine:
    return Engine([BoundRule(rule, RuleBlock())], reader=None, clock=VirtualClock(NOW),  # type: ignore[arg-type]
                  states=states, scope="test")


def test_a_rules_context_is_made_once_and_again_when_the_engine_gets_other_states():
    rule = Recorder()
    first, second = StateStore(Store("sqlite://")), StateStore(Store("sqlite://"))
    first.put("test", "recorder", "T-1", stage="one", data={}, at=NOW)
    second.put("test", "recorder", "T-1", stage="two", data={}, at=NOW)
    eng = engine(rule, first)
    eng.evaluate(EVENT, TICKET)
    eng.evaluate(EVENT, TICKET)
    assert rule.contexts[0] is rule.contexts[1]
    assert rule.contexts[0].state.get("T-1").stage == "one"
    eng.states = second  # as tests/test_replay_batching.py's unbatched replay does
    eng.evaluate(EVENT, TICKET)
    assert rule.contexts[2] is not rule.contexts[1] and rule.contexts[2].state.get("T-1").stage == "two"
    eng.clock = VirtualClock(datetime(2027, 1, 1, tzinfo=UTC))
    eng.evaluate(EVENT, TICKET)
    assert rule.contexts[3].clock.now().year == 2027


def test_effects_with_a_failed_verdict_are_an_error_of_that_rule_only():
    rules = [BoundRule(Recorder(act=True, passed=False), RuleBlock()), BoundRule(Recorder(act=True), RuleBlock())]
    wrong_result, right_result = Engine(rules, None, VirtualClock(NOW)).evaluate(EVENT, TICKET)  # type: ignore[arg-type]
    assert "effects although a condition failed" in (wrong_result.error or "")
    assert wrong_result.evaluation == Evaluation()
    assert right_result.error is None and right_result.evaluation.matched and right_result.evaluation.effects


def test_a_skip_copies_its_verdicts_and_notes():
    verdicts = [Verdict("v", False)]
    skipped = Evaluation.skip(verdicts, "why")
    verdicts.append(Verdict("w", True))
    assert skipped == Evaluation(verdicts=[Verdict("v", False)], notes=["why"]) and not skipped.matched
