"""Config hears that it is asked to push live (seed step 5, issue 15 §3.3): ``config_team.mention`` is
@-mentioned in the internal comment on CS, ``config_team.channel`` gets a Slack message with a link to CS,
in working hours like every team-channel message. Without either, nothing changes.

Real parts as in the other EverBright tests: fake Jira and fake Slack (spec-checked), SQLite, virtual clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.model import APPROVAL_GIVEN
from tests.rules.test_everbright_approvers import DAVID, make, on_hold, slack_decision, world
from tests.rules.test_everbright_runbook import Runbook

__all__ = ["world"]  # the fixture, used by the tests below

LENA = "lena.config@goeverbright.com"
OFFICE_HOURS = {"time_zone": "America/New_York", "country": "US"}  # Mon-Fri 09:00-17:00


def ask_config(book: Runbook) -> str:
    [body] = [c for c in book.comments("CS-201") if "please push the EverBright products live" in c]
    return body


def test_the_config_person_is_mentioned_on_cs_and_the_channel_told_with_a_link(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, config_team={"mention": LENA, "channel": "C0CONFIG"})
    on_hold(book)
    book.comment("SS-101", DAVID, "Approved.")
    assert book.jira.ticket("CS-201").status == "To Do"
    body = ask_config(book)
    assert re.match(rf"\[~accountid:{re.escape(book.jira.account_id(LENA))}\] Approved by David Ellis", body)
    [told] = book.slack.in_channel("C0CONFIG")
    assert "Sunpeak Solar (SS-101) approved by David Ellis: please push the products live" in told["text"]
    assert f"CS-201 ({book.jira.base_url}/browse/CS-201)" in told["text"]
    book.advance(timedelta(days=2))  # and only once, however the onboarding goes on
    book.set_status("CS-201", "Done")
    assert len(book.slack.in_channel("C0CONFIG")) == 1 and book.stage("SS-101") == "closed"


def test_only_a_mention_or_only_a_channel(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, config_team={"mention": LENA})
    on_hold(book)
    slack_decision(book, APPROVAL_GIVEN, DAVID)
    assert book.jira.account_id(LENA) in ask_config(book) and book.slack.in_channel("C0CONFIG") == []


def test_without_a_config_team_nothing_changes(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world)
    on_hold(book)
    book.comment("SS-101", DAVID, "Approved.")
    assert ask_config(book).startswith("Approved by David Ellis")  # no mention
    assert book.slack.in_channel("C0CONFIG") == []


def test_the_channel_message_waits_for_working_hours(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, config_team={"channel": "C0CONFIG"}, calendar=OFFICE_HOURS)
    on_hold(book)
    book.clock.set(datetime(2026, 1, 3, 15, 0, tzinfo=UTC))  # Saturday
    book.comment("SS-101", DAVID, "Approved.")
    assert book.jira.ticket("CS-201").status == "To Do"  # the ticket work is not held
    assert book.slack.in_channel("C0CONFIG") == []
    book.advance(timedelta(days=2))  # Monday 09:00 in New York = 14:00 UTC
    [told] = book.slack.in_channel("C0CONFIG")
    assert "please push the products live" in told["text"]


def test_a_held_channel_message_is_dropped_when_the_onboarding_closed_meanwhile(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, config_team={"channel": "C0CONFIG"}, calendar=OFFICE_HOURS)
    on_hold(book)
    book.clock.set(datetime(2026, 1, 3, 15, 0, tzinfo=UTC))  # Saturday: Config works anyway
    book.comment("SS-101", DAVID, "Approved.")
    book.advance(timedelta(hours=1))
    book.set_status("CS-201", "Done")
    assert book.stage("SS-101") == "closed"
    book.advance(timedelta(days=2))
    assert book.slack.in_channel("C0CONFIG") == []  # moot: Config already pushed live
