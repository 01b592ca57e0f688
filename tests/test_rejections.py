"""Writes refused for good: recorded as rejected, never retried, never holding the rest of the plan back;
reported once; values over a vendor's bound not sent (issue 14 §3). On the in-memory site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import RuleBlock
from bot.effects import (
    BOUNDS,
    InternalComment,
    SetField,
    SetOrganization,
    SetState,
    SlackMessage,
    StartTimer,
    Transition,
)
from bot.engine import BoundRule, Evaluation, Rule
from bot.executor import APPLIED, REJECTED, Executor
from bot.model import TICKET_UPDATED, Event, Ticket
from bot.pipeline import Processor
from bot.slack.notifier import NotifyError
from bot.state import StateStore
from bot.store import LIVE, Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, SiteTicket

RULE = "probe"


def _ticket(site, key="SS-1"):
    site.tickets.append(SiteTicket(key=key, summary="EverBright Partner Onboarding", description="",
                                   status="Waiting for support", issue_type="Service Request"))
    return site


def _fx(cls, step, key="SS-1", **kw):
    return cls(rule_id=RULE, ticket_key=key, step=step, **kw)


def _local(clock):
    return [_fx(StartTimer, "timer", name="remind", due_at=clock.now() + timedelta(hours=24)),
            _fx(SetState, "state", stage="asked")]


def test_a_rejected_write_does_not_defer_the_rule_state_and_timers(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    plan = [_fx(Transition, "move", status="Nowhere"), _fx(InternalComment, "ask", body="Approved?"), *_local(clock)]
    outcomes = Executor(tracker, store, clock, scope=LIVE).apply(plan)
    assert [o.status for o in outcomes] == [REJECTED, APPLIED, APPLIED, APPLIED]
    states = StateStore(store)
    assert states.get(LIVE, RULE, "SS-1").stage == "asked"
    assert states.timer(LIVE, f"{RULE}:SS-1:remind").status == "pending"


def test_a_rejected_write_is_not_sent_again(site, store, clock):
    class Counting(MemoryTracker):
        moves = 0

        def transition(self, key, status, resolution=""):
            self.moves += 1
            return super().transition(key, status, resolution)

    tracker = Counting(_ticket(site), now=clock.now)
    plan = [_fx(Transition, "move", status="Nowhere")]
    Executor(tracker, store, clock, scope=LIVE).apply(plan)
    [again] = Executor(tracker, store, clock, scope=LIVE).apply(plan)
    assert again.status == REJECTED and "not sent again" in again.detail
    assert tracker.moves == 1


def test_a_refused_edit_is_tried_field_by_field_so_the_others_are_made(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    plan = [_fx(SetField, "bad", field="Needs Configuration?", value="No such option"),
            _fx(SetField, "good", field="Installer name", value="Sunpeak Solar")]
    outcomes = Executor(tracker, store, clock, scope=LIVE).apply(plan)
    assert [o.status for o in outcomes] == [REJECTED, APPLIED]
    assert tracker.get_ticket("SS-1").field("Installer name") == "Sunpeak Solar"


def test_an_organization_name_over_the_bound_is_not_sent_and_explained_once(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    name = "S" * (BOUNDS["jsm_organization"] + 1)
    plan = [_fx(SetOrganization, "org", name=name), _fx(SetState, "state", stage="intake")]
    for _ in range(2):
        outcomes = Executor(tracker, store, clock, scope=LIVE).apply(plan)
        assert outcomes[0].status == REJECTED
    ticket = tracker.get_ticket("SS-1")
    assert ticket.organizations == () and name not in tracker.organizations("SS")
    [comment] = ticket.comments
    assert "201 characters" in comment.body and "1-200" in comment.body
    assert StateStore(store).get(LIVE, RULE, "SS-1").stage == "intake"


class _Slack:
    """A notifier that records what it is given and fails as told."""

    def __init__(self, error: NotifyError | None = None) -> None:
        self.sent: list[SlackMessage] = []
        self.alerts: list[str] = []
        self.error = error

    def send(self, message: SlackMessage) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        return "1.0"

    def alert(self, text: str) -> None:
        self.alerts.append(text)


def test_a_slack_user_that_does_not_exist_is_a_rejection(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    slack = _Slack(NotifyError("no Slack user", code="users_not_found"))
    outcomes = Executor(tracker, store, clock, scope=LIVE, notifier=slack).apply(
        [_fx(SlackMessage, "dm", text="hi", user_email="gone@example.com"), *_local(clock)])
    assert [o.status for o in outcomes] == [REJECTED, APPLIED, APPLIED]


def test_a_slack_text_over_the_bound_is_cut_visibly(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    slack = _Slack()
    Executor(tracker, store, clock, scope=LIVE, notifier=slack).apply(
        [_fx(SlackMessage, "dm", text="x" * 50_000, user_email="a@example.com")])
    [sent] = slack.sent
    assert len(sent.text) == BOUNDS["slack_text"] and sent.text.endswith("…")


# the report ------------------------------------------------------------------------------------------
class _Mover(Rule):
    """Moves every ticket it sees to a status the site does not have, and records a stage."""

    id = RULE
    title = "moves tickets to a status that does not exist"

    def evaluate(self, event: Event, ticket: Ticket, ctx) -> Evaluation:
        return Evaluation(verdicts=[], effects=[
            Transition(rule_id=RULE, ticket_key=ticket.key, step="move", status="Don"),
            SetState(rule_id=RULE, ticket_key=ticket.key, step="state", stage="moved")])


def _event(key, n):
    return Event(id=f"ev-{n}", source="test", kind=TICKET_UPDATED, ticket_key=key,
                 occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC))


def test_a_rejection_is_reported_once_per_rule_kind_and_name_across_restarts(site, store, clock, tmp_path):
    tracker = MemoryTracker(_ticket(_ticket(site), "SS-2"), now=clock.now)
    alerts: list[str] = []
    rules = [BoundRule(_Mover(), RuleBlock())]
    report = Processor(rules, tracker, store, clock, alert=alerts.append).process(_event("SS-1", 1))
    assert not report.failed and [o.status for o in report.outcomes] == [REJECTED, APPLIED]
    [alert] = alerts
    assert all(words in alert for words in (RULE, "SS-1", "transition to 'Don'", "'Done'"))
    Processor(rules, tracker, store, clock, alert=alerts.append).process(_event("SS-2", 2))
    again = Store(str(store.engine.url))  # a restart: a new process on the same database
    Processor(rules, tracker, again, clock, alert=alerts.append).process(_event("SS-2", 3))
    assert len(alerts) == 1
    assert [t.effects[0]["outcome"] for t in store.traces("SS-2")] == [REJECTED, REJECTED]


def test_a_dry_run_reports_nothing(site, store, clock):
    tracker = MemoryTracker(_ticket(site), now=clock.now)
    alerts: list[str] = []
    Processor([BoundRule(_Mover(), RuleBlock())], tracker, store, clock, dry_run=True,
              alert=alerts.append).process(_event("SS-1", 1))
    assert alerts == []


def test_a_zendesk_comment_over_the_bound_is_not_sent_and_explained(clock, store):
    site = Site.load(Path(__file__).resolve().parents[1] / "examples" / "procountor" / "site.yaml")
    site.tickets.append(SiteTicket(key="101", summary="Activation", description="", status="open",
                                   issue_type="task"))
    tracker = MemoryTracker(site, now=clock.now)
    body = "x" * (BOUNDS["zendesk_comment"] + 1)
    [outcome] = Executor(tracker, store, clock, scope=LIVE).apply([_fx(InternalComment, "long", key="101", body=body)])
    assert outcome.status == REJECTED and "Zendesk accepts at most 64000" in outcome.detail
    [note] = tracker.get_ticket("101").comments
    assert "64001 characters" in note.body and len(note.body) < 1000
