"""Property-based fuzzing of ``POST /slack/events`` on the daemon (bolt, BotServices, inbox, workers, the
Jira adapter against the fake Jira), with an onboarding waiting for its approval.

* Anything not signed with the signing secret (or signed too long ago) is 401 and leaves no trace:
  no inbox event, no audit entry, no reply.
* Signed ``/ticketbot`` commands with arbitrary text, and signed button clicks with arbitrary values,
  from someone who is neither the approver nor an admin: never a 5xx; nothing decided or paused; the
  only thing they may queue is a request for customer communication (open to everyone), whose reason
  reaches Jira only as escaped text; nothing said back holds Slack markup or invisible characters; no
  JQL is ever sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.model import COMMS_REQUESTED
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from tests.hostile.markup import inert_in_jira, invisible_in, slack_markup_in
from tests.hostile.test_fuzz_webhooks import FUZZ, HEADER_TEXT
from tests.hostile.world import APPROVER, SLACK_SIGNING_SECRET, STRANGER_SLACK, World, onboarding_until_approval_asked
from tests.slack.helpers import block_action_payload, form, interaction_body, sign, slash_command_fields

TOKENS = ["approve", "reject", "comms", "status", "why", "dry-run", "timers", "rules", "pause", "resume", "help",
          "SS-101", "ss-101", "CS-201", "4711", "everbright_onboarding", "<!channel>", "<@U0DAVID>", "<!here>",
          "<http://evil.example|click>", "*bold*", "`", ";", "&&", '"', "OR", "project", "=", "[~accountid:x]",
          "{color:red}", "\u202e", "\u200b", "\x00", "\\", "\n", "٣", "ＳＳ-１０１"]
TEXT = st.lists(st.sampled_from(TOKENS) | st.text(max_size=10), max_size=8).map(" ".join)


def sign_bytes(body: bytes) -> dict[str, str]:
    """Slack's signature over raw bytes (the helper in tests.slack signs text)."""
    stamp = str(int(time.time()))
    digest = hmac.new(SLACK_SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


@pytest.fixture
def waiting(world: World) -> World:
    onboarding_until_approval_asked(world)
    world.jira_calls_before = len(world.jira.calls)  # type: ignore[attr-defined]
    return world


def nothing_decided(world: World) -> None:
    assert world.stage("SS-101") == "awaiting-approval"
    assert world.jira.ticket("CS-201").status == "On Hold"
    assert world.pauses() == []
    assert [r.kind for r in world.decisions()] in ([], [COMMS_REQUESTED] * len(world.decisions()))
    new = world.jira.calls[world.jira_calls_before:]  # type: ignore[attr-defined]
    assert [c for c in new if c[1].rstrip("/").endswith(("/search", "/search/jql"))] == []


@FUZZ
@given(body=st.binary(max_size=200) | TEXT.map(lambda t: form(slash_command_fields(t, STRANGER_SLACK, "x")))
       | TEXT.map(lambda t: urlencode({"payload": t})),
       headers=st.sampled_from(["none", "garbage", "garbage time", "stale", "wrong secret", "future"]),
       garbage=HEADER_TEXT)
def test_unsigned_or_stale_slack_requests_are_401_and_leave_no_trace(waiting: World, body, headers, garbage):
    text = body if isinstance(body, str) else body.decode("latin-1")
    now = int(time.time())
    sent = {"none": {"Content-Type": "application/x-www-form-urlencoded"},
            "garbage": {"X-Slack-Signature": garbage, "X-Slack-Request-Timestamp": str(now)},
            "garbage time": {**sign(text, SLACK_SIGNING_SECRET), "X-Slack-Request-Timestamp": garbage or "x"},
            "stale": sign(text, SLACK_SIGNING_SECRET, now - 600),  # Slack's window is 5 minutes either way
            "future": sign(text, SLACK_SIGNING_SECRET, now + 600),
            "wrong secret": sign(text, "guessed")}[headers]
    response = waiting.http.post("/slack/events", content=body, headers=sent)
    assert response.status_code == 401
    waiting.drain()
    assert waiting.decisions() == [] and waiting.audit() == []
    assert all(posts == [] for posts in waiting.slack.response_posts.values())


@FUZZ
@given(text=TEXT)
def test_any_signed_command_from_a_stranger_decides_nothing_and_says_nothing_active(waiting: World, text: str):
    status, ack, posts = waiting.slash(text, STRANGER_SLACK)
    assert status == 200
    for said in [ack, *(p.get("text", "") for p in posts)]:
        assert slack_markup_in(said) == [] and invisible_in(said) == [], (text, said)
    nothing_decided(waiting)
    approver = waiting.jira.account_id(APPROVER)
    manager = waiting.jira.account_id("tom.becker@goeverbright.com")
    for body in waiting.bot_comments("SS-101"):
        typed = body.replace(f"[~accountid:{manager}] ", "").replace(f"[~accountid:{approver}] ", "")
        assert inert_in_jira(typed), body


@FUZZ
@given(action=st.sampled_from([APPROVE_ACTION, REJECT_ACTION, "ticketbot_other", ""]),
       value=st.sampled_from(["SS-101", "CS-201", "4711"]) | st.text(max_size=30),
       message=st.fixed_dictionaries({"type": st.just("message"), "ts": st.just("1767225601.000001"),
                                      "text": st.sampled_from(["<!channel>", "Please approve SS-101"])
                                      | st.text(max_size=20),
                                      "blocks": st.just([]) | st.lists(st.fixed_dictionaries(
                                          {"type": st.sampled_from(["section", "actions", "divider"])}),
                                          max_size=3)}))
def test_any_signed_click_from_a_stranger_decides_nothing(waiting: World, action, value, message):
    response_url = waiting.slack.new_response_url()
    payload = block_action_payload(action, value, STRANGER_SLACK, response_url, message=message)
    body = interaction_body(payload)
    response = waiting.http.post("/slack/events", content=body, headers=sign(body, SLACK_SIGNING_SECRET))
    waiting.drain()
    assert response.status_code in (200, 404), response.text  # 404: bolt knows no listener for that action
    for post in waiting.slack.response_posts[response_url]:
        assert slack_markup_in(json.dumps(post)) == [] or post.get("replace_original") is True, post
        assert post.get("replace_original") is not True  # a refusal never replaces the message
    nothing_decided(waiting)
    assert waiting.decisions() == []


@FUZZ
@given(body=st.binary(max_size=200) | TEXT.map(lambda t: urlencode({"payload": t}))
       | st.dictionaries(st.sampled_from(["command", "text", "user_id", "type", "payload", "token", "ssl_check",
                                          "challenge", "response_url"]), TEXT, max_size=5).map(urlencode)
       | st.builds(lambda t: json.dumps({"type": t, "challenge": "x", "event": {"type": t}}),
                   st.sampled_from(["url_verification", "event_callback", "block_actions", ""]) | TEXT),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain"]))
def test_any_signed_body_is_answered_without_a_server_error(waiting: World, body, content_type):
    raw = body if isinstance(body, bytes) else body.encode()
    headers = {**sign_bytes(raw), "Content-Type": content_type}
    response = waiting.http.post("/slack/events", content=raw, headers=headers)
    waiting.drain()
    try:
        raw.decode("utf-8")
        allowed = {200, 400, 404}
    except UnicodeDecodeError:
        allowed = {401}  # Slack signs UTF-8 text: such a body cannot be verified as Slack's
    assert response.status_code in allowed, (response.status_code, response.text)
    nothing_decided(waiting)
    assert [r for r in waiting.decisions() if r.kind != COMMS_REQUESTED] == []
