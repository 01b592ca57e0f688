"""The Tracker port: the narrow interface the executor (and read-only rule context) need.

Adapters translate names and HTTP; they hold no rule logic. Every adapter must pass
the shared contract suite in ``tests/contract/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from bot.effects import Effect
from bot.model import Ticket, User


class TrackerError(Exception):
    """A tracker refused or failed an operation; the message says what and why."""


class RateLimited(TrackerError):
    """The system kept throttling (429, or 503 with Retry-After) past the retries the adapter makes,
    or asked for a longer wait than it sleeps; ``retry_after``: the seconds it last asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(TrackerError):
    """A named thing (ticket, user, status, link type, request type, option…) does not exist."""


@runtime_checkable
class TrackerReader(Protocol):
    """What rules may use through their context: reads only."""

    name: str

    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        """Read a ticket. ``with_people`` also loads watchers and request participants."""
        ...

    def find_user(self, email: str) -> User | None:
        """Look a person up by e-mail; ``None`` when the site has no such user."""
        ...


@runtime_checkable
class Tracker(TrackerReader, Protocol):
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        """Apply every field change of one plan in a single edit.

        ``changes`` holds only effects whose ``is_field_change`` is true:
        SetField, SetReporter, SetOrganization, SetRequestType.
        """
        ...

    def add_watcher(self, key: str, email: str) -> None: ...

    def remove_participant(self, key: str, email: str) -> None: ...

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        """Post an internal (never customer-visible) comment; returns its id.

        ``mentions`` are e-mails of people to @-mention ahead of the body (notified, not made participants).
        """
        ...

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        """Move ``key`` to the status named, through whichever transition leads there (setting ``resolution``)."""
        ...

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None: ...

    def create_ticket(
        self,
        project: str,
        issue_type: str,
        summary: str,
        description: str = "",
        field_values: dict[str, Any] | None = None,
        marker: str = "",
    ) -> str:
        """Create a ticket and return its key; ``marker`` goes on it in the same call (a Jira label,
        a Zendesk external id) for :meth:`find_marked`."""
        ...

    def find_marked(self, project: str, marker: str) -> str | None:
        """The key of the ticket of ``project`` created with ``marker``, or None."""
        ...
