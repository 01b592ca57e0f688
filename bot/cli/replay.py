"""``ticketbot dry-run KEY``, ``ticketbot replay FILE…`` and ``ticketbot why KEY``: what the rules do with a ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    ConfigOption,
    err,
    escape,
    jira_key,
    load_cli_settings,
    out,
    ticket_key,
)
from bot.clock import SystemClock
from bot.engine import BoundRule
from bot.executor import WOULD_APPLY
from bot.model import MANUAL, Event
from bot.pipeline import Processor, ProcessReport
from bot.replay import Replay, read_records
from bot.settings import ConfigurationError, Settings
from bot.store import Store
from bot.trackers.base import TrackerError
from bot.trackers.site import Site

_settings = load_cli_settings


def _rules(settings: Settings) -> list[BoundRule]:
    from rules import load_rules  # rules import bot; keep bot importable without them

    return load_rules(settings.config)


def _jira(settings: Settings):  # noqa: ANN202 - the adapter type is imported lazily
    from bot.trackers.jira.adapter import JiraTracker

    return JiraTracker.from_settings(settings.require_jira())


# dry-run -------------------------------------------------------------------------------
def dry_run(key: str, config: ConfigOption = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Read KEY from Jira and show what every rule would do. Writes nothing."""
    key = jira_key(key)
    settings = _settings(config)
    rules = _rules(settings)
    tracker = _jira(settings)
    clock = SystemClock()
    store = Store("sqlite://")  # nothing of a dry-run is kept
    processor = Processor(rules, tracker, store, clock, scope="dry-run", dry_run=True, record_traces=False)
    event = Event(id=f"dry-run:{uuid.uuid4()}", source="cli", kind=MANUAL, ticket_key=key, occurred_at=clock.now())
    try:
        report = processor.process(event)
    except TrackerError as exc:
        err.print(f"[red]error[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(data=report.as_dict())
    else:
        print_report(report)


def print_report(report: ProcessReport, *, indent: str = "") -> None:
    """A human account of one event: per rule, its verdicts and each effect's fate."""
    if report.skipped:
        out.print(f"{indent}[dim]skipped: {escape(str(report.skipped))}[/dim]")
    for rule in report.rules:
        ev = rule.result.evaluation
        head = (
            "[red]ERROR[/red]"
            if rule.result.error
            else ("[green]fired[/green]" if ev.effects else "[dim]no action[/dim]")
        )
        out.print(f"{indent}{escape(rule.rule_id)}: {head}")
        for verdict in ev.verdicts:
            mark = "[green]✓[/green]" if verdict.passed else "[yellow]✗[/yellow]"
            out.print(f"{indent}  {mark} " + escape(
                f"{verdict.name}: observed {verdict.observed!r}, expected {verdict.expected!r}"
                + (f" ({verdict.note})" if verdict.note else "")))
        for note in ev.notes:
            out.print(f"{indent}  [dim]note: {escape(str(note))}[/dim]")
        if rule.result.error:
            out.print(f"{indent}  [red]{escape(str(rule.result.error))}[/red]")
        for outcome in rule.outcomes:
            colour = {"applied": "green", WOULD_APPLY: "cyan", "failed": "red"}.get(outcome.status, "dim")
            detail = f" — {outcome.detail}" if outcome.detail else ""
            out.print(f"{indent}  → [{colour}]{escape(outcome.status)}[/{colour}] "
                      + escape(f"{outcome.effect.describe()}{detail}"))


# replay --------------------------------------------------------------------------------
def replay(
    files: Annotated[list[Path], typer.Argument(help="Recorded events: JSON lines or a JSON array.")],
    site: Annotated[
        Path | None, typer.Option(help="Site description (default: site.yaml beside the first file).")
    ] = None,
    config: ConfigOption = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="After the last event, let virtual time run to this moment (UTC; timers due by then fire).",
            formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"],
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Play recorded events through the rules on an in-memory site and a virtual clock."""
    settings = _settings(config)
    rules = _rules(settings)
    site_description = _site(site or files[0].parent / "site.yaml")
    store = Store(settings.database_url)
    scope = f"replay-{uuid.uuid4().hex[:8]}"
    player = Replay(rules, site_description, store, scope=scope)
    records = (record for path in files for record in read_records(path))
    steps = []
    for step in player.run(records, until=until.replace(tzinfo=UTC) if until else None):
        steps.append(step)
        if not as_json:
            _print_step(step)
    if as_json:
        out.print_json(data={"scope": scope, "steps": [s.as_dict() for s in steps],
                             "changes": player.log})
    else:
        applied = sum(1 for s in steps for o in s.report.outcomes if o.status == "applied")
        out.print(f"\n{len(steps)} events replayed, {applied} effects applied, "
                  f"{len(player.log)} changes on the site (scope {scope}; "
                  f"`ticketbot why KEY` shows the traces).")


def _site(path: Path) -> Site:
    """The site description for ``replay --site``, or one line saying why it cannot be read."""
    from pydantic import ValidationError

    from bot.config import first_error, read_yaml

    data = read_yaml(path, "--site") or {}
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        where, message = first_error(exc)
        raise ConfigurationError(f"--site: {path}: {where}: {message} (a site description is a mapping: "
                                 "see examples/*/site.yaml)") from None


def _print_step(step) -> None:  # noqa: ANN001 - bot.replay.Step
    e = step.event
    out.print(f"[bold]{e.occurred_at:%Y-%m-%d %H:%M}[/bold] " + escape(f"{e.source} {e.kind} {e.ticket_key}"))
    fired = [r for r in step.report.rules if r.outcomes or r.result.error]
    if not fired:
        quiet = ", ".join(f"{r.rule_id}: {_first_failed(r)}" for r in step.report.rules) or step.report.skipped
        out.print(f"  [dim]no action ({escape(str(quiet))})[/dim]")
    for rule in fired:
        for outcome in rule.outcomes:
            out.print("  " + escape(f"{rule.rule_id} → {outcome.status}: {outcome.effect.describe()}"))
        if rule.result.error:
            out.print(f"  {escape(rule.rule_id)} → [red]error[/red]: {escape(str(rule.result.error))}")


def _first_failed(rule) -> str:  # noqa: ANN001 - bot.pipeline.RuleReport
    ev = rule.result.evaluation
    failed = next((v for v in ev.verdicts if not v.passed), None)
    if failed is None:
        return ev.notes[0] if ev.notes else "nothing to do"
    return f"{failed.name} was {failed.observed!r}"


# why -----------------------------------------------------------------------------------
def why(key: str, scope: Annotated[str | None, typer.Option(help="Only this scope (live, replay-…).")] = None,
        limit: int = 20, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Why did (or didn't) ticketbot act on KEY: the stored traces, newest last."""
    key = ticket_key(key)
    settings = _settings()
    traces = Store(settings.database_url).traces(key, scope=scope, limit=limit)
    if as_json:
        out.print_json(data=[{"scope": t.scope, "event": t.event_id, "kind": t.event_kind, "rule": t.rule_id,
                              "at": t.at.isoformat(), "matched": t.matched, "verdicts": t.verdicts,
                              "effects": t.effects, "notes": t.notes, "error": t.error} for t in traces])
        return
    if not traces:
        out.print(f"No trace for {key}: no event for it has been evaluated" + (f" in scope {scope}." if scope else "."),
                  markup=False)
        return
    for t in traces:
        out.print(f"[bold]{t.at:%Y-%m-%d %H:%M:%S}[/bold] " + escape(f"[{t.scope}] {t.event_kind} → {t.rule_id}: ")
                  + ("[red]error[/red]" if t.error else ("matched" if t.matched else "not matched")))
        for v in t.verdicts:
            out.print(
                f"  {'✓' if v['passed'] else '✗'} {v['name']}: observed {v['observed']!r}, expected {v['expected']!r}"
                + (f" ({v['note']})" if v.get("note") else ""),
                markup=False,
            )
        for note in t.notes:
            out.print(f"  [dim]note: {escape(str(note))}[/dim]")
        for e in t.effects:
            out.print(f"  → {e['outcome']}: {e['summary']}" + (f" — {e['detail']}" if e.get("detail") else ""),
                      markup=False)
        if t.error:
            out.print(f"  [red]{escape(str(t.error))}[/red]")


def register(app: typer.Typer) -> None:
    """Add ``dry-run``, ``replay`` and ``why`` to the ``ticketbot`` app."""
    app.command("dry-run")(dry_run)
    app.command("replay")(replay)
    app.command("why")(why)
