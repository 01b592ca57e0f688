"""Zendesk webhooks -> normalized :class:`bot.model.Event` (source ``"zendesk"``), and their signatures.

Zendesk can call ticketbot in two ways; :func:`normalize_zendesk_webhook` accepts both.

(a) A trigger (or automation) whose action is "Notify active webhook", with a JSON body WE
define. Configure the webhook with request format JSON, method POST, and paste this body into
each trigger, changing only the ``"event"`` literal to say what happened::

    {
      "ticketbot": "zendesk-trigger/1",
      "event": "ticket.updated",
      "ticket": {
        "id": "{{ticket.id}}",
        "title": "{{ticket.title}}",
        "status": "{{ticket.status}}",
        "type": "{{ticket.ticket_type}}",
        "group": "{{ticket.group.name}}",
        "form": "{{ticket.ticket_form}}",
        "organization": "{{ticket.organization.name}}",
        "requester_email": "{{ticket.requester.email}}",
        "tags": "{{ticket.tags}}",
        "updated_at": "{{ticket.updated_at_with_timestamp}}"
      },
      "comment": {
        "html": "{{ticket.latest_comment_html}}"
      },
      "actor": {
        "email": "{{current_user.email}}",
        "name": "{{current_user.name}}"
      }
    }

Suggested triggers: "Ticket | Is | Created" with ``"event": "ticket.created"``; "Ticket | Is |
Updated" with ``"event": "ticket.updated"``; "Comment | Is | Present (public or private)" with
``"event": "comment.created"`` (add ``"public": false`` inside ``"comment"`` in a trigger that
also requires "Comment | Is | Private", ``true`` for public; without it the comment counts as
internal). ``"event"`` takes the kinds of :mod:`bot.model` (``ticket.created``,
``ticket.updated``, ``ticket.deleted``, ``comment.created``, ``comment.updated``,
``comment.deleted``); any other value gives an UNKNOWN event. Only ``ticket.id`` and ``event``
are required; empty placeholders count as absent; ``updated_at`` must stay ISO-8601 (that
placeholder renders e.g. ``2013-12-12T05:35Z``). Should a rendered value ever break the JSON
(an unescaped quote, say), the delivery is refused as :class:`MalformedEvent` with the reason,
and the poller (incremental export) still picks the change up.

(b) An event webhook subscribed to Zendesk event types: the documented envelope
``{"type": "zen:event-type:ticket.created", "id", "time", "subject": "zen:ticket:<id>",
"detail": {...ticket...}, "event": {...what changed...}}``. ``ticket.created`` -> TICKET_CREATED,
``ticket.comment_added`` -> COMMENT_CREATED, ``ticket.*_deleted`` -> TICKET_DELETED,
``ticket.<x>_changed`` -> TICKET_UPDATED with a :class:`~bot.model.Change` (``event.previous`` ->
``event.current``); everything else (user.*, organization.*, other ticket events) -> UNKNOWN.

Neither shape carries custom fields by title, so ``Event.ticket`` is ``None``: the pipeline
reads the ticket through ``ZendeskTracker.get_ticket(event.ticket_key)``. The event id is the
envelope's ``id`` when there is one, else the sha256 of the trigger body (canonical JSON): a
redelivery of the same call has the same id and is deduplicated.

Signatures are checked in :mod:`bot.sources.signatures` (``verify_zendesk_signature``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from bot import model
from bot.sources.common import MalformedEvent, json_object, sha256_hex
from bot.trackers.keys import InvalidKey, normalize_key, shown

SOURCE = "zendesk"
TRIGGER_MARKER = "ticketbot"
EVENT_TYPE_PREFIX = "zen:event-type:"
_TRIGGER_KINDS = {model.TICKET_CREATED, model.TICKET_UPDATED, model.TICKET_DELETED,
                  model.COMMENT_CREATED, model.COMMENT_UPDATED, model.COMMENT_DELETED}
_SUBJECT_TICKET = re.compile(r"^zen:ticket:([0-9]+)$")  # ASCII: \d takes any script's digits


# -- parsing helpers ----------------------------------------------------------------------------------

class _TextOfHtml(HTMLParser):
    """Plain text of ``latest_comment_html``: paragraphs and <br> become newlines."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"p", "div", "li", "blockquote"}:
            self.parts.append("\n")


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def _text(value: Any) -> str:
    """A placeholder value; Zendesk renders a missing one as ""."""
    return "" if value is None else str(value).strip()


def _time(value: Any, what: str) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)  # 3.11+ reads "Z" too
    except ValueError:
        raise MalformedEvent(f"{what} is not an ISO-8601 time: {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ticket_key(value: Any, what: str) -> str:
    """A ticket id by :mod:`bot.trackers.keys`' grammar (ASCII digits, ``#`` allowed): it goes into Zendesk URLs."""
    try:
        return normalize_key(_text(value), "zendesk")
    except InvalidKey:
        raise MalformedEvent(f"{what} must be a Zendesk ticket id (digits), got {shown(_text(value))}") from None


def _digest(data: Mapping[str, Any]) -> str:
    return sha256_hex(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"'{name}' must be a JSON object, got {type(value).__name__}")
    return dict(value)


def _flag(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).casefold()
    return {"true": True, "false": False}.get(text, default)


# -- (a) trigger bodies -----------------------------------------------------------------------------------

def _from_trigger(data: dict[str, Any], received_at: datetime) -> model.Event:
    """The trigger body documented in the module docstring."""
    ticket = _section(data, "ticket")
    key = _ticket_key(ticket.get("id"), "ticket.id")
    raw_kind = _text(data.get("event"))
    if not raw_kind:
        raise MalformedEvent("trigger body has no 'event' saying what happened (e.g. \"ticket.updated\")")
    kind = raw_kind if raw_kind in _TRIGGER_KINDS else model.UNKNOWN
    actor_data = _section(data, "actor")
    actor = model.User(email=_text(actor_data.get("email")), display_name=_text(actor_data.get("name"))) \
        if _text(actor_data.get("email")) or _text(actor_data.get("name")) else None
    return model.Event(
        id=_digest(data),
        source=SOURCE,
        kind=kind,
        ticket_key=key,
        occurred_at=_time(ticket.get("updated_at"), "ticket.updated_at") or received_at,
        actor=actor,
        comment=_trigger_comment(_section(data, "comment"), actor) if kind.startswith("comment.") else None,
        raw_type=f"trigger:{raw_kind}",
        payload=data,
    )


def _trigger_comment(comment: Mapping[str, Any], actor: model.User | None) -> model.Comment | None:
    html = _text(comment.get("html"))
    body = html_to_text(html) if html else _text(comment.get("text"))
    if not body:
        return None
    return model.Comment(id=_text(comment.get("id")), body=body, author=actor,
                   internal=not _flag(comment.get("public"), False))


# -- (b) event-webhook envelopes ----------------------------------------------------------------------------

def _envelope_kind(event_type: str) -> str:
    name = event_type.removeprefix(EVENT_TYPE_PREFIX)
    if name == "ticket.created":
        return model.TICKET_CREATED
    if name == "ticket.comment_added":
        return model.COMMENT_CREATED
    if name.startswith("ticket.") and name.endswith("_deleted"):
        return model.TICKET_DELETED
    if name.startswith("ticket.") and name.endswith("_changed"):
        return model.TICKET_UPDATED
    return model.UNKNOWN


def _changed_field(name: str, event: Mapping[str, Any]) -> str:
    field = name.removeprefix("ticket.").removesuffix("_changed")
    custom = event.get("custom_field")
    if field == "custom_field" and isinstance(custom, Mapping):
        return str(custom.get("title") or custom.get("id") or field)
    return {"agent_assignment": "assignee", "group_assignment": "group"}.get(field, field)


def _value(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return str(value.get("name") or value.get("title") or value.get("id") or json.dumps(value, sort_keys=True))
    return str(value)


def _envelope_changes(event_type: str, event: Mapping[str, Any]) -> tuple[model.Change, ...]:
    name = event_type.removeprefix(EVENT_TYPE_PREFIX)
    if not (name.startswith("ticket.") and name.endswith("_changed")):
        return ()
    field = _changed_field(name, event)
    if "tags_added" in event or "tags_removed" in event:
        return (model.Change(field, _value(event.get("tags_removed")), _value(event.get("tags_added"))),)
    return (model.Change(field, _value(event.get("previous")), _value(event.get("current"))),)


def _envelope_comment(event: Mapping[str, Any]) -> model.Comment | None:
    comment = event.get("comment")
    if not isinstance(comment, Mapping):
        return None
    found = comment.get("author")
    author: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return model.Comment(id=_text(comment.get("id")), body=_text(comment.get("body")),
                   author=model.User(account_id=_text(author.get("id")), display_name=_text(author.get("name"))),
                   internal=not _flag(comment.get("is_public"), True))


def _from_envelope(data: dict[str, Any], received_at: datetime) -> model.Event:
    """The documented event-webhook envelope (``type: zen:event-type:…``)."""
    event_type = _text(data.get("type"))
    detail, event = _section(data, "detail"), _section(data, "event")
    kind = _envelope_kind(event_type)
    match = _SUBJECT_TICKET.match(_text(data.get("subject")))
    if event_type.removeprefix(EVENT_TYPE_PREFIX).startswith("ticket."):
        key = _ticket_key(match.group(1), "subject") if match else _ticket_key(detail.get("id"), "detail.id")
    else:
        key = ""
    actor_id = _text(detail.get("actor_id"))
    return model.Event(
        id=_text(data.get("id")) or _digest(data),
        source=SOURCE,
        kind=kind,
        ticket_key=key,
        occurred_at=_time(data.get("time"), "time") or received_at,
        actor=model.User(account_id=actor_id) if actor_id else None,
        changes=_envelope_changes(event_type, event),
        comment=_envelope_comment(event) if kind == model.COMMENT_CREATED else None,
        raw_type=event_type,
        payload=data,
    )


# -- entry point --------------------------------------------------------------------------------------------

def normalize_zendesk_webhook(body: bytes | str | Mapping[str, Any], *, received_at: datetime) -> model.Event:
    """A Zendesk webhook body (raw bytes or parsed) -> Event; :class:`MalformedEvent` when it is neither shape.

    ``received_at`` stands in for the time of the change when the body carries none.
    """
    data = json_object(body, "Zendesk webhook")
    if _text(data.get("type")).startswith(EVENT_TYPE_PREFIX):
        return _from_envelope(data, received_at)
    if TRIGGER_MARKER in data or "ticket" in data:
        return _from_trigger(data, received_at)
    raise MalformedEvent("not a Zendesk webhook ticketbot understands: expected an event envelope "
                         f"('type': '{EVENT_TYPE_PREFIX}…') or the trigger body with 'event' and 'ticket'")
