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
    """A tracker refused or failed an operation; the message says what and why.

    Failures are sorted before they are retried (DESIGN.md): :class:`Unavailable` (the system is
    down or unreachable: retry for as long as it lasts, without spending the event's attempts)
    and :class:`Rejected` (retrying the same request will not help: report it once and go on).
    A bare ``TrackerError`` is neither known to be transient nor permanent.
    """


class Unavailable(TrackerError):
    """The system could not be reached or answered 5xx / timed out: nothing is wrong with the request."""


class RateLimited(Unavailable):
    """The system kept throttling (429, or 503 with Retry-After) past the retries the adapter makes,
    or asked for a longer wait than it sleeps; ``retry_after``: the seconds it last asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(TrackerError):
    """The system refused the request for good (400, 403, 404, 409, 422 …): the same call will fail again.

    ``name``: the exact name that is missing or invalid, when the adapter knows it (a field, an
    option, a transition target, a user), so the report can say what to fix.
    """

    def __init__(self, message: str, *, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class NotFound(Rejected):
    """A named thing (ticket, user, status, link type, request type, option…) does not exist."""


def is_unavailable(exc: BaseException) -> bool:
    """True for failures that say the system is down, not that the request is wrong."""
    return isinstance(exc, Unavailable)


def is_permanent(exc: BaseException) -> bool:
    """True for failures a retry cannot mend."""
    return isinstance(exc, Rejected)


def error_for_status(status: int | None) -> type[TrackerError]:
    """The error class for an HTTP status a vendor answered (None: no answer at all)."""
    if status is None or status >= 500 or status in (408, 429):
        return Unavailable
    if status == 404:
        return NotFound
    if 400 <= status < 500:
        return Rejected
    return TrackerError


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
class OrganizationProperties(Protocol):
    """A tracker that keeps properties on its customer organizations (Jira Service Management, the memory site).

    A rule that reads them checks for this port (``isinstance(ctx.reader, OrganizationProperties)``):
    trackers without organization properties (Zendesk) simply do not offer it.
    """

    def organization_property(self, organization: str, key: str) -> Any:
        """The JSON value of property ``key`` of the organization named ``organization`` (any case);
        ``None`` when there is no such organization or it has no such property. A refusal (no permission)
        is :class:`Rejected`, an outage :class:`Unavailable`, as for every call."""
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

    def change_labels(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Put the labels of ``add`` on ``key`` and take those of ``remove`` off (Zendesk: tags), keeping
        every other label. Adding a label already there, or removing one that is not, changes nothing.
        A label that is not one word (:func:`bot.effects.label_problem`) is :class:`Rejected` before any call;
        Zendesk tags are written lower-case, as Zendesk stores them."""
        ...

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        """Post an internal (never customer-visible) comment; returns its id.

        ``mentions`` are e-mails of people to @-mention ahead of the body (notified, not made participants).
        """
        ...

    def add_public_reply(self, key: str, body: str) -> str:
        """Post a public reply the requester sees; returns its comment id.

        The only customer-visible write of the port. The executor calls it only for a
        :class:`~bot.effects.PublicReply` the engine let through (the rule's block says
        ``customer_replies: true``); nothing else may call it.
        """
        ...

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        """Move ``key`` to the status named, through whichever transition leads there (setting ``resolution``)."""
        ...

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None: ...

    def create_ticket(self, project: str, issue_type: str, summary: str, description: str = "",
                      field_values: dict[str, Any] | None = None, marker: str = "") -> str:
        """Create a ticket and return its key; ``marker`` goes on it in the same call (a Jira label,
        a Zendesk external id) for :meth:`find_marked`."""
        ...

    def find_marked(self, project: str, marker: str) -> str | None:
        """The key of the ticket of ``project`` created with ``marker``, or None."""
        ...


@runtime_checkable
class Catalog(Protocol):
    """The names a rule config may use on a site, read-only: what ``ticketbot check`` looks names up in.

    Each listing is the names as the site spells them; ``None`` (only :meth:`link_types`) means the site
    accepts any name of that kind. A project the site does not have is :class:`NotFound`.
    """

    name: str

    def find_user(self, email: str) -> User | None: ...

    def field_names(self) -> list[str]:
        """Every field's display name."""
        ...

    def field_options(self, field: str, project: str) -> list[str]:
        """The options of ``field`` in ``project`` (empty for a field without options)."""
        ...

    def statuses(self, project: str) -> list[str]: ...

    def transition_targets(self, project: str) -> list[str]:
        """The statuses some transition of ``project`` leads to."""
        ...

    def request_types(self, project: str) -> list[str]: ...

    def link_types(self) -> list[str] | None: ...

    def organizations(self, project: str | None = None) -> list[str]:
        """Every organization, or those ``project`` may use."""
        ...

    def issue_types(self, project: str) -> list[str]: ...
