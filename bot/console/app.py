"""The console put together: the read model, the actions, who may come in, and the two ASGI apps.

``/console`` serves the pages (:mod:`bot.console.pages`), ``/api/v1`` the JSON API (:mod:`bot.console.api`);
each is wrapped in :class:`~bot.console.access.SecurityHeaders` around :class:`~bot.console.access.Gate`,
so no route is reached without an admin's identity and every answer carries the security headers. The one
way past the gate is ``/console/sign-in/<token>`` (a sign-in link: it asks for no identity, it makes one).
Identity sources, in order: the trusted proxy's header (when configured), then the session cookie a
sign-in link started (when ``TICKETBOT_CONSOLE__PUBLIC_URL`` is set, see :mod:`bot.console.sessions`).
:meth:`Console.mount` adds both to an app (``ticketbot run``'s, see :mod:`bot.daemon.console`);
:meth:`Console.standalone` is the app ``ticketbot console`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from bot.clock import Clock
from bot.console.access import (
    ASGIApp,
    CsrfTokens,
    Gate,
    IdentitySource,
    Receive,
    Scope,
    SecurityHeaders,
    Send,
    TrustedHeader,
)
from bot.console.actions import ConsoleActions
from bot.console.charts import ChartQueries
from bot.console.queries import ConsoleQueries, TicketLinks
from bot.engine import BoundRule
from bot.inbox.guards import Guards
from bot.inbox.queue import Inbox
from bot.ops.audit import AuditLog
from bot.ops.services import BotServices
from bot.settings import ConsoleSettings, Settings
from bot.store import LIVE, Store

if TYPE_CHECKING:
    from bot.console.sessions import SignIn

PAGES = "/console"
API = "/api/v1"


@dataclass
class Console:
    queries: ConsoleQueries
    actions: ConsoleActions
    csrf: CsrfTokens
    sources: Sequence[IdentitySource]
    admins: frozenset[str]
    #: Sign-in links and sessions (None: only a proxy's header gets anyone in).
    sign_in: SignIn | None = None
    charts: ChartQueries = field(init=False)

    def __post_init__(self) -> None:
        self.charts = ChartQueries(self.queries)

    def pages_app(self) -> ASGIApp:
        from bot.console.pages import build_pages, build_sign_in

        gated = SecurityHeaders(Gate(build_pages(self), self.sources, self.admins))
        if self.sign_in is None:
            return gated
        return SignInFirst(SecurityHeaders(build_sign_in(self)), gated)

    def api_app(self) -> ASGIApp:
        from bot.console.api import build_api

        return SecurityHeaders(Gate(build_api(self), self.sources, self.admins, json=True))

    def mount(self, app: Starlette) -> None:
        """Serve the pages at ``/console`` and the API at ``/api/v1`` from ``app``."""
        app.mount(PAGES, self.pages_app(), name="console")
        app.mount(API, self.api_app(), name="console_api")

    def standalone(self) -> Starlette:
        """The app of ``ticketbot console``: the console, and ``/`` sending a browser to it."""

        async def home(_request: Request) -> Response:
            return RedirectResponse(f"{PAGES}/", status_code=307)

        return Starlette(routes=[Route("/", home), Mount(PAGES, self.pages_app()), Mount(API, self.api_app())])

    @property
    def where(self) -> str:
        """Who may come in, for the log line: ``2 admin(s), identity from X-Forwarded-Email via 1 trusted proxy``."""
        source = next((s for s in self.sources if isinstance(s, TrustedHeader)), None)
        ways = []
        if source is not None:
            proxies = len(source.networks)
            ways.append(f"identity from {source.header} via {proxies} trusted prox{'y' if proxies == 1 else 'ies'}")
        if self.sign_in is not None:
            ways.append(f"sign-in links from /ticketbot console ({self.sign_in.public_url})")
        return f"{len(self.admins)} admin(s), " + (" and ".join(ways) or "no identity source")


class SignInFirst:
    """ASGI: ``/sign-in/…`` (under the mount point) to ``sign_in``, which needs no identity; everything else to
    ``gated``."""

    def __init__(self, sign_in: ASGIApp, gated: ASGIApp) -> None:
        self.sign_in = sign_in
        self.gated = gated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        route = path[len(root):] if root and path.startswith(root) else path
        if scope["type"] == "http" and route.startswith("/sign-in/"):
            await self.sign_in(scope, receive, send)
        else:
            await self.gated(scope, receive, send)


def off_reason(settings: ConsoleSettings) -> str:
    """Why the console cannot be served with these settings ('' when it can)."""
    if not settings.admins:
        return "TICKETBOT_CONSOLE__ADMINS is not set"
    if not settings.trusted_header and not settings.trusted_proxies and not settings.public_url:
        return ("nobody can sign in: set TICKETBOT_CONSOLE__PUBLIC_URL (where people reach ticketbot: admins then "
                "get sign-in links with /ticketbot console in Slack), or TICKETBOT_CONSOLE__TRUSTED_HEADER and "
                "__TRUSTED_PROXIES (behind an authenticating proxy)")
    if not settings.trusted_header and settings.trusted_proxies:
        return ("TICKETBOT_CONSOLE__TRUSTED_HEADER is not set, and nobody can sign in without it (the header an "
                "authenticating proxy names the person in, e.g. X-Forwarded-Email)")
    if settings.trusted_header and not settings.trusted_proxies:
        return ("TICKETBOT_CONSOLE__TRUSTED_PROXIES is empty, so the header would be believed from nowhere (the "
                "addresses of the proxies, e.g. 127.0.0.1 or 10.0.0.0/8)")
    return ""


def build_console(settings: Settings, *, store: Store, inbox: Inbox, rules: Sequence[BoundRule], clock: Clock,
                  guards: Guards, services: BotServices | None = None, scope: str = LIVE) -> Console:
    """The console over the bot's database (``off_reason`` must be '' for anyone to come in)."""
    c = settings.console
    services = services or BotServices(store=store, inbox=inbox, rules=rules, clock=clock, guards=guards, scope=scope)
    links = TicketLinks(jira_url=str(settings.jira.url or ""), zendesk_url=settings.zendesk.url or "")
    queries = ConsoleQueries(store, rules, clock, scope=scope, due_soon=timedelta(seconds=c.due_soon_seconds),
                             links=links, guards=settings.guards)
    actions = ConsoleActions(inbox, services, AuditLog(store, clock))
    secret = c.secret.get_secret_value().encode() if c.secret and c.secret.get_secret_value() else None
    sources: list[IdentitySource] = [TrustedHeader(c.trusted_header, c.trusted_proxies)] if c.trusted_header else []
    sign_in = sign_in_of(settings, store, clock)
    if sign_in is not None:
        from bot.console.sessions import SessionCookie

        sources.append(SessionCookie(sign_in, c.sign_in_minutes))
    return Console(queries, actions, CsrfTokens(secret, clock), sources, frozenset(c.admins), sign_in)


def sign_in_of(settings: Settings, store: Store, clock: Clock, *, public_url: str | None = None) -> SignIn | None:
    """Sign-in links and sessions over ``store`` when ``TICKETBOT_CONSOLE__PUBLIC_URL`` (or ``public_url``) says
    where the console is reached; None otherwise."""
    from bot.console.sessions import SignIn

    c = settings.console
    url = public_url or c.public_url
    if not url:
        return None
    return SignIn(store, clock, public_url=url, link_lifetime=timedelta(minutes=c.sign_in_minutes),
                  session_lifetime=timedelta(hours=c.session_hours), secure=c.cookie_secure,
                  samesite=c.cookie_samesite, pages=PAGES)
