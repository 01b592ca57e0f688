"""What every ``ticketbot`` command module shares: consoles, the --config option, settings loading, and
the one place where a failure a user can meet becomes one line on stderr and exit code 2.

Every ``ticketbot`` command group is a :class:`OneLineErrors` group: a command raises (a
:class:`~bot.settings.ConfigurationError`, a :class:`~bot.replay.ReplayError`, an
:class:`~bot.trackers.keys.InvalidKey`, a database that cannot be reached…) and the group prints what
:func:`one_line` makes of it. Nothing reaches the user as a traceback: an exception nobody foresaw
is one line too (exit 1, the traceback logged at DEBUG), since it is a bug, not a usage error.
"""

from __future__ import annotations

import logging
import re
import typing
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape  # noqa: F401 - for the command modules
from typer.core import TyperGroup

from bot.settings import ConfigurationError, Settings, configure_logging, load_settings, misspelt_settings
from bot.trackers.keys import InvalidKey, normalize_key

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Rules YAML (default: TICKETBOT_CONFIG).")]
#: Exit code of a usage or configuration error (click's own for a bad option); 1 is a bug.
USAGE_ERROR = 2
#: The database URL of the command running (set when it loads its settings), for a database error's message.
_database_url: ContextVar[str | None] = ContextVar("ticketbot_database_url", default=None)
log = logging.getLogger("bot.cli.main")


class OneLineErrors(TyperGroup):
    """A command group whose commands end in one line and exit 2 on any error a user can meet."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer vendors click privately)
        token = _database_url.set(None)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # an exit code chosen, Ctrl-C, usage errors (typer's click says these itself)
        except Exception as exc:  # noqa: BLE001 - the point: nothing leaves as a traceback
            message = one_line(exc, _database_url.get())
            if message is None:
                log.debug("unexpected error", exc_info=True)
                _say(f"internal error: {type(exc).__name__}: {_first_line(exc)} "
                     "(a bug; TICKETBOT_LOG_LEVEL=DEBUG shows where)")
                raise typer.Exit(1) from None
            _say(message)
            raise typer.Exit(USAGE_ERROR) from None
        finally:
            _database_url.reset(token)


def one_line(exc: BaseException, database_url: str | None = None) -> str | None:
    """The one line a user reads for ``exc``, or None for an error nobody foresaw (a bug)."""
    from bot.replay import ReplayError  # bot.replay imports the pipeline; only needed when failing

    if isinstance(exc, ConfigurationError):
        return f"configuration error: {exc}"
    if isinstance(exc, ReplayError):
        return f"replay error: {exc}"
    if isinstance(exc, InvalidKey):
        return f"error: {exc}"
    if isinstance(exc, RecursionError):
        return "error: the input is nested too deeply to read"
    return _database_error(exc, database_url)


def _database_error(exc: BaseException, database_url: str | None) -> str | None:
    """A database that cannot be reached or read (a bad URL, a server down, a file that is no database)."""
    import sqlalchemy.exc
    from alembic.util import CommandError

    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        reason = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    elif isinstance(exc, sqlalchemy.exc.ArgumentError | CommandError):
        reason = _first_line(exc)
    else:
        return None
    where = masked_url(database_url) if database_url else "the database"
    return f"database error: {where}: {reason} (check TICKETBOT_DATABASE_URL)"


def masked_url(url: str) -> str:
    """``url`` without its password, for a message."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: mask what looks like user:password@
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@typing.overload
def ticket_key(value: str) -> str: ...


@typing.overload
def ticket_key(value: None) -> None: ...


def ticket_key(value: str | None) -> str | None:
    """A command's KEY argument, normalized (``ss-1`` → ``SS-1``); anything else is one line and exit 2."""
    return None if value is None else normalize_key(value)


def load_cli_settings(config: Path | None = None) -> Settings:
    """Settings for a command, with ``--config`` overriding TICKETBOT_CONFIG, and logging set up.

    A ``TICKETBOT_*`` variable that is no setting (a typo) is a warning naming the closest one.
    """
    settings = load_settings(**({"config": config} if config else {}))
    _database_url.set(settings.database_url)
    configure_logging(settings)
    for warning in misspelt_settings():
        logging.getLogger("bot.settings").warning("%s", warning)
    return settings


def _say(message: str) -> None:
    """One line on stderr, printed as written (markup off: a value may hold ``[/]``)."""
    err.print(" ".join(part.strip() for part in message.splitlines() if part.strip()), markup=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
