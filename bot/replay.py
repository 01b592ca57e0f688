"""Replay recorded webhook events through the real pipeline, on an in-memory site and a virtual clock.

Input: files of recorded webhook bodies, as JSON lines or one JSON array: Jira Cloud webhooks,
or Zendesk webhooks of either shape :mod:`bot.sources.zendesk_webhook` reads (the trigger body
ticketbot documents, ``{"ticketbot": "zendesk-trigger/1", …}``, or an event-webhook envelope,
``{"type": "zen:event-type:…", …}``), decoded through that module as the daemon decodes them. An
element may also be an envelope ``{"source": "jira"|"zendesk", "headers": {...}, "body": {...}}``
as the daemon's inbox stores them, or ``{"source": "slack", "event": {...}}`` for what a person did
in Slack (an Approve button, ``/ticketbot approve``), the event as :func:`bot.model.event_to_dict`
writes it. The in-memory tracker is seeded from a site description
(``site.yaml`` beside the first file, by default; ``kind: zendesk`` for a Zendesk account) and from
the events themselves: a created event brings its ticket, an update applies its changelog (what a
person did), a comment event adds the comment. Zendesk webhooks carry names and ids rather than a
ticket snapshot: :func:`zendesk_person_change` reads them against the site (group, form, user and
field ids; dropdown tags to option names), see its docstring for what each shape contributes.
A file is read with a bound (:data:`MAX_LINE_BYTES` a line, :data:`MAX_ARRAY_BYTES` a JSON array);
a record that cannot be read is a :class:`ReplayError` naming ``FILE:LINE`` and the kind of body.
Between events the virtual clock moves to each event's timestamp,
and every durable timer that comes due on the way fires at its due time, as it would in the
daemon. Slack messages are recorded in the change log instead of being sent.

The tracker need not be the in-memory one: ``Replay(..., tracker=…, seed=…)`` plays the same
records against, say, the Zendesk adapter on a fake Zendesk (the scenario tests), ``seed`` then
being what makes that site show what people did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from io import BufferedReader
from pathlib import Path
from typing import IO, Any

from bot.clock import VirtualClock
from bot.effects import SlackMessage
from bot.engine import BoundRule
from bot.model import COMMENT_CREATED, TICKET_CREATED, TICKET_UPDATED, Comment, Event, Ticket, User, event_from_dict
from bot.pipeline import Processor, ProcessReport
from bot.sources.common import MalformedEvent
from bot.sources.jira_webhook import parse_jira_webhook
from bot.sources.zendesk_webhook import EVENT_TYPE_PREFIX, TRIGGER_MARKER, html_to_text, normalize_zendesk_webhook
from bot.state import BufferedStateStore, fire_due_timers
from bot.store import Store
from bot.trackers.base import Tracker
from bot.trackers.jira.model import FieldCatalog
from bot.trackers.memory import ZENDESK_DEFAULT_PROJECT, MemoryTracker
from bot.trackers.site import Site, SiteField, jira_field_json, option_tag, zendesk_status


class ReplayError(Exception):
    """A recorded events file that cannot be read; the message names the file and line."""


_MIB = 1024 * 1024
#: The longest line of a JSON-lines file (a webhook body is at most 1 MiB by default, TICKETBOT_HTTP__MAX_BODY_BYTES):
#: a longer one is no recorded event, and reading it whole could exhaust memory (``replay /dev/zero``).
MAX_LINE_BYTES = 16 * _MIB
#: The largest JSON-array file: an array is parsed whole; a longer recording is written as JSON lines.
MAX_ARRAY_BYTES = 64 * _MIB


class Record(dict):
    """A record read from a file, knowing where it was: ``where`` is ``FILE:LINE`` (or ``FILE[N]``, the Nth
    element of an array), which errors about it name."""

    where = ""


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one file: a JSON array, or one JSON object per line (``//`` lines are comments)."""
    try:
        with path.open("rb") as stream:
            skipped = _skip_blank(stream)
            if stream.peek(1)[:1] == b"[":
                yield from _objects(path, enumerate(_array(path, stream), 1), lambda n: f"{path}[{n}]")
            else:
                yield from _objects(path, _lines(path, stream, first=1 + skipped), lambda n: f"{path}:{n}")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _skip_blank(stream: BufferedReader) -> int:
    """Consume the whitespace the file starts with (a bounded amount); the number of lines it spans."""
    lines = 0
    for _ in range(MAX_LINE_BYTES // 8192 + 1):
        buffered = stream.peek(1)[:8192]
        blank = len(buffered) - len(buffered.lstrip())
        lines += stream.read(blank).count(b"\n")
        if blank < len(buffered) or not buffered:
            break
    return lines


def _array(path: Path, stream: IO[bytes]) -> list[Any]:
    data = stream.read(MAX_ARRAY_BYTES + 1)
    if len(data) > MAX_ARRAY_BYTES:
        raise ReplayError(f"{path}: a JSON array larger than {MAX_ARRAY_BYTES // _MIB} MiB; write the events as "
                          "JSON lines, one per line, which replay reads one at a time")
    records = _parse(data, str(path))
    if not isinstance(records, list):
        raise ReplayError(f"{path}: not a JSON array")
    return records


def _lines(path: Path, stream: IO[bytes], *, first: int) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` of each line that is not blank or a comment, each read with a bound."""
    number = first - 1
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line.rstrip(b"\r\n")) > MAX_LINE_BYTES:
            raise ReplayError(f"{path}:{number}: a line longer than {MAX_LINE_BYTES // _MIB} MiB: not a recorded "
                              "event (replay reads JSON lines or one JSON array)")
        text = line.strip()
        if text and not text.startswith(b"//"):
            yield number, _parse(text, f"{path}:{number}")


def _parse(data: bytes, where: str) -> Any:
    """JSON from ``data``, or a ReplayError saying why not (not UTF-8, not JSON, nested too deeply)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReplayError(f"{where}: not UTF-8 text (a binary file?)") from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        raise ReplayError(f"{where}: not JSON: {exc.msg} ({at})") from None
    except RecursionError:
        raise ReplayError(f"{where}: JSON nested too deeply to read") from None


def _objects(path: Path, numbered: Iterable[tuple[int, Any]], where: Callable[[int], str]) -> Iterator[Record]:
    for number, value in numbered:
        if not isinstance(value, dict):
            raise ReplayError(f"{where(number)}: expected a JSON object, got {type(value).__name__}")
        record = Record(value)
        record.where = where(number)
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

    def __init__(self, log: list[str], zones: Mapping[str, str] | None = None) -> None:
        self.log = log
        self.sent: list[SlackMessage] = []
        self.alerts: list[str] = []
        #: People's Slack time zones by e-mail or Slack id (quiet hours); others: the runbook's calendar.
        self.zones: dict[str, str] = dict(zones or {})

    def time_zone_of(self, message: SlackMessage) -> str | None:
        if message.channel:
            return None
        return self.zones.get(message.slack_user) or self.zones.get(message.user_email.lower())

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
    """``tracker``: where the rules act (default: a MemoryTracker of ``site``); ``seed(event)`` makes it show
    what a replayed event says people did (default: the in-memory seeding below); ``clock``: the virtual
    clock (give it when the tracker needs it too).

    A replay is the only writer of its scope (``ticketbot replay`` makes a new ``replay-<id>`` scope
    each run), so it writes in batches: the rule state and timers live in memory
    (:class:`~bot.state.BufferedStateStore`), and the traces, effect records, rule state and timers of
    ``batch_events`` events at a time go to the database in one transaction (:meth:`commit`), the
    last ones when :meth:`run` ends, also when it ends with an exception (a record that cannot be
    read, a failing tracker): everything played until then is then in the database, up to and
    including the event that failed, as the per-event commits left it. A process killed mid-way
    (SIGKILL, power) keeps the events up to the last commit, whole: each batch's traces, records,
    states and timers are committed together, never part of an event. A replay interrupted either
    way is run again from the start (a new scope; the site is in memory, nothing outside changed).

    A backtest (:mod:`bot.ops.backtest`) needs neither traces nor a database: ``record_traces=False`` builds
    none, and on a :class:`~bot.store.MemoryStore` nothing is batched or committed (the rule state and timers
    stay in the :class:`~bot.state.BufferedStateStore`, the effect records in the store's dictionary). What
    the rules decide and the executor does is the same: only what is written down differs."""

    def __init__(self, rules: list[BoundRule], site: Site, store: Store, *, scope: str,
                 tracker: Tracker | None = None, seed: Callable[[Event], None] | None = None,
                 clock: VirtualClock | None = None, batch_events: int = 1000, record_traces: bool = True) -> None:
        self.clock = clock or VirtualClock()
        self.scope = scope
        self.store = store
        self.batch_events = batch_events
        self.site = site
        self.tracker = tracker if tracker is not None else MemoryTracker(site, now=self.clock.now)
        #: Every change made on the site (the in-memory tracker's log) and every Slack message.
        self.log: list[str] = self.tracker.log if isinstance(self.tracker, MemoryTracker) else []
        #: None: the in-memory seeding (:meth:`_seed`; not kept as a bound method, which would make the replay a
        #: reference cycle, freed only by the cycle collector instead of the moment it is dropped).
        self.seed = seed
        self.notifier = RecordingNotifier(self.log)
        self.catalog = FieldCatalog.from_fields(jira_field_json(site))
        self.states = BufferedStateStore(store, scope)
        self.processor = Processor(rules, self.tracker, store, self.clock, scope=scope, notifier=self.notifier,
                                   states=self.states, record_traces=record_traces)
        self._batch: Any = None  # the store's batch of traces and effect records (Store.batch)
        self._held = 0  # events in it

    def run(self, records: Iterable[dict[str, Any]], *, until: datetime | None = None) -> Iterator[Step]:
        """Replay ``records``; then fire the timers due up to ``until`` (if given). What it wrote is in the
        database when it returns or raises (see the class)."""
        try:
            for record in records:
                yield from self._play(record)
            if until is not None:
                yield from self.fire_due(until)
                self.clock.set(until)
        finally:
            self.commit()

    def commit(self) -> None:
        """Write what the replay holds (traces, effect records, rule state, timers) in one transaction."""
        store = self.processor.store
        if not store.persistent:
            return  # nothing to write: the state is in memory and stays there
        if self._batch is None:
            self._batch = store.batch(self.scope)
        store.commit(self._batch, also=self.states.write)
        self._held = 0

    def _play(self, record: dict[str, Any]) -> Iterator[Step]:
        """One record: the timers due before it, then it. A record that cannot be read (or is nested too
        deeply for the rules to read) is a ReplayError naming where it was (``FILE:LINE``, see :class:`Record`)."""
        where = f"{record.where}: " if isinstance(record, Record) else ""
        try:
            event = self.decode(record)
            yield from self.fire_due(event.occurred_at)
            self.clock.set(event.occurred_at)
            (self.seed or self._seed)(event)
            yield self._step(event)
        except ReplayError as exc:
            raise ReplayError(f"{where}{exc}") from None
        except RecursionError:
            raise ReplayError(f"{where}this record is nested too deeply to read") from None

    def decode(self, record: dict[str, Any]) -> Event:
        """The event of a record, or a ReplayError naming the kind of body it could not read."""
        kind, body = record_kind(record)
        try:
            if kind in EVENT_RECORDS:
                return event_from_dict(record["event"])
            if not isinstance(body, Mapping):
                raise MalformedEvent(f"its 'body' is a JSON {type(body).__name__}, not an object")
            if kind.startswith("zendesk"):
                return normalize_zendesk_webhook(body, received_at=self.clock.now())
            return parse_jira_webhook(body, headers=record.get("headers"), catalog=self.catalog)
        # A hostile body can be of any shape at any depth: whatever the decoders choke on is this record's fault.
        except (MalformedEvent, LookupError, TypeError, ValueError, AttributeError) as exc:
            raise ReplayError(f"cannot read {_KINDS[kind]}: {exc}") from None

    def fire_due(self, moment: datetime) -> Iterator[Step]:
        """Fire every timer due at or before ``moment``, each at its own due time, in order."""
        return fire_due_timers(self.states, self.scope, moment, self.clock, self._step)

    def _step(self, event: Event) -> Step:
        before = len(self.log)
        store = self.processor.store
        if not store.persistent:
            return Step(event, self.processor.process(event), self.log[before:])
        if self._batch is None:
            self._batch = store.batch(self.scope)
        with store.using(self._batch):
            report = self.processor.process(event)
        self._held += 1
        if self._held >= self.batch_events:
            self.commit()
        return Step(event, report, self.log[before:])

    def _seed(self, event: Event) -> None:
        """Make the in-memory site show what the recorded event says people did."""
        assert isinstance(self.tracker, MemoryTracker), "give Replay a seed for another tracker"
        if event.source == "zendesk":
            change = zendesk_person_change(event, self.site)
            if change is not None:
                seed_memory(self.tracker, change)
            return
        if event.ticket_key not in self.tracker.tickets:
            if event.ticket is None:
                return
            self.tracker.upsert(event.ticket)
        elif event.kind == TICKET_UPDATED:
            for edit in event.changes:
                self.tracker.apply_external_change(event.ticket_key, edit.field, edit.to_value)
        if event.kind == COMMENT_CREATED and event.comment is not None:
            self.tracker.add_external_comment(event.ticket_key, event.comment)


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


# What a record is ----------------------------------------------------------------------------------------
EVENT_RECORDS = {"slack": "a Slack event record", "cli": "a CLI event record", "timer": "a timer event record"}
_KINDS = {**EVENT_RECORDS, "jira": "this Jira webhook", "zendesk-event": "this Zendesk event webhook",
          "zendesk-trigger": "this Zendesk trigger webhook", "jira-envelope": "this inbox envelope of a Jira webhook",
          "zendesk-event-envelope": "this inbox envelope of a Zendesk event webhook",
          "zendesk-trigger-envelope": "this inbox envelope of a Zendesk trigger webhook"}
#: ``type`` of what Slack posts (Events API, interactivity): what a person did, but not in a form replay plays.
SLACK_TYPES = frozenset({"event_callback", "url_verification", "app_rate_limited", "block_actions", "block_suggestion",
                         "interactive_message", "message_action", "shortcut", "view_submission", "view_closed"})


def record_kind(record: Mapping[str, Any]) -> tuple[str, Any]:
    """What a record is (a key of ``_KINDS``) and the webhook body in it; a ReplayError for what replay does not
    play (a raw Slack payload, an envelope of another source) or cannot tell."""
    source = record.get("source")
    if source in EVENT_RECORDS and "event" in record:
        return source, None
    if "body" in record and "source" in record:
        body = record["body"]
        if source == "jira":
            return "jira-envelope", body
        if source == "zendesk":
            shape = "event" if isinstance(body, Mapping) and _is_event_envelope(body) else "trigger"
            return f"zendesk-{shape}-envelope", body
        raise ReplayError(f"an inbox envelope from source {str(source)[:40]!r}, which replay does not play "
                          "(it plays 'jira' and 'zendesk' ones)")
    if record.get("type") in SLACK_TYPES or str(record.get("command") or "").startswith("/") \
            or "api_app_id" in record:
        raise ReplayError("a Slack payload, which replay does not play: record what a person did in Slack as "
                          '{"source": "slack", "event": {…}} (bot.model.event_to_dict)')
    if is_zendesk_body(record):
        return ("zendesk-event" if _is_event_envelope(record) else "zendesk-trigger"), record
    if "webhookEvent" in record or "issue" in record:
        return "jira", record
    raise ReplayError("not a recorded event replay reads: a Jira webhook has 'webhookEvent' and 'issue', a Zendesk "
                      f"one '{TRIGGER_MARKER}' or 'type': '{EVENT_TYPE_PREFIX}…', an inbox envelope 'source' and "
                      f"'body' (keys here: {', '.join(repr(k[:30]) for k in sorted(record)[:6]) or 'none'})")


def _is_event_envelope(body: Mapping[str, Any]) -> bool:
    return str(body.get("type") or "").startswith(EVENT_TYPE_PREFIX)


# Zendesk webhooks: what a person did ---------------------------------------------------------------------
def is_zendesk_body(body: Mapping[str, Any]) -> bool:
    """A Zendesk webhook body (not a Jira one): an event-webhook envelope or the documented trigger body."""
    if "webhookEvent" in body:
        return False
    return str(body.get("type") or "").startswith(EVENT_TYPE_PREFIX) or TRIGGER_MARKER in body or "ticket" in body


@dataclass
class ZendeskChange:
    """What one Zendesk webhook says a person did to a ticket, in the site's names.

    ``attrs``: ticket attributes given (``subject``, ``description``, ``status`` as the API value,
    ``type``, ``group``, ``form``, ``organization`` by name, ``requester`` by e-mail); ``fields``:
    custom fields by title, dropdown values as option names; ``tags``: the whole tag list when the
    webhook gives it, else ``tags_added``/``tags_removed``; ``comment``: a comment added.
    """

    key: str
    created: bool = False
    at: datetime | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    tags_added: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)
    comment: Comment | None = None


def zendesk_person_change(event: Event, site: Site) -> ZendeskChange | None:
    """Read a decoded Zendesk webhook (its ``payload``) against ``site``; None when it is about no ticket.

    The trigger body gives the ticket's state after the change by name (``title``, ``status``,
    ``type``, ``group``, ``form``, ``organization``, ``requester_email``, ``tags``: the whole list)
    and, for ``comment.*`` events, the comment; an optional ``"fields": {"<field title>":
    "{{ticket.ticket_field_<id>}}"}`` section gives custom fields (ticketbot itself reads the ticket
    through the API; this is what lets a recording carry them). An envelope gives, for
    ``ticket.created``, the ``detail`` (ids: ``group_id``, ``form_id``, ``organization_id``,
    ``requester_id``), for ``ticket.<x>_changed`` the one change (``custom_field_changed`` names its
    field by id or title and gives dropdown tags), and for ``ticket.comment_added`` the comment.
    """
    payload = event.payload or {}
    if not event.ticket_key or event.kind not in (TICKET_CREATED, TICKET_UPDATED, COMMENT_CREATED):
        return None
    change = ZendeskChange(key=event.ticket_key, created=event.kind == TICKET_CREATED, at=event.occurred_at)
    if str(payload.get("type") or "").startswith(EVENT_TYPE_PREFIX):
        _from_envelope(change, payload, event, site)
    else:
        _from_trigger(change, payload, event, site)
    return change


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _from_trigger(change: ZendeskChange, payload: Mapping[str, Any], event: Event, site: Site) -> None:
    ticket = _mapping(payload.get("ticket"))
    if event.kind != COMMENT_CREATED:  # a comment trigger's snapshot is not a change
        for attr, key in (("subject", "title"), ("status", "status"), ("type", "type"), ("group", "group"),
                          ("form", "form"), ("organization", "organization"), ("requester", "requester_email")):
            if _text(ticket.get(key)):
                change.attrs[attr] = _text(ticket[key])
        if "tags" in ticket:
            tags = ticket["tags"]
            change.tags = [str(t) for t in tags] if isinstance(tags, list) else _text(tags).split()
        fields = _mapping(payload.get("fields"))
        for title, raw in fields.items():
            spec = site.field_by(title=str(title))
            if spec is not None and raw not in (None, "", []):
                change.fields[spec.name] = field_value(spec, raw)
    if event.kind == TICKET_CREATED:
        comment = _mapping(payload.get("comment"))
        html = _text(comment.get("html"))
        if html or _text(comment.get("text")):  # a new ticket's latest comment is its description
            change.attrs["description"] = html_to_text(html) if html else _text(comment.get("text"))
    if event.kind == COMMENT_CREATED and event.comment is not None:
        change.comment = _identified(event.comment, event)


def _from_envelope(change: ZendeskChange, payload: Mapping[str, Any], event: Event, site: Site) -> None:
    detail = _mapping(payload.get("detail"))
    what = _mapping(payload.get("event"))
    if event.kind == TICKET_CREATED:
        for attr in ("subject", "description", "status", "type"):
            if _text(detail.get(attr)):
                change.attrs[attr] = _text(detail[attr])
        for attr, key, lookup in (("group", "group_id", site.group_name), ("form", "form_id", site.form_name),
                                  ("organization", "organization_id", _org_name(site))):
            name = lookup(detail.get(key)) if _text(detail.get(key)) not in ("", "0") else None
            if name:
                change.attrs[attr] = name
        requester = site.user_by_id(detail.get("requester_id"))
        if requester is not None:
            change.attrs["requester"] = requester.email
        if isinstance(detail.get("tags"), list):
            change.tags = [str(t) for t in detail["tags"]]
        for item in detail.get("custom_fields") or ():
            spec = site.field_by(field_id=item.get("id")) if isinstance(item, Mapping) else None
            if spec is not None and item.get("value") not in (None, "", []):
                change.fields[spec.name] = field_value(spec, item["value"])
    elif event.kind == COMMENT_CREATED and event.comment is not None:
        comment = event.comment
        author = comment.author
        person = site.user_by_id(author.account_id) if author else None
        if person is not None:
            comment = replace(comment, author=User(account_id=person.account_id, email=person.email,
                                                   display_name=person.display_name))
        change.comment = _identified(comment, event)
    elif event.changes:
        name = str(payload.get("type")).removeprefix(EVENT_TYPE_PREFIX).removeprefix("ticket.")
        if name == "tags_changed":
            change.tags_added = [str(t) for t in what.get("tags_added") or ()]
            change.tags_removed = [str(t) for t in what.get("tags_removed") or ()]
        elif name == "custom_field_changed":
            custom = _mapping(what.get("custom_field"))
            spec = site.field_by(title=_text(custom.get("title")), field_id=custom.get("id"))
            if spec is not None:
                current = what.get("current")
                change.fields[spec.name] = None if current in (None, "", []) else field_value(spec, current)
        else:
            item = event.changes[0]
            attr = {"subject": "subject", "status": "status", "type": "type", "group": "group",
                    "priority": "", "assignee": "assignee"}.get(item.field, "")
            if attr == "assignee":  # agent_assignment_changed: the agent's id -> e-mail ("": unassigned)
                person = site.user_by_id(item.to_value) if item.to_value is not None else None
                change.attrs[attr] = person.email if person else ""
            elif attr and item.to_value is not None:
                change.attrs[attr] = item.to_value


def _org_name(site: Site) -> Callable[[Any], str | None]:
    return lambda org_id: next((o.name for o in site.organizations if o.id == str(org_id)), None)


def _identified(comment: Comment, event: Event) -> Comment:
    """``comment`` (the event's) with an id (a trigger body carries none: the event's id stands in)."""
    return comment if comment.id else replace(comment, id=f"zendesk-{event.id[:16]}")


def field_value(spec: SiteField, raw: Any) -> Any:
    """A recorded Zendesk value of ``spec`` as rules see it: dropdown tags (or names) -> option names."""
    if spec.type not in ("option", "options"):
        return raw
    by_key = {k: o for o in spec.options for k in (o.casefold(), option_tag(o))}

    def name(item: Any) -> str:
        return by_key.get(_text(item).casefold(), _text(item))

    if spec.type == "option":
        return name(raw)
    if isinstance(raw, list):
        return [name(item) for item in raw]
    text = _text(raw)
    return [name(text)] if text.casefold() in by_key else [name(item) for item in text.split()]


def seed_memory(tracker: MemoryTracker, change: ZendeskChange) -> None:
    """Apply a :class:`ZendeskChange` to the in-memory site (a new ticket, or what changed on a known one)."""
    attrs = change.attrs
    if change.key not in tracker.tickets:
        if not change.created:
            return  # an update of a ticket the recording never introduced: nothing to show it on
        requester = attrs.get("requester", "")
        tracker.upsert(Ticket(
            key=change.key, id=change.key, project=attrs.get("group") or ZENDESK_DEFAULT_PROJECT,
            summary=attrs.get("subject", ""), description=attrs.get("description", ""),
            status=zendesk_status(attrs.get("status", "")) or "new", issue_type=attrs.get("type", "").casefold(),
            tracker="zendesk", reporter=User(email=requester) if requester else None,
            creator=User(email=requester) if requester else None,
            organizations=(attrs["organization"],) if attrs.get("organization") else (),
            request_type=attrs.get("form") or None, labels=tuple(change.tags or ()), fields=dict(change.fields),
            created=change.at, updated=change.at))
        return
    if change.created:
        return  # ticketbot's own creation, already on the site
    for attr in ("subject", "status", "type", "group", "form", "assignee"):
        if attr in attrs:
            tracker.apply_external_change(change.key, attr, attrs[attr])
    for title, value in change.fields.items():
        tracker.apply_external_change(change.key, title, value)
    labels = list(tracker.tickets[change.key].labels)
    if change.tags is not None:
        labels = list(change.tags)
    labels = [t for t in labels if t not in change.tags_removed] + \
        [t for t in change.tags_added if t not in labels]
    if change.tags is not None or change.tags_added or change.tags_removed:
        tracker.apply_external_change(change.key, "tags", labels)
    if change.comment is not None:
        tracker.add_external_comment(change.key, change.comment)
