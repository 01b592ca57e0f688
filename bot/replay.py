"""Replay recorded webhook events through the real pipeline, on an in-memory site and a virtual clock.

Input: files of recorded Jira webhook bodies, as JSON lines or one JSON array. An element
may also be an envelope ``{"source": "jira", "headers": {...}, "body": {...}}`` as the
daemon's inbox stores them, or ``{"source": "slack", "event": {...}}`` for what a person did
in Slack (an Approve button, ``/ticketbot approve``), the event as :func:`bot.model.event_to_dict`
writes it. The in-memory tracker is seeded from a site description
(``site.yaml`` beside the first file, by default) and from the events themselves: a created
event brings its ticket, an update applies its changelog (what a person did), a comment
event adds the comment. Between events the virtual clock moves to each event's timestamp,
and every durable timer that comes due on the way fires at its due time, as it would in the
daemon. Slack messages are recorded in the change log instead of being sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import VirtualClock
from bot.effects import SlackMessage
from bot.engine import BoundRule
from bot.model import (
    COMMENT_CREATED,
    TICKET_CREATED,
    TICKET_UPDATED,
    Event,
    event_from_dict,
)
from bot.pipeline import Processor, ProcessReport
from bot.sources.jira_webhook import parse_jira_webhook
from bot.state import StateStore, fire_due_timers
from bot.store import Store
from bot.trackers.jira_model import FieldCatalog
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, jira_field_json


class ReplayError(Exception):
    """A recorded events file that cannot be read; the message names the file and line."""


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one file: a JSON array, or one JSON object per line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: cannot read: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{path}: not a JSON array: {exc}") from None
        yield from _objects(path, enumerate(records, 1))
        return
    numbered = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("//"):
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ReplayError(f"{path}:{number}: not JSON: {exc.msg}") from None
    yield from _objects(path, numbered)


def _objects(path: Path, numbered: Iterable[tuple[int, Any]]) -> Iterator[dict[str, Any]]:
    for number, record in numbered:
        if not isinstance(record, dict):
            raise ReplayError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        yield record


@dataclass
class Step:
    """One replayed event: what the pipeline decided and the changes the site saw."""

    event: Event
    report: ProcessReport
    changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.report.as_dict(), "changes": self.changes}


class RecordingNotifier:
    """A Notifier that writes what it would send into a change log (replay, tests)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.sent: list[SlackMessage] = []
        self.alerts: list[str] = []

    def send(self, message: SlackMessage) -> str:
        if message.alert:
            self.alert(message.text)
            return "alert"
        self.sent.append(message)
        to = message.channel or message.slack_user or message.user_email
        buttons = f" [{' / '.join(message.actions)}]" if message.actions else ""
        self.log.append(f"slack {to}: {message.text.strip().splitlines()[0][:80]}{buttons}")
        return f"replay.{len(self.sent)}"

    def alert(self, text: str) -> None:
        self.alerts.append(text)
        self.log.append(f"slack alert: {text.strip().splitlines()[0][:80]}")


class Replay:
    def __init__(self, rules: list[BoundRule], site: Site, store: Store, *, scope: str) -> None:
        self.clock = VirtualClock()
        self.scope = scope
        self.tracker = MemoryTracker(site, now=self.clock.now)
        self.notifier = RecordingNotifier(self.tracker.log)
        self.catalog = FieldCatalog.from_fields(jira_field_json(site))
        self.processor = Processor(rules, self.tracker, store, self.clock, scope=scope, notifier=self.notifier)
        self.states = StateStore(store)

    def run(self, records: Iterable[dict[str, Any]], *, until: datetime | None = None) -> Iterator[Step]:
        """Replay ``records``; then fire the timers due up to ``until`` (if given)."""
        for record in records:
            event = self.decode(record)
            yield from self.fire_due(event.occurred_at)
            self.clock.set(event.occurred_at)
            self._seed(event)
            yield self._step(event)
        if until is not None:
            yield from self.fire_due(until)
            self.clock.set(until)

    def decode(self, record: dict[str, Any]) -> Event:
        if record.get("source") in ("slack", "cli", "timer") and "event" in record:
            try:
                return event_from_dict(record["event"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ReplayError(f"not an event record: {exc}") from None
        body = record.get("body", record) if "body" in record and "source" in record else record
        return parse_jira_webhook(body, headers=record.get("headers"), catalog=self.catalog)

    def fire_due(self, moment: datetime) -> Iterator[Step]:
        """Fire every timer due at or before ``moment``, each at its own due time, in order."""
        return fire_due_timers(self.states, self.scope, moment, self.clock, self._step)

    def _step(self, event: Event) -> Step:
        before = len(self.tracker.log)
        report = self.processor.process(event)
        return Step(event, report, self.tracker.log[before:])

    def _seed(self, event: Event) -> None:
        """Make the in-memory site show what the recorded event says people did."""
        known = event.ticket_key in self.tracker.tickets
        if event.ticket is not None and not known:
            self.tracker.upsert(event.ticket)
        if not known and event.ticket is None:
            return
        if event.kind == TICKET_UPDATED and known:
            for change in event.changes:
                self.tracker.apply_external_change(event.ticket_key, change.field, change.to_value)
        if event.kind == COMMENT_CREATED and event.comment is not None:
            self.tracker.add_external_comment(event.ticket_key, event.comment)
        if event.kind == TICKET_CREATED and known:
            return


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)
