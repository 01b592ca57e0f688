"""The event archive on SQLite and PostgreSQL: the sweep moves what the inbox forgets, the export reads both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.clock import VirtualClock
from bot.inbox.archive import ArchiveRow, EventArchive, unpack
from bot.inbox.queue import DEAD, DONE, Inbox, InboxRow
from bot.migrations import upgrade
from bot.model import TICKET_UPDATED, Event
from bot.store import make_engine

START = datetime(2026, 11, 2, 9, tzinfo=UTC)
INBOX_DAYS = timedelta(days=14)


@pytest.fixture
def site(db_url):  # noqa: ANN001, ANN201
    upgrade(db_url)
    engine = make_engine(db_url)
    clock = VirtualClock(START)
    yield Inbox(engine, clock), EventArchive(engine, clock, retention=timedelta(days=90)), clock
    engine.dispose()


def _receive(inbox: Inbox, clock: VirtualClock, key: str, n: int, *, source: str = "jira",
             status: str = DONE) -> None:
    event = Event(id=f"{key}#{n}", source=source, kind=TICKET_UPDATED, ticket_key=key, occurred_at=clock.now())
    body = {"webhookEvent": "jira:issue_updated", "n": n, "issue": {"key": key}, "padding": "x" * 2000}
    envelope = {"source": source, "headers": {"x-atlassian-webhook-identifier": f"d-{key}-{n}"}, "body": body} \
        if source == "jira" else {"source": source, "event": {"id": event.id}}
    assert inbox.add(key=f"{source}:{event.id}", source=source, event=event, envelope=envelope)
    claim = inbox.claim(60.0)
    assert claim is not None
    if status == DONE:
        inbox.complete(claim)
    else:
        inbox.fail(claim, "boom", retry_in=None)


def _statuses(inbox: Inbox) -> dict[str, str]:
    return {r.dedup_key: r.status for r in inbox.rows()}


def test_the_sweep_moves_what_the_inbox_forgets_into_the_archive(site) -> None:  # noqa: ANN001
    inbox, archive, clock = site
    for n in range(3):
        _receive(inbox, clock, "SS-1", n)
        clock.advance(timedelta(days=1))
    _receive(inbox, clock, "SS-2", 9, status=DEAD)
    clock.set(START + INBOX_DAYS + timedelta(days=1, hours=1))  # SS-1#0 and #1 are past the inbox's 14 days
    assert inbox.prune(INBOX_DAYS, keep=archive.keep) == 2
    assert set(_statuses(inbox)) == {"jira:SS-1#2", "jira:SS-2#9"}  # the newer one, and the dead letter
    with inbox.engine.connect() as conn:
        kept = conn.execute(select(ArchiveRow.dedup_key, ArchiveRow.envelope).order_by(ArchiveRow.id)).all()
    assert [r.dedup_key for r in kept] == ["jira:SS-1#0", "jira:SS-1#1"]
    assert unpack(kept[0].envelope)["body"]["n"] == 0
    assert len(kept[0].envelope) < 400  # 2 KiB of JSON, compressed
    stats = archive.stats()
    assert stats.events == 2 and stats.raw_bytes > 4 * stats.stored_bytes


def test_an_archive_with_no_retention_keeps_nothing(site) -> None:  # noqa: ANN001
    inbox, _, clock = site
    archive = EventArchive(inbox.engine, clock, retention=timedelta(0))
    _receive(inbox, clock, "SS-1", 0)
    clock.advance(INBOX_DAYS * 2)
    assert inbox.prune(INBOX_DAYS, keep=archive.keep) == 1
    assert inbox.rows() == [] and archive.stats().events == 0


def test_archived_events_are_forgotten_after_the_archives_retention(site) -> None:  # noqa: ANN001
    inbox, archive, clock = site
    _receive(inbox, clock, "SS-1", 0)
    clock.advance(timedelta(days=20))
    _receive(inbox, clock, "SS-1", 1)
    clock.advance(timedelta(days=15))
    inbox.prune(INBOX_DAYS, keep=archive.keep)
    assert archive.stats().events == 2
    clock.advance(timedelta(days=60))  # the first is now 95 days old, the second 75
    assert archive.prune() == 1
    assert [r.dedup_key for r in archive.received()] == ["jira:SS-1#1"]


def test_a_row_archived_twice_is_kept_once(site) -> None:  # noqa: ANN001
    inbox, archive, clock = site
    _receive(inbox, clock, "SS-1", 0)
    with inbox.engine.begin() as conn:
        rows = conn.execute(select(InboxRow.dedup_key, InboxRow.source, InboxRow.kind, InboxRow.ticket_key,
                                   InboxRow.status, InboxRow.occurred_at, InboxRow.received_ts,
                                   InboxRow.envelope)).all()
        archive.keep(conn, rows)
    clock.advance(INBOX_DAYS * 2)  # a sweep that died after archiving but before deleting, run again
    inbox.prune(INBOX_DAYS, keep=archive.keep)
    assert archive.stats().events == 1 and inbox.rows() == []


def test_received_merges_the_archive_and_the_inbox_in_arrival_order(site) -> None:  # noqa: ANN001
    inbox, archive, clock = site
    for n in range(4):
        _receive(inbox, clock, f"SS-{n % 2 + 1}", n)
        clock.advance(timedelta(days=6))
    inbox.prune(INBOX_DAYS, keep=archive.keep)  # the first two are archived, the others still in the inbox
    assert archive.stats().events == 2 and len(inbox.rows()) == 2
    assert [r.dedup_key for r in archive.received()] == [f"jira:SS-{n % 2 + 1}#{n}" for n in range(4)]
    assert [r.dedup_key for r in archive.received(ticket="SS-2")] == ["jira:SS-2#1", "jira:SS-2#3"]
    window = archive.received(since=START + timedelta(days=5), until=START + timedelta(days=13))
    assert [r.dedup_key for r in window] == ["jira:SS-2#1", "jira:SS-1#2"]
    record = next(iter(archive.received())).record()
    assert record is not None and record["source"] == "jira" and record["body"]["n"] == 0


def test_timer_firings_are_kept_but_not_exported_for_replay(site) -> None:  # noqa: ANN001
    inbox, archive, clock = site
    _receive(inbox, clock, "SS-1", 0, source="timer")
    _receive(inbox, clock, "SS-1", 1, source="slack")
    sources = {r.source: r.record() for r in archive.received()}
    assert sources["timer"] is None
    assert sources["slack"] == {"source": "slack", "event": {"id": "SS-1#1"}}


def test_the_export_command_writes_json_lines_and_names_what_it_left_out(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    clock = VirtualClock(START)
    inbox = Inbox(engine, clock)
    _receive(inbox, clock, "SS-1", 0)
    _receive(inbox, clock, "SS-1", 1, source="timer")
    _receive(inbox, clock, "SS-2", 2)
    engine.dispose()
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["events", "export", "--ticket", "ss-1"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["body"]["n"] for line in lines] == [0]
    assert "1 event(s) exported; left out: 1 timer firings" in result.output
    bad = CliRunner().invoke(app, ["events", "export", "--since", "last week"])
    assert bad.exit_code == 2 and "since" in bad.output.lower()
    stats = CliRunner().invoke(app, ["events", "stats"])
    assert stats.exit_code == 0 and "archive is empty" in stats.output
