"""A stateful fake Slack: the Web API methods ticketbot uses, and ``response_url``, behind ``responses``.

It keeps users, channels, the messages posted (per conversation, with blocks) and what was sent to
each response_url. Every Web API request is checked against Slack's published OpenAPI spec
(``../shared/contracts/slack/slack_web_api_openapi_v2.json``) when it is available: the method
exists, the HTTP verb and content type are accepted, required parameters are present, no unknown
parameter is sent. Problems are appended to :attr:`FakeSlack.violations`, which tests assert empty.
The bot token is checked as Slack does (``Authorization: Bearer``; ``invalid_auth`` otherwise).
:meth:`FakeSlack.rate_limit` makes the next N calls answer 429 with ``Retry-After``; :meth:`FakeSlack.fail`
makes the next N calls of one method fail (an error code, or an HTTP 5xx).

slack_sdk talks HTTP through ``urllib``, which ``responses`` does not see: :func:`urllib_via_requests`
installs a urllib opener that hands each request to ``requests`` so that the ``responses`` mock
(and nothing on the network) answers it.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import re
import urllib.request
import urllib.response
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests
import responses

DEFAULT_BASE_URL = "https://slack.test/api/"
HOOKS_BASE_URL = "https://hooks.slack.test/"
BOT_USER_ID = "UTICKETBOT"
#: Accepted by every method though the 2021 spec does not list them: the token (also as a Bearer
#: header) and ``team_id``, which slack_sdk adds to every call of a client bound to a workspace
#: (bolt does that per request) and which Slack needs for org-wide apps.
UNIVERSAL_PARAMS = frozenset({"token", "team_id"})
#: Methods newer than the 2021 spec, checked here instead: apps.connections.open (Socket Mode) takes
#: no parameter and only an app-level token (``xapp-``).
NEWER_METHODS = frozenset({"apps.connections.open"})
Reply = tuple[int, dict[str, str], str]


# --- the spec --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodSpec:
    """One Web API method as the spec describes it (union over its HTTP verbs)."""

    verbs: frozenset[str]
    params: frozenset[str]
    required: frozenset[str]
    consumes: frozenset[str]


class SlackSpec:
    """The Web API methods of Slack's OpenAPI (Swagger 2.0) spec."""

    def __init__(self, methods: dict[str, MethodSpec]) -> None:
        self.methods = methods

    @classmethod
    def load(cls, path: Path) -> SlackSpec:
        return _load_spec(str(path))

    def accepts_json(self, method: str) -> bool:
        spec = self.methods.get(method)
        return spec is None or "application/json" in spec.consumes

    def check(self, method: str, verb: str, params: set[str], *, is_json: bool, has_bearer: bool) -> list[str]:
        """What is wrong with this call according to the spec (empty: nothing)."""
        spec = self.methods.get(method)
        if spec is None:
            return [f"{method}: not a method of the Slack Web API spec"]
        problems = []
        # Slack accepts POST for every method (slack_sdk always posts); GET only where documented.
        if verb != "POST" and verb not in spec.verbs:
            problems.append(f"{method}: HTTP {verb} not accepted (spec: {sorted(spec.verbs)})")
        if is_json and "application/json" not in spec.consumes:
            problems.append(f"{method}: JSON body not accepted (spec consumes {sorted(spec.consumes)})")
        given = params | ({"token"} if has_bearer else set())
        missing = spec.required - given
        if missing:
            problems.append(f"{method}: required parameters missing: {sorted(missing)}")
        unknown = params - spec.params - UNIVERSAL_PARAMS
        if unknown:
            problems.append(f"{method}: parameters not in the spec: {sorted(unknown)}")
        return problems


@lru_cache(maxsize=2)
def _load_spec(path: str) -> SlackSpec:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    default_consumes = document.get("consumes", [])
    methods = {}
    for route, operations in document["paths"].items():
        verbs, params, required, consumes = set(), set(), set(), set()
        for verb, operation in operations.items():
            verbs.add(verb.upper())
            consumes.update(operation.get("consumes", default_consumes))
            for parameter in operation.get("parameters", []):
                params.add(parameter["name"])
                if parameter.get("required"):
                    required.add(parameter["name"])
        methods[route.lstrip("/")] = MethodSpec(frozenset(verbs), frozenset(params), frozenset(required),
                                                frozenset(consumes))
    return SlackSpec(methods)


# --- urllib -> requests -> responses ---------------------------------------------------------


class _RequestsHandler(urllib.request.BaseHandler):
    """Answers http(s) urllib requests by sending them through ``requests``."""

    handler_order = 100  # before urllib's own HTTP(S)Handler

    def http_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        return _forward(req)

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        return _forward(req)


def _forward(req: urllib.request.Request) -> urllib.response.addinfourl:
    reply = requests.request(req.get_method(), req.full_url, headers=dict(req.header_items()), data=req.data,
                             timeout=getattr(req, "timeout", None), allow_redirects=False)
    headers = http.client.HTTPMessage()
    for name, value in reply.headers.items():
        headers[name] = value
    result = urllib.response.addinfourl(io.BytesIO(reply.content), headers, req.full_url, reply.status_code)
    result.msg = reply.reason or ""
    return result


@contextmanager
def urllib_via_requests() -> Iterator[None]:
    """While active, ``urllib.request.urlopen`` (without an explicit SSL context) goes through ``requests``."""
    urllib.request.install_opener(urllib.request.build_opener(_RequestsHandler()))
    try:
        yield
    finally:
        urllib.request.install_opener(None)  # urllib builds its default opener again on next use


# --- the fake --------------------------------------------------------------------------------


class FakeSlack:
    """Slack's Web API (auth.test, users.*, chat.postMessage, conversations.open/.history) and response_urls."""

    def __init__(self, *, base_url: str = DEFAULT_BASE_URL, token: str = "xoxb-fake-bot-token",
                 spec: SlackSpec | None = None, team_id: str = "T0TICKET", team: str = "Fake",
                 workspace_url: str = "https://fake.slack.test/",
                 app_token: str = "xapp-1-A0TICKETBOT-1-fakeapptoken") -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.app_token = app_token
        #: Set to a FakeSocketMode's ``new_url`` to answer apps.connections.open.
        self.socket_url: Callable[[], str] | None = None
        #: True: every Web API call fails as when Slack cannot be reached (a connection error).
        self.unreachable = False
        #: channel -> minimum seconds between two chat.postMessage to it (Slack: about 1); faster: 429.
        self.channel_interval: float = 0.0
        self.clock: Callable[[], float] | None = None
        self._last_post: dict[str, float] = {}
        self.throttled_posts = 0
        self.spec = spec
        self.team_id = team_id
        #: The workspace's name and web address, as auth.test answers them (Slack's ``url`` ends with ``/``).
        self.team = team
        self.workspace_url = workspace_url
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: set[str] = set()
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.response_posts: dict[str, list[dict[str, Any]]] = {}
        self.hits: list[str] = []
        self.violations: list[str] = []
        self._rate_limited = 0
        self._retry_after = 1
        self._failing: dict[str, list[tuple[int, str]]] = {}  # method -> the (HTTP status, error) of its next calls
        self._ts = 0

    # arranging ---------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str, name: str = "", *, email_visible: bool = True,
                 tz: str | None = None) -> None:
        """A workspace member (the shape of users.info / users.lookupByEmail; ``tz``: the IANA zone the member
        set, with Slack's ``tz_label`` and ``tz_offset`` beside it)."""
        profile = {"real_name": name or user_id, "display_name": name or user_id}
        if email_visible:
            profile["email"] = email
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": (name or user_id).lower(),
                               "real_name": name or user_id, "deleted": False, "is_bot": False,
                               "profile": profile, "_email": email.lower()}
        if tz is not None:
            offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
            self.users[user_id] |= {"tz": tz, "tz_label": tz, "tz_offset": int(offset.total_seconds())}

    def set_status(self, user_id: str, text: str = "", emoji: str = "", expiration: int = 0) -> None:
        """What the member shows as their status (users.profile.get; ``expiration``: epoch seconds, 0: never)."""
        self.users[user_id]["profile"] |= {"status_text": text, "status_emoji": emoji,
                                           "status_expiration": expiration}

    def add_channel(self, channel_id: str) -> None:
        self.channels.add(channel_id)

    def rate_limit(self, calls: int, *, retry_after: int = 1) -> None:
        """The next ``calls`` Web API requests get 429 with ``Retry-After: retry_after``."""
        self._rate_limited = calls
        self._retry_after = retry_after

    def fail(self, method: str, calls: int = 1, *, error: str = "fatal_error", status: int = 200) -> None:
        """The next ``calls`` requests of ``method`` fail: ``{"ok": false, "error": error}`` with HTTP ``status``
        (200, as Slack answers an error code; 500 or 503 when Slack itself is in trouble)."""
        self._failing.setdefault(method, []).extend([(status, error)] * calls)

    def new_response_url(self) -> str:
        """A response_url as Slack puts in a command or interaction payload."""
        url = f"{HOOKS_BASE_URL}commands/{self.team_id}/{len(self.response_posts) + 1}/fake{len(self.response_posts)}"
        self.response_posts[url] = []
        return url

    # looking -----------------------------------------------------------------------------

    @staticmethod
    def dm_channel(user_id: str) -> str:
        return "D" + user_id[1:]

    def dm(self, user_id: str) -> list[dict[str, Any]]:
        """Messages the bot sent to this person."""
        return self.messages.get(self.dm_channel(user_id), [])

    def in_channel(self, channel_id: str) -> list[dict[str, Any]]:
        return self.messages.get(channel_id, [])

    def count(self, method: str) -> int:
        """HTTP requests received for a method (429s included)."""
        return self.hits.count(method)

    # wiring ------------------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        """Register the Web API and response_url callbacks on a ``responses`` mock."""
        api = re.compile(re.escape(self.base_url) + r"[A-Za-z.]+(\?.*)?$")
        for verb in (responses.GET, responses.POST):
            mock.add_callback(verb, api, callback=self._web_api)
        mock.add_callback(responses.POST, re.compile(re.escape(HOOKS_BASE_URL) + ".*"), callback=self._hook)

    # the Web API -------------------------------------------------------------------------

    def _web_api(self, request: requests.PreparedRequest) -> Reply:
        method = urlsplit(request.url or "").path.rsplit("/", 1)[-1]
        if self.unreachable:
            raise requests.ConnectionError(f"{self.base_url} unreachable")
        self.hits.append(method)
        params, is_json = _params(request)
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if method in NEWER_METHODS:
            return self._newer(method, bearer, params)
        if self.spec is not None:
            self.violations += self.spec.check(method, request.method or "", set(params), is_json=is_json,
                                               has_bearer=bool(bearer))
            if is_json and not self.spec.accepts_json(method):
                params = _query(request)  # as Slack does: a JSON body is ignored where it is not accepted
        if self._rate_limited > 0:
            self._rate_limited -= 1
            return 429, {"Retry-After": str(self._retry_after), "Content-Type": "application/json"}, \
                json.dumps({"ok": False, "error": "ratelimited"})
        if self._failing.get(method):
            status, error = self._failing[method].pop(0)
            return status, {"Content-Type": "application/json"}, json.dumps({"ok": False, "error": error})
        token = bearer or str(params.get("token", ""))
        if not token:
            return _ok_false("not_authed")
        if token != self.token:
            return _ok_false("invalid_auth")
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            self.violations.append(f"{method}: called, but the fake does not implement it")
            return _ok_false("unknown_method")
        return handler(params)

    def _newer(self, method: str, bearer: str, params: dict[str, Any]) -> Reply:
        """apps.connections.open: an app-level token only; a one-time websocket URL."""
        if set(params) - UNIVERSAL_PARAMS:
            self.violations.append(f"{method}: parameters {sorted(set(params) - UNIVERSAL_PARAMS)}")
        if bearer.startswith("xoxb-"):
            return _ok_false("not_allowed_token_type")
        if bearer != self.app_token:
            return _ok_false("invalid_auth")
        if self.socket_url is None:
            self.violations.append(f"{method}: called, but no Socket Mode server is attached")
            return _ok_false("internal_error")
        return _ok({"url": self.socket_url()})

    def _m_auth_test(self, params: dict[str, Any]) -> Reply:
        return _ok({"url": self.workspace_url, "team": self.team, "user": "ticketbot",
                    "team_id": self.team_id, "user_id": BOT_USER_ID, "bot_id": "BTICKETBOT"})

    def _m_users_lookupByEmail(self, params: dict[str, Any]) -> Reply:
        email = str(params.get("email", "")).lower()
        for user in self.users.values():
            if user["_email"] == email:
                return _ok({"user": _public(user)})
        return _ok_false("users_not_found")

    def _m_users_info(self, params: dict[str, Any]) -> Reply:
        user = self.users.get(str(params.get("user", "")))
        return _ok({"user": _public(user)}) if user else _ok_false("user_not_found")

    def _m_users_profile_get(self, params: dict[str, Any]) -> Reply:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return _ok_false("user_not_found")
        profile = {"status_text": "", "status_emoji": "", "status_expiration": 0, **user["profile"]}
        return _ok({"profile": profile})

    def _m_conversations_open(self, params: dict[str, Any]) -> Reply:
        user_id = str(params.get("users", ""))
        if user_id not in self.users:
            return _ok_false("user_not_found")
        return _ok({"channel": {"id": self.dm_channel(user_id)}})

    def _m_chat_postMessage(self, params: dict[str, Any]) -> Reply:
        conversation = self._conversation(str(params.get("channel", "")))
        if conversation is None:
            return _ok_false("channel_not_found")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not params.get("text") and not blocks:
            return _ok_false("no_text")
        throttled = self._channel_throttled(conversation)
        if throttled is not None:
            return throttled
        self.violations += [f"chat.postMessage: {p}" for p in block_kit_problems(blocks or [])]
        self._ts += 1
        message = {"type": "message", "user": BOT_USER_ID, "ts": f"{1767225600 + self._ts}.{self._ts:06d}",
                   "text": params.get("text", ""), "blocks": blocks or [], "channel": conversation}
        self.messages.setdefault(conversation, []).append(message)
        return _ok({"channel": conversation, "ts": message["ts"], "message": message})

    def _channel_throttled(self, conversation: str) -> Reply | None:
        """Slack's per-channel limit (about one message a second): a 429 for a post sooner than
        ``channel_interval`` after the channel's last accepted one, on ``clock``."""
        if not self.channel_interval or self.clock is None:
            return None
        now = self.clock()
        last = self._last_post.get(conversation)
        if last is not None and now - last < self.channel_interval:
            self.throttled_posts += 1
            wait = max(1, math.ceil(self.channel_interval - (now - last)))
            return 429, {"Retry-After": str(wait), "Content-Type": "application/json"}, \
                json.dumps({"ok": False, "error": "ratelimited"})
        self._last_post[conversation] = now
        return None

    def _m_conversations_history(self, params: dict[str, Any]) -> Reply:
        """Newest first, at most ``limit`` (default 100); ``has_more`` when older ones remain."""
        conversation = self._conversation(str(params.get("channel", "")))
        if conversation is None:
            return _ok_false("channel_not_found")
        newest_first = list(reversed(self.messages.get(conversation, [])))
        limit = int(params.get("limit") or 100)
        return _ok({"messages": [{k: v for k, v in m.items() if k != "channel"} for m in newest_first[:limit]],
                    "has_more": len(newest_first) > limit, "pin_count": 0,
                    "response_metadata": {"next_cursor": ""}})

    def _conversation(self, channel: str) -> str | None:
        if channel in self.channels:
            return channel
        if channel in self.users:
            return self.dm_channel(channel)
        if channel.startswith("D") and "U" + channel[1:] in self.users:
            return channel
        return None

    # response_url ------------------------------------------------------------------------

    def _hook(self, request: requests.PreparedRequest) -> Reply:
        url = request.url or ""
        if url not in self.response_posts:
            self.violations.append(f"response_url {url} was never issued")
            return 404, {}, "no_active_hooks"
        if "application/json" not in (request.headers.get("Content-Type") or ""):
            self.violations.append("response_url: body is not JSON")
        body = json.loads(request.body or b"{}")
        if not body.get("text") and not body.get("blocks") and not body.get("delete_original"):
            self.violations.append("response_url: message without text or blocks")
        if body.get("response_type") not in (None, "ephemeral", "in_channel"):
            self.violations.append(f"response_url: bad response_type {body.get('response_type')!r}")
        self.violations += [f"response_url: {p}" for p in block_kit_problems(body.get("blocks") or [])]
        self.response_posts[url].append(body)
        return 200, {"Content-Type": "text/html"}, "ok"


def block_kit_problems(blocks: list[dict[str, Any]]) -> list[str]:
    """The Block Kit limits ticketbot could plausibly break (documented on docs.slack.dev/reference/block-kit)."""
    problems = []
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks (max 50)")
    for block in blocks:
        kind = block.get("type")
        if kind == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            problems.append("section text longer than 3000")
        if kind == "actions":
            problems += _action_problems(block.get("elements", []))
        if kind not in ("section", "actions", "context", "divider", "header"):
            problems.append(f"unexpected block type {kind!r}")
    return problems


def _action_problems(elements: list[dict[str, Any]]) -> list[str]:
    problems = []
    ids = [e.get("action_id") for e in elements]
    if len(ids) != len(set(ids)):
        problems.append("duplicate action_id in one actions block")
    for element in elements:
        if element.get("type") == "button":
            if element.get("text", {}).get("type") != "plain_text":
                problems.append("button text must be plain_text")
            if len(str(element.get("value", ""))) > 2000:
                problems.append("button value longer than 2000")
            if element.get("style") not in (None, "primary", "danger"):
                problems.append(f"button style {element.get('style')!r}")
    return problems


def _params(request: requests.PreparedRequest) -> tuple[dict[str, Any], bool]:
    """Query and body parameters, and whether the body was JSON."""
    params = _query(request)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    content_type = request.headers.get("Content-Type") or ""
    if "application/json" in content_type:
        params.update(json.loads(body or b"{}"))
        return params, True
    params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()})
    return params, False


def _query(request: requests.PreparedRequest) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if not k.startswith("_")}


def _ok(data: dict[str, Any]) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"ok": True, **data})


def _ok_false(error: str) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"ok": False, "error": error})
