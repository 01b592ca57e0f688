"""``ticketbot events export|stats`` and ``ticketbot site export``: what the daemon received and what the site it
works on looks like, as the files ``replay`` and ``backtest`` read."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from bot.cli.common import ConfigOption, OneLineErrors, err, load_cli_settings, out, ticket_key
from bot.settings import Settings

events_app = typer.Typer(help="The events the daemon received (the inbox and the event archive).",
                         no_args_is_help=True, cls=OneLineErrors)

Moment = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"])]


def _archive(settings: Settings):  # noqa: ANN202 - bot.inbox.archive.EventArchive, imported lazily
    from datetime import timedelta

    from bot.clock import SystemClock
    from bot.inbox.archive import EventArchive
    from bot.store import Store

    store = Store(settings.database_url)  # migrated to head, as every command's store
    return EventArchive(store.engine, SystemClock(), retention=timedelta(days=settings.archive.retention_days))


@events_app.command("export")
def export(since: Moment = None, until: Moment = None,
           ticket: Annotated[str | None, typer.Option(help="Only this ticket's events.")] = None) -> None:
    """Write the received events in [--since, --until) (UTC, by arrival) as JSON lines on stdout, oldest first:
    ``ticketbot events export --since 2026-11-01 > events.jsonl``. Webhooks and Slack decisions are written; timer
    firings (a replay fires its own), poll results and delivery receipts are counted on stderr."""
    from bot.inbox.archive import NOT_PLAYED

    key = ticket_key(ticket)
    archive = _archive(load_cli_settings())
    written, left = 0, Counter[str]()
    stream = sys.stdout.buffer
    for received in archive.received(since=_utc(since), until=_utc(until), ticket=key):
        record = received.record()
        if record is None:
            left[NOT_PLAYED.get(received.source, f"events from source {received.source!r}")] += 1
            continue
        stream.write(orjson.dumps(record) + b"\n")
        written += 1
    stream.flush()
    skipped = "; ".join(f"{count} {why}" for why, count in sorted(left.items()))
    err.print(f"{written} event(s) exported" + (f"; left out: {skipped}" if skipped else ""), markup=False)


@events_app.command("stats")
def stats() -> None:
    """How many events the archive holds, since when, and what they cost on disk."""
    settings = load_cli_settings()
    figures = _archive(settings).stats()
    if not figures.events:
        out.print(f"The event archive is empty (retention {settings.archive.retention_days:g} days; the inbox "
                  "moves finished events there after 14 days).", markup=False)
        return
    ratio = figures.raw_bytes / figures.stored_bytes if figures.stored_bytes else 0
    out.print(f"{figures.events} archived event(s) since {figures.oldest:%Y-%m-%d %H:%M} UTC; "
              f"{figures.stored_bytes / 1024:.0f} KiB stored, {figures.bytes_per_event:.0f} bytes per event "
              f"({ratio:.1f}x smaller than the JSON); retention {settings.archive.retention_days:g} days.",
              markup=False)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


site_app = typer.Typer(help="The live site the rules work on.", no_args_is_help=True, cls=OneLineErrors)


@site_app.command("export")
def site_export(
    system: Annotated[str | None, typer.Option(help="jira or zendesk (default: the one the enabled rules use).")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Write a site description (site.yaml) of what the enabled rules use on the live site, for replays and
    backtests without it: ``ticketbot site export > site.yaml``. Reads only, with the calls ``ticketbot check``
    makes; what could not be read is named on stderr and in the file's header."""
    import yaml

    from bot.check import TRACKER_SYSTEMS, connect_from_settings, rule_requirements
    from bot.check import TrackerResolver as Resolver
    from bot.ops.site_export import export_site
    from bot.settings import ConfigurationError
    from rules import load_rules

    settings = load_cli_settings(config)
    rules = [b for b in load_rules(settings.config) if b.config.enabled]
    used = sorted({r.system for b in rules for r in (rule_requirements(b) or []) if r.system in TRACKER_SYSTEMS})
    if system is None:
        if len(used) != 1:
            raise ConfigurationError(f"the enabled rules use {' and '.join(used) or 'no tracker'}: say which site "
                                     "with --system jira or --system zendesk")
        system = used[0]
    if system not in TRACKER_SYSTEMS:
        raise ConfigurationError(f"--system: {system!r} is no tracker (jira, zendesk)")
    resolver = connect_from_settings(settings)({system}).get(system)
    if not isinstance(resolver, Resolver):
        raise ConfigurationError(getattr(resolver, "reason", f"no {system} connection"))
    section = settings.zendesk if system == "zendesk" else settings.jira
    # The site's own address (tickets' links), or the in-memory site's (TICKETBOT_TRACKER=memory:…).
    url = str(getattr(section, "url", "") or getattr(getattr(resolver.tracker, "site", None), "base_url", "")
              or "").rstrip("/")
    exported = export_site(rules, resolver.tracker, system, bot_email=getattr(section, "email", "") or "",
                           base_url=url if system == "jira" else "")
    source = settings.tracker if settings.tracker.startswith("memory:") else url
    sys.stdout.write(exported.yaml_header(system, source) +
                     yaml.safe_dump(exported.document(), allow_unicode=True, sort_keys=False))
    for note in exported.notes:
        err.print(f"not exported: {note}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
    app.add_typer(site_app, name="site")
