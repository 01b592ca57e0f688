"""Documents nested absurdly deep: a description of a few hundred ADF levels was answered 500 (a
RecursionError in the ADF to text conversion), and Jira retries a 5xx for ever.

Now the conversion walks an explicit stack and leaves out what lies more than ``MAX_DEPTH`` levels
down (with a marker), and the endpoint refuses a body nested deeper than ``MAX_JSON_DEPTH`` with a
400 saying so: every answer is 2xx or a clear 4xx, the same wherever the body is parsed. Bodies are
written as JSON text here, because ``json.dumps`` itself cannot write them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from bot.daemon.http import MAX_JSON_DEPTH
from bot.inbox.queue import DONE
from bot.sources.common import MalformedEvent
from bot.sources.signatures import jira_signature, zendesk_signature
from bot.sources.zendesk_webhook import normalize_zendesk_webhook
from bot.trackers.base import Rejected
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.jira.model import DEEP_MARKER, MAX_DEPTH, adf_to_text, plain_value
from bot.trackers.site import SiteTicket
from tests.hostile.world import CUSTOMER, JIRA_WEBHOOK_SECRET, ZENDESK_WEBHOOK_SECRET, World
from tests.rules.webhooks import Issue

SUMMARY = "EverBright Partner Onboarding"


def nested_adf(levels: int, text: str = "Installer name: Sunpeak Solar") -> str:
    """An ADF document whose text sits ``levels`` blockquotes down, as JSON text."""
    return ('{"type": "doc", "version": 1, "content": [' + '{"type": "blockquote", "content": [' * levels
            + json.dumps({"type": "text", "text": text}) + "]}" * levels + "]}")


def with_description(body: dict[str, Any], document: str) -> bytes:
    """``body`` as JSON text with its issue's description replaced by ``document`` (JSON text)."""
    body["issue"]["fields"]["description"] = "@@DOCUMENT@@"
    return json.dumps(body).replace('"@@DOCUMENT@@"', document).encode()


def post_jira(world: World, raw: bytes) -> Any:
    return world.http.post("/webhooks/jira", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature": jira_signature(JIRA_WEBHOOK_SECRET, raw)})


def created_body(world: World, key: str) -> dict[str, Any]:
    """The ``jira:issue_created`` body of a new onboarding ticket ``key`` (also put on the fake Jira)."""
    world.jira.now = world.clock.now()
    world.jira.add_ticket(SiteTicket(key=key, summary=SUMMARY, description="see the form", status="Waiting for support",
                                     issue_type="Service Request", reporter=CUSTOMER))
    return Issue(world.hooks, key, summary=SUMMARY, issue_type="Service Request", status="Waiting for support",
                 created=world.clock.now()).create(CUSTOMER, description="@@DOCUMENT@@")


# the conversions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("levels", [300, 100_000])
def test_adf_to_text_has_no_recursion_limit_and_leaves_the_deep_part_out(levels: int):
    node: Any = {"type": "text", "text": "too deep to read"}
    for _ in range(levels):
        node = {"type": "bulletList", "content": [{"type": "listItem", "content": [node]}]}
    document = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "on top"}]},
                                           node]}
    text = adf_to_text(document)
    assert text.startswith("on top\n" + DEEP_MARKER)
    assert "too deep to read" not in text and text.count(DEEP_MARKER) == 1


def test_adf_to_text_reads_what_lies_within_the_bound():
    node: Any = {"type": "text", "text": "Installer name: Sunpeak Solar"}
    for _ in range(MAX_DEPTH - 1):
        node = {"type": "blockquote", "content": [node]}
    assert adf_to_text({"type": "doc", "content": [node]}).strip() == "Installer name: Sunpeak Solar"


def test_a_field_value_of_lists_nested_deep_is_read_without_recursing_through_it():
    value: Any = ["Billing"]
    for _ in range(100_000):
        value = [value]
    plain = plain_value(value)
    depth = 0
    while isinstance(plain, list):
        plain, depth = plain[0], depth + 1
    assert (plain, depth) == ("Billing", 100_001)


def test_a_raw_zendesk_body_nested_too_deep_is_malformed_not_a_recursion_error():
    with pytest.raises(MalformedEvent, match="nested too deeply"):
        normalize_zendesk_webhook(b'{"ticket": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", received_at=None)


# the webhooks -------------------------------------------------------------------------------------------
def test_a_description_300_adf_levels_deep_is_accepted_and_processed(world: World):
    raw = with_description(created_body(world, "SS-140"), nested_adf(300))
    response = post_jira(world, raw)
    assert response.status_code == 202, response.text
    world.drain()
    [row] = world.daemon.inbox.rows(limit=10)
    assert (row.status, row.last_error) == (DONE, None)
    # the rule read the description (the deep part left out) and said what is missing, as for any empty form
    [note] = world.jira.ticket("SS-140").comments
    assert "Installer name" in note.body


def test_a_comment_300_adf_levels_deep_is_accepted_and_processed(world: World):
    body = created_body(world, "SS-141")
    body["webhookEvent"] = "comment_created"
    body["comment"] = {"id": "30001", "body": "@@COMMENT@@", "author": body["user"],
                       "created": "2026-11-02T10:00:00.000+0000"}
    raw = with_description(body, '"plain"').replace(b'"@@COMMENT@@"', nested_adf(300, "approved").encode())
    response = post_jira(world, raw)
    assert response.status_code == 202, response.text
    world.drain()
    [row] = world.daemon.inbox.rows(limit=10)
    assert (row.status, row.last_error) == (DONE, None)


@pytest.mark.parametrize("document", [
    nested_adf(MAX_JSON_DEPTH // 2 + 10),  # within reach of Python's parser: refused by the explicit limit
    nested_adf(2_000),  # beyond it: the parser's RecursionError, the same answer
    "[" * 100_000 + "]" * 100_000,  # a description 100,000 levels deep, under the size limit
], ids=["just-over-the-limit", "2000-adf-levels", "100000-levels"])
def test_a_body_nested_deeper_than_the_limit_is_a_clear_400(world: World, document: str):
    raw = with_description(created_body(world, "SS-142"), document)
    response = post_jira(world, raw)
    assert (response.status_code, response.json()) == (
        400, {"error": f"body is not JSON ticketbot accepts (nested deeper than {MAX_JSON_DEPTH} levels)"})
    assert world.daemon.inbox.rows(limit=10) == []


@pytest.mark.parametrize("levels", [300, 100_000])
def test_a_zendesk_comment_of_deeply_nested_html_is_accepted_with_its_text(world: World, levels: int):
    """The HTML conversion is a flat tokenizer (no tree, no stack): nesting costs nothing there."""
    html = "<i>" * levels + "Approved, go live" + "</i>" * levels  # 100,000 levels: 700 kB, under the limit
    raw = json.dumps({"ticketbot": "zendesk-trigger/1", "event": "comment.created", "ticket": {"id": "77"},
                      "comment": {"html": html}}).encode()
    at = world.clock.now().isoformat()
    response = world.http.post("/webhooks/zendesk", content=raw, headers={
        "Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": at,
        "X-Zendesk-Webhook-Signature": zendesk_signature(ZENDESK_WEBHOOK_SECRET, raw, at)})
    assert response.status_code == 202, response.text
    assert normalize_zendesk_webhook(raw, received_at=world.clock.now()).comment.body == "Approved, go live"


def test_a_jira_answer_nested_too_deep_to_parse_is_a_rejection_not_a_crash():
    """The REST side: an issue whose (app-provided) field nests past what the parser reaches."""
    deep = "[" * 100_000 + "]" * 100_000
    with responses.RequestsMock() as mock:
        mock.get("https://deep.atlassian.net/rest/api/2/issue/SS-1",
                 body='{"id": "1", "key": "SS-1", "fields": {"customfield_1": ' + deep + "}}",
                 content_type="application/json")
        mock.get("https://deep.atlassian.net/rest/api/2/issue/SS-1/watchers", body=deep,
                 content_type="application/json")
        tracker = JiraTracker("https://deep.atlassian.net", "bot@example.com", "token", sleep=lambda _s: None)
        with pytest.raises(Rejected, match="nested too deeply"):
            tracker.get_ticket("SS-1")
        with pytest.raises(Rejected, match="nested too deeply"):
            tracker._watchers("SS-1")
