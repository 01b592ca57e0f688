"""``ticketbot check``: resolve every name the enabled rules use against the live trackers and Slack.

``bot/cli/main.py`` adds it with ``register(app)``. Exit codes: 0 all found, 1 something is missing (or,
with ``--strict``, not checked or an unguarded trigger cycle), 2 a configuration error.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.check import FAILED, MISSING, RESOLVED, UNCHECKED, CheckReport, connect_from_settings, run_check
from bot.cli.common import ConfigOption, escape, load_cli_settings, out

_MARKS = {RESOLVED: "[green]✓[/green]", MISSING: "[red]✗[/red]", FAILED: "[red]✗[/red]", UNCHECKED: "[dim]–[/dim]"}


def check(config: ConfigOption = None,
          as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
          strict: Annotated[bool, typer.Option(help="Also fail on rows not checked and unguarded trigger cycles.")]
          = False) -> None:
    """Check that every field, status, request type, link type, person… the rules name exists. Reads only."""
    from rules import load_rules  # rules import bot; keep bot importable without them

    settings = load_cli_settings(config)
    report = run_check(load_rules(settings.config), connect_from_settings(settings))
    if as_json:
        out.print_json(data=report.as_dict())
    else:
        print_report(report)
    raise typer.Exit(report.exit_code(strict=strict))


def print_report(report: CheckReport) -> None:
    """The requirements table, the trigger pairs, and a one-line verdict."""
    # A pipe or a log gets wide lines, so that names are never cut (rich caps print(width=) at its own).
    console = out if out.is_terminal else Console(file=out.file, width=200, highlight=False, soft_wrap=False)
    table = Table("rule", "what", "name", "system", "", "closest names / detail", title="Names the rules use")
    for r in report.resolutions:
        req = r.requirement
        mark = _MARKS[r.outcome]
        if r.outcome == MISSING and not req.required:
            mark = "[yellow]✗[/yellow]"
        detail = r.detail
        if r.closest:
            detail = f"closest: {', '.join(repr(c) for c in r.closest)}" + (f" ({detail})" if detail else "")
        if r.outcome == MISSING and not req.required and req.note:
            detail = f"{detail}; {req.note}" if detail else req.note
        table.add_row(
            r.rule_id, escape(req.what), escape(req.name), req.system, mark, escape(detail or "")
        )  # names from outside
    if report.resolutions:
        console.print(table)
    if report.edges:
        cycles = Table("writer", "can wake", "write", "trigger", "cycle", "guard", title="Rules that can trigger rules")
        for e in report.edges:
            guard = e.trigger.guard or ("[yellow]none declared[/yellow]" if e.in_cycle else "")
            cycles.add_row(e.writer, e.reader, escape(str(e.write)), escape(str(e.trigger)),
                           "self" if e.writer == e.reader else ("yes" if e.in_cycle else "no"), guard)
        console.print(cycles)
    for line in report.undeclared:
        console.print(f"[yellow]note[/yellow]: {escape(line)}")
    for system, reason in report.unavailable.items():
        console.print(f"[yellow]{system}[/yellow]: {escape(str(reason))}")
    console.print(_verdict(report))


def _verdict(report: CheckReport) -> str:
    failures, unchecked, loops = report.failures, report.unchecked, report.unguarded_cycles
    found = sum(1 for r in report.resolutions if r.outcome == RESOLVED)
    parts = [f"{found} of {len(report.resolutions)} names found"]
    if unchecked:
        parts.append(f"{len(unchecked)} not checked")
    optional = sum(1 for r in report.resolutions if r.outcome == MISSING and not r.requirement.required)
    if optional:
        parts.append(f"{optional} optional missing")
    if loops:
        parts.append(f"{len(loops)} trigger cycle(s) without a guard")
    if failures:
        return f"[red]FAILED[/red]: {len(failures)} missing or unreachable; " + ", ".join(parts)
    return "[green]OK[/green]: " + ", ".join(parts)


def register(app: typer.Typer) -> None:
    """Add ``check`` to the ``ticketbot`` app."""
    app.command("check")(check)
