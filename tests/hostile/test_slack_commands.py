"""``/ticketbot`` and the decision buttons under hostile use, through the daemon's own ``POST /slack/events``
(signed as Slack signs), bolt, the real BotServices, the inbox and the workers, on an onboarding that waits
for its approval (SS-101, CS-201 on hold, on the fake Jira through the real Jira adapter).

Whoever is not the approver nor an admin is refused with a clear message and changes nothing; whatever is
typed, nothing of it reaches Jira except as an escaped reason in an internal comment, no JQL is ever built
from it, and nothing of it comes back into Slack as markup (``<!channel>``, ``<@U…>``, ``<url|text>``).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.model import COMMS_REQUESTED
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.sources.internal import decode
from tests.hostile.markup import inert_in_jira, invisible_in, slack_markup_in
from tests.hostile.world import (
    ADMIN_SLACK,
    APPROVER_SLACK,
    RULE,
    STRANGER_SLACK,
    World,
    onboarding_until_approval_asked,
)


@pytest.fixture
def waiting(world: World) -> World:
    onboarding_until_approval_asked(world)
    assert world.stage("SS-101") == "awaiting-approval" and world.jira.ticket("CS-201").status == "On Hold"
    world.jira_calls_before = list(world.jira.calls)  # type: ignore[attr-defined]
    world.comments_before = world.all_bot_comments()  # type: ignore[attr-defined]
    return world


def unchanged(world: World) -> None:
    """Nothing was decided, paused, queued or written anywhere because of what was typed."""
    assert world.stage("SS-101") == "awaiting-approval"
    assert world.jira.ticket("CS-201").status == "On Hold" and world.jira.ticket("SS-101").status != "Closed"
    assert world.decisions() == [] and world.pauses() == []
    assert world.all_bot_comments() == world.comments_before  # type: ignore[attr-defined]
    assert [c for c in world.jira.calls if c[0] != "GET"] == \
        [c for c in world.jira_calls_before if c[0] != "GET"]  # type: ignore[attr-defined]


def jql_searches(world: World) -> list[tuple[str, str]]:
    """Jira searches (the only requests that carry JQL) since the onboarding was set up."""
    new = world.jira.calls[len(world.jira_calls_before):]  # type: ignore[attr-defined]
    return [c for c in new if c[1].rstrip("/").endswith(("/search", "/search/jql"))]


def no_markup(*texts: str) -> None:
    for text in texts:
        assert slack_markup_in(text) == [], text


def everything_said(world: World, ack: str, posts: list[dict[str, Any]]) -> list[str]:
    said = [ack, *(p.get("text", "") for p in posts)]
    said += [str(b) for p in posts for b in p.get("blocks", [])]
    said += [m.get("text", "") for m in world.slack_messages()] + [str(m.get("blocks", "")) for m in
                                                                     world.slack_messages()]
    return said


# who may decide ------------------------------------------------------------------------------------------
REFUSED = "Sorry, only the approver of SS-101 or a ticketbot admin can {verb} it. I've noted the attempt."
ADMINS_ONLY = "Sorry, only ticketbot admins can {verb} rules. I've noted the attempt; ask an admin if it needs doing."


@pytest.mark.parametrize(("text", "command", "message"), [
    ("approve SS-101", "approve SS-101", REFUSED.format(verb="approve")),
    ("reject SS-101 not convinced", "reject SS-101", REFUSED.format(verb="reject")),
    ("APPROVE ss-101", "approve SS-101", REFUSED.format(verb="approve")),
    (f"pause {RULE}", f"pause {RULE}", ADMINS_ONLY.format(verb="pause")),
    (f"resume {RULE}", f"resume {RULE}", ADMINS_ONLY.format(verb="resume")),
])
def test_a_stranger_is_refused_clearly_and_changes_nothing(waiting: World, text: str, command: str,
                                                           message: str) -> None:
    status, ack, posts = waiting.slash(text, STRANGER_SLACK)
    assert (status, ack) == (200, "")  # nothing in the ack: the refusal comes on the response_url
    assert [p["text"] for p in posts] == [message]
    unchanged(waiting)
    [refusal] = waiting.audit(actor=STRANGER_SLACK)
    assert (refusal.outcome, refusal.command) == ("refused", command)


def test_a_stranger_clicking_approve_or_reject_is_refused_and_the_buttons_stay(waiting: World) -> None:
    for action in (APPROVE_ACTION, REJECT_ACTION):
        status, [reply] = waiting.click(action, "SS-101", STRANGER_SLACK)
        assert status == 200 and reply["response_type"] == "ephemeral" and reply["replace_original"] is False
        assert reply["text"].startswith("Sorry, only the approver of SS-101 or a ticketbot admin can")
    unchanged(waiting)
    assert [e.outcome for e in waiting.audit(actor=STRANGER_SLACK)] == ["refused", "refused"]


@pytest.mark.parametrize("value", ["SS-101; rm -rf /", "<!channel>", "SS-101\u202e", "", "x" * 3000, "SS-99999"])
def test_a_button_carrying_something_else_than_a_known_ticket_decides_nothing(waiting: World, value: str) -> None:
    status, [reply] = waiting.click(APPROVE_ACTION, value, APPROVER_SLACK)
    assert status == 200 and reply["response_type"] == "ephemeral"
    no_markup(reply["text"])
    unchanged(waiting)


def test_the_approver_is_not_refused(waiting: World) -> None:
    """The refusals above are about who asks: the same command from the approver decides."""
    status, _, [reply] = waiting.slash("approve SS-101", APPROVER_SLACK)
    assert status == 200 and reply["text"] == "Recorded your approval of SS-101; ticketbot acts on it in a moment."
    assert waiting.stage("SS-101") == "approved" and waiting.jira.ticket("CS-201").status == "To Do"


# injection in what is typed --------------------------------------------------------------------------------
HOSTILE_COMMANDS = [
    "approve SS-101; rm -rf /",
    "approve SS-101;",
    "approve SS-101 && reject SS-101",
    "approve <!channel>",
    "approve <@U0DAVID>",
    "reject <http://evil.example|SS-101> because",
    "status SS-101\" OR project = X",
    "status SS-101 OR project = X",
    "why SS-101\" OR assignee = currentUser() ORDER BY created --",
    "dry-run SS-101')",
    "timers SS-101 <!here>",
    "pause everbright_onboarding; DROP TABLE inbox",
    "pause EVERBRIGHT_onboarding",
    "resume ../../etc/passwd",
    "approve *SS-101*",
    "approve `SS-101`",
    "approve SS\u200b-101",
    "approve SS-101\u202e",
    "approve ＳＳ-１０１",
    "approve SS-١٠١",
    "approve " + "A" * 100_000,
    "comms SS-101 " + "x" * 600,
    "\u0000approve SS-101",
    "<!everyone> approve SS-101",
]


@pytest.mark.parametrize("user", [APPROVER_SLACK, ADMIN_SLACK])
def test_injected_command_text_is_refused_as_usage_and_echoed_inert(waiting: World, user: str) -> None:
    for text in HOSTILE_COMMANDS:
        status, ack, posts = waiting.slash(text, user)
        assert status == 200, text
        said = everything_said(waiting, ack, posts)
        assert ack and posts == [], (text, ack, posts)  # answered in the ack: nothing ran
        assert ack.startswith(("`/ticketbot ", "I don't know that command.")), (text, ack)
        no_markup(*said)
        assert len(ack) < 3000
        assert invisible_in(ack) == [], (text, ack)  # no invisible controls echoed back
    unchanged(waiting)
    assert waiting.audit() == []  # usage errors never reached the services
    assert jql_searches(waiting) == []


def test_an_injected_comms_reason_is_recorded_cleaned_and_lands_escaped_in_jira(waiting: World) -> None:
    """``comms`` is open to everyone and its reason goes into an internal comment: the one way typed text
    reaches Jira. It must arrive as text, not as mentions, links, macros or JQL, and not echo as markup."""
    reason = ('<!channel> [~accountid:557058:evil] [~admin] {color:red}urgent{color} [evil|http://evil.example] '
              '!evil.png! {code}x{code} *bold* _it_ <@U0DAVID> <http://evil.example|click> '
              'SS-1" OR project = X \u202e\u200b\u0007 end')
    status, ack, [reply] = waiting.slash(f"comms SS-101 {reason}", STRANGER_SLACK)
    assert status == 200 and reply["text"] == "Recorded a request for customer communication on SS-101."
    no_markup(ack, reply["text"])
    [row] = [r for r in waiting.daemon.inbox.rows() if r.kind == COMMS_REQUESTED]
    stored = decode(row.envelope).payload["reason"]
    assert stored.startswith("<!channel> [~accountid:557058:evil]")  # recorded as typed: escaping is on output
    assert invisible_in(stored) == []  # typed controls are dropped at the door
    [note] = [c for c in waiting.bot_comments("SS-101") if "Customer communication is needed" in c]
    jira = waiting.jira
    mentions = f"[~accountid:{jira.account_id('tom.becker@goeverbright.com')}] " \
               f"[~accountid:{jira.account_id('david.ellis@goeverbright.com')}] "
    assert note.startswith(mentions)  # the bot's own mentions, and only those
    typed = note.removeprefix(mentions)
    assert inert_in_jira(typed), typed
    assert "\\[\\~accountid:557058:evil\\]" in typed and "\\{color:red\\}" in typed and "\\!evil.png\\!" in typed
    assert 'SS-1" OR project = X' in typed  # plain text, never JQL
    no_markup(*everything_said(waiting, ack, [reply]))
    assert waiting.stage("SS-101") == "awaiting-approval" and waiting.jira.ticket("CS-201").status == "On Hold"
    assert jql_searches(waiting) == []
