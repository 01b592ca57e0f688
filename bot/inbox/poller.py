"""The polling fallback: tickets updated since the last poll go through the same inbox.

Webhooks get lost (Jira gives up after a few retries, a deploy drops a request). Every
``TICKETBOT_JIRA__POLL_INTERVAL`` seconds the leader searches the watched projects for
tickets updated since the persisted watermark minus an overlap (Jira's JQL has minute
precision, clocks drift), and enqueues one ``poll`` event per ticket update. Dedup makes
the overlap harmless: the same ticket at the same ``updated`` is one inbox row, and an
update the inbox already holds a webhook for is skipped (a dead letter does not count: it was never
applied, so a poll that finds its ticket updated queues the ticket again).

One poller per system: Jira's (source ``poll``) searches with JQL from the watermark; Zendesk's
(source ``zendesk-poll``) follows the incremental export's cursor, which it keeps in the
daemon's state next to its watermark, so a restarted or newly elected leader goes on from
where the last one stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import DateTime, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.clock import Clock
from bot.inbox.queue import Inbox, as_utc
from bot.model import TICKET_CREATED, TICKET_UPDATED, Event, Ticket
from bot.store import Base

log = logging.getLogger(__name__)

SOURCE = "poll"
ZENDESK_SOURCE = "zendesk-poll"
WATERMARK = "jira.poll.watermark"
LAST_POLL = "jira.poll.last"


def state_names(system: str) -> tuple[str, str, str]:
    """The daemon-state names of one system's poll: its watermark, its last result, its cursor."""
    return f"{system}.poll.watermark", f"{system}.poll.last", f"{system}.poll.cursor"


class StateRow(Base):
    """Small named values the daemon keeps across restarts (the poll watermark, the last poll)."""

    __tablename__ = "daemon_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DaemonState:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, name: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(StateRow, name)
            return row.value if row else None

    def put(self, name: str, value: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(StateRow, name)
            if row is None:
                s.add(StateRow(name=name, value=value, updated_at=self.clock.now()))
            else:
                row.value, row.updated_at = value, self.clock.now()


class Searcher(Protocol):
    """Tickets updated since a moment. A searcher with a ``cursor`` attribute (Zendesk's export)
    goes on from its cursor instead; the poller loads it before and saves it after each poll."""

    def search_updated(self, projects: Iterable[str], since: datetime) -> list[Ticket]: ...


@dataclass
class PollResult:
    at: str
    since: str
    found: int = 0
    queued: int = 0
    error: str = ""


def poll_envelope(ticket: Ticket, moment: datetime) -> dict[str, Any]:
    created = ticket.created.isoformat() if ticket.created else None
    return {"source": SOURCE, "system": ticket.tracker, "ticket_key": ticket.key, "updated": moment.isoformat(),
            "created": created}


def decode_poll(envelope: dict[str, Any]) -> Event:
    """The event a poll result stands for: the ticket changed at ``updated`` (created, if that was all)."""
    updated = as_utc(datetime.fromisoformat(envelope["updated"]))
    created = envelope.get("created")
    kind = TICKET_CREATED if created and as_utc(datetime.fromisoformat(created)) == updated else TICKET_UPDATED
    key = envelope["ticket_key"]
    return Event(id=f"{key}@{envelope['updated']}", source=SOURCE, kind=kind, ticket_key=key, occurred_at=updated,
                 raw_type="poll")


class Poller:
    def __init__(self, tracker: Searcher, inbox: Inbox, state: DaemonState, clock: Clock, *,
                 projects: Callable[[], set[str]], overlap: float, system: str = "jira",
                 source: str = SOURCE) -> None:
        self.tracker = tracker
        self.inbox = inbox
        self.state = state
        self.clock = clock
        self.projects = projects
        self.overlap = timedelta(seconds=overlap)
        self.source = source
        self._watermark_name, self._last_name, self._cursor_name = state_names(system)
        self._follows_cursor = hasattr(tracker, "cursor")

    def poll_once(self) -> PollResult:
        """One search and its enqueueing; the watermark moves only when the search succeeded."""
        started = self.clock.now()
        since = self._watermark(started) - self.overlap
        result = PollResult(at=started.isoformat(), since=since.isoformat())
        projects = sorted(self.projects())
        if self._follows_cursor:  # where the last poll stopped, whichever replica made it
            self.tracker.cursor = self.state.get(self._cursor_name)  # type: ignore[attr-defined]
        try:
            tickets = self.tracker.search_updated(projects, since) if projects else []
        except Exception as exc:  # the next poll retries from the same watermark
            result.error = f"{exc.__class__.__name__}: {exc}"
            log.warning("poll of %s failed: %s", ", ".join(projects), result.error)
            self._remember(result)
            return result
        result.found = len(tickets)
        result.queued = sum(self._enqueue(t, started) for t in tickets)
        self.state.put(self._watermark_name, started.isoformat())
        cursor = getattr(self.tracker, "cursor", None) if self._follows_cursor else None
        if cursor:  # saved only once what it covers is in the inbox
            self.state.put(self._cursor_name, cursor)
        self._remember(result)
        if result.queued:
            log.info("poll found %d updated ticket(s), queued %d", result.found, result.queued)
        return result

    def last_poll(self) -> dict[str, Any] | None:
        raw = self.state.get(self._last_name)
        return json.loads(raw) if raw else None

    def _watermark(self, now: datetime) -> datetime:
        raw = self.state.get(self._watermark_name)
        return datetime.fromisoformat(raw) if raw else now  # first poll: just the overlap

    def _enqueue(self, ticket: Ticket, now: datetime) -> bool:
        moment = as_utc(ticket.updated) if ticket.updated else now
        held = self.inbox.newest_occurrence(ticket.key)
        if held is not None and held >= moment:
            return False  # a webhook for this update (or a later one) is already in the inbox
        event = decode_poll(poll_envelope(ticket, moment))
        return self.inbox.add(key=f"{self.source}:{event.id}", source=self.source, event=event,
                              envelope=poll_envelope(ticket, moment))

    def _remember(self, result: PollResult) -> None:
        self.state.put(self._last_name, json.dumps(asdict(result)))
