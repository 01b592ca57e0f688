"""Markup smuggled in through an onboarding form, run through the whole EverBright runbook daemon-style.

The installer name and contact e-mail of the form (and, in one case, the approver's rejection comment)
carry Jira mentions, wiki links and macros, images, ADF-looking JSON, Markdown/Zendesk markup, Slack
mentions and links, bidi overrides, zero-width characters and backslashes. The runbook then runs: intake
(no account manager is known for such a name: an internal comment says so), the CS ticket, on hold (the
question to the approver), three Slack reminders and the admin alert, a rejection, the approval from
Slack, CS done and SS closed. Assertions are on the comment bodies stored in the fake Jira and on the
messages stored in the fake Slack: the hostile value reached them, and only as inert text.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.slack.text import escape as slack_escape
from bot.text import untrusted, visible
from tests.hostile.markup import inert_in_jira, invisible_in, slack_markup_in
from tests.hostile.world import APPROVER, APPROVER_SLACK, World, onboarding_until_approval_asked

EVIL_ID = "557058:0a1b2c3d-evil"
CASES = {
    "jira mentions": f"Sunpeak [~accountid:{EVIL_ID}] [~admin] [~david.ellis@goeverbright.com]",
    "jira wiki": "Sunpeak {color:red}Solar{color} [click me|http://evil.example] {code}x{code} !image.png! "
                 "{html}<b>x</b>{html} {panel}y{panel} ||a||b|| bq. h1.",
    "ADF and markdown": 'Sunpeak {"type":"doc","version":1,"content":[{"type":"mention","attrs":{"id":"'
                        + EVIL_ID + '"}}]} **bold** [md](http://evil.example) ![img](http://evil.example/x.png) '
                        "@here @david.ellis # h1",
    "slack markup": "Sunpeak <!here> <!channel> <@U0DAVID> <http://evil.example|click here> &lt;!here&gt; "
                    "<!subteam^S123> *bold* ~strike~",
    "invisible and backslashes": "Sunpeak \u202eralos\u202c \u200bSolar\u2066 \\ h1. not a heading \\\\ "
                                 "\\[~accountid:" + EVIL_ID + "] \x07",
}
CONTACTS = {
    "jira mentions": f"ops@sunpeaksolar.example [~accountid:{EVIL_ID}]",
    "slack markup": "<mailto:ops@evil.example|ops@sunpeaksolar.example>",
}


def bot_comments_without_own_mentions(world: World) -> dict[str, list[str]]:
    """Every comment the bot wrote, per ticket, minus the mentions it puts ahead of a body by design."""
    people = {world.jira.account_id(e) for e in (APPROVER, "tom.becker@goeverbright.com",
                                                 "maria.lopez@goeverbright.com")}
    out: dict[str, list[str]] = {}
    for key in world.jira.issues:
        for body in world.bot_comments(key):
            for account in people:
                body = body.replace(f"[~accountid:{account}] ", "")
            out.setdefault(key, []).append(body)
    return out


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_hostile_form_reaches_comments_and_slack_only_as_inert_text(world: World, case: str) -> None:
    installer, contact = CASES[case], CONTACTS.get(case, "ops@sunpeaksolar.example")
    onboarding_until_approval_asked(world, installer=installer, contact=contact)
    assert world.stage("SS-101") == "awaiting-approval", world.stage("SS-101")
    world.advance(timedelta(hours=24 * 3 + 1))  # three reminders, then the alert to the admin channel
    world.comment("SS-101", APPROVER, f"Not approved: {installer} [~accountid:{EVIL_ID}] {{color:red}}no{{color}}")
    assert world.stage("SS-101") == "rejected"
    status, _, [reply] = world.slash("approve SS-101", APPROVER_SLACK)
    assert status == 200 and reply["text"].startswith("Recorded your approval of SS-101")
    world.move("CS-201", "Done")
    assert world.stage("SS-101") == "closed" and world.jira.ticket("SS-101").status == "Closed"

    comments = bot_comments_without_own_mentions(world)
    written = [body for bodies in comments.values() for body in bodies]
    # The value reached the comments that name the installer (else this test would prove nothing) …
    for what in ("no account manager is configured for organization", "Config has finished configuring",
                 "did not approve", "please push the EverBright products live for", "the EverBright products are live"):
        [body] = [b for b in written if what in b]
        assert "Sunpeak" in body, body
    # … and in every comment only as escaped text: no mention, link, macro, image, line break or control.
    for body in written:
        assert inert_in_jira(body), body
        assert invisible_in(body) == [], body
        assert f"accountid:{EVIL_ID}]" not in body.replace("\\]", "")
    # The only mentions in the bot's comments are the ones the runbook makes.
    raw = [b for key in world.jira.issues for b in world.bot_comments(key)]
    mentioned = {m for b in raw for m in __import__("re").findall(r"(?<!\\)\[~accountid:([^\]]+)\]", b)}
    assert mentioned <= {world.jira.account_id(APPROVER), world.jira.account_id("tom.becker@goeverbright.com")}

    # Slack: three reminders to the approver and one alert to the admin channel, all naming the installer.
    messages = world.slack_messages()
    no_approval = [m for m in world.slack.in_channel("CADMIN") if "no approval" in m["text"]]
    assert len(world.slack.dm(APPROVER_SLACK)) == 3 and len(no_approval) == 1
    for message in messages:
        texts = [message["text"]] + [b["text"]["text"] for b in message.get("blocks", []) if "text" in b]
        for text in texts:
            assert "Sunpeak" in text
            # as typed, Slack-escaped by the notifier: no Jira escapes (they would show as backslashes)
            assert slack_escape(visible(installer)) in text, text
            assert slack_markup_in(text) == [], text
            assert invisible_in(text) == [], text
        buttons = [e for b in message.get("blocks", []) for e in b.get("elements", []) if e.get("type") == "button"]
        assert {e["value"] for e in buttons} <= {"SS-101"}  # the installer never gets into a button

    # The organization and the CS ticket's fields hold the value as typed: data, not rendered markup.
    assert world.jira.organization_names("SS-101") == [" ".join(installer.split())]
    assert world.jira.field("CS-201", "Installer name") == " ".join(installer.split())


@pytest.mark.parametrize("value", [*CASES.values(), *CONTACTS.values(), "a\\", "\\", "x" * 500, "", None,
                                   "\ud800", "[~accountid:x]" * 30])
def test_untrusted_output_is_inert_jira_text_on_one_line(value: str | None) -> None:
    text = untrusted(value)
    assert inert_in_jira(text) and invisible_in(text) == []
    assert len(text) <= 200 + text.count("\\")  # bounded (escapes aside)


def test_a_rejection_reason_is_escaped_exactly_once(world: World) -> None:
    onboarding_until_approval_asked(world)
    world.comment("SS-101", APPROVER, "Not approved: licence [pending] for {Colorado}")
    [note] = [b for b in world.bot_comments("SS-101") if "did not approve" in b]
    assert '"Not approved: licence \\[pending\\] for \\{Colorado\\}"' in note, note
