"""Property-based fuzzing of the daemon's own HTTP endpoints (``/webhooks/jira``, ``/webhooks/zendesk``,
``/healthz``, ``/metrics``) in process, through the real FastAPI app, inbox and SQLite database.

For every generated request: never a 5xx (the database is up, so not even the documented 503) and
never an unhandled exception (the test client re-raises them); a refusal is 400/401 with an
``error`` text and leaves the inbox exactly as it was; an acceptance (202) names the row it
recorded, that row exists once, and the same delivery again is a ``duplicate`` that adds nothing.
Unsigned or wrongly signed requests are always 401, whatever their body.

Schemathesis is not used: the app publishes no OpenAPI document (``openapi_url=None``, on purpose),
and every interesting request must carry an HMAC of its own generated body, which a schema-driven
generator cannot compute; hypothesis builds the bodies and signs them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.inbox.queue import DEAD
from bot.sources.signatures import zendesk_signature
from tests.hostile.fuzz import ANY_CHAR, jira_bodies, zendesk_bodies
from tests.support.daemon import ZENDESK_SECRET, onboarding_site, sign, wait_until

#: More (and freshly random) examples with TICKETBOT_FUZZ_EXAMPLES=2000; the default run is derandomized.
EXAMPLES = int(os.environ.get("TICKETBOT_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 150, deadline=None, derandomize=EXAMPLES is None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@pytest.fixture
def daemon(make_daemon):
    return make_daemon(onboarding_site(["SS-1"]))


@pytest.fixture
def client(daemon):
    """The app with its lifespan (workers process what was accepted, as in production). Afterwards,
    every accepted event was processed, set aside or dead-lettered as malformed: no worker crashed."""
    with TestClient(daemon.app) as http:
        yield http
        wait_until(lambda: daemon.inbox.depth() == 0, timeout=30)
        assert daemon.workers.alive
    crashed = [(row.dedup_key, row.last_error) for row in daemon.inbox.rows(limit=100_000)
               if row.status == DEAD and not (row.last_error or "").startswith("MalformedEvent")]
    assert crashed == []


def inbox_keys(daemon) -> list[str]:
    return [row.dedup_key for row in daemon.inbox.rows(limit=100_000)]


def check_answer(client: TestClient, daemon, path: str, body: bytes, headers: dict[str, str], *,
                 signed: bool) -> dict[str, Any] | None:
    """POST once (and again when accepted); assert the answer and the inbox. Returns the accepted reply."""
    before = inbox_keys(daemon)
    response = client.post(path, content=body, headers=headers)
    event(f"{path} {response.status_code}")
    assert response.status_code in (202, 400, 401), (response.status_code, response.text, body[:200])
    reply = response.json()
    if not signed:
        assert response.status_code == 401, (reply, body[:200])
    if response.status_code != 202:
        assert isinstance(reply.get("error"), str) and reply["error"].strip(), reply
        assert inbox_keys(daemon) == before, "a refused request changed the inbox"
        return None
    assert signed
    assert reply["status"] in ("queued", "ignored", "duplicate"), reply
    after = inbox_keys(daemon)
    assert after.count(reply["id"]) == 1, "the accepted event is not recorded exactly once"
    assert len(after) == len(before) + (0 if reply["status"] == "duplicate" else 1)
    again = client.post(path, content=body, headers=headers)
    assert (again.status_code, again.json()) == (202, {"status": "duplicate", "id": reply["id"]})
    assert inbox_keys(daemon) == after
    return reply


# Jira ------------------------------------------------------------------------------------------------------
def jira_signature_variants(body: bytes) -> st.SearchStrategy[tuple[str | None, bool]]:
    """(X-Hub-Signature value or None, whether it is a valid signature of ``body``); valid 3 times in 4."""
    good = sign(body).removeprefix("sha256=")
    valid = st.sampled_from([(f"sha256={good}", True), (f"SHA256={good.upper()}", True), (f"sha256= {good}", True)])
    invalid = st.sampled_from([
        (None, False), ("", False), ("sha256=", False), (f"sha1={good}", False), (good, False),
        (sign(body, "not the secret"), False), (sign(body + b" "), False), (f"sha256={good[:-1]}", False),
    ]) | HEADER_TEXT.map(lambda text: (text, False))
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: valid if ok else invalid)


@FUZZ
@given(data=st.data(), body=jira_bodies(),
       delivery=st.none() | HEADER_TEXT.filter(lambda s: s.strip() == s))
def test_jira_webhook_never_breaks_and_records_exactly_what_it_accepts(client, daemon, data, body, delivery):
    signature, valid = data.draw(jira_signature_variants(body))
    headers = {"Content-Type": data.draw(st.sampled_from(["application/json", "text/plain", "application/xml"]))}
    if signature is not None:
        headers["X-Hub-Signature"] = signature
    if delivery:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    check_answer(client, daemon, "/webhooks/jira", body, headers, signed=valid)


# Zendesk ---------------------------------------------------------------------------------------------------
def zendesk_header_variants(body: bytes, now: str, stale: str) -> st.SearchStrategy[tuple[dict[str, str], bool]]:
    good = zendesk_signature(ZENDESK_SECRET, body, now)
    sig, ts = "X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"
    invalid = st.sampled_from([
        ({}, False), ({sig: good}, False), ({ts: now}, False),
        ({sig: zendesk_signature(ZENDESK_SECRET, body, stale), ts: stale}, False),  # signed 10 minutes ago
        ({sig: zendesk_signature("not the secret", body, now), ts: now}, False),
        ({sig: zendesk_signature(ZENDESK_SECRET, body + b"\n", now), ts: now}, False),
        ({sig: good, ts: now + " "}, False),  # the signed timestamp differs from the one sent
        ({sig: zendesk_signature(ZENDESK_SECRET, body, "yesterday"), ts: "yesterday"}, False),
    ]) | HEADER_TEXT.map(lambda text: ({sig: text, ts: now}, False))
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda ok: st.just(({sig: good, ts: now}, True)) if ok else invalid)


@FUZZ
@given(data=st.data(), body=zendesk_bodies())
def test_zendesk_webhook_never_breaks_and_records_exactly_what_it_accepts(client, daemon, clock, data, body):
    now = clock.now().isoformat()
    stale = (clock.now() - timedelta(minutes=10)).isoformat()
    headers, valid = data.draw(zendesk_header_variants(body, now, stale))
    check_answer(client, daemon, "/webhooks/zendesk", body, {"Content-Type": "application/json", **headers},
                 signed=valid)


# the other routes --------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=60)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
       path=st.sampled_from(["/healthz", "/metrics", "/webhooks/jira", "/webhooks/zendesk", "/webhooks/slack",
                             "/webhooks", "/", "/docs", "/openapi.json", "/healthz/..", "/metrics?x=1"])
       | st.text(ANY_CHAR.filter(lambda c: c.isprintable() and c not in "?#"), max_size=20).map(lambda s: "/" + s),
       query=st.dictionaries(HEADER_TEXT, HEADER_TEXT, max_size=3),
       headers=st.dictionaries(st.sampled_from(["Accept", "X-Forwarded-For", "Authorization", "Cookie",
                                                "Content-Type", "X-Hub-Signature"]), HEADER_TEXT, max_size=3))
def test_any_method_on_any_path_gets_a_client_error_or_its_answer(client, daemon, method, path, query, headers):
    before = inbox_keys(daemon)
    response = client.request(method, path, params=query, headers=headers)
    assert response.status_code < 500, (method, path, response.status_code, response.text)
    bare = path.split("?")[0]
    if method == "GET" and bare == "/healthz":
        assert response.status_code == 200 and response.json()["database"] == "ok"
    elif method == "GET" and bare == "/metrics":
        assert response.status_code == 200 and "ticketbot_events_received_total" in response.text
    elif method == "POST" and bare in ("/webhooks/jira", "/webhooks/zendesk"):
        assert response.status_code in (400, 401)  # no body, no valid signature
    else:
        assert response.status_code in (404, 405), (method, path, response.status_code)
    assert inbox_keys(daemon) == before
