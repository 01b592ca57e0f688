"""A public reply to the requester: the executor posts it once (on the in-memory site, and on the fake Jira)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.check import explain_rejection, rejection_alert
from bot.clock import VirtualClock
from bot.effects import BOUNDS, PublicReply
from bot.executor import ALREADY, APPLIED, REJECTED, WOULD_APPLY, Executor
from bot.store import LIVE, Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, SiteTicket
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.support.sites import BOT

RULE = "replier"
REPLY = "Thanks, we are setting up your account now."


def _site(site: Site) -> Site:
    site.tickets.append(SiteTicket(key="SS-1", summary="EverBright Partner Onboarding", description="",
                                   status="Waiting for support", issue_type="Service Request"))
    return site


def _reply(body: str = REPLY, step: str = "reply") -> PublicReply:
    return PublicReply(rule_id=RULE, ticket_key="SS-1", step=step, body=body)


def _public(tracker: MemoryTracker, key: str = "SS-1") -> list[str]:
    return [c.body for c in tracker.get_ticket(key).comments if not c.internal]


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
