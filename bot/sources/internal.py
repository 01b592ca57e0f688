"""Events ticketbot makes itself (Slack decisions, fired timers) as inbox rows, and back.

They travel through the same inbox and workers as webhooks, so they are durable, deduplicated
and processed in order with the ticket's other events. The envelope is the record
``ticketbot replay`` also reads: ``{"source": "slack" | "timer", "event": event_to_dict(e)}``.

Such an event names only a ticket key, so the tracker it concerns follows from the key: a
Zendesk ticket number (digits) is Zendesk's, anything else (``SS-12``) Jira's.
"""

from __future__ import annotations

import re
from typing import Any

from bot.model import Event, event_from_dict, event_to_dict
from bot.sources.base import Source

SLACK = "slack"
TIMER = "timer"
#: A Zendesk ticket id, as the Slack command accepts it.
_ZENDESK_KEY = re.compile(r"[1-9][0-9]{0,11}")


def system_for_key(ticket_key: str) -> str:
    """``zendesk`` for a Zendesk ticket number, else ``jira``."""
    return "zendesk" if _ZENDESK_KEY.fullmatch(ticket_key) else "jira"


def envelope(source: str, event: Event) -> dict[str, Any]:
    """The inbox envelope of an event made by ticketbot."""
    return {"source": source, "event": event_to_dict(event)}


def decode(envelope: dict[str, Any]) -> Event:
    """The event of an envelope; KeyError/TypeError/ValueError when it is not one (dead-lettered)."""
    if not isinstance(envelope, dict):
        raise TypeError("an envelope must be a JSON object")
    return event_from_dict(envelope["event"])


def route(event: Event) -> str:
    return system_for_key(event.ticket_key)


def internal_sources() -> dict[str, Source]:
    """The decoders the worker needs for Slack decisions and fired timers."""
    malformed = (KeyError, TypeError, ValueError)
    return {name: Source(name, decode, "jira", malformed, route=route) for name in (SLACK, TIMER)}
