"""``ticketbot status KEY`` and ``ticketbot timers [KEY]``: what the bot's records say, as Slack says it.

Both go through :class:`bot.ops.services.BotServices`, so ``ticketbot status SS-1`` prints exactly the
text ``/ticketbot status SS-1`` answers in Slack; ``--json`` prints the report it is made from.
``bot/cli/main.py`` adds them with ``register(app)``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import ConfigOption, load_cli_settings, out, ticket_key

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _services(config: ConfigOption):
    from bot.ops.services import BotServices

    return BotServices.from_settings(load_cli_settings(config))


def status(key: Annotated[str, typer.Argument(help="A Jira key (SS-12) or a Zendesk ticket number.")],
           config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """What ticketbot knows about KEY: each runbook's stage and its history, pending timers, last actions."""
    from bot.ops.services import format_status

    key = ticket_key(key)
    report = _services(config).status_report(key)
    if as_json:
        out.print_json(data=report)
    else:
        out.print(format_status(report), markup=False)


def timers(key: Annotated[str | None, typer.Argument(help="Only this ticket's timers.")] = None,
           config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Pending durable timers (rule, name, due time), of one ticket or all."""
    from bot.ops.services import format_timers

    key = ticket_key(key)
    report = _services(config).timers_report(key)
    if as_json:
        out.print_json(data=report)
    else:
        out.print(format_timers(key, report), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``status`` and ``timers`` to the ``ticketbot`` app."""
    app.command("status")(status)
    app.command("timers")(timers)
