"""Explicit hostile requests against the daemon's endpoints, over a real socket where HTTP framing matters.

Each case states the answer and that the inbox (and the Slack side: audit log, decisions, replies)
holds nothing it should not. Bodies that lie about their length and bodies cut off mid-way are sent
over a raw socket; the server log must not show an unhandled exception for any of them.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.sources.signatures import jira_signature, zendesk_signature
from tests.hostile.world import (
    APPROVER_SLACK,
    SLACK_SIGNING_SECRET,
    STRANGER_SLACK,
    World,
    onboarding_until_approval_asked,
)
from tests.slack.helpers import form, slash_command_fields
from tests.slack.helpers import sign as slack_sign
from tests.support import daemon as harness

MIB = 1024 * 1024
CREATED_MS = 1793610840000


@pytest.fixture
def daemon(make_daemon):
    return make_daemon(harness.onboarding_site(["SS-1"]))


@pytest.fixture
def http(daemon):
    return TestClient(daemon.app)


def rows(daemon) -> list[Any]:
    return daemon.inbox.rows(limit=10_000)


def raw_exchange(url: str, data: bytes, *, close_write: bool = True, wait: float = 2.0) -> bytes:
    """Send bytes as they are on a fresh connection; return whatever comes back before EOF or ``wait``."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        try:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before the end (EPIPE, ECONNRESET, ENOTCONN)
            pass
        sock.settimeout(wait)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: ticketbot.test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# size and framing ---------------------------------------------------------------------------------------
def test_oversized_and_lying_bodies_are_refused_without_a_trace(daemon, caplog):
    body = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
    signed = {"X-Hub-Signature": harness.sign(body), "Content-Type": "application/json"}
    huge = b'{"webhookEvent": "jira:issue_created", "pad": "' + b"x" * MIB + b'"}'
    with caplog.at_level(logging.INFO, logger="uvicorn.error"), harness.live_server(daemon.app, lifespan="off") as url:
        # honest and over 1 MiB, signed: 413 before anything is parsed
        r = httpx.post(f"{url}/webhooks/jira", content=huge, headers=harness.jira_headers(huge))
        assert (r.status_code, r.json()) == (413, {"error": f"body over {MIB} bytes"})
        # chunked, no Content-Length, over the limit: cut off while reading
        chunks = (b"x" * 65536 for _ in range(17))
        assert httpx.post(f"{url}/webhooks/jira", content=chunks, headers=signed).status_code == 413
        # declares 10 MiB, sends little: refused on the declaration alone
        answer = raw_exchange(url, head("/webhooks/jira", {**signed, "Content-Length": str(10 * MIB)}) + body)
        assert status_of(answer) == 413
        # declares less than it sends: only the declared bytes are the body (not what was signed), and what
        # follows is read as the next request on the connection, not as more body
        follows = b"GET /healthz HTTP/1.1\r\nHost: ticketbot.test\r\nConnection: close\r\n\r\n"
        answer = raw_exchange(url, head("/webhooks/jira", {**signed, "Content-Length": "40"}) + body[:40] + follows,
                              close_write=False, wait=5)  # the server closes after the second answer
        # (the second answer is /healthz's own: 503 here, as this server runs no workers)
        assert status_of(answer) == 401 and answer.count(b"HTTP/1.1 ") == 2 and b'"database"' in answer
        # declares more than it sends, then closes: the body ends early; no answer can reach it, nothing is kept
        raw_exchange(url, head("/webhooks/jira", {**signed, "Content-Length": str(len(body) + 500)}) + body)
        # chunked, cut off inside a chunk
        raw_exchange(url, head("/webhooks/jira", {**signed, "Transfer-Encoding": "chunked"})
                     + b"ffff\r\n" + body)
        # malformed framing: h11 answers 400 itself
        for framing in ({"Content-Length": "abc"}, {"Content-Length": "-1"},
                        {"Content-Length": f"{len(body)}", "content-length": "5"}):
            assert status_of(raw_exchange(url, head("/webhooks/jira", {**signed, **framing}) + body)) == 400
        # honest, chunked, under the limit, correctly signed: accepted (the chunked path works at all)
        r = httpx.post(f"{url}/webhooks/jira", content=iter([body[:100], body[100:]]), headers=signed)
        assert r.status_code == 202 and r.json()["status"] == "queued"
        time.sleep(0.2)  # let the server finish the abandoned requests before looking at its log
    assert [r.dedup_key for r in rows(daemon)] == [r.json()["id"]]
    unhandled = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert unhandled == []  # "Exception in ASGI application" (ClientDisconnect) before the fix


def test_slack_events_have_the_same_limits(world: World, caplog):
    body = b"payload=" + b"x" * (MIB + 1)
    with caplog.at_level(logging.INFO, logger="uvicorn.error"), \
            harness.live_server(world.daemon.app, lifespan="off") as url:
        r = httpx.post(f"{url}/slack/events", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413  # refused before bolt buffers or verifies it
        signed_form = form(slash_command_fields("approve SS-101", APPROVER_SLACK, world.slack.new_response_url()))
        headers = {**slack_sign(signed_form, SLACK_SIGNING_SECRET), "Content-Length": "5000"}
        raw_exchange(url, head("/slack/events", headers) + signed_form.encode())  # ends early, then closes
        time.sleep(0.2)
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []
    assert world.decisions() == [] and world.audit() == []


# what the body says ---------------------------------------------------------------------------------------
TEXT = {"webhookEvent": "jira:issue_created", "timestamp": CREATED_MS, "issue": {"key": "SS-1", "fields": {
    "summary": "EverBright Partner Onboarding", "description": "Installer name: Société Solaire Zürich"}}}
PLAIN = json.dumps(TEXT, ensure_ascii=False)
REFUSED_BODIES = {
    "truncated JSON": harness.encode(harness.onboarding_created("SS-1", CREATED_MS))[:-7],
    "empty": b"",
    "latin-1": PLAIN.encode("latin-1"),
    "UTF-16 with BOM": PLAIN.encode("utf-16"),
    "UTF-16-BE without BOM": PLAIN.encode("utf-16-be"),
    "UTF-32": PLAIN.encode("utf-32"),
    "invalid UTF-8 byte": PLAIN.encode() + b"\xff",
    "overlong UTF-8 slash": PLAIN.encode().replace(b"Soci", b"\xc0\xafSoci"),
    "UTF-8 encoded surrogate (CESU)": PLAIN.encode().replace(b"Soci", b"\xed\xa0\x80Soci"),
    "lone surrogate escape": PLAIN.replace("Soci", "\\ud800Soci").encode(),
    "NaN": PLAIN.replace(str(CREATED_MS), "NaN").encode(),
    "Infinity timestamp": PLAIN.replace(str(CREATED_MS), "Infinity").encode(),
    "timestamp beyond year 9999": PLAIN.replace(str(CREATED_MS), "1e300").encode(),
    "nested 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "NUL in the ticket key": PLAIN.replace('"SS-1"', '"SS-1\\u0000"').encode(),
    "a list": b"[1, 2]",
    "no issue": b'{"webhookEvent": "jira:issue_created", "timestamp": 1}',
}


@pytest.mark.parametrize("case", REFUSED_BODIES, ids=list(REFUSED_BODIES))
def test_bodies_that_are_not_utf8_json_events_are_refused_400(daemon, http, case):
    body = REFUSED_BODIES[case]
    r = http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body))  # correctly signed
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(("body is not JSON", "not a jira event")), r.json()
    assert rows(daemon) == []


def test_a_nul_in_the_ticket_key_is_refused_and_not_a_database_outage_on_postgresql(make_daemon, pg_url):
    daemon = make_daemon(harness.onboarding_site([]), db_url=pg_url)
    body = REFUSED_BODIES["NUL in the ticket key"]
    r = TestClient(daemon.app).post("/webhooks/jira", content=body, headers=harness.jira_headers(body))
    assert r.status_code == 400  # was 503 "database unavailable": PostgreSQL text holds no NUL
    assert rows(daemon) == []


def test_utf8_with_a_byte_order_mark_is_accepted_as_rfc_8259_allows(daemon, http):
    body = b"\xef\xbb\xbf" + PLAIN.encode()
    r = http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body))
    assert (r.status_code, r.json()["status"]) == (202, "queued")
    assert len(rows(daemon)) == 1


# signatures, replays ----------------------------------------------------------------------------------------
def test_unsigned_and_wrongly_signed_jira_webhooks_are_refused_401(daemon, http):
    body = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
    good = harness.sign(body).removeprefix("sha256=")
    for headers in ({}, {"X-Hub-Signature": ""}, {"X-Hub-Signature": harness.sign(body, "guessed secret")},
                    {"X-Hub-Signature": f"sha1={good}"}, {"X-Hub-Signature": good},
                    {"X-Hub-Signature": f"sha256={good[:-2]}"}, {"X-Hub-Signature": harness.sign(body + b"\n")},
                    {"Authorization": f"Bearer {good}"}, {"X-Hub-Signature-256": f"sha256={good}"}):
        r = http.post("/webhooks/jira", content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"], headers
    assert rows(daemon) == []


def test_a_replayed_delivery_is_a_noop(daemon, http):
    tracker = daemon.handler.trackers["jira"]
    body = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
    first = http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body, "delivery-1"))
    assert first.json()["status"] == "queued"
    assert daemon.workers.drain() == 1
    writes = tracker.changes()
    assert sorted(line for line in harness.lines_of(writes, "SS-1") if "created" not in line) == sorted(
        harness.INTAKE_LINES
    )
    # the same delivery again (Jira's retry, or someone replaying a captured request), after processing
    again = http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body, "delivery-1"))
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    other = harness.encode(
        harness.onboarding_created("SS-2", CREATED_MS)
    )  # and a delivery without the identifier, twice
    assert http.post("/webhooks/jira", content=other, headers=harness.jira_headers(other)).json()["status"] == "queued"
    assert (
        http.post("/webhooks/jira", content=other, headers=harness.jira_headers(other)).json()["status"] == "duplicate"
    )
    assert daemon.workers.drain() == 1
    assert harness.lines_of(tracker.changes(), "SS-1") == harness.lines_of(writes, "SS-1")  # nothing applied twice
    assert len(rows(daemon)) == 2


def test_a_replay_with_a_forged_delivery_identifier_is_a_noop(daemon, http):
    body = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
    assert (
        http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body, "delivery-1")).status_code == 202
    )
    daemon.workers.drain()
    for forged in ("delivery-1-replayed", None):  # the signature still matches: it covers the body only
        r = http.post("/webhooks/jira", content=body, headers=harness.jira_headers(body, forged))
        assert (r.status_code, r.json()["status"]) == (202, "duplicate")
    assert len(rows(daemon)) == 1


def test_zendesk_signatures_must_be_fresh_and_cover_timestamp_then_body(daemon, http, clock):
    body = b'{"ticketbot": "zendesk-trigger/1", "event": "ticket.created", "ticket": {"id": "123"}}'
    now = clock.now()

    def signed(at: str, secret: str = harness.ZENDESK_SECRET, *, signed_at: str | None = None,
               message: bytes | None = None) -> dict[str, str]:
        if message is None:
            signature = zendesk_signature(secret, body, signed_at or at)
        else:
            signature = base64.b64encode(__import__("hmac").new(secret.encode(), message, "sha256").digest()).decode()
        return {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": at}

    stale, future = (now - timedelta(minutes=6)).isoformat(), (now + timedelta(minutes=6)).isoformat()
    refused = {
        "stale (6 minutes old)": signed(stale),
        "from the future": signed(future),
        "timestamp swapped after signing": signed(now.isoformat(), signed_at=stale),
        "legacy body+timestamp order": signed(now.isoformat(), message=body + now.isoformat().encode()),
        "not an ISO time": signed("1793610840"),
        "wrong secret": signed(now.isoformat(), "dGhpcyBpcyBub3QgaXQ="),
        "no timestamp": {"X-Zendesk-Webhook-Signature": zendesk_signature(harness.ZENDESK_SECRET, body, "")},
        "nothing": {},
    }
    for case, headers in refused.items():
        r = http.post("/webhooks/zendesk", content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"], case
    assert rows(daemon) == []
    fresh = http.post("/webhooks/zendesk", content=body, headers=signed((now - timedelta(minutes=4)).isoformat()))
    assert fresh.status_code == 202
    replay = http.post("/webhooks/zendesk", content=body, headers=signed(now.isoformat()))
    assert replay.json()["status"] == "duplicate"  # the same trigger body re-sent: recorded once
    assert len(rows(daemon)) == 1


def test_slack_requests_must_be_fresh_and_signed_and_a_replay_decides_nothing_twice(world: World):
    onboarding_until_approval_asked(world)
    now = int(time.time())
    for case, kwargs in {"stale": {"timestamp": now - 6 * 60}, "from the future": {"timestamp": now + 6 * 60},
                         "wrong secret": {"secret": "guessed-signing-secret"}}.items():
        status, ack, posts = world.slash("approve SS-101", APPROVER_SLACK, **kwargs)
        assert (status, ack, posts) == (401, "", []), case
    body = form(slash_command_fields("approve SS-101", APPROVER_SLACK, world.slack.new_response_url()))
    for headers in ({"Content-Type": "application/x-www-form-urlencoded"},
                    {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": "v0=" + "0" * 64,
                     "X-Slack-Request-Timestamp": str(now)}):
        assert world.http.post("/slack/events", content=body, headers=headers).status_code == 401
    assert world.decisions() == [] and world.audit() == []
    assert world.stage("SS-101") == "awaiting-approval"
    # A correctly signed request sent twice (a replay within Slack's 5 minutes): one approval
    headers = slack_sign(body, SLACK_SIGNING_SECRET)
    assert world.http.post("/slack/events", content=body, headers=headers).status_code == 200
    assert world.http.post("/slack/events", content=body, headers=headers).status_code == 200
    world.drain()
    assert len(world.decisions()) == 1 and world.stage("SS-101") == "approved"
    assert [e.outcome for e in world.audit(actor=APPROVER_SLACK)] == ["done", "duplicate"]
    assert world.audit(actor=STRANGER_SLACK) == []


def test_jira_signature_is_checked_before_the_body_is_read_as_json(daemon, http):
    """A wrong signature on a body that would also be malformed is a 401, not a 400 (no parser oracle)."""
    for body in (b"{", b"\xff\xfe", REFUSED_BODIES["nested 100 000 deep"]):
        r = http.post("/webhooks/jira", content=body, headers={"X-Hub-Signature": jira_signature("x", body)})
        assert r.status_code == 401
    assert rows(daemon) == []


@pytest.mark.parametrize(("body", "timestamp", "expected"), [
    (b"payload=4711", None, 400),  # bolt read it as a payload and broke on it (500) before it checked anything
    (b"payload=%7B", None, 400),
    (b'{"type": "block_actions", "actions": "x"', None, 400),
    (b"payload=%7B", "not-a-number", 401),
    (b"\xff\xfe", None, 401),  # not UTF-8: cannot be a signed Slack request
], ids=["payload not an object", "payload not JSON", "JSON cut off", "timestamp not a number", "not UTF-8"])
def test_slack_bodies_bolt_cannot_read_are_refused_not_a_server_error(world: World, body, timestamp, expected):
    import hashlib
    import hmac

    stamp = timestamp or str(int(time.time()))
    signature = "v0=" + hmac.new(SLACK_SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    response = world.http.post("/slack/events", content=body, headers={
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == expected and response.json()["error"]
    unsigned = world.http.post("/slack/events", content=body, headers={"Content-Type": "text/plain"})
    assert unsigned.status_code == 401  # unsigned, whatever the body: the signature is checked first
    assert world.decisions() == [] and world.audit() == []
