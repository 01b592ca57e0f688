"""The daemon's commands: ``run``, ``db upgrade``, ``dead-letters``."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import ConfigOption, OneLineErrors, err, escape, load_cli_settings, out
from bot.settings import ConfigurationError, Settings

_settings = load_cli_settings


StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Refuse to start (exit 2) when a name the rules use is missing (TICKETBOT_CHECK__STRICT).")]


def run(config: ConfigOption = None, strict: StrictOption = False) -> None:
    """Serve webhooks, process the inbox, poll Jira: the daemon (stops cleanly on SIGTERM).

    It first checks that every name the rules use exists (as ``ticketbot check``): misses are logged
    and told to the admin channel, or with ``--strict`` refuse the start."""
    from bot.daemon.serve import run as serve

    settings = _settings(config)
    _check_port_free(settings)  # before any worker process starts: none is left behind
    if strict:
        settings = settings.model_copy(update={"check": settings.check.model_copy(update={"strict": True})})
    serve(settings)


def _check_port_free(settings: Settings) -> None:
    """One line, not uvicorn's error after the workers started, when the HTTP port is taken.

    Binds as uvicorn will (SO_REUSEADDR, so a port in TIME_WAIT passes) and lets go at once."""
    host, port = settings.http.host, settings.http.port
    if port == 0:
        return  # any free port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"TICKETBOT_HTTP__HOST: cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(f"{host}:{port} is already in use: set TICKETBOT_HTTP__PORT to a free port, "
                                         "or stop what listens there (another ticketbot?)") from None
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                     "(TICKETBOT_HTTP__HOST, TICKETBOT_HTTP__PORT)") from None


def db_upgrade() -> None:
    """Apply the database migrations (``ticketbot run`` also does this at start)."""
    from bot.migrations import current, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    out.print(f"database at revision {current(settings.database_url)}")


RetryOption = Annotated[int | None, typer.Option("--retry", help="Put this dead letter back in line.")]
RetryAllOption = Annotated[bool, typer.Option("--all", help="Put every dead letter back in line.")]


def dead_letters(retry: RetryOption = None, retry_all: RetryAllOption = False) -> None:
    """List the events given up after their last attempt, or retry them."""
    inbox = _inbox(_settings())
    if retry is not None or retry_all:
        count = inbox.retry_dead(None if retry_all else retry)
        if retry is not None and not count:
            err.print(f"no dead letter with id {retry}", markup=False)
            raise typer.Exit(1)
        out.print(f"{count} event(s) queued again; a running daemon picks them up.")
        return
    rows = inbox.dead_letters()
    if not rows:
        out.print("No dead letters.")
        return
    table = Table("id", "source", "ticket", "kind", "received", "attempts", "last error")
    for r in rows:
        table.add_row(str(r.id), escape(r.source), escape(r.ticket_key), escape(r.kind),
                      f"{r.received_at:%Y-%m-%d %H:%M:%S}", str(r.attempts), escape((r.last_error or "")[:200]))
    out.print(table)
    out.print("Retry with `ticketbot dead-letters --retry ID` or `--all`.")


def _inbox(settings: Settings):  # noqa: ANN202 - bot.inbox.queue.Inbox, imported lazily
    from bot.clock import SystemClock
    from bot.inbox.queue import Inbox
    from bot.migrations import upgrade
    from bot.store import Store

    upgrade(settings.database_url)
    return Inbox(Store(settings.database_url).engine, SystemClock())


def register(app: typer.Typer) -> None:
    """Add the daemon's commands to the ``ticketbot`` app."""
    app.command("run")(run)
    db_app = typer.Typer(help="The database.", no_args_is_help=True, cls=OneLineErrors)
    db_app.command("upgrade")(db_upgrade)
    app.add_typer(db_app, name="db")
    app.command("dead-letters")(dead_letters)

