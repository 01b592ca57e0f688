"""What a source of events is: how an inbox envelope becomes a normalized Event, and which system it concerns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.model import Event


class Undecodable(Exception):
    """The stored envelope cannot become an Event; retrying will not help."""


@dataclass(frozen=True)
class Source:
    """How events of one inbox source become Events, and which tracker system they concern."""

    name: str
    decode: Callable[[dict[str, Any]], Event]
    system: str
    #: Exceptions meaning "this payload will never parse" (dead-letter at once, no retries).
    malformed: tuple[type[Exception], ...] = ()
    #: The system of one decoded event when it depends on the event (a Slack decision or a fired
    #: timer concerns a Jira or a Zendesk ticket); None: always ``system``.
    route: Callable[[Event], str] | None = None
