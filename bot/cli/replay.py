"""``ticketbot dry-run KEY``, ``replay FILE…``, ``backtest FILE…`` and ``why KEY``: what the rules do with a ticket."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import ConfigOption, err, escape, load_cli_settings, out, ticket_key
from bot.clock import SystemClock
from bot.config import read_model
from bot.engine import BoundRule
from bot.model import MANUAL, Event
from bot.ops.backtest import RecordFiles, backtest_files
from bot.ops.backtest import describe as describe_backtest
from bot.ops.report import applied_count, from_report, from_trace, rule_lines, timeline_lines
from bot.pipeline import Processor, ProcessReport
from bot.replay import Replay, Step, read_records
from bot.settings import Settings
from bot.sources.internal import system_for_key
from bot.store import Store
from bot.trackers.base import Tracker, TrackerError
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.site import Site
from bot.trackers.zendesk.adapter import ZendeskTracker

_settings = load_cli_settings


def _rules(settings: Settings) -> list[BoundRule]:
    from rules import load_rules  # rules import bot; keep bot importable without them

    return load_rules(settings.config)


def _tracker(settings: Settings, system: str) -> Tracker:
    """The live tracker a key belongs to, from settings (one line naming what is missing otherwise)."""
    if system == "zendesk":
        return ZendeskTracker.from_settings(settings.zendesk)
    return _jira(settings)


def _jira(settings: Settings) -> Tracker:
    return JiraTracker.from_settings(settings.require_jira())


# dry-run -------------------------------------------------------------------------------
def dry_run(key: str, config: ConfigOption = None,
            as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Read KEY (a Jira key, or a Zendesk ticket number) and show what every rule would do. Writes nothing."""
    key = ticket_key(key)
    settings = _settings(config)
    rules = _rules(settings)
    tracker = _tracker(settings, system_for_key(key))
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
    """A human account of a dry-run: per rule, its verdicts and each effect's fate."""
    if report.skipped:
        out.print(f"{indent}skipped: {report.skipped}", markup=False, style="dim")
    for account in from_report(report, dry_run=True):
        for line in rule_lines(account, indent=f"{indent}  ", heading=f"{indent}{{rule}}: {{head}}", full_error=True):
            out.print(line, markup=False)


# replay --------------------------------------------------------------------------------
FilesArgument = Annotated[list[Path], typer.Argument(help="Recorded events: JSON lines or a JSON array.")]
SiteOption = Annotated[Path | None, typer.Option(help="Site description (default: site.yaml beside the first file).")]
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]


def replay(
    files: FilesArgument,
    site: SiteOption = None,
    config: ConfigOption = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="After the last event, let virtual time run to this moment (UTC; timers due by then fire).",
            formats=MOMENT_FORMATS,
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
        applied = sum(applied_count(from_report(s.report)) for s in steps)
        out.print(f"\n{len(steps)} events replayed, {applied} effects applied, "
                  f"{len(player.log)} changes on the site (scope {scope}; "
                  f"`ticketbot why KEY` shows the traces).")


def _site(path: Path) -> Site:
    """The site description for ``replay --site``, or one line saying why it cannot be read."""
    return read_model(path, "--site", Site, prefix="--site: ",
                      hint=" (a site description is a mapping: see examples/*/site.yaml)")


def _print_step(step: Step) -> None:
    e = step.event
    out.print(f"{e.occurred_at:%Y-%m-%d %H:%M} {e.source} {e.kind} {e.ticket_key}", markup=False)
    for line in timeline_lines(from_report(step.report), step.report.skipped):
        out.print(line, markup=False)


# backtest ------------------------------------------------------------------------------
def backtest(
    files: FilesArgument,
    config_b: Annotated[Path, typer.Option("--config-b", help="The other rules YAML (B) to compare with.")],
    site: SiteOption = None,
    config: ConfigOption = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="Let virtual time run to this moment after the last event (UTC; default: 30 days after it).",
            formats=MOMENT_FORMATS,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay FILE… under the current rules (A) and under --config-b (B), and show what would differ.

    Nothing is written but the backtest's own temporary store: no tracker, no Slack, no database.
    """
    from rules import load_rules

    for path in files:
        _readable(path, "FILE")
    settings = _settings(config)
    rules_a = _rules(settings)
    rules_b = load_rules(_readable(config_b, "--config-b"))
    site_description = _site(site or files[0].parent / "site.yaml")
    comparison = backtest_files(RecordFiles(tuple(files)), site_description, rules_a, rules_b, config_b=config_b,
                                until=until.replace(tzinfo=UTC) if until else None)
    if as_json:
        _print_json({"a": str(settings.config), "b": str(config_b), **comparison.as_dict()})
        return
    out.print(f"A: {settings.config}\nB: {config_b}\n", markup=False)
    for line in describe_backtest(comparison):
        out.print(line, markup=False)


def _print_json(data: object) -> None:
    """``out.print_json(data=data)``; not on a terminal, the same text written as it is (rich took longer to
    colour a month's backtest, megabytes of JSON, than the backtest took)."""
    if out.is_terminal:
        out.print_json(data=data)
    else:
        out.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        out.file.flush()


def _readable(path: Path, what: str) -> Path:
    if not path.is_file():
        err.print(f"[red]error[/red]: {what}: {escape(str(path))} is not a readable file")
        raise typer.Exit(2)
    return path


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
        account = from_trace(t)
        out.print(f"{t.at:%Y-%m-%d %H:%M:%S} [{t.scope}] {t.event_kind} → {t.rule_id}: {account.head}", markup=False)
        for line in rule_lines(account, indent="  ", heading=None, full_error=True):
            out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``dry-run``, ``replay``, ``backtest`` and ``why`` to the ``ticketbot`` app."""
    app.command("dry-run")(dry_run)
    app.command("replay")(replay)
    app.command("why")(why)
    app.command("backtest")(backtest)
