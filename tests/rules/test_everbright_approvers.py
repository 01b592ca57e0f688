"""EverBright approvals with several approvers, each with a stand-in while away (issue 15 §3.2).

Real parts: the Jira adapter on the stateful fake Jira (spec-checked), the Slack notifier on the fake Slack
(spec-checked, users.profile.get for the status), rule state and timers in SQLite, the virtual clock.
Away is a date range in the block (inclusive, in the calendar's time zone) or the approver's Slack status.
Assertions are on the tickets (comments, mentions, statuses, watchers), the Slack DMs and the recorded
decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.clock import VirtualClock
from bot.model import APPROVAL_GIVEN, APPROVAL_REJECTED, Event, User
from bot.pipeline import ProcessReport
from bot.settings import ConfigurationError
from bot.state import RuleState
from bot.store import LIVE
from bot.trackers.site import Site
from rules import load_rules
from rules.everbright_onboarding import EverBrightOnboarding
from tests.fakes.fake_jira import FakeJira, load_specs, site_with_tickets
from tests.fakes.fake_slack import FakeSlack, urllib_via_requests
from tests.rules.test_everbright_runbook import RULE, Runbook, arrive_cs201, arrive_ss101, no_public_comment
from tests.support.paths import EVERBRIGHT_ONLY, EXAMPLES

DAVID, DAVID_SLACK = "david.ellis@goeverbright.com", "U0DAVID"
SAM, SAM_SLACK = "sam.stone@goeverbright.com", "U0SAM"  # the second approver
RITA, RITA_SLACK = "rita.ray@goeverbright.com", "U0RITA"  # David's stand-in
OMAR, OMAR_SLACK = "omar.nash@goeverbright.com", "U0OMAR"  # Sam's stand-in over the holidays
PEOPLE = {DAVID: ("5b10a2844c20165700ede21g", "David Ellis", DAVID_SLACK), SAM: ("acc-sam", "Sam Stone", SAM_SLACK),
          RITA: ("acc-rita", "Rita Ray", RITA_SLACK), OMAR: ("acc-omar", "Omar Nash", OMAR_SLACK)}
#: The virtual clock starts Thursday 2026-01-01 00:00 UTC; the fixture moves it to 09:00.
HOLIDAYS = {"from": "2025-12-22", "to": "2026-01-04"}


def block(**changes: Any) -> dict[str, Any]:
    """The EverBright block of tests/everbright_only.yaml (24 h reminders, round-the-clock calendar), changed."""
    data = yaml.safe_load(EVERBRIGHT_ONLY.read_text())["rules"][RULE]
    data.pop("approver")
    data["approvers"] = [{"email": DAVID, "stand_in": RITA}, {"email": SAM}]
    return {**data, **changes}


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "ticketbot.yaml"
    path.write_text(yaml.safe_dump({"rules": {RULE: data}}))
    return path


def site() -> Site:
    data = Site.load(EXAMPLES / "everbright" / "site.yaml").model_dump(by_alias=True)
    known = {u["email"] for u in data["users"]}
    data["users"] += [{"account_id": acc, "email": email, "display_name": name}
                      for email, (acc, name, _) in PEOPLE.items() if email not in known]
    return Site.model_validate(data)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeJira, FakeSlack, VirtualClock]]:
    clock = VirtualClock()
    slack = FakeSlack()
    for email, (_, name, slack_id) in PEOPLE.items():
        slack.add_user(slack_id, email, name)
    slack.add_channel("CADMIN")
    slack.add_channel("C0CONFIG")
    with FakeJira(site_with_tickets(site(), []), specs=load_specs(), now=clock.now()) as jira, urllib_via_requests():
        assert jira._mock is not None
        slack.install(jira._mock)
        clock.set(clock.now() + timedelta(hours=9))
        yield jira, slack, clock
        assert jira.violations == [] and slack.violations == []
        no_public_comment(jira)


def make(tmp_path: Path, world: tuple[FakeJira, FakeSlack, VirtualClock], **changes: Any) -> Runbook:
    jira, slack, clock = world
    book = Runbook(tmp_path, jira, slack, clock)
    book.config = write_config(tmp_path, block(**changes))
    book.restart()
    return book


def on_hold(book: Runbook) -> None:
    """SS-101 arrives, CS-201 is created and linked, Config puts it on hold: the approval is asked."""
    arrive_ss101(book)
    book.advance(timedelta(minutes=2))
    arrive_cs201(book)
    book.advance(timedelta(hours=2))
    book.set_status("CS-201", "On Hold")
    assert book.stage("SS-101") == "awaiting-approval"


def ask(book: Runbook) -> str:
    [body] = [c for c in book.comments("SS-101") if "Are we approved to push" in c]
    return body


def mentioned(book: Runbook, body: str) -> set[str]:
    ids = {acc: email for email, (acc, _, _) in PEOPLE.items()}
    return {ids[a] for a in re.findall(r"\[~accountid:([^\]]+)\]", body) if a in ids}


def slack_decision(book: Runbook, kind: str, email: str, *, role: str = "approver", via: str = "button",
                   reason: str = "") -> ProcessReport:
    """A decision as BotServices queues it from Slack: the clicker's member id and e-mail, and its role."""
    slack_id = PEOPLE[email][2]
    event = Event(id=f"{kind}:SS-101:{slack_id}:{next(book.ids)}", source="slack", kind=kind, ticket_key="SS-101",
                  occurred_at=book.clock.now(), actor=User(email=email, display_name=slack_id),
                  payload={"via": via, "slack_user": slack_id, "email": email, "role": role, "reason": reason})
    report = book._process(event)
    book.reports.append(report)
    return report


def decision(book: Runbook) -> dict[str, Any]:
    state = book.states.get(LIVE, RULE, "SS-101")
    assert isinstance(state, RuleState)
    return dict(state.get("decision"))


# configuration ------------------------------------------------------------------------------------------
def test_approver_still_works_as_a_list_of_one_and_both_keys_are_an_error(tmp_path: Path) -> None:
    [bound] = load_rules(EVERBRIGHT_ONLY)
    assert [a.email for a in bound.config.approvers] == [DAVID]  # type: ignore[attr-defined]
    data = block()
    data["approver"] = {"email": DAVID}
    with pytest.raises(ConfigurationError, match="approver and approvers are both set"):
        load_rules(write_config(tmp_path, data))


def test_an_away_range_that_ends_before_it_starts_is_a_configuration_error(tmp_path: Path) -> None:
    data = block(approvers=[{"email": DAVID, "away": [{"from": "2026-01-04", "to": "2026-01-02",
                                                        "stand_in": RITA}]}])
    with pytest.raises(ConfigurationError, match=r"approvers\.0\.away\.0.*'to' \(2026-01-02\) is before 'from'"):
        load_rules(write_config(tmp_path, data))


def test_slack_lets_every_approver_and_stand_in_decide_and_check_resolves_them(tmp_path: Path) -> None:
    data = block(approvers=[{"email": DAVID, "stand_in": RITA},
                            {"email": SAM, "away": [{**HOLIDAYS, "stand_in": OMAR}]}])
    [bound] = load_rules(write_config(tmp_path, data))
    rule = EverBrightOnboarding()
    assert [e for e, _ in rule.approvers(bound.config)] == [DAVID, SAM, RITA, OMAR]  # type: ignore[arg-type]
    sources = {(r.kind, r.name): r.source for r in rule.requirements(bound.config)}  # type: ignore[arg-type]
    assert sources[("user", SAM)] == "rules.everbright_onboarding.approvers[1].email"
    assert sources[("user", RITA)] == "rules.everbright_onboarding.approvers[0].stand_in.email"
    assert sources[("slack_user", OMAR)] == "rules.everbright_onboarding.approvers[1].away[0].stand_in.email"


# two approvers, both present ----------------------------------------------------------------------------
def test_both_approvers_watch_are_asked_and_reminded_and_either_decides(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    on_hold(book)
    jira, slack = book.jira, book.slack
    assert {jira.account_id(DAVID), jira.account_id(SAM)} <= set(jira.ticket("SS-101").watchers)
    body = ask(book)
    assert mentioned(book, body) == {DAVID, SAM} and "any one of you may decide" in body
    book.advance(timedelta(hours=24))  # no answer: both get the Slack reminder
    assert len(slack.dm(DAVID_SLACK)) == 1 and len(slack.dm(SAM_SLACK)) == 1
    assert "standing in" not in slack.dm(SAM_SLACK)[0]["text"]
    book.comment("SS-101", SAM, "Approved, go ahead.")  # the second approver decides
    assert book.stage("SS-101") == "approved" and jira.ticket("CS-201").status == "To Do"
    assert decision(book)["by"] == "Sam Stone" and "for" not in decision(book)
    book.advance(timedelta(hours=48))
    assert len(slack.dm(DAVID_SLACK)) == 1 and len(slack.dm(SAM_SLACK)) == 1  # no reminder after the decision


# away by dates ------------------------------------------------------------------------------------------
def test_an_approver_away_by_dates_is_replaced_by_the_stand_in_everywhere(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [{**HOLIDAYS, "stand_in": RITA}]},
                                            {"email": SAM}])
    on_hold(book)
    body = ask(book)
    assert mentioned(book, body) == {RITA, SAM}  # not David: he is away
    assert "Rita Ray stands in for David Ellis (away December 22, 2025 to January 4, 2026)" in body
    book.advance(timedelta(hours=24))
    [to_rita] = book.slack.dm(RITA_SLACK)
    assert "You are standing in for David Ellis (away December 22, 2025 to January 4, 2026)" in to_rita["text"]
    assert book.slack.dm(DAVID_SLACK) == [] and len(book.slack.dm(SAM_SLACK)) == 1
    book.comment("SS-101", RITA, "Approved.")  # the stand-in decides, for David
    assert book.stage("SS-101") == "approved"
    assert decision(book)["by"] == "Rita Ray" and decision(book)["for"] == DAVID
    [note] = [c for c in book.comments("SS-101") if "approval to push live received" in c]
    assert "Rita Ray (standing in for David Ellis, away December 22, 2025 to January 4, 2026)" in note


def test_the_range_is_inclusive_in_the_calendars_time_zone(tmp_path: Path, world: Any) -> None:
    """Away until 2026-01-01 in New York: 2026-01-02 03:00 UTC is still the 1st there, 05:00 UTC is not."""
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [
        {"from": "2025-12-22", "to": "2026-01-01", "stand_in": RITA}]}],
        calendar={"time_zone": "America/New_York", "working_days": "mon-sun", "start": "00:00", "end": "24:00"})
    arrive_ss101(book)
    arrive_cs201(book)
    book.clock.set(datetime(2026, 1, 2, 3, 0, tzinfo=UTC))  # 22:00 on the 1st in New York
    book.set_status("CS-201", "On Hold")
    assert mentioned(book, ask(book)) == {RITA}
    book.advance(timedelta(hours=2))  # 00:00 on the 2nd in New York: David is back
    book.comment("SS-101", RITA, "Approved.")
    assert book.stage("SS-101") == "awaiting-approval"  # Rita no longer stands in
    [told] = [c for c in book.comments("SS-101") if "was not taken as a decision" in c]
    assert "Rita Ray" in told and "David Ellis" in told
    book.comment("SS-101", DAVID, "Approved.")
    assert book.stage("SS-101") == "approved" and decision(book)["by"] == "David Ellis"


def test_a_stand_in_comment_while_the_approver_is_present_is_answered_once_and_not_taken(
        tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)  # David's stand-in is Rita, but David is not away
    on_hold(book)
    report = book.comment("SS-101", RITA, "Approved from my side.")
    assert book.stage("SS-101") == "awaiting-approval"
    assert len([c for c in book.comments("SS-101") if "was not taken as a decision" in c]) == 1
    book._process(report.event)  # the same webhook again: nothing new
    assert len([c for c in book.comments("SS-101") if "was not taken as a decision" in c]) == 1
    book.comment("SS-101", RITA, "Any news on this one?")  # not a decision: no answer
    assert len([c for c in book.comments("SS-101") if "was not taken as a decision" in c]) == 1


# away by Slack status -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "emoji"), [("Out of office", ""), ("", ":palm_tree:"), ("On vacation!", ""),
                                             ("OOO until Monday", ":airplane:")])
def test_an_away_slack_status_hands_the_approval_to_the_stand_in(tmp_path: Path, world: Any, text: str,
                                                                  emoji: str) -> None:
    book = make(tmp_path, world)
    book.slack.set_status(DAVID_SLACK, text, emoji)
    on_hold(book)
    assert mentioned(book, ask(book)) == {RITA, SAM}
    slack_decision(book, APPROVAL_GIVEN, RITA)  # Rita's Approve button counts, for David
    assert book.stage("SS-101") == "approved"
    assert decision(book)["by"] == RITA_SLACK and decision(book)["for"] == DAVID


@pytest.mark.parametrize(("text", "emoji"), [("In a meeting", ":calendar:"), ("Zoom call", ""),
                                             ("Back from vacation", "")])
def test_other_statuses_are_present(tmp_path: Path, world: Any, text: str, emoji: str) -> None:
    book = make(tmp_path, world)
    book.slack.set_status(DAVID_SLACK, text, emoji)
    on_hold(book)
    if "vacation" in text:  # a status naming the word is read as away: the phrase decides, not the intent
        assert mentioned(book, ask(book)) == {RITA, SAM}
    else:
        assert mentioned(book, ask(book)) == {DAVID, SAM}


def test_an_expired_status_is_ignored(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    expired = int((book.clock.now() - timedelta(hours=1)).timestamp())
    book.slack.set_status(DAVID_SLACK, "Out of office", ":palm_tree:", expired)
    on_hold(book)
    assert mentioned(book, ask(book)) == {DAVID, SAM}


def test_a_status_that_expires_later_counts_until_then(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    book.slack.set_status(DAVID_SLACK, "Out of office", "", int((book.clock.now() + timedelta(days=3)).timestamp()))
    on_hold(book)
    assert mentioned(book, ask(book)) == {RITA, SAM}


def test_slack_failing_means_not_known_away_and_the_runbook_goes_on(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    book.slack.set_status(DAVID_SLACK, "Out of office")
    arrive_ss101(book)
    arrive_cs201(book)
    book.advance(timedelta(hours=1))
    book.slack.unreachable = True
    report = book.set_status("CS-201", "On Hold")
    assert book.stage("SS-101") == "awaiting-approval"
    assert mentioned(book, ask(book)) == {DAVID, SAM}  # away not known: David is asked
    notes = [n for r in report.rules for n in r.result.evaluation.notes]
    assert any("Slack status of david.ellis@goeverbright.com is unknown" in n and "taken as present" in n
               for n in notes), notes


def test_a_stand_in_clicking_approve_while_the_approver_is_present_is_told_why_in_slack(
        tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    on_hold(book)
    slack_decision(book, APPROVAL_REJECTED, RITA, via="command", reason="not yet")
    assert book.stage("SS-101") == "awaiting-approval"
    [told] = book.slack.dm(RITA_SLACK)
    assert "Your rejection of SS-101 was not taken: you stand in for David Ellis only while they are away" \
        in told["text"]
    slack_decision(book, APPROVAL_GIVEN, DAVID)  # David himself: taken
    assert book.stage("SS-101") == "approved" and decision(book)["by"] == DAVID_SLACK


def test_an_admin_decision_in_slack_is_taken_as_before(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    on_hold(book)
    slack_decision(book, APPROVAL_GIVEN, RITA, role="admin")  # Rita is also a ticketbot admin
    assert book.stage("SS-101") == "approved" and "for" not in decision(book)


def test_a_separate_approval_ticket_from_an_active_stand_in_is_a_decision(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [{**HOLIDAYS, "stand_in": RITA}]}])
    on_hold(book)
    book.create("SS-150", "Re: EverBright onboarding SS-101", "Approved - go ahead with Sunpeak Solar.", RITA)
    assert book.jira.ticket("SS-150").status == "Closed"
    assert ("Duplicate", "SS-150", "SS-101") in book.links()
    assert book.stage("SS-101") == "approved" and decision(book)["for"] == DAVID
    assert "separate ticket SS-150" in decision(book)["via"]


def test_everyone_away_without_a_stand_in_still_asks_the_approvers(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [HOLIDAYS]}, {"email": SAM, "away": [HOLIDAYS]}])
    on_hold(book)
    assert mentioned(book, ask(book)) == {DAVID, SAM}
    book.advance(timedelta(hours=24))
    assert len(book.slack.dm(DAVID_SLACK)) == 1 and len(book.slack.dm(SAM_SLACK)) == 1


def test_the_escalation_names_everyone_reminded(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [{**HOLIDAYS, "stand_in": RITA}]},
                                            {"email": SAM}], approval_reminder_max=1)
    on_hold(book)
    book.advance(timedelta(hours=24))
    [alert] = book.slack.in_channel("CADMIN")
    assert f"{RITA} (for {DAVID}), {SAM}" in alert["text"]


def test_the_stand_in_is_asked_once_the_range_begins_and_the_approver_after_it_ends(tmp_path: Path,
                                                                                      world: Any) -> None:
    """Reminders are addressed afresh each time: the range starts between the question and the reminder."""
    book = make(tmp_path, world, approvers=[{"email": DAVID, "away": [
        {"from": "2026-01-02", "to": "2026-01-02", "stand_in": RITA}]}], approval_reminder_max=3)
    on_hold(book)  # Thursday the 1st: David is here
    assert mentioned(book, ask(book)) == {DAVID}
    book.advance(timedelta(hours=24))  # Friday the 2nd (New York): Rita
    assert len(book.slack.dm(RITA_SLACK)) == 1 and book.slack.dm(DAVID_SLACK) == []
    book.advance(timedelta(hours=24))  # Saturday the 3rd: David again
    assert len(book.slack.dm(RITA_SLACK)) == 1 and len(book.slack.dm(DAVID_SLACK)) == 1
