"""Zendesk webhooks: the trigger body we document, the event-webhook envelope, and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bot.sources.zendesk_webhook as webhook
from bot.model import COMMENT_CREATED, TICKET_CREATED, TICKET_DELETED, TICKET_UPDATED, UNKNOWN, Change
from bot.sources import signatures as security
from bot.sources.signatures import SignatureError, verify_zendesk_signature, zendesk_signature
from bot.sources.zendesk_webhook import MalformedEvent, normalize_zendesk_webhook

CONTRACTS = Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "zendesk"
RECEIVED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
needs_shared = pytest.mark.skipif(not CONTRACTS.is_dir(),
                                  reason=f"vendor contract material not found at {CONTRACTS} (../shared absent)")


def documented_trigger_body() -> dict[str, Any]:
    """The JSON body printed in the module docstring, exactly as an admin would paste it."""
    doc = webhook.__doc__ or ""
    start = doc.index("    {\n")
    end = doc.index("\n    }\n", start) + len("\n    }")
    return json.loads(textwrap.dedent(doc[start:end]))


def rendered(template: dict[str, Any], values: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """What Zendesk sends: each {{placeholder}} replaced by its value ("" when unknown)."""
    text = re.sub(r"\{\{([a-z_.]+)\}\}", lambda m: values.get(m.group(1), ""), json.dumps(template))
    body = json.loads(text)
    body.update(overrides)
    return body


PLACEHOLDERS = {
    "ticket.id": "4242",
    "ticket.title": "EverBright Partner Onboarding",
    "ticket.status": "Open",
    "ticket.ticket_type": "Task",
    "ticket.group.name": "SS",
    "ticket.ticket_form": "Partner onboarding",
    "ticket.organization.name": "",
    "ticket.requester.email": "ops@sunpeaksolar.example",
    "ticket.tags": "onboarding everbright",
    "ticket.updated_at_with_timestamp": "2026-01-05T11:58Z",
    "ticket.latest_comment_html": "<div><p>Approved &amp; ready.</p><p>Push it live<br>today</p></div>",
    "current_user.email": "david.ellis@goeverbright.com",
    "current_user.name": "David Ellis",
}


# -- (a) trigger bodies -------------------------------------------------------------------------------

def test_documented_trigger_body_is_valid_json_with_the_key_placeholders() -> None:
    body = documented_trigger_body()
    text = json.dumps(body)
    for placeholder in ("ticket.id", "ticket.title", "ticket.status", "ticket.latest_comment_html",
                        "current_user.email"):
        assert "{{" + placeholder + "}}" in text
    assert body["event"] == "ticket.updated"


def test_trigger_update_becomes_a_ticket_updated_event() -> None:
    body = rendered(documented_trigger_body(), PLACEHOLDERS)
    event = normalize_zendesk_webhook(json.dumps(body).encode(), received_at=RECEIVED)
    assert (event.source, event.kind, event.ticket_key) == ("zendesk", TICKET_UPDATED, "4242")
    assert event.occurred_at == datetime(2026, 1, 5, 11, 58, tzinfo=UTC)
    assert event.actor is not None and event.actor.is_email("david.ellis@goeverbright.com")
    assert event.comment is None  # only comment events carry the comment
    assert event.ticket is None  # the pipeline reads the ticket through the tracker
    assert event.raw_type == "trigger:ticket.updated"
    assert event.payload == body
    assert re.fullmatch(r"[0-9a-f]{64}", event.id)


def test_trigger_comment_event_carries_the_comment_as_text() -> None:
    body = rendered(documented_trigger_body(), PLACEHOLDERS, event="comment.created")
    event = normalize_zendesk_webhook(body, received_at=RECEIVED)
    assert event.kind == COMMENT_CREATED
    assert event.comment is not None
    assert event.comment.body == "Approved & ready.\nPush it live\ntoday"
    assert event.comment.internal is True  # no "public" literal: counted as internal
    assert event.comment.author == event.actor
    body["comment"]["public"] = True
    assert normalize_zendesk_webhook(body, received_at=RECEIVED).comment.internal is False


@pytest.mark.parametrize(("said", "kind"), [("ticket.created", TICKET_CREATED), ("ticket.deleted", TICKET_DELETED),
                                            ("ticket.solved", UNKNOWN), ("something", UNKNOWN)])
def test_trigger_event_field_says_the_kind(said: str, kind: str) -> None:
    body = rendered(documented_trigger_body(), PLACEHOLDERS, event=said)
    assert normalize_zendesk_webhook(body, received_at=RECEIVED).kind == kind


def test_trigger_id_is_stable_for_redeliveries_and_differs_per_change() -> None:
    body = rendered(documented_trigger_body(), PLACEHOLDERS)
    first = normalize_zendesk_webhook(json.dumps(body), received_at=RECEIVED)
    again = normalize_zendesk_webhook(json.dumps(body, indent=2), received_at=RECEIVED + timedelta(minutes=3))
    other = normalize_zendesk_webhook(rendered(documented_trigger_body(), {**PLACEHOLDERS, "ticket.status": "Pending"}),
                                      received_at=RECEIVED)
    assert first.id == again.id
    assert first.id != other.id


def test_minimal_trigger_body_falls_back_to_received_time() -> None:
    event = normalize_zendesk_webhook({"event": "ticket.created", "ticket": {"id": "#77", "updated_at": ""}},
                                      received_at=RECEIVED)
    assert (event.kind, event.ticket_key, event.occurred_at, event.actor) == (TICKET_CREATED, "77", RECEIVED, None)


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"hello": "world"}', "expected an event envelope"),
    (b'{"event": "ticket.updated", "ticket": {"id": ""}}', "ticket.id"),
    (b'{"event": "ticket.updated", "ticket": {"id": "SS-1"}}', "ticket.id"),
    (b'{"ticket": {"id": "12"}}', "'event'"),
    (b'{"event": "ticket.updated", "ticket": "12"}', "'ticket' must be a JSON object"),
    (b'{"event": "ticket.updated", "ticket": {"id": "12", "updated_at": "yesterday"}}', "ISO-8601"),
    (b'{"event": "ticket.updated", "ticket": {"id": "12", "title": "say "hi""}}', "not JSON"),
])
def test_malformed_bodies_are_refused_clearly(body: bytes, message: str) -> None:
    with pytest.raises(MalformedEvent, match=re.escape(message)):
        normalize_zendesk_webhook(body, received_at=RECEIVED)
    assert issubclass(MalformedEvent, ValueError)


# -- (b) event-webhook envelopes -----------------------------------------------------------------------------

def envelope(event_type: str, event: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "type": f"zen:event-type:{event_type}",
        "account_id": 12514403,
        "id": "9f1c2d8e-0000-4000-8000-000000000001",
        "time": "2026-01-05T11:59:30Z",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:ticket:4242",
        "detail": {"actor_id": "8447388090494", "id": "4242", "status": "OPEN", "subject": "Onboarding",
                   "requester_id": "8447388090495", "tags": ["onboarding"], "via": {"channel": "web_service"}},
        "event": event or {},
    }
    body.update(extra)
    return body


@needs_shared
def test_documented_envelope_example_is_unknown_but_keeps_its_id() -> None:
    example = json.loads((CONTRACTS / "webhook_event_envelope_doc_example.json").read_text())["payload"]
    event = normalize_zendesk_webhook(json.dumps(example).encode(), received_at=RECEIVED)
    assert event.kind == UNKNOWN  # user.active_changed is not about a ticket
    assert event.id == "2b24ef10-19d4-4740-93cf-8f98ec4776c0"
    assert event.ticket_key == ""
    assert event.occurred_at == datetime(2099, 7, 4, 5, 33, 18, tzinfo=UTC)
    assert event.raw_type == "zen:event-type:user.active_changed"


def test_envelope_ticket_created() -> None:
    event = normalize_zendesk_webhook(envelope("ticket.created"), received_at=RECEIVED)
    assert (event.kind, event.ticket_key, event.id) == (TICKET_CREATED, "4242", "9f1c2d8e-0000-4000-8000-000000000001")
    assert event.occurred_at == datetime(2026, 1, 5, 11, 59, 30, tzinfo=UTC)
    assert event.actor is not None and event.actor.account_id == "8447388090494"


@pytest.mark.parametrize(("event_type", "event", "change"), [
    ("ticket.status_changed", {"current": "OPEN", "previous": "NEW"}, Change("status", "NEW", "OPEN")),
    ("ticket.priority_changed", {"current": "HIGH", "previous": None}, Change("priority", None, "HIGH")),
    ("ticket.tags_changed", {"tags_added": ["vip"], "tags_removed": ["new", "web"]}, Change("tags", "new web", "vip")),
    ("ticket.group_assignment_changed", {"current": {"id": "7", "name": "CS"}, "previous": {"id": "6", "name": "SS"}},
     Change("group", "SS", "CS")),
    ("ticket.custom_field_changed", {"current": "integrated_finance", "previous": None,
                                     "custom_field": {"id": "10050", "title": "Needs Configuration?"}},
     Change("Needs Configuration?", None, "integrated_finance")),
])
def test_envelope_changes_are_ticket_updates(event_type: str, event: dict[str, Any], change: Change) -> None:
    normalized = normalize_zendesk_webhook(envelope(event_type, event), received_at=RECEIVED)
    assert normalized.kind == TICKET_UPDATED
    assert normalized.changes == (change,)


def test_envelope_comment_added() -> None:
    comment = {"comment": {"id": "555", "body": "Approved", "is_public": False,
                           "author": {"id": "8447388090494", "name": "David Ellis", "is_staff": True}}}
    event = normalize_zendesk_webhook(envelope("ticket.comment_added", comment), received_at=RECEIVED)
    assert event.kind == COMMENT_CREATED
    assert event.comment is not None
    assert (event.comment.id, event.comment.body, event.comment.internal) == ("555", "Approved", True)
    assert event.comment.author is not None and event.comment.author.display_name == "David Ellis"


@pytest.mark.parametrize(("event_type", "kind"), [("ticket.soft_deleted", TICKET_DELETED),
                                                  ("ticket.permanently_deleted", TICKET_DELETED),
                                                  ("ticket.merged", UNKNOWN),
                                                  ("organization.created", UNKNOWN)])
def test_envelope_other_types(event_type: str, kind: str) -> None:
    assert normalize_zendesk_webhook(envelope(event_type), received_at=RECEIVED).kind == kind


def test_envelope_without_id_subject_or_time() -> None:
    body = envelope("ticket.created")
    del body["id"], body["subject"], body["time"]
    event = normalize_zendesk_webhook(body, received_at=RECEIVED)
    assert (event.ticket_key, event.occurred_at) == ("4242", RECEIVED)  # from detail.id
    assert re.fullmatch(r"[0-9a-f]{64}", event.id)
    assert event.id == normalize_zendesk_webhook(body, received_at=RECEIVED + timedelta(hours=1)).id


@pytest.mark.parametrize(("change", "message"), [
    ({"detail": "nope"}, "'detail' must be a JSON object"),
    ({"subject": "zen:user:1", "detail": {"id": "x"}}, "detail.id"),
    ({"time": "soon"}, "ISO-8601"),
])
def test_malformed_envelopes(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEvent, match=re.escape(message)):
        normalize_zendesk_webhook(envelope("ticket.created", **change), received_at=RECEIVED)


# -- signatures -------------------------------------------------------------------------------------------------

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
STAMP = "2026-01-05T11:59:58Z"
BODY = b'{"event": "ticket.updated", "ticket": {"id": "4242"}}'


def test_valid_signature_passes() -> None:
    signature = zendesk_signature(SECRET, BODY, STAMP)
    verify_zendesk_signature(SECRET, BODY, signature, STAMP, now=RECEIVED)


@pytest.mark.parametrize(("signed_with", "received_body", "received_stamp"), [
    ("another secret", BODY, STAMP),  # wrong secret
    (SECRET, BODY + b" ", STAMP),  # body changed in transit
    (SECRET, BODY, "2026-01-05T11:59:59Z"),  # timestamp changed in transit
])
def test_invalid_signature_is_refused(signed_with: str, received_body: bytes, received_stamp: str) -> None:
    signature = zendesk_signature(signed_with, BODY, STAMP)
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk_signature(SECRET, received_body, signature, received_stamp, now=RECEIVED)


@pytest.mark.parametrize(("signature", "stamp"), [("", STAMP), ("abc", ""), ("", ""), (None, STAMP), ("abc", None)])
def test_missing_signature_or_timestamp_is_refused(signature: str | None, stamp: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify_zendesk_signature(SECRET, BODY, signature, stamp, now=RECEIVED)


def test_no_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="secret"):
        verify_zendesk_signature("", BODY, zendesk_signature("", BODY, STAMP), STAMP, now=RECEIVED)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-400)])
def test_stale_or_future_timestamps_are_refused(offset: timedelta) -> None:
    stamp = (RECEIVED + offset).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = zendesk_signature(SECRET, BODY, stamp)
    with pytest.raises(SignatureError, match="away from now"):
        verify_zendesk_signature(SECRET, BODY, signature, stamp, now=RECEIVED)
    verify_zendesk_signature(SECRET, BODY, signature, stamp, now=RECEIVED, max_age=abs(offset) + timedelta(seconds=1))
    verify_zendesk_signature(SECRET, BODY, signature, stamp, now=RECEIVED, max_age=abs(offset).total_seconds() + 1)


def test_unparseable_timestamp_is_refused() -> None:
    signature = zendesk_signature(SECRET, BODY, "yesterday")
    with pytest.raises(SignatureError, match="ISO-8601"):
        verify_zendesk_signature(SECRET, BODY, signature, "yesterday", now=RECEIVED)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    verify_zendesk_signature(SECRET, BODY, zendesk_signature(SECRET, BODY, STAMP), STAMP, now=RECEIVED)
    assert len(compared) == 1


@needs_shared
def test_locally_computed_vector_verifies() -> None:
    """The only TIMESTAMP+BODY vector is LOCALLY COMPUTED (flagged as not from Zendesk) from the docs' secret."""
    vectors = json.loads((CONTRACTS / "webhook_signing_doc_examples.json").read_text())
    local = vectors["locally_computed_vector_NOT_FROM_VENDOR"]
    moment = datetime.fromisoformat(local["timestamp"].replace("Z", "+00:00"))
    verify_zendesk_signature(local["signing_secret"], local["raw_body"].encode(),
                             local["expected_signature_timestamp_plus_body"], local["timestamp"],
                             now=moment + timedelta(minutes=1))
    assert vectors["headers"] == [security.ZENDESK_SIGNATURE_HEADER, security.ZENDESK_TIMESTAMP_HEADER]


@needs_shared
def test_legacy_published_vector_documents_the_ordering_contradiction() -> None:
    """Zendesk's one published worked example signs BODY+TIMESTAMP, contrary to today's formula.

    We implement the current TIMESTAMP+BODY order, so the legacy vector is refused; the second
    assertion shows the vector itself is sound under the legacy order (we read it correctly).
    """
    legacy = json.loads((CONTRACTS / "webhook_signing_doc_examples.json").read_text())["legacy_doc_worked_example"]
    moment = datetime.fromisoformat(legacy["timestamp"].replace("Z", "+00:00"))
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk_signature(legacy["signing_secret"], legacy["raw_body"].encode(), legacy["expected_signature"],
                                 legacy["timestamp"], now=moment)
    legacy_order = hmac.new(legacy["signing_secret"].encode(), (legacy["raw_body"] + legacy["timestamp"]).encode(),
                            hashlib.sha256).digest()
    assert base64.b64encode(legacy_order).decode() == legacy["expected_signature"]
