"""``POST /slack/events`` for the daemon's FastAPI app.

Slash commands, interactivity (buttons) and Events API callbacks all go to this one URL; bolt tells
them apart, verifies the signature (401 when it is missing, wrong or older than 5 minutes) and
answers ``url_verification``. ``App.dispatch`` is synchronous and waits up to 3 s for the ack,
so it runs in the thread pool instead of blocking the event loop. A body over 1 MiB is refused (413)
before bolt reads it, and one that ends early (the sender went away) is answered 400.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from bot.sources.common import read_limited

EVENTS_PATH = "/slack/events"
#: Slack's own payloads are a few kilobytes; anything near this is not from Slack.
MAX_BODY_BYTES = 1024 * 1024


def slack_router(app: App, *, path: str = EVENTS_PATH, max_body_bytes: int = MAX_BODY_BYTES,
                 signing_secret: str | None = None) -> APIRouter:
    """A router with the single Slack endpoint; mount it with ``fastapi_app.include_router(...)``.

    With ``signing_secret`` (the app's), the signature is checked before bolt parses the body, so an
    unsigned body that bolt cannot parse (not UTF-8, a ``payload`` that is not JSON) is a 401 like any
    unsigned request; such a body that is signed is a 400. Bolt checks the signature again either way.
    """
    router = APIRouter(tags=["slack"])
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    @router.post(path, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        """Hand the raw request to bolt (the raw body is what the signature covers).

        Read with a limit, before bolt verifies anything: an unsigned 1 GB body must not be buffered.
        """
        try:
            body = await read_limited(request, max_body_bytes)
        except ClientDisconnect:  # the sender went away mid-body: nobody is there to answer
            return JSONResponse({"error": "the request body ended before it was complete"}, status_code=400)
        if body is None:
            return JSONResponse({"error": f"body over {max_body_bytes} bytes"}, status_code=413)
        if verifier is not None and not _verified(verifier, body, request.headers):
            return JSONResponse({"error": "missing, invalid or stale Slack signature"}, status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
        except Exception:  # noqa: BLE001 - not UTF-8, a payload that is not a JSON object…: bolt reads the
            # body before it verifies the signature, and raises whatever its parsing meets
            return JSONResponse({"error": "body is not a Slack request"}, status_code=400)
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    return router


def _verified(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    try:
        return verifier.is_valid_request(body, dict(headers))
    except ValueError:  # a timestamp that is not a number
        return False
