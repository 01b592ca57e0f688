"""Slack's Socket Mode server, as Slack speaks it, over a real websocket on 127.0.0.1.

What it does is what docs.slack.dev/apis/events-api/using-socket-mode describes:

* ``apps.connections.open`` (answered by :class:`~tests.fakes.fake_slack.FakeSlack`, which asks
  :meth:`FakeSocketMode.new_url`) hands out a one-time ``ws://`` URL (Slack's are ``wss://``);
* on each connection the server first sends ``{"type": "hello", …}``;
* :meth:`FakeSocketMode.send` pushes an envelope (``envelope_id``, ``type``, ``payload``,
  ``accepts_response_payload``, ``retry_attempt``/``retry_reason`` for events) on the newest
  connection; the app acks with ``{"envelope_id": …}`` (and a ``payload`` when it answers);
* :meth:`FakeSocketMode.refresh` sends ``{"type": "disconnect", "reason": "refresh_requested"}`` on the
  current connection, as Slack does every few hours; new envelopes go to the app's next connection,
  and the old one is left open for the app to close.

Every ack is recorded with the time it took (:meth:`FakeSocketMode.wait_ack`), and every connection
with how it ended (a close frame from the app, or dropped). The server runs its own event loop in a
thread, so tests drive it from synchronous code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HELLO = {"type": "hello", "num_connections": 1,
         "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
         "connection_info": {"app_id": "A0TICKETBOT"}}


@dataclass
class Connection:
    """One websocket connection from the app."""

    ticket: str
    socket: ServerConnection
    opened_at: float
    closed_at: float | None = None
    #: The close code the app sent (1000: a proper close frame), None while open or when dropped.
    close_code: int | None = None
    #: True when the TCP connection went away without a close frame from the app.
    dropped: bool = False


@dataclass
class Ack:
    envelope_id: str
    sent_at: float
    acked_at: float
    payload: dict[str, Any] | None
    connection: int

    @property
    def seconds(self) -> float:
        return self.acked_at - self.sent_at


@dataclass
class FakeSocketMode:
    """The Socket Mode server. ``start()`` it, hand :meth:`new_url` to the fake Web API, ``stop()`` it."""

    host: str = "127.0.0.1"
    connections: list[Connection] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    #: False: every connection attempt is refused (Slack unreachable).
    reachable: bool = True

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-socket-mode", daemon=True)
        self._tickets: set[str] = set()
        self._sent: dict[str, float] = {}
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._server: Any = None
        self.port = 0

    # running -----------------------------------------------------------------------------
    def start(self) -> FakeSocketMode:
        self._thread.start()
        async def listen() -> Any:
            return await serve(self._serve, self.host, 0)

        self._server = self._run(listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shut() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._run(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    # apps.connections.open --------------------------------------------------------------
    def new_url(self) -> str:
        """A one-time URL for the next connection (what apps.connections.open returns)."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id=A0TICKETBOT"

    # serving -----------------------------------------------------------------------------
    async def _serve(self, socket: ServerConnection) -> None:
        ticket = (socket.request.path.split("ticket=", 1)[1:] or [""])[0].split("&", 1)[0] if socket.request else ""
        if not self.reachable or ticket not in self._tickets:
            await socket.close(code=4001 if self.reachable else 1013, reason="invalid ticket")
            return
        self._tickets.discard(ticket)
        connection = Connection(ticket, socket, time.monotonic())
        index = len(self.connections)
        await socket.send(json.dumps(HELLO))
        with self._changed:
            self.connections.append(connection)
            self._changed.notify_all()
        try:
            async for message in socket:
                self._received(index, message)
        except ConnectionClosed:
            pass
        with self._changed:
            connection.closed_at = time.monotonic()
            received = socket.protocol.close_rcvd
            connection.close_code = received.code if received is not None else None
            connection.dropped = received is None
            self._changed.notify_all()

    def _received(self, index: int, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            self.unknown.append(str(message))
            return
        envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
        if envelope_id is None or envelope_id not in self._sent:
            self.unknown.append(str(message))
            return
        with self._changed:
            self.acks.append(Ack(envelope_id, self._sent[envelope_id], time.monotonic(), data.get("payload"), index))
            self._changed.notify_all()

    # driving -----------------------------------------------------------------------------
    def wait_connections(self, count: int, timeout: float = 10) -> Connection:
        """Wait until the app has opened ``count`` connections in all; the newest."""
        self._wait(lambda: len(self.connections) >= count, timeout, f"{count} connection(s)")
        return self.connections[-1]

    def send(self, kind: str, payload: dict[str, Any], *, envelope_id: str | None = None,
             accepts_response_payload: bool = False, retry_attempt: int = 0, retry_reason: str = "") -> str:
        """Push one envelope on the newest connection; its envelope_id."""
        envelope_id = envelope_id or f"env-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                                    "accepts_response_payload": accepts_response_payload}
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        socket = self.connections[-1].socket
        self._sent[envelope_id] = time.monotonic()
        self._run(socket.send(json.dumps(envelope)))
        return envelope_id

    def refresh(self) -> None:
        """Ask the app to reconnect, as Slack does routinely: a ``disconnect`` on the current connection."""
        socket = self.connections[-1].socket
        self._run(socket.send(json.dumps({"type": "disconnect", "reason": "refresh_requested",
                                          "debug_info": {"host": "applink-fake"}})))

    def drop(self, index: int = -1) -> None:
        """Cut connection ``index`` without a close frame (a network failure, Slack going away)."""
        socket = self.connections[index].socket
        self._loop.call_soon_threadsafe(socket.transport.abort)

    def wait_ack(self, envelope_id: str, timeout: float = 10, count: int = 1) -> Ack:
        """Wait for the ``count``-th ack of an envelope (a redelivery keeps its id); that ack."""
        self._wait(lambda: len(self.acks_of(envelope_id)) >= count, timeout, f"ack {count} of {envelope_id}")
        return self.acks_of(envelope_id)[count - 1]

    def acks_of(self, envelope_id: str) -> list[Ack]:
        return [a for a in self.acks if a.envelope_id == envelope_id]

    def wait_closed(self, index: int, timeout: float = 10) -> Connection:
        """Wait until connection ``index`` has ended; it."""
        self._wait(lambda: self.connections[index].closed_at is not None, timeout, f"connection {index} closed")
        return self.connections[index]

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serving(fake_slack: Any) -> Iterator[FakeSocketMode]:
    """A Socket Mode server whose URLs the fake Web API hands out (``apps.connections.open``), for a test."""
    server = FakeSocketMode().start()
    fake_slack.socket_url = server.new_url
    try:
        yield server
    finally:
        server.stop()
