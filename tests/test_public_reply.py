"""A public reply to the requester: the executor posts it once; the engine lets it through only for a rule
whose config block says ``customer_replies: true`` (on the in-memory site, and on the fake Jira)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import StrictBool

from bot.check import explain_rejection, rejection_alert
from bot.clock import VirtualClock
from bot.config import RuleBlock, validate_block
from bot.effects import BOUNDS, InternalComment, PublicReply
from bot.engine import BoundRule, Evaluation, Rule, RuleContext, Verdict
from bot.executor import ALREADY, APPLIED, REJECTED, WOULD_APPLY, Executor
from bot.model import TICKET_UPDATED, Comment, Event, Ticket
from bot.pipeline import Processor
from bot.settings import ConfigurationError
from bot.store import LIVE, Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, SiteTicket
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.support.sites import BOT

RULE = "replier"
REPLY = "Thanks, we are setting up your account now."
CONFIG = Path("rules.yaml")  # named in configuration errors only


def _site(site: Site) -> Site:
    site.tickets.append(SiteTicket(key="SS-1", summary="EverBright Partner Onboarding", description="",
                                   status="Waiting for support", issue_type="Service Request"))
    return site


def _reply(body: str = REPLY, step: str = "reply") -> PublicReply:
    return PublicReply(rule_id=RULE, ticket_key="SS-1", step=step, body=body)


def _event(n: int = 1) -> Event:
    return Event(id=f"ev-{n}", source="test", kind=TICKET_UPDATED, ticket_key="SS-1",
                 occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC))


def _public(tracker: MemoryTracker, key: str = "SS-1") -> list[str]:
    return [c.body for c in tracker.get_ticket(key).comments if not c.internal]


class Replier(Rule[RuleBlock]):
    """A rule as a site might write one: a public reply to the requester and an internal note beside it."""

    id = RULE
    title = "replies to the requester"

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        return Evaluation([Verdict("ticket is open", True, ticket.status, "Waiting for support")], [
            PublicReply(rule_id=self.id, ticket_key=ticket.key, step="reply", body=REPLY),
            InternalComment(rule_id=self.id, ticket_key=ticket.key, step="note", body="Replied to the customer."),
        ])


class Permissive(RuleBlock):
    """A rule's own Config that turns replies on by default: a default is not the block saying so."""

    customer_replies: StrictBool = True


class PermissiveReplier(Replier, Rule[Permissive]):
    pass


def _processor(tracker: MemoryTracker, store: Store, clock, block: dict | None = None,
               rule: Rule | None = None, **kw) -> Processor:
    rule = rule or Replier()
    config = validate_block(RULE, type(rule).Config, block, CONFIG)
    return Processor([BoundRule(rule, config)], tracker, store, clock, **kw)


# the effect ----------------------------------------------------------------------------------------------
def test_the_effect_describes_itself_and_keeps_to_the_comment_bounds():
    reply = _reply("Your account is ready.\nSecond line")
    assert reply.kind == "public_reply"
    assert reply.describe() == "public reply to the requester: Your account is ready."
    assert _reply("x" * 200).describe() == "public reply to the requester: " + "x" * 80


# the executor --------------------------------------------------------------------------------------------
def test_the_executor_posts_a_public_reply_once(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    executor = Executor(tracker, store, clock, scope=LIVE)
    [outcome] = executor.apply([_reply()])
    assert outcome.status == APPLIED and outcome.detail.startswith("public reply ")
    assert _public(tracker) == [REPLY]
    assert store.is_applied(LIVE, _reply().key)
    [again] = executor.apply([_reply()])  # the event delivered again: recorded as applied
    assert again.status == ALREADY and again.detail == "recorded as applied earlier"
    # no record (a fresh store): the ticket says so
    [fresh] = Executor(tracker, Store("sqlite://"), clock, scope=LIVE).apply([_reply()])
    assert fresh.status == ALREADY and fresh.detail == "already true on the ticket"
    assert _public(tracker) == [REPLY]
    assert sum("public reply" in line for line in tracker.log) == 1


def test_an_internal_note_with_the_same_text_is_no_reply(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    tracker.add_internal_comment("SS-1", REPLY)
    [outcome] = Executor(tracker, store, clock, scope=LIVE).apply([_reply()])
    assert outcome.status == APPLIED
    assert _public(tracker) == [REPLY]


def test_a_public_reply_is_recorded_the_moment_it_is_posted(site, store, clock):
    """A crash before the event's commit must not post the same reply again, even if the ticket cannot be read."""
    tracker = MemoryTracker(_site(site), now=clock.now)
    with store.deferred():
        [outcome] = Executor(tracker, store, clock, scope=LIVE).apply([_reply()])
        assert outcome.status == APPLIED
        store._pending().clear()  # the process is SIGKILLed here: the event's own commit never happens
    assert store.is_applied(LIVE, _reply().key)


def test_a_dry_run_only_says_it_would_reply(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    [outcome] = Executor(tracker, store, clock, scope=LIVE, dry_run=True).apply([_reply()])
    assert outcome.status == WOULD_APPLY
    assert tracker.get_ticket("SS-1").comments == () and not store.is_applied(LIVE, _reply().key)


def test_a_reply_over_the_bound_is_not_sent_and_explained_internally(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    [outcome] = Executor(tracker, store, clock, scope=LIVE).apply([_reply("x" * (BOUNDS["jira_comment"] + 1))])
    assert outcome.status == REJECTED and "Jira accepts at most 32767" in outcome.detail
    [note] = tracker.get_ticket("SS-1").comments
    assert note.internal and "did not public reply to the requester" in note.body


def test_a_refused_reply_is_explained_like_any_other_write(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    [outcome] = Executor(tracker, store, clock, scope=LIVE).apply([_reply("   ")])
    assert outcome.status == REJECTED and "empty public reply" in outcome.detail
    rejection = explain_rejection(None, outcome.effect, outcome.detail, tracker, outcome.name)
    assert (rejection.effect_kind, rejection.kind) == ("public_reply", "")
    assert "Please make this change on SS-1 by hand" in rejection_alert(rejection, outcome.detail)
    assert _public(tracker) == []


def test_the_executor_posts_a_public_reply_once_on_jira():
    site = _site(Site.model_validate({"bot_account": {"account_id": "bot-1", "email": BOT, "display_name": "bot"},
                                      "service_desks": [{"id": "2", "project": "SS"}]}))
    clock_now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    clock = VirtualClock(clock_now)
    with spec_checked_jira(site, now=clock_now) as fake:
        jira = tracker_on(fake, BOT, "token", slept=[])
        [outcome] = Executor(jira, Store("sqlite://"), clock, scope=LIVE).apply([_reply()])
        assert outcome.status == APPLIED
        assert fake.writes == [("POST", "/rest/servicedeskapi/request/SS-1/comment")]
        [again] = Executor(jira, Store("sqlite://"), clock, scope=LIVE).apply([_reply()])  # a fresh store
        assert again.status == ALREADY and fake.writes == [("POST", "/rest/servicedeskapi/request/SS-1/comment")]
        assert [(c.body, c.internal) for c in fake.ticket("SS-1").comments] == [(REPLY, False)]


# the engine's guard ----------------------------------------------------------------------------------------
def test_without_customer_replies_nothing_public_is_posted_and_the_verdict_says_why(site, store, clock, caplog):
    tracker = MemoryTracker(_site(site), now=clock.now)
    with caplog.at_level(logging.WARNING, logger="bot.engine"):
        report = _processor(tracker, store, clock).process(_event())
    [rule] = report.rules
    assert rule.result.error is None and not report.failed
    evaluation = rule.result.evaluation
    assert not evaluation.matched
    assert evaluation.verdicts[-1] == Verdict("block allows customer replies", False, observed=False, expected=True)
    assert evaluation.notes == ["public reply not posted: rules.replier.customer_replies is not true"]
    assert [e.kind for e in evaluation.effects] == ["internal_comment"]  # the rest of the plan is kept
    assert [o.status for o in rule.outcomes] == [APPLIED]
    assert _public(tracker) == []
    assert [c.body for c in tracker.get_ticket("SS-1").comments] == ["Replied to the customer."]
    assert any("customer_replies is not true" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    [trace] = store.traces()
    assert trace.matched is False and trace.error is None
    assert trace.verdicts[-1]["name"] == "block allows customer replies" and trace.verdicts[-1]["passed"] is False
    assert trace.notes == ["public reply not posted: rules.replier.customer_replies is not true"]


def test_with_customer_replies_true_the_reply_is_posted(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    report = _processor(tracker, store, clock, {"customer_replies": True}).process(_event())
    [rule] = report.rules
    assert rule.result.evaluation.matched and rule.result.evaluation.notes == []
    assert [o.status for o in rule.outcomes] == [APPLIED, APPLIED]
    assert _public(tracker) == [REPLY]
    again = _processor(tracker, store, clock, {"customer_replies": True}).process(_event(2))  # redelivered
    assert [o.status for o in again.outcomes] == [ALREADY, ALREADY]
    assert _public(tracker) == [REPLY]


@pytest.mark.parametrize("block", [None, {}, {"customer_replies": False}, {"enabled": True}])
def test_a_block_that_does_not_say_so_posts_nothing_public(site, store, clock, block):
    tracker = MemoryTracker(_site(site), now=clock.now)
    _processor(tracker, store, clock, block).process(_event())
    assert _public(tracker) == []


def test_a_rules_own_default_is_not_the_block_saying_so(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    rule = PermissiveReplier()
    assert type(rule).Config is Permissive
    report = _processor(tracker, store, clock, {}, rule=rule).process(_event())
    assert _public(tracker) == []
    assert report.rules[0].result.evaluation.verdicts[-1].name == "block allows customer replies"
    _processor(tracker, store, clock, {"customer_replies": True}, rule=rule).process(_event(2))
    assert _public(tracker) == [REPLY]


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_only_a_yaml_boolean_turns_replies_on(value):
    with pytest.raises(ConfigurationError, match="rules.replier.customer_replies"):
        validate_block(RULE, RuleBlock, {"customer_replies": value}, CONFIG)


def test_a_dry_run_without_the_flag_says_why_and_would_post_nothing_public(site, store, clock):
    tracker = MemoryTracker(_site(site), now=clock.now)
    report = _processor(tracker, store, clock, dry_run=True).process(_event())
    assert [(o.effect.kind, o.status) for o in report.outcomes] == [("internal_comment", WOULD_APPLY)]
    assert report.rules[0].result.evaluation.notes == [
        "public reply not posted: rules.replier.customer_replies is not true"]


def test_every_comment_the_engine_lets_through_by_default_is_internal(site, store, clock):
    """Bound with the defaults, the rule leaves only internal comments: the ticket's state says so."""
    tracker = MemoryTracker(_site(site), now=clock.now)
    _processor(tracker, store, clock).process(_event())
    comments: tuple[Comment, ...] = tracker.get_ticket("SS-1").comments
    assert comments and all(c.internal for c in comments)
