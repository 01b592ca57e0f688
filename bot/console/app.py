"""The console put together: the read model, the actions, who may come in, and the two ASGI apps.

``/console`` serves the pages (:mod:`bot.console.pages`), ``/api/v1`` the JSON API (:mod:`bot.console.api`);
each is wrapped in :class:`~bot.console.access.SecurityHeaders` around :class:`~bot.console.access.Gate`,
so no route is reached without an admin's identity and every answer carries the security headers.
:meth:`Console.mount` adds both to an app (``ticketbot run``'s, see :mod:`bot.daemon.console`);
:meth:`Console.standalone` is the app ``ticketbot console`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from bot.clock import Clock
from bot.console.access import ASGIApp, CsrfTokens, Gate, IdentitySource, SecurityHeaders, TrustedHeader
from bot.console.actions import ConsoleActions
from bot.console.queries import ConsoleQueries, TicketLinks
from bot.engine import BoundRule
from bot.inbox.guards import Guards
from bot.inbox.queue import Inbox
from bot.ops.audit import AuditLog
from bot.ops.services import BotServices
from bot.settings import ConsoleSettings, Settings
from bot.store import LIVE, Store

PAGES = "/console"
API = "/api/v1"


@dataclass
class Console:
    queries: ConsoleQueries
    actions: ConsoleActions
    csrf: CsrfTokens
    sources: Sequence[IdentitySource]
    admins: frozenset[str]

    def pages_app(self) -> ASGIApp:
        from bot.console.pages import build_pages

        return SecurityHeaders(Gate(build_pages(self), self.sources, self.admins))

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
        if source is None:
            return f"{len(self.admins)} admin(s), no identity source"
        proxies = len(source.networks)
        return (f"{len(self.admins)} admin(s), identity from {source.header} via {proxies} trusted "
                f"prox{'y' if proxies == 1 else 'ies'}")


def off_reason(settings: ConsoleSettings) -> str:
    """Why the console cannot be served with these settings ('' when it can)."""
    if not settings.admins:
        return "TICKETBOT_CONSOLE__ADMINS is not set"
    if not settings.trusted_header:
        return ("TICKETBOT_CONSOLE__TRUSTED_HEADER is not set, and nobody can sign in without it (the header an "
                "authenticating proxy names the person in, e.g. X-Forwarded-Email)")
    if not settings.trusted_proxies:
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
    return Console(queries, actions, CsrfTokens(secret, clock), sources, frozenset(c.admins))
