"""The HTTP face of ``ticketbot run``: webhooks in, health and metrics out.

``create_app(...)`` returns the FastAPI app; other areas add their routes with
``app.include_router(...)``, as Slack's ``/slack/events`` does (:mod:`bot.daemon.slack`).

Health: ``GET /livez`` is 200 while the process and its event loop answer at all; ``GET /readyz`` is 200
when the database answers (and, on SQLite, is still the file opened at start), the intake file is
writable and the workers and scheduler run, else 503 with a JSON report saying what is wrong (see
:mod:`bot.daemon.health`); ``GET /healthz`` is the same as ``/readyz``, kept for existing checks.

A webhook is answered only after its event is committed to the inbox. Answers:
413 body over the limit, 403 endpoint closed (no secret configured and not explicitly
opened), 401 signature missing/invalid/stale, 400 not UTF-8 JSON (:func:`read_json`), not an
event, or a body that ended before it was complete, 202 accepted
(``queued``, ``duplicate``: already received, or ``ignored``: unknown event type, recorded),
503 database unavailable (the sender retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from bot.clock import Clock
from bot.inbox.metrics import CONTENT_TYPE, Metrics
from bot.inbox.queue import Inbox, dedup_key
from bot.model import UNKNOWN, Event
from bot.sources.common import read_limited
from bot.sources.signatures import (
    JIRA_SIGNATURE_HEADER,
    ZENDESK_SIGNATURE_HEADER,
    ZENDESK_TIMESTAMP_HEADER,
    SignatureError,
)

log = logging.getLogger(__name__)

#: Bodies up to this size are verified and parsed on the event loop (well under a millisecond).
INLINE_BODY_BYTES = 64 * 1024
#: The only request header kept with an event (never the signature, never auth).
KEPT_HEADERS = ("x-atlassian-webhook-identifier",)
#: The header a Jira Automation "Send web request" action carries the shared secret in.
JIRA_AUTOMATION_SECRET_HEADER = "X-Ticketbot-Automation-Secret"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    outcome: str  # metrics label


@dataclass
class Endpoint:
    """One webhook source: how to verify a request and how to read its body as an Event."""

    source: str
    parse: Callable[[Any, Mapping[str, str]], Event]
    verify: Callable[[bytes, Mapping[str, str]], None] | None  # raises SignatureError; None: open
    malformed: tuple[type[Exception], ...] = (ValueError,)
    closed_reason: str = ""  # set when neither a secret nor an explicit opening is configured
    #: The body alone identifies the event (Jira's carries its timestamp and ids): a body seen before
    #: is a duplicate whatever delivery identifier comes with it (the signature covers the body only).
    body_identifies_event: bool = False


@dataclass
class Intake:
    """Verify, parse and record webhooks; the HTTP layer maps the outcome to a status."""

    inbox: Inbox
    metrics: Metrics
    clock: Clock
    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def receive(self, source: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """Verify, parse and commit one webhook (blocking)."""
        checked = self.check(source, body, headers)
        if isinstance(checked, Reply):
            return checked
        try:
            new = self.inbox.add(**checked.row())
            return checked.reply(new, self._original(checked, new))
        except SQLAlchemyError as exc:
            return _unavailable(source, exc)

    async def receive_async(self, source: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """:meth:`receive` on the event loop: no thread hop, the commit is awaited (small bodies only)."""
        checked = self.check(source, body, headers)
        if isinstance(checked, Reply):
            return checked
        try:
            new = await self.inbox.add_async(**checked.row())
            return checked.reply(new, self._original(checked, new))
        except SQLAlchemyError as exc:
            return _unavailable(source, exc)

    def _original(self, checked: Accepted, new: bool) -> str:
        """The inbox key of the event a duplicate repeats (its body may have come under another identifier)."""
        if new or checked.body_digest is None:
            return checked.key
        return self.inbox.key_of_body(checked.body_digest) or checked.key

    def check(self, source: str, body: bytes, headers: Mapping[str, str]) -> Reply | Accepted:
        """Everything before the commit: signature, JSON, the source's parser."""
        endpoint = self.endpoints[source]
        if endpoint.closed_reason:
            return Reply(403, {"error": endpoint.closed_reason}, "forbidden")
        if endpoint.verify is not None:
            try:
                endpoint.verify(body, headers)
            except SignatureError as exc:
                return Reply(401, {"error": str(exc)}, "unauthorized")
        try:
            payload = read_json(body)
        except ValueError as exc:
            return Reply(400, {"error": str(exc)}, "bad_request")
        try:
            event = endpoint.parse(payload, headers)
        except endpoint.malformed as exc:
            return Reply(400, {"error": f"not a {source} event: {exc}"}, "bad_request")
        if _CONTROL.search(event.ticket_key or "") or _CONTROL.search(event.id or ""):
            # a NUL cannot even be stored in a PostgreSQL text column: refused here, not a 503 later
            return Reply(400, {"error": f"not a {source} event: its id or ticket key holds control characters"},
                         "bad_request")
        kept = {name: headers[name] for name in KEPT_HEADERS if headers.get(name)}
        envelope = {"source": source, "headers": kept, "body": payload, "received_at": self.clock.now().isoformat()}
        ignored = f"unknown event type {event.raw_type!r}" if event.kind == UNKNOWN else ""
        digest = hashlib.sha256(body).hexdigest() if endpoint.body_identifies_event else None
        return Accepted(source, dedup_key(source, event), event, envelope, ignored, digest)


@dataclass(frozen=True)
class Accepted:
    """A verified, parsed webhook, ready to be committed to the inbox."""

    source: str
    key: str
    event: Event
    envelope: dict[str, Any]
    ignored: str
    body_digest: str | None = None

    def row(self) -> dict[str, Any]:
        return {"key": self.key, "source": self.source, "event": self.event, "envelope": self.envelope,
                "ignored": self.ignored, "body_digest": self.body_digest}

    def reply(self, new: bool, original: str = "") -> Reply:
        if not new:
            return Reply(202, {"status": "duplicate", "id": original or self.key}, "duplicate")
        if self.ignored:
            return Reply(202, {"status": "ignored", "reason": self.ignored, "id": self.key}, "ignored")
        return Reply(202, {"status": "queued", "id": self.key}, "queued")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


#: Deepest JSON nesting a webhook body may have. Python's parser gives up somewhere short of 1,000 levels,
#: depending on how deep the stack already is; a fixed limit well below that gives every body the same
#: answer wherever it is parsed, and leaves room for each later ``json.dumps``/``loads`` of the stored
#: body (the inbox, a worker). A real webhook nests a few dozen levels; 640 still takes a description
#: of 300 ADF levels (two JSON levels each), which the sources flatten (bot/trackers/jira/model.py).
MAX_JSON_DEPTH = 640


def read_json(body: bytes) -> Any:
    """The body as JSON text as RFC 8259 has it (UTF-8, a leading BOM ignored), else ValueError saying why.

    Refused besides what ``json`` refuses: other encodings (UTF-16, latin-1), ``NaN``/``Infinity``,
    nesting deeper than :data:`MAX_JSON_DEPTH`, and lone surrogate escapes (``"\\ud800"``), which are
    no Unicode text and could not be stored or hashed later.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("body is not JSON (not UTF-8 text)") from None
    too_deep = f"body is not JSON ticketbot accepts (nested deeper than {MAX_JSON_DEPTH} levels)"
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(too_deep) from None
    except ValueError:
        raise ValueError("body is not JSON") from None
    # A body with fewer brackets than the limit cannot nest deeper: most bodies skip the walk.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(payload) > MAX_JSON_DEPTH:
        raise ValueError(too_deep)
    # Valid UTF-8 cannot carry a surrogate: only a \uD800-\uDFFF escape can, so most bodies skip the walk.
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(payload):
        raise ValueError("body is not JSON ticketbot accepts (a string holds a lone surrogate escape)")
    return payload


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(payload: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How many arrays and objects deep ``payload`` nests, counted up to ``limit + 1``: level by level
    (no recursion), and only containers are kept for the next level."""
    depth, level = 0, [payload] if isinstance(payload, dict | list) else []
    while level and depth <= limit:
        depth += 1
        level = [child for value in level for child in (value.values() if isinstance(value, dict) else value)
                 if isinstance(child, dict | list)]
    return depth


def _holds_surrogate(payload: Any) -> bool:
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _unavailable(source: str, exc: Exception) -> Reply:
    log.error("could not record a %s webhook: %s", source, exc.__class__.__name__)
    return Reply(503, {"error": "database unavailable, retry later"}, "unavailable")


def create_app(intake: Intake, metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]], *,
               max_body_bytes: int = 1024 * 1024, on_startup: Callable[[], None] | None = None,
               on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """The ASGI app. ``on_startup``/``on_shutdown`` run in the lifespan (workers, scheduler)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            await run_in_threadpool(on_startup)
        try:
            yield
        finally:
            if on_shutdown:
                await run_in_threadpool(on_shutdown)

    app = FastAPI(title="ticketbot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def webhook(source: str, request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await read_limited(request, max_body_bytes)
        except ClientDisconnect:  # the sender went away mid-body (or lied about its length): nothing recorded
            reply = Reply(400, {"error": "the request body ended before it was complete"}, "incomplete")
        else:
            if body is None:
                reply = Reply(413, {"error": f"body over {max_body_bytes} bytes"}, "too_large")
            elif len(body) <= INLINE_BODY_BYTES:
                reply = await intake.receive_async(source, body, request.headers)
            else:  # parsing a big body would hold up every other request on the loop
                reply = await run_in_threadpool(intake.receive, source, body, request.headers)
        metrics.received.labels(source, reply.outcome).inc()
        metrics.ack.labels(source).observe(time.perf_counter() - started)
        return JSONResponse(reply.body, status_code=reply.status)

    for source in intake.endpoints:
        app.add_api_route(f"/webhooks/{source}", _bind(webhook, source), methods=["POST"],
                          name=f"webhook_{source}", include_in_schema=False)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> Response:
        """Answered on the event loop itself, so an answer is the proof: nothing else is checked, as a
        restart (what an orchestrator does to a process that is not live) mends no database."""
        return JSONResponse({"status": "alive"})

    async def readyz() -> Response:
        """Whether this process can do its work now (``health``: database, intake file, workers,
        scheduler): 200, or 503 with the report saying what is wrong (take it out of rotation, alert)."""
        ok, report = await run_in_threadpool(health)
        return JSONResponse(report, status_code=200 if ok else 503)

    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/healthz", readyz, methods=["GET"], include_in_schema=False)  # before /readyz existed

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE)

    return app


def _bind(handler: Callable[..., Any], source: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return await handler(source, request)

    return endpoint


# signature checks wired to settings ----------------------------------------------------------------
def jira_verifier(secret: str) -> Callable[[bytes, Mapping[str, str]], None]:
    from bot.sources.signatures import verify_jira_signature

    def verify(body: bytes, headers: Mapping[str, str]) -> None:
        verify_jira_signature(secret, body, _header(headers, JIRA_SIGNATURE_HEADER))

    return verify


def jira_automation_verifier(secret: str) -> Callable[[bytes, Mapping[str, str]], None]:
    """Jira Automation's "Send web request" cannot sign its body: it proves itself with a header the
    admin adds to the action, holding the shared secret (compared in constant time)."""
    expected = secret.encode("utf-8")

    def verify(_body: bytes, headers: Mapping[str, str]) -> None:
        given = _header(headers, JIRA_AUTOMATION_SECRET_HEADER)
        if not given:
            raise SignatureError(f"missing {JIRA_AUTOMATION_SECRET_HEADER}")
        if not hmac.compare_digest(expected, given.strip().encode("utf-8", "replace")):
            raise SignatureError(f"{JIRA_AUTOMATION_SECRET_HEADER} is not the configured secret")

    return verify


def zendesk_verifier(secret: str, clock: Clock, max_age: float) -> Callable[[bytes, Mapping[str, str]], None]:
    from bot.sources.signatures import verify_zendesk_signature

    def verify(body: bytes, headers: Mapping[str, str]) -> None:
        verify_zendesk_signature(secret, body, _header(headers, ZENDESK_SIGNATURE_HEADER),
                                 _header(headers, ZENDESK_TIMESTAMP_HEADER), now=clock.now(), max_age=max_age)

    return verify


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Starlette's headers are case-insensitive; a plain dict (tests, replays) holds lower-case names."""
    return headers.get(name.lower())
