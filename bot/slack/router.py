"""``POST /slack/events`` for the daemon's FastAPI app.

Slash commands, interactivity (buttons) and Events API callbacks all go to this one URL; bolt tells
them apart, verifies the signature (401 when it is missing, wrong or older than 5 minutes) and
answers ``url_verification``. ``App.dispatch`` is synchronous and waits up to 3 s for the ack,
so it runs in the thread pool instead of blocking the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

EVENTS_PATH = "/slack/events"


def slack_router(app: App, *, path: str = EVENTS_PATH) -> APIRouter:
    """A router with the single Slack endpoint; mount it with ``fastapi_app.include_router(...)``."""
    router = APIRouter(tags=["slack"])

    @router.post(path, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        """Hand the raw request to bolt (the raw body is what the signature covers)."""
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    return router
