"""Socket Mode: Slack pushes commands, clicks and events over a websocket the bot opens.

slack_sdk's asyncio client on ``websockets`` (``slack_sdk.socket_mode.websockets``), on an event
loop of its own in a thread, because it meets Slack's 3-second ack limit across a refresh: when
Slack sends ``{"type": "disconnect", "reason": "refresh_requested"}`` (every few hours) it opens
the new connection, reads it at once and closes the old one with a close frame. The built-in
client kept reading the old socket until a 3 s read timeout ran out and dropped it without a close
frame, so an envelope delivered on the new connection was acked after 3.03 s, every time: Slack
showed the user an error and delivered it again (measured against tests/fakes/fake_socket_mode.py).

Each envelope is handled off the event loop (bolt's ``App.dispatch`` is synchronous) and acted on
once: an ``envelope_id`` seen before is acked without dispatching (:mod:`bot.slack.deliveries`).
The client does not reconnect by itself after a lost connection; :meth:`SocketMode.wait_lost`
tells the daemon, which reconnects with backoff and reports the outage (bot/daemon/slack.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.socket_mode.websockets import SocketModeClient

from bot.slack.deliveries import Deliveries, MemoryDeliveries, envelope_key

log = logging.getLogger(__name__)

#: Seconds :meth:`SocketMode.connect` and :meth:`SocketMode.close` wait for the event loop.
LOOP_PATIENCE = 60.0
#: Seconds a new connection has to say ``hello``; Slack says it at once.
HELLO_TIMEOUT = 10.0


class _ConnectionsOpener:
    """The one Web API method the asyncio client calls (``apps.connections.open``), made with ticketbot's
    own WebClient in a thread: one HTTP stack and one retry policy for every call to Slack."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    async def apps_connections_open(self, *, app_token: str) -> Any:
        call = functools.partial(self.client.apps_connections_open, app_token=app_token)
        return await asyncio.get_running_loop().run_in_executor(None, call)


class SocketMode:
    """One Socket Mode connection for a bolt ``App``: :meth:`connect`, :meth:`wait_lost`, :meth:`close`."""

    def __init__(self, app: App, app_token: str, *, deliveries: Deliveries | None = None,
                 ping_interval: float = 10.0) -> None:
        self.app = app
        self.deliveries = deliveries if deliveries is not None else MemoryDeliveries()
        self._closed = False
        self._lost = threading.Event()
        self._hello: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slack-socket-mode", daemon=True)
        self._thread.start()
        self.client: SocketModeClient = self._on_loop(self._new_client(app_token, ping_interval))

    async def _new_client(self, app_token: str, ping_interval: float) -> SocketModeClient:
        """Made on the loop (the client starts its message processor there)."""
        client = SocketModeClient(app_token=app_token, logger=logging.getLogger("bot.slack.socket_mode.client"),
                                  web_client=_ConnectionsOpener(self.app.client),  # type: ignore[arg-type]
                                  auto_reconnect_enabled=False, ping_interval=ping_interval)
        client.socket_mode_request_listeners.append(self._handle)  # type: ignore[arg-type]
        client.message_listeners.append(self._on_message)  # type: ignore[arg-type]
        self._hello = asyncio.Event()
        return client

    async def _on_message(self, client: SocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        if message.get("type") == "hello" and self._hello is not None:
            self._hello.set()

    # the daemon's side ----------------------------------------------------------------------
    def connect(self) -> None:
        """Open a connection (a fresh URL from apps.connections.open); raises when Slack cannot be reached."""
        self._on_loop(self._connect())

    async def _connect(self) -> None:
        """Connected means Slack said ``hello``: a socket closed before it (Slack refusing) is a failure."""
        assert self._hello is not None
        self._hello.clear()
        self.client.wss_uri = None  # the URLs are single-use
        await self.client.connect()
        session = self.client.current_session
        hello = asyncio.ensure_future(self._hello.wait())
        closed = asyncio.ensure_future(session.wait_closed())  # type: ignore[union-attr]
        done, pending = await asyncio.wait({hello, closed}, timeout=HELLO_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if hello not in done:
            self._stop_receiving()
            await session.close()  # type: ignore[union-attr]
            raise ConnectionError("Slack closed the Socket Mode connection before saying hello"
                                  if closed in done else f"no hello from Slack within {HELLO_TIMEOUT:g}s")
        self._lost.clear()
        asyncio.ensure_future(self._watch(session))

    async def _watch(self, session: Any) -> None:
        """Wait for the connection to end; unless a refresh replaced it or we are closing, it was lost."""
        while session is not None:
            await session.wait_closed()
            if self._closed or self.client.closed:
                return
            current = self.client.current_session
            if current is not None and current is session:
                log.warning("the Slack Socket Mode connection was lost (close code %s)", current.close_code)
                self._stop_receiving()  # it would log the closed socket every ping interval until a reconnect
                self._lost.set()
                return
            session = self.client.current_session  # replaced by a refresh: watch the new one

    def wait_lost(self) -> bool:
        """Block until the connection is lost (True) or :meth:`close` is called (False)."""
        self._lost.wait()
        return not self._closed

    def close(self) -> None:
        """Close the connection with a close frame and stop the loop (shutdown)."""
        if self._closed:
            return
        self._closed = True
        self._lost.set()
        try:
            self._on_loop(self._close())
        except Exception as exc:  # noqa: BLE001 - shutting down: say so and stop the loop anyway
            log.warning("closing the Slack Socket Mode connection failed: %s", type(exc).__name__)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(LOOP_PATIENCE)

    async def _close(self) -> None:
        self._stop_receiving()  # before the close frame: a receiver reading a closed socket logs an error
        await self.client.close()

    def _stop_receiving(self) -> None:
        if self.client.message_receiver is not None:
            self.client.message_receiver.cancel()

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(LOOP_PATIENCE)

    # Slack's side -----------------------------------------------------------------------------
    async def _handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        """Ack a redelivered envelope without acting; dispatch a new one to bolt (in a thread), ack with its answer."""
        start = time.time()
        loop = asyncio.get_running_loop()
        try:
            first = await loop.run_in_executor(None, self.deliveries.first, envelope_key(req.envelope_id))
        except Exception as exc:  # noqa: BLE001 - cannot record it: no ack, Slack delivers it again
            log.warning("Slack envelope %s not acknowledged: recording it failed (%s); Slack will deliver it again",
                        req.envelope_id, type(exc).__name__)
            return
        if not first:
            log.info("Slack delivered envelope %s again; acknowledged without acting again", req.envelope_id)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        response = await loop.run_in_executor(None, run_bolt_app, self.app, req)
        await send_async_response(client, req, response, start)
