"""The stateful fakes of Jira and Slack (``tests/fakes``) served as real HTTP servers on loopback.

``tests/fakes/fake_jira.py`` and ``fake_slack.py`` answer ``responses`` callbacks: a request object
with ``url``, ``method``, ``headers`` and ``body`` in, ``(status, headers, text)`` out. Here a
threaded ``http.server`` builds that object from each real request, so a separate process (a live
``ticketbot run``) can talk to them over HTTP. One lock serialises every request and every change the
benchmark makes itself, as the fakes are not thread-safe. Every non-GET request is recorded with
its arrival time and body (:attr:`FakeServer.writes`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], str]


@dataclass
class Request:
    """What the fakes read of a request (the shape of ``requests.PreparedRequest``)."""

    url: str
    method: str
    headers: dict[str, str]
    body: bytes


class _Headers(dict):
    """Case-insensitive ``get`` (the fakes look up ``Content-Type`` and ``Authorization``)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


@dataclass
class Write:
    at: float  # epoch seconds
    method: str
    path: str
    body: Any


class FakeServer:
    """Serve ``handle(Request) -> (status, headers, text)`` on 127.0.0.1 in a background thread."""

    def __init__(self, handle: Callable[[Request], Reply], lock: threading.RLock) -> None:
        self.handle = handle
        self.lock = lock
        self.writes: list[Write] = []
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real API

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://127.0.0.1:{server.port}{self.path}"
                request = Request(url, self.command, _Headers(self.headers.items()), body)
                with server.lock:
                    server.requests += 1
                    if self.command != "GET":
                        server.writes.append(Write(time.time(), self.command, self.path.split("?")[0],
                                                   _json_or_text(body)))
                    try:
                        status, headers, text = server.handle(request)
                    except Exception as exc:  # noqa: BLE001 - a fake's bug must show as a 500, not a hang
                        status, headers, text = 500, {"Content-Type": "text/plain"}, f"fake failed: {exc!r}"
                data = (text or "").encode()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # a client killed mid-request (the soak SIGKILLs the daemon) resets its connection: not news
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"fake-http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
