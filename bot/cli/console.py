"""``ticketbot console``: the operations console alone, against the configured database (for a laptop).

The same pages and JSON API ``ticketbot run`` mounts at ``/console`` and ``/api/v1`` (see
:mod:`bot.console`), and the same access rules: ``TICKETBOT_CONSOLE__ADMINS``,
``__TRUSTED_HEADER`` and ``__TRUSTED_PROXIES`` must be set, or it refuses to start with the one line
saying which. ``--scope`` shows a replay's records instead of the live ones (``ticketbot replay`` prints
its scope). Retry, Pause and Resume write to the database: a daemon running on it picks them up.

Sign-in links without Slack (a laptop): ``--sign-in EMAIL`` prints a personal link for an admin and exits
(the link's address is ``TICKETBOT_CONSOLE__PUBLIC_URL``, else this console's own ``http://HOST:PORT``, in
which case the session cookie is not ``Secure``: plain http on this machine). ``--sign-out EMAIL`` ends
every session of that person and spends their unused links. With neither a proxy header nor a public
address configured, the console serves on ``http://HOST:PORT`` for such links.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, load_cli_settings, out
from bot.settings import ConfigurationError
from bot.store import LIVE

HostOption = Annotated[str, typer.Option(help="The address to listen on (127.0.0.1: this machine only).")]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="The port to listen on.")]
ScopeOption = Annotated[str, typer.Option(help="Whose records: live (the daemon's), or a replay's (replay-…).")]
SignInOption = Annotated[str | None, typer.Option("--sign-in", metavar="EMAIL",
                                                   help="Print a one-time sign-in link for this admin and exit.")]
SignOutOption = Annotated[str | None, typer.Option("--sign-out", metavar="EMAIL",
                                                    help="End every console session of this person and exit.")]


def console(host: HostOption = "127.0.0.1", port: PortOption = 8081, scope: ScopeOption = LIVE,
            sign_in: SignInOption = None, sign_out: SignOutOption = None, config: ConfigOption = None) -> None:
    """Serve the operations console (pages at /console, JSON at /api/v1) until Ctrl-C."""
    import logging

    import uvicorn

    from bot.cli.daemon import _check_port_free
    from bot.console.app import API, PAGES, build_console, off_reason, sign_in_of
    from bot.ops.services import BotServices

    settings = load_cli_settings(config)
    c = settings.console
    if c.admins and not (c.public_url or c.trusted_header or c.trusted_proxies):  # a laptop: links to this console
        c = c.model_copy(update={"public_url": f"http://{host}:{port}", "cookie_secure": False})
        settings = settings.model_copy(update={"console": c})
    reason = off_reason(settings.console)
    if reason:
        raise ConfigurationError(f"the console cannot be served: {reason}")
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"host": host, "port": port})})
    if sign_in or sign_out:
        _sign_in_or_out(settings, sign_in, sign_out, sign_in_of(settings, BotServices.from_settings(settings).store,
                                                               _clock(), public_url=c.public_url
                                                               or f"http://{host}:{port}"))
        return
    _check_port_free(settings)
    services = BotServices.from_settings(settings)
    app = build_console(settings, store=services.store, inbox=services.inbox, rules=services.bound,
                        clock=services.clock, guards=services.guards, services=services, scope=scope)
    logging.getLogger(__name__).info("console: at http://%s:%s%s/ (JSON API %s), scope %s; %s", host, port, PAGES,
                                     API, scope, app.where)
    out.print(f"ticketbot console on http://{host}:{port}{PAGES}/ (scope {scope}); Ctrl-C stops it.", markup=False)
    # As ``ticketbot run`` does: what is loaded lives as long as the process, so keep it out of the collector's
    # sight, or a full collection walking all of it stalls one request in a few by ~80 ms (benchmarks/console.py).
    import gc

    gc.collect()
    gc.freeze()
    uvicorn.run(app.standalone(), host=host, port=port, log_config=None, access_log=False, proxy_headers=False)


def _clock() -> Any:
    from bot.clock import SystemClock

    return SystemClock()


def _sign_in_or_out(settings: Any, email_in: str | None, email_out: str | None, links: Any) -> None:
    from bot.ops.audit import DONE, AuditLog

    audit = AuditLog(links.store, links.clock)
    if email_out:
        ended = links.revoke(email_out)
        audit.record(actor="cli", via="cli", command=f"console sign-out {email_out.casefold()}"[:200], outcome=DONE,
                     detail=f"{ended} session(s) ended")
        out.print(f"{ended} console session(s) of {email_out.casefold()} ended; their unused links are spent.",
                  markup=False)
    if email_in:
        email = email_in.strip().casefold()
        if email not in settings.console.admins:
            raise ConfigurationError(f"{email} is not in TICKETBOT_CONSOLE__ADMINS: no link made")
        link = links.issue(email, via="ticketbot console --sign-in")
        audit.record(actor="cli", via="cli", command="console", outcome=DONE,
                     detail=f"sign-in link for {email}, valid until {link.expires_at:%H:%M} UTC")
        out.print(f"{link.url}\n(for {email} alone; works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC)",
                  markup=False)


def register(app: typer.Typer) -> None:
    """Add ``console`` to the ``ticketbot`` app."""
    app.command("console")(console)
