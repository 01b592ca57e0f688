"""``/ticketbot`` slash command.

The ack listener answers within Slack's 3 seconds without touching the bot: help and usage
errors are answered in the ack itself; slow subcommands get a short "working on it". The real
work runs in a lazy listener (bolt runs it after the ack) and answers through ``respond``
(the command's ``response_url``), ephemerally.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.auth import Gate
from bot.slack.parsing import Command, Usage, help_text, parse_command
from bot.slack.services import ServiceError, Services
from bot.slack.text import clip, escape

log = logging.getLogger(__name__)

COMMAND = "/ticketbot"
#: Subcommands worth a "working on it" (they read a tracker or many traces).
SLOW = frozenset({"status", "why", "dry-run", "timers"})
REPLY_LIMIT = 39_000


def register(app: App, services: Services, admins: Collection[str] = ()) -> None:
    """Attach the ``/ticketbot`` listeners to ``app``."""
    gate = Gate(services, admins)

    def run_ticketbot_command(body: dict[str, Any], respond: Respond) -> None:
        reply = answer_command(body.get("text", ""), body.get("user_id", ""), services, gate)
        if reply is not None:
            respond(text=reply, response_type="ephemeral")

    app.command(COMMAND)(ack=acknowledge_command, lazy=[run_ticketbot_command])


def acknowledge_command(ack: Ack, body: dict[str, Any]) -> None:
    """Ack at once: help/usage as the answer itself, a short note for slow work, else empty."""
    ack(**acknowledgement(body.get("text", "")))


def acknowledgement(text: str) -> dict[str, Any]:
    """The ack's arguments for this command text (pure, for tests)."""
    command = parse_command(text)
    if isinstance(command, Usage):
        return {"text": command.message, "response_type": "ephemeral"}
    if command.name == "help":
        return {"text": help_text(), "response_type": "ephemeral"}
    if command.name in SLOW:
        return {"text": f"Working on `{command.describe()}`…", "response_type": "ephemeral"}
    return {}


def answer_command(text: str, slack_user: str, services: Services, gate: Gate) -> str | None:
    """The lazy answer to a command (Slack-safe), or None when the ack already said everything."""
    command = parse_command(text)
    if isinstance(command, Usage) or command.name == "help":
        return None
    refusal = gate.check(command.name, slack_user, key=command.key)
    if refusal is not None:
        return gate.refuse(slack_user, command.describe(), refusal)
    return run_safely(command.describe(), lambda: _EXECUTE[command.name](services, command, slack_user))


def run_safely(what: str, work: Callable[[], str]) -> str:
    """Run a service call; its text (or a ServiceError's) escaped, or an apology if it broke."""
    try:
        return clip(escape(work()), REPLY_LIMIT)
    except ServiceError as exc:
        return clip(escape(str(exc)), REPLY_LIMIT)
    except Exception:  # one failed command must not take the listener down; the log has it
        log.exception("Slack command %r failed", what)
        return f"Sorry, `{escape(what)}` failed on my side. The error is in ticketbot's log."


def _status(s: Services, c: Command, user: str) -> str:
    return s.status(c.key or "")


def _why(s: Services, c: Command, user: str) -> str:
    return s.why(c.key or "")


def _dry_run(s: Services, c: Command, user: str) -> str:
    return s.dry_run(c.key or "")


def _approve(s: Services, c: Command, user: str) -> str:
    return s.approve(c.key or "", user, via="command")


def _reject(s: Services, c: Command, user: str) -> str:
    return s.reject(c.key or "", user, c.reason, via="command")


def _comms(s: Services, c: Command, user: str) -> str:
    return s.comms(c.key or "", user, c.reason)


def _timers(s: Services, c: Command, user: str) -> str:
    return s.timers(c.key)


def _rules(s: Services, c: Command, user: str) -> str:
    return s.rules()


def _pause(s: Services, c: Command, user: str) -> str:
    return s.pause(c.rule_id or "", user)


def _resume(s: Services, c: Command, user: str) -> str:
    return s.resume(c.rule_id or "", user)


def _console(s: Services, c: Command, user: str) -> str:
    return s.console_link(user)


_EXECUTE: dict[str, Callable[[Services, Command, str], str]] = {
    "status": _status, "why": _why, "dry-run": _dry_run, "approve": _approve, "reject": _reject,
    "comms": _comms, "timers": _timers, "rules": _rules, "pause": _pause, "resume": _resume, "console": _console,
}
