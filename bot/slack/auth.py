"""Who may do what from Slack.

- approve / reject: the ticket's approver(s) (``Services.approver_for``) or an admin;
- pause / resume, console (a sign-in link to the operations console): admins only;
- everything else (status, why, dry-run, timers, rules, comms, help): anyone in the workspace.

Admins are ``TICKETBOT_SLACK__ADMINS`` plus whoever ``Services.is_admin`` names.
A refusal is recorded through ``Services.record_refusal`` and answered politely.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.slack.services import Services

APPROVER_COMMANDS = frozenset({"approve", "reject"})
ADMIN_COMMANDS = frozenset({"pause", "resume", "console"})
#: What an admin command does, for the refusal ("only ticketbot admins can …").
_ADMIN_DOING = {"pause": "pause rules", "resume": "resume rules", "console": "sign in to the operations console"}


@dataclass(frozen=True)
class Refusal:
    """Why someone may not do something: ``reason`` for the audit, ``message`` for them (Slack-safe)."""

    reason: str
    message: str


class Gate:
    """Authorization for Slack commands and buttons."""

    def __init__(self, services: Services, admins: Collection[str] = ()) -> None:
        self.services = services
        self.admins = frozenset(admins)

    def is_admin(self, slack_user: str) -> bool:
        """Settings admins, or an admin according to the services."""
        return slack_user in self.admins or bool(self.services.is_admin(slack_user))

    def check(self, verb: str, slack_user: str, *, key: str | None = None) -> Refusal | None:
        """None when ``slack_user`` may ``verb`` (on ``key``), else the refusal."""
        if verb in ADMIN_COMMANDS and not self.is_admin(slack_user):
            return Refusal("not an admin", f"Sorry, only ticketbot admins can {_ADMIN_DOING[verb]}. "
                                           "I've noted the attempt; ask an admin if it needs doing.")
        if verb in APPROVER_COMMANDS and not self._may_decide(slack_user, key or ""):
            return Refusal(f"not an approver of {key}",
                           f"Sorry, only the approver of {key} or a ticketbot admin can {verb} it. "
                           "I've noted the attempt.")
        return None

    def refuse(self, slack_user: str, command: str, refusal: Refusal) -> str:
        """Record the refusal and return the message for the person."""
        self.services.record_refusal(slack_user, command, refusal.reason)
        return refusal.message

    def _may_decide(self, slack_user: str, key: str) -> bool:
        return slack_user in self.services.approver_for(key) or self.is_admin(slack_user)
