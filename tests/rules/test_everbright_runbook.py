"""The EverBright runbook end to end (steps 2–6) on the virtual clock.

The real Jira adapter talks to the stateful fake Jira (spec-checked), the real Slack notifier to
the fake Slack Web API; rule state and timers live in a real SQLite file. People's actions
(Config putting CS on hold, the approver's comment or separate ticket) are made on the fake, then
delivered as the webhook event Jira would send. Assertions are on the tickets' final state and on
the Slack messages, never on call order alone.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.engine import RuleContext, StateView
from bot.model import (
    APPROVAL_GIVEN,
    APPROVAL_REJECTED,
    COMMENT_CREATED,
    COMMS_REQUESTED,
    TICKET_CREATED,
    TICKET_UPDATED,
    TIMER_FIRED,
    Change,
    Comment,
    Event,
    Ticket,
    User,
)
from bot.pipeline import Processor, ProcessReport
from bot.settings import ConfigurationError, SlackSettings
from bot.slack.sender import SlackNotifier
from bot.state import BufferedStateStore, RuleState, StateStore, fire_due_timers
from bot.store import LIVE, Store
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, SiteTicket
from rules import everbright_onboarding, load_rules
from rules.runbook.checks import normalize_text
from tests.fakes.fake_jira import FakeJira, load_specs, site_with_tickets
from tests.fakes.fake_slack import FakeSlack, urllib_via_requests
from tests.support.paths import CONFIG, EVERBRIGHT_ONLY, EXAMPLES

RULE = "everbright_onboarding"
APPROVER = "david.ellis@goeverbright.com"
APPROVER_SLACK = "U0DAVID"
MANAGER = "tom.becker@goeverbright.com"  # Sunpeak Solar's account manager in config/ticketbot.yaml
CONFIG_PERSON = "lena.config@goeverbright.com"
FORM = ("Thank you for partnering with EverBright!\n\n* Installer name: Sunpeak Solar\n"
        "* Installer contact email: ops@sunpeaksolar.example\n")


class Runbook:
    """The bot as one process: tracker client, notifier, store and processor; ``restart`` makes a new one."""

    def __init__(self, tmp_path: Path, jira: FakeJira, slack: FakeSlack, clock: VirtualClock) -> None:
        self.url = f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
        self.config = CONFIG  # the rules YAML; a test may point it elsewhere and restart()
        self.jira, self.slack, self.clock = jira, slack, clock
        self.ids = itertools.count(1)
        self.reports: list[ProcessReport] = []
        self.restart()

    def restart(self) -> None:
        self.store = Store(self.url)
        self.states = StateStore(self.store)
        tracker = JiraTracker(self.jira.base_url, "ticketbot@goeverbright.com", "token", sleep=lambda s: None)
        notifier = SlackNotifier.from_settings(SlackSettings(bot_token=self.slack.token, api_url=self.slack.base_url,
                                                             admin_channel="CADMIN"), sleep=lambda s: None)
        self.processor = Processor(load_rules(self.config), tracker, self.store, self.clock, notifier=notifier)

    # time -------------------------------------------------------------------------------------
    def advance(self, delta: timedelta) -> None:
        """Let time pass; every timer due on the way fires at its due time (as the daemon's sweep would)."""
        until = self.clock.now() + delta
        self.reports += list(fire_due_timers(self.states, LIVE, until, self.clock, self._process))
        self.clock.set(until)
        self.jira.now = until

    def _process(self, event: Event) -> ProcessReport:
        self.jira.now = self.clock.now()
        report = self.processor.process(event)
        assert not report.failed, report.as_dict()
        return report

    # what people do, then the webhook Jira sends --------------------------------------------------
    def deliver(self, kind: str, key: str, actor: str, **kw: object) -> ProcessReport:
        user = self.jira.site.user_by_email(actor)
        event = Event(id=f"e{next(self.ids)}", source="jira", kind=kind, ticket_key=key,
                      occurred_at=self.clock.now(), actor=User(user.account_id, user.email, user.display_name),
                      **kw)  # type: ignore[arg-type]
        report = self._process(event)
        self.reports.append(report)
        return report

    def create(self, key: str, summary: str, description: str, reporter: str, *, status: str = "Waiting for support",
               issue_type: str = "Service Request", participants: tuple[str, ...] = ()) -> ProcessReport:
        self.jira.add_ticket(SiteTicket(key=key, summary=summary, description=description, status=status,
                                        issue_type=issue_type, reporter=reporter, participants=list(participants)))
        return self.deliver(TICKET_CREATED, key, reporter)

    def set_status(self, key: str, status: str, by: str = CONFIG_PERSON) -> ProcessReport:
        old, self.jira.ticket(key).status = self.jira.ticket(key).status, status
        return self.deliver(TICKET_UPDATED, key, by, changes=(Change("status", old, status),))

    def comment(self, key: str, author: str, body: str) -> ProcessReport:
        stored = self.jira.comment_as(key, author, body)
        user = self.jira.site.user_by_email(author)
        comment = Comment(id=stored.id, body=body, author=User(user.account_id, user.email, user.display_name),
                          internal=False, created=self.clock.now())
        return self.deliver(COMMENT_CREATED, key, author, comment=comment)

    def slack_event(self, kind: str, key: str, **payload: object) -> ProcessReport:
        return self.deliver(kind, key, APPROVER, payload={"slack_user": APPROVER_SLACK, **payload})

    # looking --------------------------------------------------------------------------------------
    def stage(self, key: str) -> str | None:
        state = self.states.get(LIVE, RULE, key)
        return state.stage if state else None

    def comments(self, key: str) -> list[str]:
        return [c.body for c in self.jira.ticket(key).comments if c.author == self.jira.bot.account_id]

    def reminders(self) -> list[dict]:
        return self.slack.dm(APPROVER_SLACK)

    def links(self) -> set[tuple[str, str, str]]:
        names = {t.id: t.name for t in self.jira.site.link_types}
        return {(names[lk.type_id], lk.inward, lk.outward) for lk in self.jira.links}

    def pending_timers(self) -> list[str]:
        """The runbook's own pending timers (reminders, looks again); a message held for working hours, such as
        the shipped config's note to the #config channel at night, is not one of them."""
        return [t.timer_id for t in self.states.timers(LIVE, status="pending") if ":deliver:" not in t.timer_id]


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Runbook]:
    """The site, the bot, Monday 09:00: nothing has arrived yet."""
    site = site_with_tickets(Site.load(EXAMPLES / "everbright" / "site.yaml"), [
        {"key": "CS-200", "summary": "Unrelated: new tax table for Colorado", "status": "To Do"}])
    clock = VirtualClock()
    slack = FakeSlack()
    slack.add_user(APPROVER_SLACK, APPROVER, "David Ellis")
    slack.add_channel("CADMIN")
    slack.add_channel("#config")  # the shipped config_team.channel
    with FakeJira(site, specs=load_specs(), now=clock.now()) as jira, urllib_via_requests():
        assert jira._mock is not None
        slack.install(jira._mock)
        book = Runbook(tmp_path, jira, slack, clock)
        clock.set(clock.now() + timedelta(hours=9))  # Monday 09:00
        yield book
        assert jira.violations == [] and slack.violations == []
        no_public_comment(jira)


def arrive_ss101(book: Runbook) -> ProcessReport:
    return book.create("SS-101", "EverBright Partner Onboarding", FORM, "ops@sunpeaksolar.example",
                       participants=("ops@sunpeaksolar.example",))


def arrive_cs201(book: Runbook) -> ProcessReport:
    """Jira's automation creates the CS ticket of SS-101."""
    return book.create("CS-201", "EverBright integrated finance setup: Sunpeak Solar",
                       "Created by automation from SS-101.", "automation@goeverbright.com", status="To Do",
                       issue_type="Task")


@pytest.fixture
def runbook(fresh: Runbook) -> Runbook:
    """SS-101 has arrived, CS-201 was created by Jira's automation, and Config just put CS-201 on hold."""
    arrive_ss101(fresh)
    fresh.advance(timedelta(minutes=2))
    arrive_cs201(fresh)
    fresh.advance(timedelta(days=1))
    fresh.set_status("CS-201", "On Hold")
    return fresh


def no_public_comment(jira: FakeJira) -> None:
    """The runbook's rule: customers are never copied — nothing the bot wrote is public."""
    public = [(i.key, c.body[:60]) for i in jira.issues.values() for c in i.comments
              if c.author == jira.bot.account_id and not c.internal]
    assert public == []


def approved(book: Runbook, via: str) -> None:
    cs = book.jira.ticket("CS-201")
    assert cs.status == "To Do"
    assert any(
        "please push the EverBright products live for Sunpeak Solar (SS-101)" in c for c in book.comments("CS-201")
    )
    assert any("approval to push live received from David Ellis" in c and via in c for c in book.comments("SS-101"))
    assert book.stage("SS-101") == "approved"
    assert book.pending_timers() == []  # the reminder is cancelled
    decision = book.states.get(LIVE, RULE, "SS-101").get("decision")
    assert decision["approved"] is True and via in decision["via"]


# steps 2–3 ------------------------------------------------------------------------------------------
def test_intake_and_the_config_ticket(runbook: Runbook) -> None:
    ss, jira = runbook.jira.ticket("SS-101"), runbook.jira
    assert jira.organization_names("SS-101") == ["Sunpeak Solar"]
    assert jira.request_type_name("SS-101") == "Company-specific Data Change"
    assert jira.field("SS-101", "Needs Configuration?") == "Integrated Finance"
    assert ss.reporter == jira.account_id("onboarding@goeverbright.com")
    assert set(ss.watchers) == {jira.account_id(APPROVER), jira.account_id(MANAGER)}
    assert ss.participants == []  # the customer is not copied
    # step 3: CS-201 linked and carrying the installer's name and contact; CS-200 left alone
    assert ("Relates", "SS-101", "CS-201") in runbook.links()
    assert jira.field("CS-201", "Installer name") == "Sunpeak Solar"
    assert jira.field("CS-201", "Installer contact email") == "ops@sunpeaksolar.example"
    assert jira.field("CS-200", "Installer name") is None
    assert runbook.states.get(LIVE, RULE, "SS-101").get("cs_key") == "CS-201"


def notes(report: ProcessReport) -> list[str]:
    return [n for r in report.rules if r.rule_id == RULE for n in r.result.evaluation.notes]


def test_a_cs_ticket_processed_before_its_onboarding_is_found_by_looking_again(fresh: Runbook) -> None:
    """Jira's automation creates CS the moment the intake sets "Needs Configuration?" (its first write), so
    CS-201 can be processed before SS-101's intake is recorded, with no other onboarding in intake at all."""
    first = arrive_cs201(fresh)
    assert fresh.pending_timers() == [f"{RULE}:CS-201:find-onboarding"]
    again = (fresh.clock.now() + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M UTC")
    assert any(f"looking again at {again} (attempt 1 of 6)" in n for n in notes(first)), notes(first)
    assert fresh.links() == set() and fresh.jira.field("CS-201", "Installer name") is None
    fresh.advance(timedelta(minutes=3))
    arrive_ss101(fresh)
    assert fresh.stage("SS-101") == "intake" and fresh.links() == set()  # not until the bot looks again
    fresh.advance(timedelta(minutes=7))  # find_config_ticket_every: 10 minutes after CS-201 arrived
    [look] = [r for r in fresh.reports if r.event.kind == TIMER_FIRED]
    assert look.event.ticket_key == "CS-201" and any("CS-201 is the config ticket of SS-101" in n
                                                     for n in notes(look))
    assert ("Relates", "SS-101", "CS-201") in fresh.links()
    assert fresh.jira.field("CS-201", "Installer name") == "Sunpeak Solar"
    assert fresh.jira.field("CS-201", "Installer contact email") == "ops@sunpeaksolar.example"
    assert fresh.stage("SS-101") == "configuring"
    assert fresh.states.get(LIVE, RULE, "SS-101").get("cs_key") == "CS-201"
    assert fresh.pending_timers() == []  # found: no further look
    fresh.advance(timedelta(days=1))  # and the runbook goes on from there
    fresh.set_status("CS-201", "On Hold")
    assert fresh.stage("SS-101") == "awaiting-approval"
    assert len([r for r in fresh.reports if r.event.kind == TIMER_FIRED]) == 1


def test_a_cs_ticket_no_onboarding_claims_gives_up_after_the_attempts_and_writes_nothing(fresh: Runbook) -> None:
    arrive_ss101(fresh)  # an onboarding in intake, but not this CS ticket's
    writes = len(fresh.jira.writes)
    created = fresh.clock.now()
    fresh.create("CS-300", "New tax table for Colorado", "Nothing to do with an onboarding.",
                 "automation@goeverbright.com", status="To Do", issue_type="Task")
    fresh.advance(timedelta(days=1))
    looks = [r for r in fresh.reports if r.event.kind == TIMER_FIRED and r.event.ticket_key == "CS-300"]
    # find_config_ticket_attempts (6) looks, find_config_ticket_every (10 min) apart, then no more
    assert [r.event.occurred_at - created for r in looks] == [timedelta(minutes=10 * n) for n in range(1, 7)]
    assert all("looking again" in n for r in looks[:-1] for n in notes(r))
    assert any("after 6 more look(s), 10 minutes apart: given up" in n for n in notes(looks[-1])), notes(looks[-1])
    assert fresh.pending_timers() == []
    # No noise: nothing written to Jira, no comment, no link, no alert.
    assert len(fresh.jira.writes) == writes and fresh.links() == set()
    assert fresh.comments("CS-300") == [] and fresh.slack.in_channel("CADMIN") == []
    assert fresh.stage("SS-101") == "intake"
    # Jira delivering the creation again (another webhook id) does not start the looks over.
    fresh.deliver(TICKET_CREATED, "CS-300", "automation@goeverbright.com")
    fresh.advance(timedelta(days=1))
    assert fresh.pending_timers() == []
    assert len([r for r in fresh.reports if r.event.kind == TIMER_FIRED and r.event.ticket_key == "CS-300"]) == 6


# steps 4→5: the question, the reminders, the four ways an approval arrives ------------------------
def test_on_hold_asks_the_approver_in_an_internal_comment_and_arms_the_reminder(runbook: Runbook) -> None:
    asked = [c for c in runbook.comments("SS-101") if "Are we approved to push the EverBright products live" in c]
    assert len(asked) == 1
    assert asked[0].startswith(f"[~accountid:{runbook.jira.account_id(APPROVER)}]")  # an @-mention, internal
    assert runbook.stage("SS-101") == "awaiting-approval"
    timer = runbook.states.timer(LIVE, f"{RULE}:SS-101:approval-reminder")
    # Asked on Friday 2 January at 04:02 in New York: one business day of the approver's calendar (Monday to
    # Friday 09:00-17:00 New York) is Monday 5 January at 09:00 there, not Saturday at 04:02.
    assert runbook.clock.now() == datetime(2026, 1, 2, 9, 2, tzinfo=UTC)
    assert timer.status == "pending" and timer.due_at == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    assert runbook.reminders() == []


def _until_reminder(runbook: Runbook, before: timedelta = timedelta(0)) -> None:
    """Let time pass up to ``before`` the pending reminder's due time."""
    timer = runbook.states.timer(LIVE, f"{RULE}:SS-101:approval-reminder")
    runbook.advance(timer.due_at - before - runbook.clock.now())


def test_no_answer_for_a_business_day_sends_a_slack_dm_with_buttons_then_repeats_then_alerts(
        runbook: Runbook) -> None:
    _until_reminder(runbook, before=timedelta(minutes=1))  # the weekend passes without a word
    assert runbook.reminders() == []
    runbook.advance(timedelta(minutes=1))
    [dm] = runbook.reminders()
    assert "SS-101" in dm["text"] and "Sunpeak Solar" in dm["text"]
    assert f"{runbook.jira.base_url}/browse/SS-101" in dm["text"]  # the ticket link
    buttons = [e for b in dm.get("blocks", []) for e in b.get("elements", []) if e.get("type") == "button"]
    assert {b["value"] for b in buttons} == {"SS-101"} and len(buttons) == 2
    runbook.advance(timedelta(hours=48))  # Tuesday, Wednesday: reminders 2 and 3 (approval_reminder_max: 3), the alert
    assert len(runbook.reminders()) == 3
    [alert] = runbook.slack.in_channel("CADMIN")
    assert "no approval" in alert["text"] and "SS-101" in alert["text"]
    runbook.advance(timedelta(days=5))
    assert len(runbook.reminders()) == 3 and len(runbook.slack.in_channel("CADMIN")) == 1
    assert runbook.jira.ticket("CS-201").status == "On Hold"  # nothing moved without an approval


@pytest.mark.parametrize("path", ["comment", "button", "command", "separate ticket"])
def test_each_approval_path_moves_cs_back_and_cancels_the_reminder(runbook: Runbook, path: str) -> None:
    runbook.advance(timedelta(hours=3))
    if path == "comment":
        runbook.comment("SS-101", APPROVER, "Approved - go ahead and push it live.")
        via = "comment"
    elif path in ("button", "command"):
        runbook.slack_event(APPROVAL_GIVEN, "SS-101", via=path)
        via = path
    else:
        runbook.create("SS-105", "Re: Sunpeak Solar go-live", "Approved, please push Sunpeak Solar live.\nDavid",
                       APPROVER)
        via = "separate ticket SS-105"
        dup = runbook.jira.ticket("SS-105")
        assert dup.status == "Closed" and dup.resolution == "Duplicate"
        assert ("Duplicate", "SS-105", "SS-101") in runbook.links()
        assert runbook.stage("SS-105") == "duplicate"
    approved(runbook, via)
    runbook.advance(timedelta(days=3))
    assert runbook.reminders() == []  # cancelled before it was due


def test_a_separate_ticket_without_an_approval_phrase_is_linked_and_closed_but_decides_nothing(
    runbook: Runbook,
) -> None:
    runbook.create("SS-106", "Question about SS-101", "Which products were configured for them?", APPROVER)
    assert runbook.jira.ticket("SS-106").resolution == "Duplicate"
    assert runbook.stage("SS-101") == "awaiting-approval" and runbook.jira.ticket("CS-201").status == "On Hold"


def test_a_comment_by_someone_else_or_without_a_decision_changes_nothing(runbook: Runbook) -> None:
    runbook.comment("SS-101", MANAGER, "Approved from my side!")  # not the approver
    runbook.comment("SS-101", APPROVER, "Looking into it today.")  # the approver, but no decision
    assert runbook.stage("SS-101") == "awaiting-approval"
    assert runbook.jira.ticket("CS-201").status == "On Hold"


@pytest.mark.parametrize("question", ["approved?", "Approved ?", "Is it OK to push live? Let me know.",
                                      "Can I say \"approved\"?\nStill checking the licence."])
def test_an_approval_phrase_in_a_question_is_no_approval(runbook: Runbook, question: str) -> None:
    runbook.comment("SS-101", APPROVER, question)
    assert runbook.stage("SS-101") == "awaiting-approval"
    assert runbook.jira.ticket("CS-201").status == "On Hold"
    runbook.comment("SS-101", APPROVER, "Checked: approved. Does it need anything else?")  # the statement counts
    approved(runbook, "comment")


def test_rejection_tags_the_account_manager_and_the_approver_and_transitions_nothing(runbook: Runbook) -> None:
    runbook.comment("SS-101", APPROVER, "Not approved yet: their state licence is still pending.")
    [note] = [c for c in runbook.comments("SS-101") if "did not approve" in c]
    jira = runbook.jira
    assert note.startswith(f"[~accountid:{jira.account_id(MANAGER)}] [~accountid:{jira.account_id(APPROVER)}]")
    assert "state licence is still pending" in note
    assert jira.ticket("CS-201").status == "On Hold"
    assert runbook.stage("SS-101") == "rejected" and runbook.pending_timers() == []
    runbook.slack_event(APPROVAL_REJECTED, "SS-101", via="command", reason="still no licence")  # a second one
    assert sum("did not approve" in c for c in runbook.comments("SS-101")) == 2
    runbook.advance(timedelta(days=2))
    runbook.comment("SS-101", APPROVER, "Licence arrived, approved.")  # a later approval still counts
    approved(runbook, "comment")


def test_a_rejection_by_separate_ticket_quotes_its_reason_escaped_once(runbook: Runbook) -> None:
    runbook.create("SS-107", "Re: Sunpeak Solar", "Not approved: licence [pending] for {Colorado}", APPROVER)
    assert runbook.stage("SS-107") == "duplicate" and runbook.stage("SS-101") == "rejected"
    [note] = [c for c in runbook.comments("SS-101") if "did not approve" in c]
    assert "via separate ticket SS-107" in note
    assert '"Not approved: licence \\[pending\\] for \\{Colorado\\}"' in note, note
    decision = runbook.states.get(LIVE, RULE, "SS-101").get("decision")
    assert decision["reason"] == "Not approved: licence [pending] for {Colorado}"  # data, not markup


# step 6 ------------------------------------------------------------------------------------------
def test_cs_done_tells_the_approver_and_closes_ss(runbook: Runbook) -> None:
    runbook.slack_event(APPROVAL_GIVEN, "SS-101", via="button")
    runbook.advance(timedelta(days=1))
    runbook.set_status("CS-201", "Done")
    ss = runbook.jira.ticket("SS-101")
    assert ss.status == "Closed" and ss.resolution == "Done"
    [live] = [c for c in runbook.comments("SS-101") if "products are live" in c]
    assert live.startswith(f"[~accountid:{runbook.jira.account_id(APPROVER)}]")
    assert runbook.stage("SS-101") == "closed"
    history = [h["stage"] for h in runbook.states.get(LIVE, RULE, "SS-101").history]
    assert history == ["intake", "configuring", "awaiting-approval", "approved", "closed"]
    writes = len(runbook.jira.writes)
    runbook.set_status("CS-201", "Done")  # Jira redelivers; nothing more happens
    assert len(runbook.jira.writes) == writes


def test_cs_done_before_any_approval_does_not_close_ss(runbook: Runbook) -> None:
    runbook.set_status("CS-201", "Done")
    assert runbook.jira.ticket("SS-101").status != "Closed" and runbook.stage("SS-101") == "awaiting-approval"


def test_cs_done_processed_before_the_approval_is_recorded_still_closes_ss(
        runbook: Runbook, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the soak benchmark found: the approval's plan has moved CS back to To Do and asked Config to push
    live, Config sets CS Done at once, and another worker processes that event before the first one records the
    approval. The inbox now orders an onboarding's events (tests/faults/test_instance_order.py), so this is left
    to an approval that is not (yet) one of them: a separate approval ticket, or an approval dead-lettered. The
    request to push live on CS says an approval is under way: ticketbot looks at CS again."""
    first = runbook.processor
    runbook.restart()  # a second worker on the same database
    other, runbook.processor = runbook.processor, first
    real_put = first.executor.states.put
    raced: list[ProcessReport] = []

    def put(*args: object, **kwargs: object) -> object:
        if kwargs.get("stage") == "approved" and not raced:
            assert runbook.jira.ticket("CS-201").status == "To Do"  # the approval's writes on CS are done
            runbook.processor = other
            raced.append(runbook.set_status("CS-201", "Done", by=CONFIG_PERSON))
            runbook.processor = first
            assert runbook.stage("SS-101") == "awaiting-approval"  # not recorded yet: the race
        return real_put(*args, **kwargs)

    monkeypatch.setattr(first.executor.states, "put", put)
    runbook.advance(timedelta(hours=2))
    runbook.comment("SS-101", APPROVER, "Approved, go ahead.")
    assert raced and runbook.stage("SS-101") == "approved"
    again = (runbook.clock.now() + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M UTC")
    assert any(f"looking again at {again} (attempt 1 of 6)" in n for n in notes(raced[0])), notes(raced[0])
    assert runbook.pending_timers() == [f"{RULE}:CS-201:cs-done-look-again"]

    runbook.advance(timedelta(minutes=10))  # find_config_ticket_every: the look again finds the approval
    ss = runbook.jira.ticket("SS-101")
    assert ss.status == "Closed" and ss.resolution == "Done" and runbook.stage("SS-101") == "closed"
    history = [h["stage"] for h in runbook.states.get(LIVE, RULE, "SS-101").history]
    assert history == ["intake", "configuring", "awaiting-approval", "approved", "closed"]
    # Every write once: CS back to To Do and the request to push live, SS's approval note, the live note, the close.
    assert runbook.jira.ticket("CS-201").status == "Done"
    assert sum("please push the EverBright products live" in c for c in runbook.comments("CS-201")) == 1
    assert sum("approval to push live received" in c for c in runbook.comments("SS-101")) == 1
    assert sum("products are live" in c for c in runbook.comments("SS-101")) == 1
    transitions = [w for w in runbook.jira.writes if w[1].endswith("/transitions")]
    assert sorted(w[1].split("/")[-2] for w in transitions) == ["CS-201", "SS-101"]  # CS to To Do, SS closed
    writes = len(runbook.jira.writes)
    runbook.set_status("CS-201", "Done")  # Jira redelivers; time passes: nothing more happens
    runbook.advance(timedelta(days=2))
    assert len(runbook.jira.writes) == writes and runbook.pending_timers() == [] and runbook.reminders() == []


def test_cs_done_before_any_approval_arms_no_look_again_and_the_approval_moves_it_back(runbook: Runbook) -> None:
    """Config early: no approval is under way (CS carries no request to push live), so looking again cannot help."""
    runbook.set_status("CS-201", "Done")
    writes = len(runbook.jira.writes)
    [report] = [r for r in runbook.reports if r.event.ticket_key == "CS-201"][-1:]
    assert any("before any approval of SS-101: nothing to look at again" in n for n in notes(report)), notes(report)
    runbook.advance(timedelta(hours=2))
    assert [r for r in runbook.reports if r.event.kind == TIMER_FIRED and r.event.ticket_key == "CS-201"] == []
    assert len(runbook.jira.writes) == writes and runbook.stage("SS-101") == "awaiting-approval"
    assert runbook.pending_timers() == [f"{RULE}:SS-101:approval-reminder"]
    runbook.comment("SS-101", APPROVER, "Approved, go ahead.")  # the approval asks Config again
    approved(runbook, "comment")
    runbook.set_status("CS-201", "Done")
    assert runbook.jira.ticket("SS-101").status == "Closed" and runbook.stage("SS-101") == "closed"


# which onboarding a ticket names (steps 3 and 5) --------------------------------------------------------
class ListedStates:
    """The rule's view of its records, over a list: what is under test is the matching, not the store."""

    def __init__(self, states: list[RuleState]) -> None:
        self.states = states

    def get(self, ticket_key: str) -> RuleState | None:
        return next((st for st in self.states if st.ticket_key == ticket_key), None)

    def find(self, *, stages: Sequence[str] = (), **data: object) -> list[RuleState]:
        return [st for st in self.states if (not stages or st.stage in stages)
                and all(st.data.get(k) == v for k, v in data.items())]


BOUND = next(b for b in load_rules(CONFIG) if b.id == RULE)
SITE = Site.load(EXAMPLES / "everbright" / "site.yaml")


def named(text: str, states: list[RuleState] | StateView, *, config_ticket: bool = False) -> list[str]:
    """The onboardings that a new SS ticket from the approver (step 5), or an edited CS ticket (step 3), with
    ``text`` as its summary is found to name: the observation of the rule's matching verdict. ``states``: the
    rule's records, as a list or as its view of a store."""
    when = datetime(2026, 11, 2, tzinfo=UTC)
    key, kind = ("CS-999999", TICKET_UPDATED) if config_ticket else ("SS-999999", TICKET_CREATED)
    ticket = Ticket(key=key, project=key.split("-")[0], summary=text, description="", reporter=User(email=APPROVER))
    ctx = RuleContext(reader=MemoryTracker(SITE), clock=VirtualClock(when), config=BOUND.config,
                      state=ListedStates(states) if isinstance(states, list) else states)  # type: ignore[arg-type]
    evaluation = BOUND.rule.evaluate(Event(id="e1", source="test", kind=kind, ticket_key=key, occurred_at=when),
                                     ticket, ctx)
    name = "onboarding in intake naming this CS ticket" if config_ticket else "names one open onboarding"
    [verdict] = [v for v in evaluation.verdicts if v.name == name]
    return list(verdict.observed)


def named_before(text: str, states: list[RuleState]) -> list[str]:
    """The matching as it was: one ``\\b<key>\\b`` search per onboarding (any case), or the installer's name."""
    text = normalize_text(text)
    return [st.ticket_key for st in states
            if re.search(rf"\b{re.escape(st.ticket_key.casefold())}\b", text)
            or (st.get("installer") and normalize_text(st.get("installer")) in text)]


def onboardings(keys: Sequence[str], stage: str) -> list[RuleState]:
    return [RuleState(RULE, key, stage, {"installer": f"Installer {key}"}) for key in keys]


KEYS = ["SS-1", "SS-10", "SS-101", "SS-1010", "ss-7", "CS-SS-5", "AB_2-3", "SS-101-2", "101-2", "X.Y-1", "SS-é1"]
TEXTS = ["SS-101 approved", "re: ss-101.", "(SS-101)", "xSS-101", "SS-1010", "SS-101_a", "SS-101-2", "cs-ss-5",
         "SS\u2010101", "ÉSS-101", "SS-10 and SS-101", "ss-1, ss-10; SS-7!", "ab_2-3", "x.y-1", "ss-é1",
         "approved for installer ss-101 SOLAR", "Installer SS-1010 done", "SS - 101", "SS-101SS-10", ""]


@pytest.mark.parametrize("config_ticket", [False, True], ids=["approver ticket", "CS ticket"])
def test_a_ticket_names_the_same_onboardings_as_before(config_ticket: bool) -> None:
    """Whole-word SS keys in any case, or installer names: the same matches as one regex per onboarding."""
    states = onboardings(KEYS, "intake" if config_ticket else "awaiting-approval")
    rng = random.Random(3)
    edges, joins = ["", "", "", "x", "-", "(", "É", "_", ".", "1"], [" ", "", ",", "-", ".", "\n"]

    def token() -> str:  # a key-like token with random case, edges and separators
        return (
            rng.choice(edges)
            + rng.choice(["SS", "ss", "Ss", "cs", "ab_2", "x.y", "101"])
            + rng.choice(["-", "-", "\u2010", "_", ""])
            + rng.choice(["1", "10", "101", "1010", "5", "7", "é1", "101-2"])
            + rng.choice(edges)
        )

    fuzz = [rng.choice(joins).join(token() for _ in range(rng.randint(1, 4))) for _ in range(1000)]
    for text in TEXTS + fuzz:
        assert named(text, states, config_ticket=config_ticket) == named_before(text, states), text
    assert named("Re: ss-101 approved", states, config_ticket=config_ticket) == ["SS-101"]
    assert named("installer ss-7 ok", states, config_ticket=config_ticket) == ["ss-7"]


@pytest.mark.parametrize("config_ticket", [False, True], ids=["approver ticket", "CS ticket"])
def test_what_a_ticket_names_follows_the_records_as_they_change(config_ticket: bool) -> None:
    """What is worked out of an onboarding's key and installer is kept between events: it must follow its
    record when the installer changes, and the onboarding must drop out when it leaves the stages looked at."""
    states = BufferedStateStore(Store("sqlite://"), "test")
    at = datetime(2026, 11, 2, tzinfo=UTC)
    stage = "intake" if config_ticket else "awaiting-approval"
    for key, installer in (("SS-1", "Alpha  Solar"), ("SS-2", "Beta Solar")):
        states.put("test", RULE, key, stage=stage, data={"installer": installer}, at=at)
    view = StateView(states, "test", RULE)
    assert named("Approved for ALPHA solar", view, config_ticket=config_ticket) == ["SS-1"]
    states.put("test", RULE, "SS-1", stage="", data={"installer": "Gamma Solar"}, at=at)
    assert named("Approved for alpha solar", view, config_ticket=config_ticket) == []
    assert named("Approved for gamma solar and beta solar", view, config_ticket=config_ticket) == ["SS-1", "SS-2"]
    states.put("test", RULE, "SS-2", stage="closed", data={}, at=at)
    assert named("SS-2 approved, beta solar", view, config_ticket=config_ticket) == []
    states.put("test", RULE, "SS-3", stage=stage, data={"installer": "Beta Solar"}, at=at)
    assert named("ss-1 approved, beta solar", view, config_ticket=config_ticket) == ["SS-1", "SS-3"]


def test_naming_an_onboarding_compiles_no_regex_per_open_onboarding(monkeypatch: pytest.MonkeyPatch) -> None:
    """One regex per open onboarding overflowed re's cache (512) with thousands open: 393k compiles in a 20k-event
    replay. The patterns the rule hands to ``re`` while matching must not grow with the onboardings."""
    patterns: list[object] = []

    class CountingRe:
        def __getattr__(self, name: str) -> object:
            attr = getattr(re, name)
            if name not in ("compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"):
                return attr

            def call(pattern: object, *args: object, **kwargs: object) -> object:
                patterns.append(pattern)
                return attr(pattern, *args, **kwargs)
            return call

    monkeypatch.setattr(everbright_onboarding, "re", CountingRe())
    compiled = {}
    for n in (10, 1000):
        patterns.clear()
        keys = [f"SS-{i}" for i in range(1, n + 1)]
        assert named(f"SS-{n} approved", onboardings(keys, "awaiting-approval")) == [f"SS-{n}"]
        assert named(f"set up for SS-{n}", onboardings(keys, "intake"), config_ticket=True) == [f"SS-{n}"]
        compiled[n] = len(set(patterns))
    assert compiled[1000] == compiled[10] <= 2, compiled


# customer communication ------------------------------------------------------------------------------
def test_customer_comms_by_label_and_by_command_tag_manager_and_approver(runbook: Runbook) -> None:
    runbook.jira.ticket("SS-101").labels.append("needs-customer-comms")
    runbook.deliver(TICKET_UPDATED, "SS-101", MANAGER, changes=(Change("labels", "", "needs-customer-comms"),))
    runbook.deliver(TICKET_UPDATED, "SS-101", MANAGER, changes=(Change("summary", "x", "y"),))  # label still there
    runbook.deliver(COMMS_REQUESTED, "SS-101", MANAGER, payload={"reason": "not ready to launch in Colorado"})
    notes = [c for c in runbook.comments("SS-101") if "Customer communication is needed" in c]
    jira = runbook.jira
    assert len(notes) == 2
    assert all(n.startswith(f"[~accountid:{jira.account_id(MANAGER)}] [~accountid:{jira.account_id(APPROVER)}]")
               for n in notes)
    assert "not ready to launch in Colorado" in notes[1]
    assert set(jira.ticket("SS-101").participants) == set()  # still no customer on the ticket


# durability ------------------------------------------------------------------------------------------
def test_a_restart_during_the_wait_keeps_the_timer_and_it_fires_once(runbook: Runbook) -> None:
    runbook.advance(timedelta(hours=10))
    runbook.restart()  # a new process: new store engine, clients and processor; the same database
    _until_reminder(runbook)
    assert len(runbook.reminders()) == 1
    runbook.restart()
    runbook.advance(timedelta(seconds=1))
    assert len(runbook.reminders()) == 1  # fired once, not again after the restart


def test_a_timer_overdue_after_downtime_fires_once(runbook: Runbook) -> None:
    due = runbook.states.timer(LIVE, f"{RULE}:SS-101:approval-reminder").due_at
    runbook.clock.set(due + timedelta(hours=6))  # the bot was down past the due time
    runbook.restart()
    runbook.advance(timedelta(0))
    assert len(runbook.reminders()) == 1
    runbook.advance(timedelta(hours=1))
    assert len(runbook.reminders()) == 1


def test_reminders_in_business_time_wait_for_the_approvers_working_day(fresh: Runbook, tmp_path: Path) -> None:
    """approval_reminder_after/every in business days, through the block's calendar (New York, US holidays):
    CS on hold on Friday at 16:00 in New York, the first reminder comes on Monday at 16:00, not on Saturday."""
    config = tmp_path / "ticketbot.yaml"
    config.write_text(EVERBRIGHT_ONLY.read_text(encoding="utf-8").replace(
        "    approval_reminder_after: 24h\n",
        "    approval_reminder_after: 1 business day\n    approval_reminder_every: 1 business day\n").replace(
        '    calendar: {working_days: mon-sun, start: "00:00", end: "24:00"}\n', ""),  # the default: New York's
        encoding="utf-8")
    fresh.config = config
    fresh.restart()
    arrive_ss101(fresh)
    fresh.advance(timedelta(minutes=2))
    arrive_cs201(fresh)
    friday_4pm_new_york = datetime(2026, 11, 6, 21, 0, tzinfo=UTC)
    fresh.advance(friday_4pm_new_york - fresh.clock.now())
    fresh.set_status("CS-201", "On Hold")
    assert any("ticketbot will follow up in Slack after 1 business day" in c for c in fresh.comments("SS-101"))
    [timer] = fresh.states.timers(LIVE, "SS-101", status="pending")
    assert timer.due_at == datetime(2026, 11, 9, 21, 0, tzinfo=UTC)  # Monday 16:00 in New York
    fresh.advance(datetime(2026, 11, 9, 20, 59, tzinfo=UTC) - fresh.clock.now())
    assert fresh.reminders() == []  # nothing over the weekend
    fresh.advance(timedelta(minutes=2))
    assert len(fresh.reminders()) == 1
    [again] = fresh.states.timers(LIVE, "SS-101", status="pending")
    assert again.due_at == datetime(2026, 11, 10, 21, 0, tzinfo=UTC)  # the next working day, same time


def test_a_delay_that_is_no_duration_is_refused_naming_its_key(tmp_path: Path) -> None:
    config = tmp_path / "ticketbot.yaml"
    config.write_text(EVERBRIGHT_ONLY.read_text(encoding="utf-8").replace(
        "    approval_reminder_after: 24h\n", "    approval_reminder_after: one business day-ish\n"),
        encoding="utf-8")
    with pytest.raises(ConfigurationError, match="rules.everbright_onboarding.approval_reminder_after"):
        load_rules(config)
