"""``ticketbot console``: the operations console alone, against the configured database (for a laptop).

The same pages and JSON API ``ticketbot run`` mounts at ``/console`` and ``/api/v1`` (see
:mod:`bot.console`), and the same access rules: ``TICKETBOT_CONSOLE__ADMINS``,
``__TRUSTED_HEADER`` and ``__TRUSTED_PROXIES`` must be set, or it refuses to start with the one line
saying which. ``--scope`` shows a replay's records instead of the live ones (``ticketbot replay`` prints
its scope). Retry, Pause and Resume write to the database: a daemon running on it picks them up.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import ConfigOption, load_cli_settings, out
from bot.settings import ConfigurationError
from bot.store import LIVE

HostOption = Annotated[str, typer.Option(help="The address to listen on (127.0.0.1: this machine only).")]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="The port to listen on.")]
ScopeOption = Annotated[str, typer.Option(help="Whose records: live (the daemon's), or a replay's (replay-…).")]


def console(host: HostOption = "127.0.0.1", port: PortOption = 8081, scope: ScopeOption = LIVE,
            config: ConfigOption = None) -> None:
    """Serve the operations console (pages at /console, JSON at /api/v1) until Ctrl-C."""
    import logging

    import uvicorn

    from bot.cli.daemon import _check_port_free
    from bot.console.app import API, PAGES, build_console, off_reason
    from bot.ops.services import BotServices

    settings = load_cli_settings(config)
    reason = off_reason(settings.console)
    if reason:
        raise ConfigurationError(f"the console cannot be served: {reason}")
    settings = settings.model_copy(update={"http": settings.http.model_copy(update={"host": host, "port": port})})
    _check_port_free(settings)
    services = BotServices.from_settings(settings)
    app = build_console(settings, store=services.store, inbox=services.inbox, rules=services.bound,
                        clock=services.clock, guards=services.guards, services=services, scope=scope)
    logging.getLogger(__name__).info("console: at http://%s:%s%s/ (JSON API %s), scope %s; %s", host, port, PAGES,
                                     API, scope, app.where)
    out.print(f"ticketbot console on http://{host}:{port}{PAGES}/ (scope {scope}); Ctrl-C stops it.", markup=False)
    uvicorn.run(app.standalone(), host=host, port=port, log_config=None, access_log=False, proxy_headers=False)


def register(app: typer.Typer) -> None:
    """Add ``console`` to the ``ticketbot`` app."""
    app.command("console")(console)
