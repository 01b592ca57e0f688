"""BotServices against a real SQLite file store and inbox: status, why, dry-run, decisions into the
inbox (processed by the real worker path), timers, rules, pause/resume, approvers, the audit log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.clock import VirtualClock
from bot.inbox.guards import Guards
from bot.inbox.metrics import Metrics
from bot.inbox.queue import DEAD, IGNORED, Inbox, InboxRow
from bot.inbox.workers import Handler, WorkerPool
from bot.model import APPROVAL_GIVEN, APPROVAL_REJECTED, COMMS_REQUESTED, TICKET_CREATED, Event
from bot.ops.audit import AuditLog
from bot.ops.services import BotServices
from bot.pipeline import Processor
from bot.settings import GuardSettings
from bot.slack.services import ServiceError
from bot.sources.internal import SLACK, TIMER, decode, envelope, internal_sources, system_for_key
from bot.state import CANCELLED, FIRED, PENDING, StateStore
from bot.store import LIVE, Store
from bot.trackers.memory import MemoryTracker
from tests.support.approval_rule import AWAITING, RULE_ID, approval_rules
from tests.support.daemon import lines_of, onboarding_site

APPROVER = "UAPPROVER"
ADMIN = "UADMIN01"


class People:
    """Slack's people directory, as the SlackNotifier answers it; counts the look-ups."""

    def __init__(self, ids_by_email: dict[str, str]) -> None:
        self.ids_by_email = ids_by_email
        self.lookups: list[str] = []
        self.down = False

    def slack_id_for(self, email: str) -> str | None:
        self.lookups.append(email)
        if self.down:
            raise ConnectionError("slack.test unreachable")
        return self.ids_by_email.get(email)

    def email_for(self, slack_user_id: str) -> str | None:
        return next((e for e, i in self.ids_by_email.items() if i == slack_user_id), None)


class Bot:
    """A store, inbox, tracker and workers on one SQLite file, with the services on top."""

    def __init__(self, tmp_path: Path, clock: VirtualClock, **rule_config: object) -> None:
        self.clock = clock
        self.store = Store(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
        self.inbox = Inbox(self.store.engine, clock)
        self.tracker = MemoryTracker(onboarding_site(["SS-1", "SS-2"]), now=clock.now)
        self.rules = approval_rules(**rule_config)
        self.alerts: list[str] = []
        self.guards = Guards(self.store, GuardSettings(), clock, alert=self.alerts.append)
        self.people = People({"approver@acme.test": APPROVER})
        self.services = BotServices(store=self.store, inbox=self.inbox, rules=self.rules, clock=clock,
                                    guards=self.guards, trackers={"jira": self.tracker}, people=self.people,
                                    admins={"UCONFIGADMIN"})
        metrics = Metrics()
        self.handler = Handler(rules=self.rules, trackers={"jira": self.tracker}, sources=internal_sources(),
                               guards=self.guards, store=self.store, clock=clock, metrics=metrics)
        self.workers = WorkerPool(self.inbox, self.handler, metrics)
        self.states = StateStore(self.store)

    def created(self, key: str = "SS-1") -> None:
        """A new ticket, processed (the webhook path is tested elsewhere)."""
        event = Event(id=f"created-{key}", source="jira", kind=TICKET_CREATED, ticket_key=key,
                      occurred_at=self.clock.now())
        assert not Processor(self.rules, self.tracker, self.store, self.clock).process(event).failed

    def events(self, kind: str | None = None) -> list:
        return [r for r in self.inbox.rows() if kind is None or r.kind == kind]


@pytest.fixture
def bot(tmp_path: Path, clock: VirtualClock) -> Bot:
    return Bot(tmp_path, clock)


# status -------------------------------------------------------------------------------------------------
def test_status_shows_stage_history_decision_timers_and_last_actions(bot: Bot) -> None:
    bot.created()
    waiting = bot.services.status("SS-1")
    assert "stage *awaiting_approval* since 2026-11-02 09:00 UTC" in waiting
    assert "approvers: approver@acme.test" in waiting
    assert "`approval_test` reminder: due 2026-11-03 09:00 UTC (in 1d 0h 0m)" in waiting
    assert "slack_message ask: skipped" not in waiting  # skipped sends are not applied actions

    bot.clock.advance(timedelta(hours=2))
    assert bot.services.approve("SS-1", APPROVER, via="button").startswith("Recorded your approval of SS-1")
    assert "approval.given from slack: pending, received 2026-11-02 11:00 UTC" in bot.services.status("SS-1")
    assert bot.workers.drain() == 1

    report = bot.services.status_report("SS-1")
    [rule] = report["rules"]
    assert (rule["rule"], rule["stage"]) == (RULE_ID, "approved")
    assert [(h["stage"], h["at"]) for h in rule["history"]] == [
        (AWAITING, "2026-11-02T09:00:00+00:00"), ("approved", "2026-11-02T11:00:00+00:00")]
    assert rule["data"] == {"requested_of": "approver@acme.test", "decided_by": APPROVER, "via": "button"}
    assert report["timers"] == [] and report["queued"] == []
    assert [(a["kind"], a["step"], a["outcome"]) for a in report["applied"]] == [
        ("start_timer", "arm-reminder", "applied"), ("set_state", "requested", "applied"),
        ("internal_comment", "decision", "applied"), ("cancel_timer", "disarm-reminder", "applied"),
        ("set_state", "decided", "applied")]
    text = bot.services.status("SS-1")
    assert "stages: awaiting_approval (2026-11-02 09:00 UTC) → approved (2026-11-02 11:00 UTC)" in text
    assert "record: decided_by = 'UAPPROVER'; requested_of = 'approver@acme.test'; via = 'button'" in text
    assert "Pending timers: none" in text
    assert "internal_comment decision: applied" in text
    assert "Last evaluated: approval.given at 2026-11-02 11:00 UTC" in text


def test_status_of_a_ticket_the_bot_never_saw(bot: Bot) -> None:
    assert bot.services.status("SS-404") == "ticketbot has no record of SS-404: no event for it has been processed."
    assert bot.services.status_report("SS-404")["known"] is False


def test_status_tells_a_paused_rule_and_a_dead_letter(bot: Bot) -> None:
    bot.created()
    bot.guards.pause(RULE_ID, "too many writes", ticket_key="SS-1", by="cap")
    bot.services.approve("SS-1", APPROVER, via="command")
    [claim] = [bot.inbox.claim(60)]
    bot.inbox.fail(claim, "boom", retry_in=None)
    text = bot.services.status("SS-1")
    assert "*paused* since 2026-11-02 09:00 UTC (cap): too many writes" in text
    assert "approval.given from slack: given up (dead letter)" in text


# decisions ----------------------------------------------------------------------------------------------
def test_an_approval_is_one_event_in_the_inbox_however_often_it_is_sent(bot: Bot) -> None:
    bot.created()
    first = bot.services.approve("SS-1", APPROVER, via="button")
    again = bot.services.approve("SS-1", APPROVER, via="button")  # a double click
    assert first == "Recorded your approval of SS-1; ticketbot acts on it in a moment."
    assert again == "Your approval of SS-1 was already recorded; nothing new was queued."
    [row] = bot.events()
    assert (row.source, row.kind, row.ticket_key, row.status) == (SLACK, APPROVAL_GIVEN, "SS-1", "pending")
    event = decode(row.envelope)
    assert event.source == SLACK and event.actor.email == "approver@acme.test"
    assert event.payload == {"via": "button", "slack_user": APPROVER, "email": "approver@acme.test",
                             "role": "approver"}
    assert [(e.actor, e.command, e.outcome) for e in AuditLog(bot.store, bot.clock).entries()] == [
        (APPROVER, "approve SS-1", "done"), (APPROVER, "approve SS-1", "duplicate")]


def test_a_rejection_carries_its_reason_and_is_processed(bot: Bot) -> None:
    bot.created()
    assert bot.services.reject("SS-1", ADMIN, "wrong installer", via="command") == \
        "Recorded your rejection of SS-1 (reason: wrong installer)."
    [row] = bot.events(APPROVAL_REJECTED)
    assert decode(row.envelope).payload == {"via": "command", "reason": "wrong installer", "slack_user": ADMIN,
                                            "email": None, "role": "admin"}
    bot.workers.drain()
    state = bot.states.get(LIVE, RULE_ID, "SS-1")
    assert (state.stage, state.get("decided_by"), state.get("reason")) == ("rejected", ADMIN, "wrong installer")
    assert lines_of(bot.tracker.log, "SS-1")[-1] == "internal comment: Rejected in Slack."
    assert [t.status for t in bot.states.timers(LIVE, "SS-1")] == [CANCELLED]


def test_after_the_decision_another_one_is_refused_saying_who_decided_when(bot: Bot) -> None:
    """The test runbook takes a decision only while awaiting approval: a later one would be acted on never."""
    bot.created()
    bot.services.reject("SS-1", APPROVER, "", via="button")
    bot.workers.drain()  # stage: rejected
    for decide in (lambda: bot.services.reject("SS-1", APPROVER, "", via="button"),
                   lambda: bot.services.approve("SS-1", APPROVER, via="command")):
        with pytest.raises(ServiceError, match=f"^SS-1 was already rejected by {APPROVER} on 2026-11-02 09:00 UTC; "
                                               "your (rejection|approval) was not recorded.$"):
            decide()
    assert len(bot.events(APPROVAL_REJECTED)) == 1 and bot.events(APPROVAL_GIVEN) == []


def test_comms_requests_differ_by_reason(bot: Bot) -> None:
    assert bot.services.comms("SS-2", "USOMEONE", "go-live moves") == \
        "Recorded a request for customer communication on SS-2."
    assert bot.services.comms("SS-2", "USOMEONE", "go-live moves").startswith("That request")
    bot.services.comms("SS-2", "USOMEONE", "new contact")
    rows = bot.events(COMMS_REQUESTED)
    assert [decode(r.envelope).payload["reason"] for r in rows] == ["go-live moves", "new contact"]


def test_nothing_to_decide_on_a_ticket_the_bot_never_saw(bot: Bot) -> None:
    with pytest.raises(ServiceError, match="no record of SS-9"):
        bot.services.approve("SS-9", APPROVER, via="command")
    assert bot.events() == []


# the worker path of Slack and timer events -------------------------------------------------------------------
def test_internal_events_route_by_ticket_key(bot: Bot) -> None:
    assert (system_for_key("SS-1"), system_for_key("4711")) == ("jira", "zendesk")
    event = Event(id="approval.given:4711:U1:0", source=SLACK, kind=APPROVAL_GIVEN, ticket_key="4711",
                  occurred_at=bot.clock.now(), payload={"via": "command"})
    assert decode(envelope(SLACK, event)) == event
    bot.inbox.add(key="slack:x", source=SLACK, event=event, envelope=envelope(SLACK, event))
    bot.inbox.add(key="timer:broken", source=TIMER, event=event, envelope={"source": TIMER, "event": {"id": 1}})
    bot.workers.drain()
    zendesk, broken = bot.inbox.rows()
    assert (zendesk.status, zendesk.note) == (IGNORED, "no zendesk tracker configured")
    assert broken.status == DEAD  # malformed: dead-lettered at once, not retried


# approvers, admins, refusals ------------------------------------------------------------------------------------
def test_approvers_are_looked_up_by_email_once(bot: Bot) -> None:
    bot.created()
    assert bot.services.approver_for("SS-1") == {APPROVER}
    assert bot.services.approver_for("SS-1") == {APPROVER}
    assert bot.services.approver_for("SS-2") == {APPROVER}  # no state on SS-2: every enabled rule's approvers
    assert bot.people.lookups == ["approver@acme.test"]


def test_a_configured_slack_id_needs_no_lookup(tmp_path: Path, clock: VirtualClock) -> None:
    bot = Bot(tmp_path, clock, approver_slack="UCONFIGURED")
    assert bot.services.approver_for("SS-1") == {"UCONFIGURED"}
    assert bot.people.lookups == []


def test_an_unknown_approver_or_slack_down_leaves_only_admins(tmp_path: Path, clock: VirtualClock) -> None:
    bot = Bot(tmp_path, clock, approver_email="nobody@acme.test")
    assert bot.services.approver_for("SS-1") == set()
    assert bot.services.approver_for("SS-1") == set()
    assert bot.people.lookups == ["nobody@acme.test"]  # a miss is cached too
    (tmp_path / "other").mkdir()
    other = Bot(tmp_path / "other", clock)
    other.people.down = True
    assert other.services.approver_for("SS-1") == set()
    other.people.down = False
    assert other.services.approver_for("SS-1") == {APPROVER}  # a failure is not cached


def test_refusals_are_recorded_in_the_audit_log(bot: Bot) -> None:
    bot.services.record_refusal("USTRANGER", "approve SS-1", "not an approver of SS-1")
    [entry] = AuditLog(bot.store, bot.clock).entries(outcome="refused")
    assert (entry.actor, entry.via, entry.command, entry.detail) == ("USTRANGER", "slack", "approve SS-1",
                                                                     "not an approver of SS-1")
    assert bot.services.is_admin("UCONFIGADMIN") and not bot.services.is_admin("USTRANGER")


# rules, pause, resume ---------------------------------------------------------------------------------------------
def test_pause_and_resume_through_the_guards(bot: Bot) -> None:
    assert bot.services.rules() == "Rules on this site:\n• `approval_test` – Approval (test runbook): enabled"
    assert bot.services.pause(RULE_ID, ADMIN).startswith("Rule approval_test paused")
    assert [p.rule_id for p in bot.guards.active_pauses()] == [RULE_ID]
    assert bot.alerts == [("ticketbot paused rule approval_test: paused from Slack by UADMIN01. "
                           "Resume with `ticketbot rules resume approval_test`.")]
    assert "*paused* since 2026-11-02 09:00 UTC (admin): paused from Slack by UADMIN01" in bot.services.rules()
    with pytest.raises(ServiceError, match="already paused"):
        bot.services.pause(RULE_ID, ADMIN)
    bot.created()
    assert bot.states.get(LIVE, RULE_ID, "SS-1") is not None  # the Processor itself ignores pauses…
    bot.services.approve("SS-1", APPROVER, via="command")
    bot.workers.drain()  # …the worker's guards do not
    assert bot.states.get(LIVE, RULE_ID, "SS-1").stage == AWAITING
    assert bot.services.resume(RULE_ID, ADMIN) == \
        "Rule approval_test resumed (1 pause(s) lifted); its caps count afresh from now."
    with pytest.raises(ServiceError, match="not paused"):
        bot.services.resume(RULE_ID, ADMIN)
    with pytest.raises(ServiceError, match="no rule nudge on this site"):
        bot.services.pause("nudge", ADMIN)
    assert [(e.command, e.outcome) for e in AuditLog(bot.store, bot.clock).entries(actor=ADMIN)] == [
        ("pause approval_test", "done"), ("resume approval_test", "done")]


# timers ------------------------------------------------------------------------------------------------------------
def test_timers_lists_pending_timers_with_their_due_time(bot: Bot) -> None:
    assert bot.services.timers(None) == "No pending timers."
    bot.created("SS-1")
    bot.clock.advance(timedelta(hours=1))
    bot.created("SS-2")
    assert bot.services.timers(None) == (
        "Pending timers (2):\n"
        "• SS-1 `approval_test` reminder: due 2026-11-03 09:00 UTC (in 23h 0m)\n"
        "• SS-2 `approval_test` reminder: due 2026-11-03 10:00 UTC (in 1d 0h 0m)")
    bot.clock.advance(timedelta(days=1, minutes=30))
    assert bot.services.timers("SS-1") == (
        "Pending timers for SS-1 (1):\n• `approval_test` reminder: due 2026-11-03 09:00 UTC (overdue by 1h 30m)")
    [report] = bot.services.timers_report("SS-2")
    assert (report["id"], report["status"], report["due_in"]) == ("approval_test:SS-2:reminder", PENDING,
                                                                  "overdue by 30m")
    bot.states.mark_fired(LIVE, bot.states.timers(LIVE, "SS-2")[0], bot.clock.now())
    assert [t.status for t in bot.states.timers(LIVE, "SS-2")] == [FIRED]
    assert bot.services.timers("SS-2") == "No pending timers for SS-2."


# why and dry-run ------------------------------------------------------------------------------------------------------
def test_why_shows_the_latest_traces_with_observed_and_expected(bot: Bot) -> None:
    assert bot.services.why("SS-1") == "No trace for SS-1: no event for it has been evaluated."
    bot.created()
    text = bot.services.why("SS-1")
    assert "*2026-11-02 09:00 UTC* ticket.created\n• `approval_test`: matched" in text  # as dry-run shows a rule
    assert "✓ project: observed 'SS', expected 'SS'" in text
    assert "→ applied: state: stage = 'awaiting_approval', requested_of = 'approver@acme.test'" in text


def test_dry_run_describes_the_plan_and_writes_nothing(bot: Bot) -> None:
    text = bot.services.dry_run("SS-1")
    assert text.startswith("*Dry run of SS-1* (nothing was written):\n• `approval_test`: would act\n")
    assert "    ✓ approval not asked yet: observed None, expected None" in text
    assert "    → would-apply: slack to approver@acme.test: Please approve SS-1 — dry-run" in text
    assert "    → would-apply: start timer approval_test:SS-1:reminder due 2026-11-03T09:00:00+00:00" in text
    assert bot.tracker.log == [] and bot.store.applied("SS-1") == [] and bot.store.traces("SS-1") == []
    assert bot.states.all(LIVE, "SS-1") == [] and bot.states.timers(LIVE, "SS-1") == []

    bot.created()  # evaluated with the live state: the approval was asked already
    assert "• `approval_test`: no action\n" in bot.services.dry_run("SS-1")
    assert "✗ approval not asked yet: observed 'awaiting_approval', expected None" in bot.services.dry_run("SS-1")
    bot.guards.pause(RULE_ID, "checking", by="admin")
    assert bot.services.dry_run("SS-1").endswith(
        "• `approval_test`: not evaluated, since 2026-11-02 09:00 UTC (admin): checking")
    with pytest.raises(ServiceError, match="No zendesk connection is configured here, so I cannot read 4711"):
        bot.services.dry_run("4711")
    assert "Nothing evaluated: SS-404 no longer exists." in bot.services.dry_run("SS-404")
    assert bot.events() == []


# decisions are taken only while a runbook waits for one (EverBright: decision_stages) ------------------------------
@pytest.fixture
def everbright(tmp_path: Path, clock: VirtualClock) -> BotServices:
    from rules import load_rules
    from tests.support.paths import CONFIG

    store = Store(f"sqlite:///{tmp_path / 'everbright.sqlite3'}")
    return BotServices(store=store, inbox=Inbox(store.engine, clock), rules=load_rules(CONFIG), clock=clock,
                       guards=Guards(store, GuardSettings(), clock))


def _at(services: BotServices, stage: str, **data: object) -> None:
    services.states.put(LIVE, "everbright_onboarding", "SS-1", stage=stage, data=data, at=services.clock.now())


def test_an_approval_while_config_is_still_configuring_is_taken_in_advance(everbright: BotServices) -> None:
    """As an approver's comment or separate ticket at that stage is: Config is asked to push live once configured."""
    _at(everbright, "configuring", cs_key="CS-7")
    assert everbright.approve("SS-1", APPROVER, via="button").startswith("Recorded your approval of SS-1")
    assert [r.ticket_key for r in everbright.inbox.rows() if r.kind == APPROVAL_GIVEN] == ["SS-1"]


def test_an_approval_before_the_config_ticket_exists_is_refused_saying_what_it_waits_for(
        everbright: BotServices) -> None:
    _at(everbright, "intake")
    with pytest.raises(ServiceError) as refused:
        everbright.approve("SS-1", APPROVER, via="button")
    assert str(refused.value) == (
        "SS-1 is not awaiting a decision: it is at stage *intake* since 2026-11-02 09:00 UTC and waits for "
        "the Config (CS) ticket to be created. Your approval was not recorded.")
    assert [r for r in everbright.inbox.rows() if r.kind == APPROVAL_GIVEN] == []


def test_a_reject_after_the_approval_says_who_approved_when_and_records_nothing(everbright: BotServices) -> None:
    _at(everbright, "approved", cs_key="CS-7",
        decision={"approved": True, "by": "Ann Approver", "at": "2026-11-02T08:15:00+00:00", "via": "slack"})
    with pytest.raises(ServiceError, match="^SS-1 was already approved by Ann Approver on 2026-11-02 08:15 UTC; "
                                           "your rejection was not recorded.$"):
        everbright.reject("SS-1", APPROVER, "", via="button")
    assert everbright.inbox.rows() == []


def test_decisions_are_taken_while_awaiting_and_after_a_rejection(everbright: BotServices) -> None:
    _at(everbright, "awaiting-approval", cs_key="CS-7")
    assert everbright.reject("SS-1", APPROVER, "not yet", via="command").startswith("Recorded your rejection")
    with pytest.raises(ServiceError, match="^A rejection by UAPPROVER of SS-1 is already queued"):
        everbright.approve("SS-1", APPROVER, via="button")  # the first decision stands until it is acted on
    with everbright.store.session() as s:  # a worker acted on it (here the stage moves by hand)
        s.execute(update(InboxRow).values(status="done"))
        s.commit()
    _at(everbright, "rejected", cs_key="CS-7", rejections=1)
    assert everbright.approve("SS-1", APPROVER, via="button").startswith("Recorded your approval of SS-1")
