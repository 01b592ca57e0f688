"""The normalized vocabulary every rule speaks, whatever the tracker.

Adapters translate Jira / Zendesk JSON into these; rules never see vendor JSON.
Field values are keyed by the *display name* a runbook uses ("Needs Configuration?"),
never by a site-specific id such as ``customfield_10042``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class User:
    """A person on a tracker. Jira Cloud often hides e-mail addresses, so either may be empty."""

    account_id: str = ""
    email: str = ""
    display_name: str = ""

    def same_person(self, other: User | None) -> bool:
        if other is None:
            return False
        if self.account_id and other.account_id:
            return self.account_id == other.account_id
        return bool(self.email) and self.email.lower() == other.email.lower()

    def is_email(self, email: str) -> bool:
        return bool(self.email) and self.email.lower() == email.strip().lower()


@dataclass(frozen=True)
class Comment:
    id: str
    body: str
    author: User | None = None
    internal: bool = True
    created: datetime | None = None


@dataclass(frozen=True)
class Link:
    type: str
    inward_key: str
    outward_key: str


@dataclass(frozen=True)
class Ticket:
    """A tracker ticket, as rules see it."""

    key: str
    project: str
    summary: str
    description: str = ""
    status: str = ""
    resolution: str = ""  # empty while the ticket is unresolved
    issue_type: str = ""
    tracker: str = "jira"
    id: str = ""
    reporter: User | None = None
    creator: User | None = None
    assignee: User | None = None  # who the ticket is assigned to (a task's owner)
    organizations: tuple[str, ...] = ()
    request_type: str | None = None
    labels: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    watchers: tuple[User, ...] | None = None  # None: not loaded
    participants: tuple[User, ...] | None = None  # None: not loaded
    links: tuple[Link, ...] = ()
    comments: tuple[Comment, ...] = ()
    created: datetime | None = None
    updated: datetime | None = None
    url: str = ""  # where a person opens the ticket (Jira: <site>/browse/KEY)

    def field(self, name: str) -> Any:
        return self.fields.get(name)


# Kinds of event every source maps onto.
TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
TICKET_DELETED = "ticket.deleted"
COMMENT_CREATED = "comment.created"
COMMENT_UPDATED = "comment.updated"
COMMENT_DELETED = "comment.deleted"
MANUAL = "manual"  # an admin asked for an evaluation (dry-run KEY, /ticketbot dry-run)
TIMER_FIRED = "timer.fired"  # a rule's durable timer came due; payload {"timer": name, "data": {...}}
APPROVAL_GIVEN = "approval.given"  # a person approved from Slack; payload {"via": "button"|"command", ...}
APPROVAL_REJECTED = "approval.rejected"  # payload {"via": ..., "reason": str}
COMMS_REQUESTED = "comms.requested"  # customer communication needed; payload {"reason": str}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Change:
    """One item of a changelog: which field went from what to what."""

    field: str
    from_value: str | None
    to_value: str | None


@dataclass(frozen=True)
class Event:
    """Something that happened to a ticket, normalized and deduplicable."""

    id: str
    source: str  # "jira" | "zendesk" | "poll" | "replay" | "cli" | "slack" | "timer"
    kind: str
    ticket_key: str
    occurred_at: datetime
    ticket: Ticket | None = None
    actor: User | None = None
    changes: tuple[Change, ...] = ()
    comment: Comment | None = None
    raw_type: str = ""
    payload: dict[str, Any] | None = field(default=None, compare=False, repr=False)


# Serialized events: the inbox envelope of events that are not vendor webhooks (Slack decisions,
# fired timers, admin requests) and the records ``ticketbot replay`` reads for them.
def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of an event without its ticket snapshot (the processor reads the ticket fresh)."""
    actor = event.actor
    return {
        "id": event.id, "source": event.source, "kind": event.kind, "ticket_key": event.ticket_key,
        "occurred_at": event.occurred_at.isoformat(), "raw_type": event.raw_type,
        "actor": {"account_id": actor.account_id, "email": actor.email, "display_name": actor.display_name}
        if actor else None,
        "payload": dict(event.payload or {}),
    }


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of :func:`event_to_dict`; raises ValueError/KeyError/TypeError on a malformed dict."""
    if not isinstance(data, dict):
        raise TypeError(f"an event must be a JSON object, got {type(data).__name__}")
    occurred = datetime.fromisoformat(str(data["occurred_at"]))
    if occurred.tzinfo is None:
        raise ValueError(f"occurred_at must carry a time zone: {data['occurred_at']!r}")
    for name in ("id", "source", "kind", "ticket_key"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ValueError(f"event field {name!r} must be a non-empty string")
    actor = data.get("actor")
    payload = data.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValueError("event payload must be a JSON object")
    return Event(id=data["id"], source=data["source"], kind=data["kind"], ticket_key=data["ticket_key"],
                 occurred_at=occurred, raw_type=str(data.get("raw_type") or ""),
                 actor=User(account_id=str(actor.get("account_id") or ""), email=str(actor.get("email") or ""),
                            display_name=str(actor.get("display_name") or "")) if isinstance(actor, dict) else None,
                 payload=payload)
