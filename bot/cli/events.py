"""``ticketbot events export|stats``: what the daemon received, as the file ``replay`` and ``backtest`` read."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from bot.cli.common import OneLineErrors, err, load_cli_settings, out, ticket_key
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


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
