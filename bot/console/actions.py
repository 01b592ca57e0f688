"""What an admin may do from the console, each through the path the CLI and Slack already use, each audited.

* Retry a dead letter: :meth:`bot.inbox.queue.Inbox.retry_dead` puts it back in line with fresh attempts
  (a running daemon's workers are woken; another replica picks it up at its next look), as
  ``ticketbot dead-letters --retry ID`` does.
* Pause and resume a rule: :meth:`bot.ops.services.BotServices.pause` / ``resume``, as ``/ticketbot pause``
  does, with the person's e-mail as the actor and ``console`` as the way.

Every attempt lands in the audit log with the person's e-mail, the refused ones too (a rule already
paused, a dead letter that is no longer one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.console.access import Identity
from bot.inbox.queue import Inbox
from bot.ops.audit import DONE, REFUSED, AuditLog
from bot.ops.services import BotServices
from bot.slack.services import ServiceError

log = logging.getLogger(__name__)

CONSOLE = "console"  # the audit log's "via"

#: What the person reads after an action, by the outcome's code (a page shows only these, never text from the URL).
NOTICES = {
    "retried": "Dead letter {subject} is queued again; a running daemon picks it up.",
    "not-dead": "There is no dead letter {subject} (it may have been retried already).",
    "paused": "Rule {subject} is paused: it plans nothing until it is resumed.",
    "resumed": "Rule {subject} is resumed; its caps count afresh from now.",
    "already-paused": "Rule {subject} is already paused.",
    "not-paused": "Rule {subject} is not paused.",
    "unknown-rule": "There is no rule {subject}.",
}


@dataclass(frozen=True)
class Outcome:
    """What became of an action: done or not, the sentence shown to the person, what it is about, a short code
    (the page's notice after the redirect) and an HTTP status (the API's answer)."""

    done: bool
    message: str
    code: str
    subject: str
    status: int = 200


class ConsoleActions:
    def __init__(self, inbox: Inbox, services: BotServices, audit: AuditLog) -> None:
        self.inbox = inbox
        self.services = services
        self.audit = audit

    def retry_dead_letter(self, row_id: int, who: Identity) -> Outcome:
        command = f"retry dead letter {row_id}"
        count = self.inbox.retry_dead(row_id)
        if not count:
            self.audit.record(actor=who.email, via=CONSOLE, command=command, outcome=REFUSED,
                              detail="no dead letter with that id (retried already?)")
            return Outcome(False, NOTICES["not-dead"].format(subject=row_id), "not-dead", str(row_id), 404)
        self.audit.record(actor=who.email, via=CONSOLE, command=command, outcome=DONE, detail="queued again")
        return Outcome(True, NOTICES["retried"].format(subject=row_id), "retried", str(row_id))

    def pause(self, rule_id: str, who: Identity) -> Outcome:
        return self._guarded("pause", rule_id, who, lambda: self.services.pause(rule_id, who.email, via=CONSOLE))

    def resume(self, rule_id: str, who: Identity) -> Outcome:
        return self._guarded("resume", rule_id, who, lambda: self.services.resume(rule_id, who.email, via=CONSOLE))

    def _guarded(self, verb: str, rule_id: str, who: Identity, act: Callable[[], str]) -> Outcome:
        """Run ``act`` (BotServices audits what it does); what it refuses is said, and audited as refused."""
        try:
            act()
        except ServiceError as exc:  # an unknown rule, a rule already paused, or not paused
            self.audit.record(actor=who.email, via=CONSOLE, command=f"{verb} {rule_id}", outcome=REFUSED,
                              detail=str(exc))
            if str(exc).startswith("There is no rule"):
                return Outcome(False, str(exc), "unknown-rule", rule_id, 404)
            code = "already-paused" if verb == "pause" else "not-paused"
            return Outcome(False, NOTICES[code].format(subject=rule_id), code, rule_id, 409)
        code = "paused" if verb == "pause" else "resumed"
        return Outcome(True, NOTICES[code].format(subject=rule_id), code, rule_id)

    def refused(self, command: str, who: Identity, reason: str) -> None:
        """Record an attempt refused before it was made (a missing or wrong CSRF token)."""
        log.warning("console: refused %s by %s: %s", command, who.email, reason)
        self.audit.record(actor=who.email, via=CONSOLE, command=command, outcome=REFUSED, detail=reason)
