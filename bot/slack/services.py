"""What the Slack listeners need from the rest of ticketbot, as one narrow protocol.

Listeners parse and authorize; everything that touches the store, the inbox, the engine or a
tracker goes through :class:`Services`. The lead implements it against the real bot; tests use a
recording fake. Replies are plain text: the listener escapes them for Slack (``&``, ``<``, ``>``),
so a service must not put Slack markup that needs ``<…>`` (links, mentions) in them; ``*bold*``
and `` `code` `` are fine.

Keys passed in have already been validated: a Jira key (``ONB-12``) or a Zendesk ticket number
(``4711``). Rule ids match ``^[a-z0-9_]+$``. Slack user ids are ``U…``/``W…`` strings taken from the
signed request, never from typed text.

A method raises :class:`ServiceError` for an outcome the person should read ("no ticket ONB-9",
"rule x is already paused"); any other exception is logged and answered with a generic apology.
"""

from __future__ import annotations

from typing import Literal, Protocol

Via = Literal["button", "command"]


class ServiceError(Exception):
    """An expected failure whose message is shown to the person (escaped)."""


class Services(Protocol):
    """The bot, as seen from Slack."""

    def status(self, key: str) -> str:
        """What ticketbot knows about the ticket: state, pending approvals, last actions applied."""
        ...

    def why(self, key: str) -> str:
        """The latest traces for the ticket: per rule, matched or not, and the failing condition
        with observed vs expected values."""
        ...

    def dry_run(self, key: str) -> str:
        """Evaluate every rule against the ticket as it is now (a MANUAL event) without writing,
        and describe the plan that would be applied."""
        ...

    def approve(self, key: str, slack_user: str, via: Via) -> str:
        """Record an approval by ``slack_user`` (an APPROVAL_GIVEN event into the inbox, payload
        ``{"via": via, "slack_user": …}``); return what was recorded. Must be idempotent: a double
        click or a retried request records one approval. Raises ServiceError, recording nothing, when
        the ticket is not awaiting a decision (saying who decided when, or what the stage waits for)."""
        ...

    def reject(self, key: str, slack_user: str, reason: str, via: Via) -> str:
        """Record a rejection (APPROVAL_REJECTED, payload ``{"via", "reason", "slack_user"}``);
        ``reason`` may be empty. Idempotent like :meth:`approve`."""
        ...

    def comms(self, key: str, slack_user: str, reason: str) -> str:
        """Record that customer communication is needed (COMMS_REQUESTED, payload ``{"reason"}``)."""
        ...

    def timers(self, key: str | None) -> str:
        """Pending timers (rule, name, due time), for one ticket or all of them."""
        ...

    def rules(self) -> str:
        """The rules bound on this site and whether each is enabled or paused."""
        ...

    def pause(self, rule_id: str, slack_user: str) -> str:
        """Pause a rule (it stops planning until resumed); record who did it."""
        ...

    def resume(self, rule_id: str, slack_user: str) -> str:
        """Resume a paused rule; record who did it."""
        ...

    def console_link(self, slack_user: str) -> str:
        """A personal sign-in link to the operations console for ``slack_user`` (an admin: the gate checked),
        bound to their e-mail address as Slack knows it, single use and valid for minutes; the reply says so.
        Raises ServiceError (audited as refused) when the console takes no links here, Slack does not say
        the person's e-mail, or that e-mail is not one of the console's admins."""
        ...

    def approver_for(self, key: str) -> set[str]:
        """Slack user ids allowed to approve or reject this ticket (empty: only admins may)."""
        ...

    def is_admin(self, slack_user: str) -> bool:
        """Whether this user is an admin beyond ``TICKETBOT_SLACK__ADMINS`` (e.g. from the config);
        settings admins are admins whatever this returns."""
        ...

    def record_refusal(self, slack_user: str, command: str, reason: str) -> None:
        """Write a refused attempt to the audit log (``command`` is normalized, e.g. ``pause nudge``)."""
        ...
