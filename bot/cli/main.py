"""The ``ticketbot`` app: one typer app, the commands of every area registered on it, and :func:`main`.

Every error a user can meet ends with one line naming the problem and exit code 2, never a traceback
(:class:`bot.cli.common.OneLineErrors`). Values from outside (keys, tickets, traces) are printed escaped:
rich would read ``[/]`` in them as markup.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from bot.cli import check, console, daemon, events, ops, replay, rules, scaffold
from bot.cli.common import OneLineErrors, out

app = typer.Typer(help="ticketbot: onboarding runbooks on Jira and Zendesk, with Slack.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, cls=OneLineErrors)
rules_app = typer.Typer(help="The configured rules.", invoke_without_command=True, cls=OneLineErrors)
app.add_typer(rules_app, name="rules")


def _print_version(wanted: bool) -> None:
    if wanted:
        try:
            out.print(f"ticketbot {version('ticketbot')}", markup=False)
        except PackageNotFoundError:  # run from a checkout that was never installed
            out.print("ticketbot (not installed: no version)", markup=False)
        raise typer.Exit()


@app.callback()
def _main(_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                 help="Print the version and exit.")] = False) -> None:
    """ticketbot: onboarding runbooks on Jira and Zendesk, with Slack."""


replay.register(app)
rules.register(rules_app)
daemon.register(app)
ops.register(app)
check.register(app)
events.register(app)
scaffold.register(app)
console.register(app)


def main() -> None:
    """The ``ticketbot`` script (errors become one line: see :class:`bot.cli.common.OneLineErrors`)."""
    app()


if __name__ == "__main__":
    main()
