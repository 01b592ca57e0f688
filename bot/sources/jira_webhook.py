"""Jira Cloud webhook payload -> normalized :class:`~bot.model.Event`.

Pure: no HTTP, no clock. The event id must be the same every time Jira delivers the
same event (it retries), so it is Jira's ``X-Atlassian-Webhook-Identifier`` header when
present, else a digest of what identifies the event (never of the whole body, whose
issue snapshot can differ between deliveries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.keys import is_key, shown
from bot.model import (
    COMMENT_CREATED,
    COMMENT_DELETED,
    COMMENT_UPDATED,
    TICKET_CREATED,
    TICKET_DELETED,
    TICKET_UPDATED,
    UNKNOWN,
    Change,
    Comment,
    Event,
    Ticket,
    User,
)
from bot.sources.common import MalformedEvent, require_object, sha256_hex
from bot.trackers.jira_model import (
    FieldCatalog,
    comment_from_json,
    parse_datetime,
    ticket_from_json,
    user_from_json,
)

SOURCE = "jira"
ID_HEADER = "X-Atlassian-Webhook-Identifier"

KINDS: dict[str, str] = {
    "jira:issue_created": TICKET_CREATED,
    "jira:issue_updated": TICKET_UPDATED,
    "jira:issue_deleted": TICKET_DELETED,
    "comment_created": COMMENT_CREATED,
    "comment_updated": COMMENT_UPDATED,
    "comment_deleted": COMMENT_DELETED,
}
COMMENT_KINDS = frozenset({COMMENT_CREATED, COMMENT_UPDATED, COMMENT_DELETED})


def parse_jira_webhook(
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    catalog: FieldCatalog | None = None,
) -> Event:
    """Normalize one webhook body. Unknown ``webhookEvent`` types become kind ``unknown``.

    Without a ``catalog``, custom fields of the ticket snapshot are keyed by their id.
    """
    payload = require_object(payload, "a Jira webhook")
    raw_type = payload.get("webhookEvent")
    if not isinstance(raw_type, str) or not raw_type:
        raise MalformedEvent("Jira webhook body has no 'webhookEvent'")
    kind = KINDS.get(raw_type, UNKNOWN)
    issue = _issue(payload, required=kind != UNKNOWN)
    comment = _comment(payload, required=kind in COMMENT_KINDS)
    ticket = _ticket(issue, catalog) if issue else None
    return Event(
        id=_header(headers, ID_HEADER) or event_digest(payload),
        source=SOURCE,
        kind=kind,
        ticket_key=str((issue or {}).get("key", "")),
        occurred_at=_occurred_at(payload, ticket, comment),
        ticket=ticket,
        actor=_actor(payload, comment),
        changes=_changes(payload),
        comment=comment,
        raw_type=raw_type,
        payload=payload,  # require_object's copy: the caller's dict stays the caller's
    )


def event_digest(payload: Mapping[str, Any]) -> str:
    """sha256 of the event's identity: type, issue id/key, timestamp, comment id, changelog id."""
    issue = _object(payload.get("issue"))
    comment = _object(payload.get("comment"))
    changelog = _object(payload.get("changelog"))
    parts = (payload.get("webhookEvent"), issue.get("id"), issue.get("key"), payload.get("timestamp"),
             comment.get("id"), changelog.get("id"))
    return "sha256:" + sha256_hex("|".join(["" if p is None else str(p) for p in parts]))


# parts ----------------------------------------------------------------------------------------
def _object(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _issue(payload: Mapping[str, Any], *, required: bool) -> Mapping[str, Any] | None:
    issue = payload.get("issue")
    if not required and not (isinstance(issue, Mapping) and issue.get("key")):
        return None  # other event types (worklog, project…) may carry no usable issue
    if not isinstance(issue, Mapping):
        raise MalformedEvent(f"{payload['webhookEvent']} webhook has no 'issue' object")
    if not issue.get("key"):
        raise MalformedEvent(f"{payload['webhookEvent']} webhook's issue has no 'key'")
    if not is_key(issue["key"], "jira"):  # it goes into Jira URLs with the bot's credentials
        raise MalformedEvent(f"{payload['webhookEvent']} webhook's issue key {shown(issue['key'])} is not a Jira key")
    if issue.get("fields") is not None and not isinstance(issue.get("fields"), Mapping):
        raise MalformedEvent(f"{payload['webhookEvent']} webhook's issue 'fields' is not an object")
    return issue


def _ticket(issue: Mapping[str, Any], catalog: FieldCatalog | None) -> Ticket:
    try:
        return ticket_from_json(issue, catalog or FieldCatalog())
    except (AttributeError, TypeError, KeyError) as exc:  # a field of an unexpected shape
        raise MalformedEvent(f"issue {issue.get('key')} in the webhook has an unexpected shape: {exc}") from exc


def _comment(payload: Mapping[str, Any], *, required: bool) -> Comment | None:
    raw = payload.get("comment")
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"{payload['webhookEvent']} webhook has no 'comment' object")
    try:
        return comment_from_json(raw)
    except (AttributeError, TypeError) as exc:
        raise MalformedEvent(f"{payload['webhookEvent']} webhook's comment has an unexpected shape: {exc}") from exc


def _actor(payload: Mapping[str, Any], comment: Comment | None) -> User | None:
    """Who did it: ``user``; comment events carry no ``user``, so the comment's (update) author."""
    user = payload.get("user")
    if isinstance(user, Mapping):
        return user_from_json(user)
    raw = payload.get("comment")
    if isinstance(raw, Mapping) and isinstance(raw.get("updateAuthor"), Mapping):
        return user_from_json(raw["updateAuthor"])
    return comment.author if comment else None


def _changes(payload: Mapping[str, Any]) -> tuple[Change, ...]:
    changelog = payload.get("changelog")
    if changelog is None:
        return ()
    items = changelog.get("items") if isinstance(changelog, Mapping) else None
    if not isinstance(items, list):
        raise MalformedEvent("webhook 'changelog' has no 'items' list")
    return tuple(Change(field=str(i.get("field", "")), from_value=i.get("fromString"), to_value=i.get("toString"))
                 for i in items if isinstance(i, Mapping))


def _occurred_at(payload: Mapping[str, Any], ticket: Ticket | None, comment: Comment | None) -> datetime:
    """Jira's ``timestamp`` (epoch ms); failing that the comment's or issue's own time."""
    stamp = payload.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):  # beyond the years datetime can hold
            raise MalformedEvent(f"{payload['webhookEvent']} webhook's 'timestamp' {stamp!r} is no time") from None
    raw_comment = _object(payload.get("comment"))
    fallback = (parse_datetime(raw_comment.get("updated")) or (comment.created if comment else None)
                or (ticket.updated if ticket else None) or (ticket.created if ticket else None))
    if fallback is None:
        raise MalformedEvent(f"{payload['webhookEvent']} webhook has no usable 'timestamp'")
    return fallback


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup (frameworks differ in how they spell header names)."""
    if not headers:
        return None
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted and v), None)
