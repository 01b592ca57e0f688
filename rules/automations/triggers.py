"""When an automation acts: its trigger against an event, and the name of each occurrence of it.

Events are what the sources normalize (:mod:`bot.model`): ``ticket.created``, ``ticket.updated`` with the
changes of its changelog, ``comment.created`` with the comment. A field or status change needs the change
itself: Jira's webhook carries its changelog; on Zendesk the event webhook does
(``ticket.custom_field_changed``, ``ticket.status_changed``), the trigger body does not, nor does a poll.
A ``manual`` event (``ticketbot dry-run``, ``/ticketbot dry-run``) stands for the trigger happening now,
on the ticket as it is, so a dry-run shows the plan the automation would make.

An occurrence is named from what happened, not from the delivery: the creation, the comment's id, the
change and its moment. So the same change delivered twice (a redelivery, a second webhook) is one
occurrence, and its effects, keyed by it, are written once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bot.check import Touch
from bot.engine import Verdict
from bot.model import COMMENT_CREATED, MANUAL, TICKET_CREATED, TICKET_UPDATED, Change, Event
from rules.automations.conditions import FieldIn, status_same
from rules.automations.conditions import same as names_same
from rules.automations.schema import Trigger
from rules.runbook.checks import Facts, normalize_text


def describe(trigger: Trigger) -> str:
    """The trigger in words: ``status changed to 'Waiting for customer'``."""
    kind = trigger.kind
    if kind == "commented":
        public = trigger.commented.public if trigger.commented else None
        return {None: "a comment", True: "a public comment", False: "an internal comment"}[public]
    if kind in ("field_changed", "status_changed"):
        change = trigger.field_changed or trigger.status_changed
        assert change is not None
        name = trigger.field_changed.field if trigger.field_changed else "status"
        words = f"{name} changed"
        if change.from_:
            words += f" from {_either(change.from_)}"
        if change.to:
            words += f" to {_either(change.to)}"
        return words
    if kind == "schedule":
        schedule = trigger.schedule
        assert schedule is not None
        return f"every {schedule.every}" if schedule.every is not None else f"cron {schedule.cron!r}"
    return {"created": "ticket created", "updated": "ticket updated"}[kind]


def _either(names: Sequence[str]) -> str:
    return " or ".join(repr(n) for n in names)


def matches(trigger: Trigger, facts: Facts) -> Verdict:
    """Whether ``facts.event`` is an occurrence of ``trigger`` (a schedule is matched by its timer, elsewhere)."""
    event, kind = facts.event, trigger.kind
    name = f"trigger: {describe(trigger)}"
    if event.kind == MANUAL:
        return _now(trigger, facts, name)
    if kind == "created":
        return Verdict(name, event.kind == TICKET_CREATED, event.kind, TICKET_CREATED)
    if kind == "updated":
        return Verdict(name, event.kind == TICKET_UPDATED, event.kind, TICKET_UPDATED)
    if kind == "commented":
        public = trigger.commented.public if trigger.commented else None
        if event.kind != COMMENT_CREATED or event.comment is None:
            return Verdict(name, False, event.kind, COMMENT_CREATED)
        shown = "internal" if event.comment.internal else "public"
        ok = public is None or public == (not event.comment.internal)
        return Verdict(name, ok, f"{shown} comment", "a comment" if public is None else
                       ("a public comment" if public else "an internal comment"))
    if kind in ("field_changed", "status_changed"):
        return _changed(trigger, facts, name)
    return Verdict(name, False, event.kind, "a tick of the schedule")


def _changed(trigger: Trigger, facts: Facts, name: str) -> Verdict:
    event = facts.event
    change_spec = trigger.field_changed or trigger.status_changed
    assert change_spec is not None
    field = trigger.field_changed.field if trigger.field_changed else "status"
    if event.kind != TICKET_UPDATED:
        return Verdict(name, False, event.kind, TICKET_UPDATED)
    if not event.changes:
        return Verdict(name, False, "an update without a changelog (a poll or a Zendesk trigger body)",
                       f"a change of {field!r}")
    mine = [c for c in event.changes if normalize_text(c.field) == normalize_text(field)]
    if not mine:
        return Verdict(name, False, [c.field for c in event.changes], f"a change of {field!r}")
    zendesk = facts.ticket.tracker == "zendesk"
    for change in mine:
        if _fits(change.from_value, change_spec.from_, field, zendesk) and \
                _fits(change.to_value, change_spec.to, field, zendesk):
            return Verdict(name, True, _shown(change), name.removeprefix("trigger: "))
    return Verdict(name, False, _shown(mine[0]), name.removeprefix("trigger: "))


def _fits(value: str | None, wanted: Sequence[str] | None, field: str, zendesk: bool) -> bool:
    if not wanted:
        return True
    if value is None:
        return False
    if normalize_text(field) == "status":
        return any(status_same(value, w, zendesk) for w in wanted)
    items = [value, *(part.strip() for part in value.split(",") if "," in value)]
    return any(names_same(item, w, zendesk) for item in items for w in wanted)


def _shown(change: Change) -> str:
    return f"{change.field}: {change.from_value!r} → {change.to_value!r}"


def _now(trigger: Trigger, facts: Facts, name: str) -> Verdict:
    """A dry-run: the trigger as if it happened now; a change's ``to`` must be the ticket's value now."""
    note = "dry-run: as if it happened now"
    spec = trigger.field_changed or trigger.status_changed
    if spec is None or not spec.to:
        return Verdict(name, True, "a dry-run", name.removeprefix("trigger: "), note)
    field = trigger.field_changed.field if trigger.field_changed else "status"
    verdict = FieldIn(field, spec.to)(facts)
    return Verdict(name, verdict.passed, verdict.observed, verdict.expected, f"{note}: its value now stands for "
                                                                               "the change")


def occurrence(event: Event) -> str:
    """The stable name of what happened (see the module docstring); short, for effect keys."""
    if event.kind == TICKET_CREATED:
        return "created"
    if event.kind == COMMENT_CREATED and event.comment is not None and event.comment.id:
        return f"c{_digest(event.comment.id) if len(event.comment.id) > 16 else event.comment.id}"
    if event.kind == MANUAL:
        return f"dry-{_digest(event.id)}"
    changes = ";".join(f"{c.field}|{c.from_value}|{c.to_value}" for c in event.changes)
    identity = f"{event.kind}|{event.occurred_at.isoformat()}|{changes}" if event.changes else event.id
    return f"u{_digest(identity)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def touches(trigger: Trigger, project: str, system: str, guard: str) -> list[Touch]:
    """What can wake it, for ``ticketbot check``'s trigger cycles (a schedule is woken by time only)."""
    kind = trigger.kind
    if kind == "created":
        return [Touch("ticket", None, project, system, guard)]
    if kind == "updated":
        return [Touch("any", None, project, system, guard)]
    if kind == "commented":
        return [Touch("comment", None, project, system, guard)]
    if kind == "status_changed" or (trigger.field_changed and normalize_text(trigger.field_changed.field) == "status"):
        return [Touch("status", None, project, system, guard)]
    if trigger.field_changed is not None:
        name = trigger.field_changed.field
        kind_of = "label" if normalize_text(name) in ("labels", "tags") else "field"
        return [Touch(kind_of, None if kind_of == "label" else name, project, system, guard)]
    return []
