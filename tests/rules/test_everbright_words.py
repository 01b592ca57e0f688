"""EverBright's words (issue 15 §2): every text the rule writes is a named template in English (the team is in the
US); a block rewords any of them under ``templates:``; a template naming a value it cannot have, an unknown template
or language stops the rules from loading, naming the key; moments and delays are Words' in New York's time; values
from tickets keep their escaping whatever the wording; no comment is public."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import ConfigurationError
from bot.slack.text import escape as slack_escape
from bot.testing.run import Run
from bot.text import untrusted, visible
from rules import load_rules
from rules.everbright_onboarding import TEXTS, Config
from tests.hostile.markup import inert_in_jira, invisible_in, slack_markup_in
from tests.rules.scenario import CONFIG, run
from tests.rules.test_everbright_approvers import DAVID, DAVID_SLACK, make, world  # noqa: F401 - the fixture
from tests.rules.test_everbright_runbook import arrive_cs201

RULE = "everbright_onboarding"
APPROVER = "david.ellis@goeverbright.com"
#: The bot's mentions ahead of a comment, as the tracker writes them.
MENTIONS = re.compile(r"^(\[~accountid:[^\]]+\] )+")


def shipped(tmp_path: Path, **block: Any) -> Path:
    """config/ticketbot.yaml with keys of the EverBright block replaced."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["rules"][RULE].update(block)
    path = tmp_path / "ticketbot.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def written(result: Run) -> list[str]:
    """Every text ticketbot wrote in the demo: its comments (mentions ahead taken off), Slack messages, alerts."""
    tracker = result.player.tracker
    comments = [MENTIONS.sub("", c.body) for key in sorted(tracker.tickets) for c in result.ticket(key).comments
                if c.author == tracker._bot]
    return comments + [m.text for m in result.slack] + result.alerts


# the catalogue -----------------------------------------------------------------------------------------------
def test_every_template_renders_in_english_and_the_shipped_block_says_so() -> None:
    assert TEXTS.languages() == {"en"} and Config().language == "en"
    say = Config().words
    for t in TEXTS.templates.values():
        values = {v: f"<{v}>" for v in t.values}
        assert say(t.name, **values) == t.texts["en"].format_map(values)
        assert {n for _, n, _, _ in string.Formatter().parse(t.texts["en"]) if n} == set(t.values), t.name
    block = next(b for b in load_rules(CONFIG) if b.id == RULE)
    assert (block.config.language, block.config.templates) == ("en", {})


# the demo, every template reworded -------------------------------------------------------------------------------
def test_every_comment_and_slack_message_of_the_demo_comes_from_a_template(tmp_path: Path) -> None:
    """Each template reworded by the block as "[its name] {its values}": everything the demo writes says which it
    was, and the demo still runs its course (the request to push live on CS is found in its new wording)."""
    marked = {name: f"[{name}] " + " ".join(f"{{{v}}}" for v in t.values) for name, t in TEXTS.templates.items()}
    result = run("everbright", tmp_path, config=shipped(tmp_path, templates=marked))
    assert result.errors() == []
    said = written(result)
    assert len(said) > 10
    assert [text for text in said if not text.startswith("[")] == []
    assert {text[1:text.index("]")] for text in said} == {
        "missing_values_note", "account_manager_missing_note", "account_manager_missing_alert", "ask_approval_note",
        "reminder_slack", "ask_config_note", "ask_config_slack", "approved_note", "duplicate_note", "comms_reason_note",
        "live_note"}
    assert result.state(RULE, "SS-101").stage == "closed"  # CS done after the approval: closed as in the demo
    # Values are rendered by Words: moments in New York's time, delays in words; parts of texts are templates too.
    assert "[ask_approval_note] Sunpeak Solar CS-201 1 business day  " in said  # one approver: no parts
    assert "[approved_note] David Ellis Nov 4, 2026 4:05 AM [via_comment] 40001 SS-103 CS-202 To Do" in said
    assert "[reminder_slack] Sunpeak Solar SS-101 (https://goeverbright.atlassian.net/browse/SS-101) " \
           "Nov 3, 2026 10:00 AM" in said
    assert "[account_manager_missing_note] Helio Homes [source_map] " in said
    # the label's reason is a text too, shown (escaped, as any reason) in the comment
    assert "[comms_reason_note] Helio Homes \\[comms\\_label\\_reason\\] 'needs-customer-comms' SS-103 " \
           "[comms_no_manager] " in said
    assert [text for text in said if text.startswith("[missing_values_note]")] == [
        "[missing_values_note] 'EverBright Partner Onboarding' 'Installer name'"]
    assert all(c.internal for key in result.player.tracker.tickets for c in result.ticket(key).comments)


def test_the_shipped_words_in_the_demo(tmp_path: Path) -> None:
    """As shipped, in English: a moment in New York's time (09:05 UTC is 4:05 AM there), with plain spaces."""
    result = run("everbright", tmp_path)
    [note] = [c for c in result.comments("SS-103") if "approval to push live received" in c]
    assert note == ("ticketbot: approval to push live received from David Ellis on Nov 4, 2026 4:05 AM via comment "
                    "40001 on SS-103. CS-202 moved back to To Do and Config asked to push the products live.")
    assert result.comments("CS-202")[-1] == (
        "Approved by David Ellis on Nov 4, 2026 4:05 AM: please push the EverBright products live for Helio Homes "
        "(SS-103) and move this ticket to Done when they are live.")
    assert "ticketbot will follow up in Slack after 1 business day." in result.comments("SS-101")[0]
    assert all(invisible_in(text) == [] for text in written(result))


# the block's own wording -----------------------------------------------------------------------------------------
def test_a_block_rewords_templates(tmp_path: Path) -> None:
    config = shipped(tmp_path, templates={
        "reminder_slack": "{installer} still needs your OK to go live: {ticket} (asked {asked}).",
        "ask_config_note": "OK from {who} ({when}): push {installer} ({ss}) live, then set this ticket to {done}."})
    result = run("everbright", tmp_path, config=config)
    assert result.slack_to(APPROVER) == [
        "Sunpeak Solar still needs your OK to go live: SS-101 (https://goeverbright.atlassian.net/browse/SS-101) "
        "(asked Nov 3, 2026 10:00 AM)."]
    assert result.comments("CS-202")[-1] == \
        "OK from David Ellis (Nov 4, 2026 4:05 AM): push Helio Homes (SS-103) live, then set this ticket to Done."
    assert "] CS-201 is complete: the EverBright products are live" in result.comments("SS-101")[-1]  # as shipped
    assert result.state(RULE, "SS-101").stage == "closed"


@pytest.mark.parametrize(("block", "expected"), [
    ({"templates": {"reminder_slack": "{installer} {approver}"}},
     r"templates\.reminder_slack: unknown value\(s\) \{approver\}; template 'reminder_slack' has \{installer\}, "
     r"\{ticket\}, \{asked\}"),
    ({"templates": {"reminder": "{installer}"}}, r"templates\.reminder: no such template \(known: "),
    ({"templates": {"live_note": "{cs:>10} is live"}}, r"templates\.live_note: \{cs:>10\} is not a plain \{value\}"),
    ({"language": "klingon-XX"}, r"language.*unknown language 'klingon-XX'"),
])
def test_a_bad_block_is_a_configuration_error_naming_the_key(tmp_path: Path, block: dict[str, Any],
                                                            expected: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"rules\.{RULE}.*{expected}"):
        load_rules(shipped(tmp_path, **block))


# escaping ---------------------------------------------------------------------------------------------------------
INSTALLER = ("Sunpeak <!channel> *Solar* [~accountid:evil] {color:red}x{color} <http://evil.example|click> "
             "\u202eralos\u202c \u200bend")


@pytest.mark.parametrize("templates", [{}, {
    "account_manager_missing_note": "No manager for {installer} ({looked}).",
    "ask_approval_note": "{installer} ({cs}) is configured: approve?{any_one}{stand_ins} Slack after {after}.",
    "reminder_slack": "Please decide on {installer}: {ticket}, asked {asked}."}], ids=["shipped", "reworded"])
def test_an_installer_name_with_markup_is_escaped_in_comments_and_in_slack(tmp_path: Path, world: Any,  # noqa: F811
                                                                           templates: dict[str, str]) -> None:
    """Through the real Jira adapter and Slack notifier: the name reaches the comments as inert Jira text and
    Slack only Slack-escaped, whatever the wording."""
    book = make(tmp_path, world, approvers=[{"email": DAVID}], templates=templates)
    book.create("SS-101", "EverBright Partner Onboarding",
                f"* Installer name: {INSTALLER}\n* Installer contact email: ops@sunpeaksolar.example\n",
                "ops@sunpeaksolar.example")
    book.advance(timedelta(minutes=2))
    arrive_cs201(book)
    book.advance(timedelta(hours=2))
    book.set_status("CS-201", "On Hold")
    book.advance(timedelta(hours=24))  # the reminder
    comments = [MENTIONS.sub("", c) for c in book.comments("SS-101")]
    assert len(comments) == 2  # no account manager for this name; the question
    if templates:  # the block's wording was the one used
        assert [c.split(" ")[0] for c in comments] == ["No", untrusted(INSTALLER).split(" ")[0]]
        assert book.slack.dm(DAVID_SLACK)[0]["text"].startswith("Please decide on ")
    for body in comments:
        assert untrusted(INSTALLER) in body, body
        assert inert_in_jira(body) and invisible_in(body) == [], body
    messages = book.slack.dm(DAVID_SLACK) + book.slack.in_channel("CADMIN")  # the reminder; the alert
    assert len(messages) == 2
    for message in messages:
        assert slack_escape(visible(INSTALLER)) in message["text"], message["text"]
        assert slack_markup_in(message["text"]) == [] and "\\[" not in message["text"]
        assert invisible_in(message["text"]) == [], message["text"]  # no bidi override, in the alert too
    assert book.jira.ticket("SS-101").comments and all(c.internal for c in book.jira.ticket("SS-101").comments)


def test_the_default_english_is_what_the_rule_wrote_before(tmp_path: Path) -> None:
    """Spot checks of texts the demo does not write, in the shipped English."""
    say = Config().words
    assert say("escalation_alert", ticket="SS-1", installer="X", reminders=3, reminded="a@b.example") == (
        "ticketbot: no approval for the EverBright onboarding SS-1 (X) after 3 Slack reminder(s) to a@b.example. "
        "Please follow up in person.")
    assert say("config_ticket_summary", subject="EverBright Partner Onboarding", installer="X", key="SS-1") == \
        "EverBright Partner Onboarding: configure X (SS-1)"
    assert say("away_dates", start=datetime(2025, 12, 22, tzinfo=UTC).date(), to=datetime(2026, 1, 4).date()) == \
        "away December 22, 2025 to January 4, 2026"
