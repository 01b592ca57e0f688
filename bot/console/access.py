"""Who may see the console and change things through it, and the headers every answer carries.

Every request, whatever its path, meets :class:`Gate` first (an ASGI layer in front of the routes): it asks
each :class:`IdentitySource` in turn who is asking, and lets the request through only when the answer is
one of the admins. Otherwise the answer is 401 (nobody we can believe: with the hint how to sign in) or
403 (someone who is not an admin), and never a byte of data. The one source today is
:class:`TrustedHeader`: an authenticating reverse proxy (oauth2-proxy and the like) names the person in a
header, and the header is believed only when the request comes straight from one of the trusted proxies
(the peer address of the connection: ``ticketbot run`` and ``ticketbot console`` serve with uvicorn's
``proxy_headers`` off, so no ``X-Forwarded-For`` can stand in for it). The other is the session cookie a
sign-in link starts (:class:`bot.console.sessions.SessionCookie`).

What changes state is a POST carrying a CSRF token (:class:`CsrfTokens`): an HMAC of the person and the
moment it was issued, under the console's secret, compared in constant time and valid for a working day.
A page embeds it in its forms; a JSON client gets it from ``GET /api/v1/session`` and sends it in
``X-CSRF-Token``. A cross-site POST (``Sec-Fetch-Site: cross-site``) is refused before the token is
looked at. The sign-in link's button carries one too (:meth:`CsrfTokens.for_sign_in`): nobody is signed in
yet, so it binds the link to a random value the link's page left in this browser's cookie, and another site
cannot make a browser sign in with a link it holds (login CSRF).

:class:`SecurityHeaders` puts the same headers on every answer of the console, refusals and errors
included: a Content-Security-Policy that allows nothing inline and no framing, ``nosniff``, no referrer,
and ``no-store`` (customer names and internal comments must not linger in caches).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.requests import Request

from bot.clock import Clock
from bot.sources.common import read_limited

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the gate leaves the identity for the routes (``request.scope[IDENTITY]``).
IDENTITY = "ticketbot.console.identity"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
CSRF_LIFETIME = timedelta(hours=12)
#: A form's body holds a token and little else.
MAX_FORM_BYTES = 8 * 1024
#: An e-mail address as a proxy sends it: no spaces, no control characters, one @, at most 254 characters.
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]{1,64}@[^\s@\x00-\x1f\x7f]{1,189}")

CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                           "object-src 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


@dataclass(frozen=True)
class Identity:
    """A person the console believes: their e-mail address (lower case) and how we know it."""

    email: str
    via: str  # "X-Forwarded-Email from 10.0.0.5"


@dataclass(frozen=True)
class Refusal:
    """Why a claimed identity is not believed (said to the client, logged)."""

    reason: str


class IdentitySource(Protocol):
    """One way of telling who is asking: an :class:`Identity`, a :class:`Refusal` (a claim we do not believe),
    or None (this source has nothing to say about the request: the next one is asked)."""

    def identify(self, scope: Scope) -> Identity | Refusal | None: ...

    #: How a person signs in through this source, for the 401 answer.
    hint: str


class TrustedHeader:
    """The person named in ``header`` by a reverse proxy that authenticated them, believed only from
    ``proxies`` (addresses or networks, e.g. ``10.0.0.5``, ``10.0.0.0/8``, ``::1``)."""

    def __init__(self, header: str, proxies: Iterable[str]) -> None:
        self.header = header
        self._name = header.lower().encode("latin-1")
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]
        self.hint = (f"Sign in through the proxy in front of ticketbot: it names you in the {header} header, "
                     "and ticketbot believes that header only from the proxies it trusts "
                     "(TICKETBOT_CONSOLE__TRUSTED_PROXIES).")

    def identify(self, scope: Scope) -> Identity | Refusal | None:
        values = [v for k, v in scope.get("headers", ()) if k.lower() == self._name]
        if not values:
            return None
        peer = peer_address(scope)
        if peer is None or not self.trusts(peer):
            log.warning("console: a %s header came from %s, which is not a trusted proxy; not believed",
                        self.header, peer or "an unknown peer")
            return Refusal(f"the {self.header} header is believed only from a trusted proxy, and this request "
                           "did not come from one")
        if len(values) > 1:
            return Refusal(f"the request carries {len(values)} {self.header} headers; one is expected")
        email = values[0].decode("latin-1").strip()
        if not _EMAIL.fullmatch(email):
            return Refusal(f"the {self.header} header does not hold an e-mail address")
        return Identity(email.casefold(), f"{self.header} from {peer}")

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def peer_address(scope: Scope) -> str | None:
    """The address of the connection's other end (the proxy's, behind a proxy), or None (a Unix socket)."""
    client = scope.get("client")
    return str(client[0]) if client else None


class Gate:
    """ASGI: lets a request reach ``app`` only as an admin (see the module); ``json`` answers refusals as JSON
    (the API) instead of an HTML page."""

    def __init__(self, app: ASGIApp, sources: Sequence[IdentitySource], admins: Iterable[str], *,
                 json: bool = False) -> None:
        self.app = app
        self.sources = list(sources)
        self.admins = frozenset(a.strip().casefold() for a in admins)
        self.json = json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        identity, refusal = self.identify(scope)
        if identity is None:
            hint = " ".join(source.hint for source in self.sources)
            await self._refuse(send, 401, refusal or "you are not signed in", hint)
            return
        if identity.email not in self.admins:
            log.warning("console: %s (%s) is not an admin; refused %s %s", identity.email, identity.via,
                        scope.get("method"), scope.get("path"))
            await self._refuse(send, 403, f"{identity.email} is not a ticketbot admin",
                               "Ask an admin to add you to TICKETBOT_CONSOLE__ADMINS.", identity)
            return
        scope[IDENTITY] = identity
        await self.app(scope, receive, send)

    def identify(self, scope: Scope) -> tuple[Identity | None, str]:
        """The identity the first source that knows gives, else None and why (the last refusal)."""
        why = ""
        for source in self.sources:
            found = source.identify(scope)
            if isinstance(found, Identity):
                return found, ""
            if isinstance(found, Refusal):
                why = found.reason
        return None, why

    async def _refuse(self, send: Send, status: int, reason: str, hint: str, identity: Identity | None = None) -> None:
        if self.json:
            body = json.dumps({"error": reason, "hint": hint}).encode()
            kind = b"application/json"
        else:
            title = "Sign in to the ticketbot console" if status == 401 else "Not an admin"
            body = refusal_page(title, reason, hint).encode()
            kind = b"text/html; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'ProxyHeader realm="ticketbot console"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def refusal_page(title: str, reason: str, hint: str) -> str:
    """A page with nothing on it but why: no data, no link into the console."""
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)}</h1><p>Refused: {escape(reason)}.</p>"
            f"<p>{escape(hint)}</p></body></html>")


class SecurityHeaders:
    """ASGI: :data:`SECURITY_HEADERS` on every answer of ``app`` (a header the app set itself is kept, so the
    stylesheet may say how long it is cached)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class CsrfTokens:
    """Tokens that prove a POST comes from a page (or a client) the console served to the same person.

    ``<issued>.<mac>``: the moment of issue (epoch seconds) and HMAC-SHA256(secret, issued + person). Valid
    for :data:`CSRF_LIFETIME`; any other token, or another person's, is refused (compared in constant time).
    """

    def __init__(self, secret: bytes | None, clock: Clock, lifetime: timedelta = CSRF_LIFETIME) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.clock = clock
        self.lifetime = lifetime

    def issue(self, identity: Identity) -> str:
        issued = int(self.clock.now().timestamp())
        return f"{issued}.{self._mac(issued, identity.email)}"

    def valid(self, identity: Identity, token: str | None) -> bool:
        if not token or len(token) > 200:
            return False
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit():
            return False
        issued = int(issued_text)
        age = self.clock.now().timestamp() - issued
        fresh = -60 <= age <= self.lifetime.total_seconds()  # a minute of clock skew between replicas
        return hmac.compare_digest(self._mac(issued, identity.email), mac) and fresh

    def _mac(self, issued: int, email: str) -> str:
        return self._hmac(f"ticketbot-console-csrf:{issued}:{email}")

    # the sign-in link's button ---------------------------------------------------------------------
    def for_sign_in(self, link: str, nonce: str) -> str:
        """The token of a sign-in link's form, for the browser whose cookie holds ``nonce``: HMAC(secret, link's
        SHA-256 + nonce). A site that opens the link itself gets a token for its own nonce, which it cannot put
        in the victim's cookie (HttpOnly, SameSite=Strict, ``__Host-``)."""
        return self._hmac(f"ticketbot-console-sign-in:{hashlib.sha256(link.encode()).hexdigest()}:{nonce}")

    def valid_for_sign_in(self, link: str, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token or len(token) > 200 or len(nonce) > 200:
            return False
        return hmac.compare_digest(self.for_sign_in(link, nonce), token)

    def _hmac(self, text: str) -> str:
        digest = hmac.new(self.secret, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def form_of(request: Request) -> dict[str, str] | None:
    """The fields of a urlencoded form body ({} when the body is not a form); None when it is over
    :data:`MAX_FORM_BYTES`. The body can be read once: call it once per request."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await read_limited(request, MAX_FORM_BYTES)
    return None if body is None else dict(parse_qsl(body.decode("utf-8", "replace")))


async def form_field(request: Request, name: str) -> str | None:
    """One field of a urlencoded form body (at most :data:`MAX_FORM_BYTES`), else None."""
    return (await form_of(request) or {}).get(name)


def cross_site(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """The browser says the request was made by another site (``Sec-Fetch-Site: cross-site``)."""
    return any(k.lower() == b"sec-fetch-site" and v.strip().lower() == b"cross-site" for k, v in headers)


async def csrf_problem(request: Request, tokens: CsrfTokens, identity: Identity) -> str:
    """Why a POST is refused before it is acted on ('' when it may go on): made by another site, or without
    this person's valid CSRF token (the form's hidden field, or the ``X-CSRF-Token`` header)."""
    if cross_site(request.scope.get("headers", ())):
        return "the request was made by another site"
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        form = await form_of(request)
        if form is None:
            return "the form is too large"
        token = form.get(CSRF_FIELD)
    if not token:
        return "the request carries no CSRF token: reload the page and try again"
    if not tokens.valid(identity, token):
        return "the CSRF token is not valid (it is yours only, for 12 hours): reload the page and try again"
    return ""
