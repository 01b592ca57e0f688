"""Jira Cloud webhook payload -> normalized :class:`~bot.model.Event`.

Pure: no HTTP, no clock. The event id must be the same every time Jira delivers the
same event (it retries), so it is Jira's ``X-Atlassian-Webhook-Identifier`` header when
present, else a digest of what identifies the event (never of the whole body, whose
issue snapshot can differ between deliveries).

One comment, two shapes. A webhook subscribed to the comment events delivers a new comment as
``comment_created``; one subscribed to "Issue updated" delivers the *same* comment as
``jira:issue_updated`` with ``issue_event_type_name: issue_commented``, the ``comment`` object in
the body and no changelog. Both are the comment's kind here, and :func:`comment_identity` names
the comment (not the delivery), so when both webhooks are subscribed the inbox counts it once.
What each ``issue_event_type_name`` of ``jira:issue_updated`` becomes, and why:

=========================  ======================  ===========================================
issue_event_type_name      kind                    what a user expects
=========================  ======================  ===========================================
issue_commented            comment.created         the comment counts (an approver's "Approved")
issue_comment_edited       comment.updated         the edit, as ``comment_updated``
issue_comment_deleted      comment.deleted         as ``comment_deleted``; Jira Cloud has been seen
                                                   to send this one without the ``comment``
                                                   object: then it is a plain ticket.updated (the
                                                   ticket is read afresh; nothing names the comment)
issue_updated              ticket.updated          the changelog's field changes
issue_assigned             ticket.updated          the assignee change (the changelog may be empty)
issue_generic              ticket.updated          a transition: status/resolution changes
issue_resolved, _closed,   ticket.updated          transitions of older workflows: the same
issue_reopened
issue_moved                ticket.updated          project/key changes; the body holds the new key
issue_work_started/        ticket.updated          status changes of the built-in workflow
_stopped
issue_work_logged,         ticket.updated          time tracking changes; nothing a runbook
issue_worklog_updated/                             reads, rules skip them
_deleted
anything else              ticket.updated          the changelog, whatever it holds
=========================  ======================  ===========================================

A comment that rides on another type name (a comment typed in a transition screen comes with
``issue_generic``) leaves the event a ticket.updated carrying that comment: the transition is what
happened, and one event has one kind. A webhook subscribed to the comment events also gets that
comment as ``comment_created``, which is why the README asks for both.

Jira Automation's "Send web request" action posts no ``webhookEvent`` (see :func:`parse_jira_automation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot import model
from bot.sources.common import MalformedEvent, require_object, sha256_hex
from bot.trackers.jira.model import FieldCatalog, comment_from_json, parse_datetime, ticket_from_json, user_from_json
from bot.trackers.keys import InvalidKey, is_key, normalize_key, shown

SOURCE = "jira"
ID_HEADER = "X-Atlassian-Webhook-Identifier"

KINDS: dict[str, str] = {
    "jira:issue_created": model.TICKET_CREATED,
    "jira:issue_updated": model.TICKET_UPDATED,
    "jira:issue_deleted": model.TICKET_DELETED,
    "comment_created": model.COMMENT_CREATED,
    "comment_updated": model.COMMENT_UPDATED,
    "comment_deleted": model.COMMENT_DELETED,
}
COMMENT_KINDS = frozenset({model.COMMENT_CREATED, model.COMMENT_UPDATED, model.COMMENT_DELETED})
#: ``jira:issue_updated`` type names that are a comment when the body holds its ``comment`` object.
COMMENT_TYPE_NAMES: dict[str, str] = {
    "issue_commented": model.COMMENT_CREATED,
    "issue_comment_edited": model.COMMENT_UPDATED,
    "issue_comment_deleted": model.COMMENT_DELETED,
}


def parse_jira_webhook(
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    catalog: FieldCatalog | None = None,
) -> model.Event:
    """Normalize one webhook body. Unknown ``webhookEvent`` types become kind ``unknown``.

    Without a ``catalog``, custom fields of the ticket snapshot are keyed by their id.
    """
    payload = require_object(payload, "a Jira webhook")
    raw_type = payload.get("webhookEvent")
    if not isinstance(raw_type, str) or not raw_type:
        raise MalformedEvent("Jira webhook body has no 'webhookEvent'")
    kind = _kind(payload, raw_type)
    issue = _issue(payload, required=kind != model.UNKNOWN)
    comment = _comment(payload, required=kind in COMMENT_KINDS)
    ticket = _ticket(issue, catalog) if issue else None
    return model.Event(
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


# Jira Automation -------------------------------------------------------------------------------
AUTOMATION_SOURCE = "jira-automation"
AUTOMATION_TYPE = "automation:send_web_request"


def parse_jira_automation(payload: Any, *, headers: Mapping[str, str] | None = None) -> model.Event:
    """A Jira Automation "Send web request" body -> a ticket.updated Event for its issue.

    The action sends one of: "Issue data (Jira format)", ``{"issue": {...}, "timestamp": ms}``;
    "Issue data (Automation format)", the issue object itself (``key``, ``fields``, no wrapper); or
    custom data, accepted when it has one of those shapes. None says what happened (no
    ``webhookEvent``, no changelog): the event asks the rules to look at the ticket, which the
    pipeline reads afresh. A body that does carry ``webhookEvent`` is read as a webhook.

    Its id is a digest of the issue and the moment (``timestamp``, else the issue's ``updated``), the
    same for a repeat of one request, new for the next run of the rule. A body with neither moment
    is refused: every run of the rule would look like the first one.
    """
    payload = require_object(payload, "a Jira Automation request")
    if "webhookEvent" in payload:
        return parse_jira_webhook(payload, headers=headers)
    issue = payload.get("issue") if isinstance(payload.get("issue"), Mapping) else payload
    if not issue.get("key"):
        raise MalformedEvent("a Jira Automation request must carry the issue: choose 'Issue data (Jira format)' "
                             "as the web request body")
    try:
        key = normalize_key(issue["key"], "jira")  # it goes into the URLs the bot reads the ticket by
    except InvalidKey as exc:
        raise MalformedEvent(f"the Jira Automation request's issue key: {exc}") from None
    fields = _object(issue.get("fields"))
    updated = parse_datetime(fields.get("updated"))
    stamp = payload.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            occurred = datetime.fromtimestamp(stamp / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedEvent(f"the Jira Automation request's 'timestamp' {stamp!r} is no time") from None
    elif updated is not None and updated.tzinfo is not None:
        occurred = updated
    else:
        raise MalformedEvent(f"the Jira Automation request for {key} says neither when ('timestamp') nor the "
                             "issue's 'updated' time: choose 'Issue data (Jira format)' as the web request body")
    identity = "|".join(str(p) for p in (AUTOMATION_TYPE, issue.get("id") or "", key, stamp or "",
                                         fields.get("updated") or ""))
    return model.Event(id="sha256:" + sha256_hex(identity), source=AUTOMATION_SOURCE, kind=model.TICKET_UPDATED,
                 ticket_key=key, occurred_at=occurred, raw_type=AUTOMATION_TYPE, payload=payload)


# comment identity ----------------------------------------------------------------------------------
def comment_identity(event: model.Event) -> str | None:
    """What names a Jira comment event whatever shape (and webhook) delivered it, else None.

    The issue, the comment, the kind and the comment's ``updated`` time: ``comment_created`` and
    ``jira:issue_updated``/``issue_commented`` of one comment give the same identity, an edit gives
    a new one (its ``updated`` moves), and a deletion is not its creation.
    """
    if event.source != SOURCE or event.kind not in COMMENT_KINDS or not event.comment or not event.comment.id:
        return None
    payload = event.payload or {}
    issue, raw = _object(payload.get("issue")), _object(payload.get("comment"))
    stamp = raw.get("updated") or raw.get("created") or ""
    moment = parse_datetime(stamp) if isinstance(stamp, str) else None
    # one instant whatever offset it is written in
    updated = moment.astimezone(UTC).isoformat() if moment and moment.tzinfo else str(stamp)
    parts = (issue.get("id") or event.ticket_key, event.comment.id, event.kind, updated)
    return "comment:sha256:" + sha256_hex("|".join(str(p) for p in parts))


# parts ----------------------------------------------------------------------------------------
def _kind(payload: Mapping[str, Any], raw_type: str) -> str:
    """The event's kind; ``jira:issue_updated`` carrying a comment as its type name is that comment's."""
    kind = KINDS.get(raw_type, model.UNKNOWN)
    name = payload.get("issue_event_type_name")
    if kind == model.TICKET_UPDATED and isinstance(name, str) and name in COMMENT_TYPE_NAMES \
            and isinstance(payload.get("comment"), Mapping):
        return COMMENT_TYPE_NAMES[name]
    return kind


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


def _ticket(issue: Mapping[str, Any], catalog: FieldCatalog | None) -> model.Ticket:
    try:
        return ticket_from_json(issue, catalog or FieldCatalog())
    except (AttributeError, TypeError, KeyError) as exc:  # a field of an unexpected shape
        raise MalformedEvent(f"issue {issue.get('key')} in the webhook has an unexpected shape: {exc}") from exc


def _comment(payload: Mapping[str, Any], *, required: bool) -> model.Comment | None:
    raw = payload.get("comment")
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"{payload['webhookEvent']} webhook has no 'comment' object")
    try:
        return comment_from_json(raw)
    except (AttributeError, TypeError) as exc:
        raise MalformedEvent(f"{payload['webhookEvent']} webhook's comment has an unexpected shape: {exc}") from exc


def _actor(payload: Mapping[str, Any], comment: model.Comment | None) -> model.User | None:
    """Who did it: ``user``; comment events carry no ``user``, so the comment's (update) author."""
    user = payload.get("user")
    if isinstance(user, Mapping):
        return user_from_json(user)
    raw = payload.get("comment")
    if isinstance(raw, Mapping) and isinstance(raw.get("updateAuthor"), Mapping):
        return user_from_json(raw["updateAuthor"])
    return comment.author if comment else None


def _changes(payload: Mapping[str, Any]) -> tuple[model.Change, ...]:
    changelog = payload.get("changelog")
    if changelog is None:
        return ()
    items = changelog.get("items") if isinstance(changelog, Mapping) else None
    if not isinstance(items, list):
        raise MalformedEvent("webhook 'changelog' has no 'items' list")
    return tuple(_change(i) for i in items if isinstance(i, Mapping))


#: Person fields whose changelog item names the person by account id in ``from``/``to`` (``*String``: a display name).
_PERSON_FIELDS = frozenset({"assignee", "reporter"})


def _change(item: Mapping[str, Any]) -> model.Change:
    name = str(item.get("field", ""))
    if name.casefold() in _PERSON_FIELDS:  # the account id: a display name is no one's identity
        return model.Change(field=name, from_value=item.get("from") or item.get("fromString"),
                            to_value=item.get("to") or item.get("toString"))
    return model.Change(field=name, from_value=item.get("fromString"), to_value=item.get("toString"))


def _occurred_at(payload: Mapping[str, Any], ticket: model.Ticket | None, comment: model.Comment | None) -> datetime:
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
