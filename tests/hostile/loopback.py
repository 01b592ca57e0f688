"""The fake Jira and the fake Slack served over real loopback HTTP, instead of through ``responses``.

With ``responses`` a request never reaches urllib3 (nor http.client), so the transport's own logging
never runs. Here the bot's clients go all the way to a socket: the ``jira`` library over requests and
urllib3 (Basic auth), slack_sdk over urllib routed through requests (Bearer token), bolt's
``respond`` to the response_url. One server, routed by path: ``/rest/…`` to the fake Jira, ``/api/…``
to the fake Slack's Web API, ``/hooks/…`` to its response URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

from requests.structures import CaseInsensitiveDict

from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack


class _Router(BaseHTTPRequestHandler):
    jira: FakeJira
    slack: FakeSlack
    base: str
    lock = threading.Lock()  # the fakes are not thread-safe; the bot's calls are sequential anyway

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = SimpleNamespace(method=self.command, url=self.base + self.path,
                                  headers=CaseInsensitiveDict(dict(self.headers.items())),
                                  body=self.rfile.read(length) if length else b"")
        with self.lock:
            if self.path.startswith("/rest/"):
                status, headers, text = self.jira._serve(request)
            elif self.path.startswith("/api/"):
                status, headers, text = self.slack._web_api(request)  # type: ignore[arg-type]
            elif self.path.startswith("/hooks/"):
                status, headers, text = self.slack._hook(request)  # type: ignore[arg-type]
            else:
                status, headers, text = 404, {}, "not served"
        payload = text.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the server side is not the bot, and stderr is part of what the tests inspect."""


def free_server() -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", 0), _Router)


@contextmanager
def serving(server: ThreadingHTTPServer, jira: FakeJira, slack: FakeSlack) -> Iterator[str]:
    """Serve both fakes on ``server`` until the block ends; yields the base URL."""
    base = f"http://127.0.0.1:{server.server_address[1]}"
    handler = type("Router", (_Router,), {"jira": jira, "slack": slack, "base": base})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, name="fakes-over-loopback", daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
