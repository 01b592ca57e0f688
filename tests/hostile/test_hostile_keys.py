"""Ticket keys that are not keys: a signed webhook (or a direct adapter call) must not make the bot send a
request outside the issue's own resources with its credentials.

``../../../rest/api/2/myself`` in a webhook once made the worker GET ``/rest/rest/api/2/myself``
(requests resolves the ``..`` segments). Now the sources refuse such an event with 400 before it is
recorded, and the adapters refuse such a key before any request (defence in depth: the CLI, Slack, a
rule or an old inbox row can hand them one too). The fakes record every request they receive; the
assertions are on those records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.effects import SetField
from bot.sources.signatures import jira_signature, zendesk_signature
from bot.trackers.base import NotFound, Rejected, is_permanent
from bot.trackers.site import Site
from bot.trackers.zendesk.adapter import ZendeskTracker
from tests.fakes.fake_zendesk import FakeZendesk
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.hostile.world import JIRA_WEBHOOK_SECRET, ZENDESK_WEBHOOK_SECRET, World
from tests.support.daemon import onboarding_created
from tests.trackers.test_jira_tracker import EMAIL, SITE, TOKEN
from tests.trackers.test_zendesk_tracker import BOT, DAVID, everbright_site

#: Not Jira keys, each a way out of ``/rest/api/2/issue/{key}`` (or into another issue's resources).
HOSTILE_JIRA = [
    "../../../rest/api/2/myself",
    "%2e%2e/%2e%2e/%2e%2e/rest/api/2/myself",
    "..%2F..%2F..%2Frest%2Fapi%2F2%2Fmyself",
    "SS-1/../../x",
    "SS-1/../SS-2",
    "SS-1?x=y",
    "SS-1#",
    "SS-1/comment",
    "SS-\u0661",  # ARABIC-INDIC DIGIT ONE
    "\uff33\uff33-1",  # fullwidth SS
    "SS-1\x00",
    "..",
    "",
]
#: Not Zendesk ticket ids.
HOSTILE_ZENDESK = ["../../users/me", "12/../13", "12?x=y", "12#", "\u00b2", "\u0661\u0662", "0", "-1", "1e3",
                   "12.json", "%31%32", ""]
CREATED_MS = 1793610840000


def _outside(calls: list[tuple[str, str]], own: str) -> list[str]:
    """Requests that were neither a lookup of names (fields, users, link types), nor a link (the keys are in
    its body), nor to ``own``'s resources."""
    lookups = {"/rest/api/2/field", "/rest/api/2/user/search", "/rest/api/2/issueLinkType", "/rest/api/2/issueLink"}
    mine = (f"/rest/api/2/issue/{own}", f"/rest/servicedeskapi/request/{own}/")
    return [f"{m} {p}" for m, p in calls
            if p not in lookups and not (p == mine[0] or p.startswith(mine[0] + "/") or p.startswith(mine[1]))]


def _edit(key: str) -> list[SetField]:
    return [SetField(rule_id="r", ticket_key=str(key), step="s", field="Installer name", value="x")]


def _jira_calls(tracker: Any, key: str) -> list[tuple[str, Any]]:
    """Every adapter method that takes a ticket key, called with ``key``."""
    return [
        ("get_ticket", lambda: tracker.get_ticket(key, with_people=True)),
        ("update_fields", lambda: tracker.update_fields(key, _edit(key))),
        ("add_watcher", lambda: tracker.add_watcher(key, "maria.lopez@goeverbright.com")),
        ("remove_participant", lambda: tracker.remove_participant(key, "ops@sunpeaksolar.example")),
        ("add_internal_comment", lambda: tracker.add_internal_comment(key, "hello")),
        ("add_public_reply", lambda: tracker.add_public_reply(key, "hello")),
        ("transition", lambda: tracker.transition(key, "Closed")),
        ("link inward", lambda: tracker.link("Relates", key, "SS-1")),
        ("link outward", lambda: tracker.link("Relates", "SS-1", key)),
    ]


# the adapters, called directly ------------------------------------------------------------------------
def test_jira_adapter_refuses_hostile_keys_before_any_request():
    with spec_checked_jira(Site.model_validate(SITE)) as fake:
        tracker = tracker_on(fake, EMAIL, TOKEN, slept=[])
        for key in HOSTILE_JIRA:
            for name, call in _jira_calls(tracker, key):
                before = len(fake.calls)
                with pytest.raises(Rejected, match="not a Jira ticket key") as refused:
                    call()
                assert is_permanent(refused.value)
                assert _outside(fake.calls[before:], "SS-1") == [], (name, key)
                assert "/myself" not in str(fake.calls)
        # the same calls on a real key stay within its resources (and work: the helper above is not vacuous)
        fake.calls.clear()
        for _name, call in _jira_calls(tracker, "ss-1"):  # a key is upper-cased, as Jira writes it
            call()
        assert fake.calls and _outside(fake.calls, "SS-1") == []


def test_zendesk_adapter_refuses_hostile_ids_before_any_request(monkeypatch):
    monkeypatch.setattr("zenpy.lib.api.sleep", lambda _s: None)
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    with FakeZendesk(everbright_site(), now=lambda: now, groups=["Support"]) as fake:
        tracker = ZendeskTracker(fake.url, BOT, "zendesk-token", sleep=lambda _s: None, now=lambda: now)
        for key in HOSTILE_ZENDESK:
            calls = [
                lambda key=key: tracker.get_ticket(key),
                lambda key=key: tracker.add_internal_comment(key, "hello"),
                lambda key=key: tracker.add_public_reply(key, "hello"),
                lambda key=key: tracker.update_fields(key, _edit(key)),
                lambda key=key: tracker.add_watcher(key, DAVID),
                lambda key=key: tracker.remove_participant(key, DAVID),
                lambda key=key: tracker.transition(key, "open"),
                lambda key=key: tracker.link("Relates", key, "101"),
                lambda key=key: tracker.link("Relates", "101", key),
            ]
            for call in calls:
                before = len(fake.calls)
                with pytest.raises(NotFound, match="not a Zendesk ticket key"):
                    call()
                assert fake.calls[before:] == [], key
        assert fake.violations == []


# the webhooks ----------------------------------------------------------------------------------------
def _post_jira(world: World, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()
    return world.http.post("/webhooks/jira", content=raw, headers={
        "Content-Type": "application/json", "X-Hub-Signature": jira_signature(JIRA_WEBHOOK_SECRET, raw)})


def _post_zendesk(world: World, body: dict[str, Any]) -> Any:
    raw = json.dumps(body).encode()
    at = world.clock.now().isoformat()
    return world.http.post("/webhooks/zendesk", content=raw, headers={
        "Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": at,
        "X-Zendesk-Webhook-Signature": zendesk_signature(ZENDESK_WEBHOOK_SECRET, raw, at)})


@pytest.mark.parametrize("key", [k for k in HOSTILE_JIRA if k and "\x00" not in k])
def test_signed_jira_webhook_with_a_hostile_key_is_refused_and_calls_nothing(world: World, key: str):
    body = onboarding_created("SS-1", CREATED_MS)
    body["issue"]["key"] = key
    before = len(world.jira.calls)
    response = _post_jira(world, body)
    world.drain()
    assert response.status_code == 400
    assert "is not a Jira key" in response.json()["error"]
    assert world.daemon.inbox.rows(limit=100) == []
    assert _outside(world.jira.calls[before:], "SS-1") == []


@pytest.mark.parametrize("key", [k for k in HOSTILE_ZENDESK if k])
def test_signed_zendesk_webhooks_with_a_hostile_id_are_refused(world: World, key: str):
    trigger = {"ticketbot": "zendesk-trigger/1", "event": "ticket.updated", "ticket": {"id": key}}
    envelope = {"type": "zen:event-type:ticket.status_changed", "id": f"01HX{abs(hash(key))}",
                "time": "2026-11-02T10:00:00Z", "subject": f"zen:ticket:{key}", "detail": {"id": key},
                "event": {"previous": "open", "current": "pending"}}
    for body in (trigger, envelope):
        response = _post_zendesk(world, body)
        assert response.status_code == 400, (key, response.text)
        assert "Zendesk ticket id" in response.json()["error"]
    assert world.daemon.inbox.rows(limit=100) == []
