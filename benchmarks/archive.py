"""Event archive benchmark: what a busy site's month costs on disk, and how fast it is archived and exported.

    .venv/bin/python benchmarks/archive.py                 # 100,000 events (a busy site's month)
    .venv/bin/python benchmarks/archive.py --events 20000 --json

``--events`` synthetic EverBright webhook bodies (Jira Cloud's shape, from ``benchmarks/scale.py``) are received
into the real inbox of a SQLite file, as the daemon stores them (``{"source", "headers", "body"}``), finished, then
the leader's sweep (``Inbox.prune`` with the archive's ``keep``) moves them into the event archive; then
``EventArchive.received`` reads them back as ``ticketbot events export`` does. Printed: bytes per event as JSON and
as stored (compressed), the database file's growth per event, and the rates of archiving and exporting.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scale import synthetic_events  # noqa: E402
from bot.clock import VirtualClock  # noqa: E402
from bot.inbox.archive import EventArchive  # noqa: E402
from bot.inbox.queue import DONE, Inbox, InboxRow  # noqa: E402
from bot.migrations import upgrade  # noqa: E402
from bot.store import make_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bodies = synthetic_events(args.events)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "archive.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = make_engine(url)
        clock = VirtualClock(datetime(2026, 11, 1, tzinfo=UTC))
        inbox = Inbox(engine, clock)
        empty = path.stat().st_size
        raw = 0
        rows = []
        for n, body in enumerate(bodies):
            envelope = {"source": "jira", "headers": {"x-atlassian-webhook-identifier": f"bench-{n}",
                                                      "x-hub-signature": "sha256=" + "0" * 64}, "body": body}
            raw += len(json.dumps(envelope, separators=(",", ":")).encode())
            moment = clock.now() + timedelta(seconds=n * 26)  # 100,000 over 30 days
            rows.append(dict(dedup_key=f"jira:bench-{n}", source="jira", kind="ticket.updated",
                             ticket_key=body["issue"]["key"], status=DONE, envelope=envelope, occurred_at=moment,
                             received_at=moment, received_ts=moment.timestamp(), attempts=1,
                             next_attempt_at=moment.timestamp(), version=1, note="", finished_at=moment))
        with engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(InboxRow.__table__.insert(), rows[start:start + 5000])
        clock.set(clock.now() + timedelta(days=60))
        archive = EventArchive(engine, clock, retention=timedelta(days=90))
        began = time.perf_counter()
        moved = inbox.prune(timedelta(days=14), keep=archive.keep)
        archiving = time.perf_counter() - began
        engine.dispose()
        with sqlite3.connect(path) as db:  # what the archive takes once the inbox's pages are free
            db.execute("VACUUM")
        stats = EventArchive(make_engine(url), clock, retention=timedelta(days=90)).stats()
        size = path.stat().st_size
        began = time.perf_counter()
        exported = sum(1 for r in archive.received() if r.record() is not None)
        exporting = time.perf_counter() - began
    figures = {
        "events": args.events, "archived": moved, "exported": exported,
        "json_bytes_per_event": round(raw / args.events), "stored_bytes_per_event": round(stats.bytes_per_event),
        "compression": round(raw / max(1, stats.stored_bytes), 1),
        "file_bytes_per_event": round((size - empty) / args.events),
        "file_mb": round(size / 1e6, 1),
        "archive_events_per_s": round(moved / archiving), "export_events_per_s": round(exported / exporting),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.events:,} events: {figures['json_bytes_per_event']} bytes each as JSON, "
          f"{figures['stored_bytes_per_event']} stored ({figures['compression']}x); the file grows "
          f"{figures['file_bytes_per_event']} bytes an event ({figures['file_mb']} MB in all)")
    print(f"archived {figures['archive_events_per_s']:,} events/s by the sweep, exported "
          f"{figures['export_events_per_s']:,} events/s")


if __name__ == "__main__":
    main()
