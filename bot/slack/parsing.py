"""Strict parsing of ``/ticketbot`` text.

The text is typed by anyone in the workspace, so nothing from it reaches a service unless it has
the exact shape expected: ticket keys (``ONB-12``, case-insensitive, or a Zendesk ticket number),
rule ids (``^[a-z0-9_]+$``), and a free-text reason (one line, bounded). Anything else becomes a
:class:`Usage` answer that quotes the offending piece escaped, never raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack.text import quote

JIRA_KEY = re.compile(r"[A-Z][A-Z0-9]+-[0-9]+")  # ASCII only: \d would accept other scripts' digits
ZENDESK_ID = re.compile(r"[1-9][0-9]{0,11}")
RULE_ID = re.compile(r"[a-z0-9_]+")
MAX_REASON = 500

#: subcommand -> (arguments, description). ``?`` marks an optional argument.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "help": ("", "this help"),
    "status": ("KEY", "what ticketbot knows about a ticket"),
    "why": ("KEY", "why each rule did or did not act on it"),
    "dry-run": ("KEY", "what the rules would do now (nothing is written)"),
    "approve": ("KEY", "approve (approver or admin)"),
    "reject": ("KEY [reason]", "reject (approver or admin)"),
    "comms": ("KEY reason", "ask for customer communication"),
    "timers": ("[KEY]", "pending timers"),
    "rules": ("", "rules and whether they are paused"),
    "pause": ("RULE", "pause a rule (admins)"),
    "resume": ("RULE", "resume a rule (admins)"),
    "console": ("", "a sign-in link to the operations console, for you alone (admins)"),
}


def usage(name: str) -> str:
    """``/ticketbot reject KEY [reason]`` for one subcommand."""
    args = SUBCOMMANDS[name][0]
    return f"`/ticketbot {name}{' ' + args if args else ''}`"


def help_text() -> str:
    """Every subcommand, one per line."""
    lines = [f"{usage(name)} – {about}" for name, (_, about) in SUBCOMMANDS.items()]
    return "ticketbot commands:\n" + "\n".join(lines) + "\nKEY is a Jira key like `ONB-12` or a Zendesk ticket number."


@dataclass(frozen=True)
class Command:
    """A well-formed subcommand."""

    name: str
    key: str | None = None
    rule_id: str | None = None
    reason: str = ""

    def describe(self) -> str:
        """Normalized form for audit and replies (``reject ONB-12``); never includes the reason."""
        target = self.key or self.rule_id
        return f"{self.name} {target}" if target else self.name


@dataclass(frozen=True)
class Usage:
    """Text that could not be parsed, and what to tell the person (already Slack-safe)."""

    message: str


def parse_ticket_key(token: str) -> str | None:
    """A Jira key (upper-cased) or a Zendesk ticket number, else None."""
    candidate = token.upper()
    if JIRA_KEY.fullmatch(candidate) or ZENDESK_ID.fullmatch(candidate):
        return candidate
    return None


def parse_rule_id(token: str) -> str | None:
    """A rule id as written in the config, else None."""
    return token if RULE_ID.fullmatch(token) else None


def clean_reason(words: list[str]) -> str:
    """The reason on one line, printable characters only."""
    text = " ".join(" ".join(words).split())
    return "".join(ch for ch in text if ch.isprintable())


def parse_command(text: str) -> Command | Usage:
    """Parse the text after ``/ticketbot``; empty text means help."""
    words = (text or "").split()
    if not words:
        return Command("help")
    name, args = words[0].lower(), words[1:]
    if name not in SUBCOMMANDS:
        return Usage("I don't know that command.\n" + help_text())
    return _PARSERS[name](name, args)


def _no_args(name: str, args: list[str]) -> Command | Usage:
    return Command(name) if not args else _bad(name, "takes no arguments")


def _key_only(name: str, args: list[str]) -> Command | Usage:
    if len(args) != 1:
        return _bad(name, "needs exactly one ticket key")
    return _with_key(name, args[0])


def _key_and_reason(name: str, args: list[str], *, reason_required: bool) -> Command | Usage:
    if not args:
        return _bad(name, "needs a ticket key")
    reason = clean_reason(args[1:])
    if reason_required and not reason:
        return _bad(name, "needs a reason")
    if len(reason) > MAX_REASON:
        return _bad(name, f"the reason is longer than {MAX_REASON} characters")
    command = _with_key(name, args[0])
    return Command(name, key=command.key, reason=reason) if isinstance(command, Command) else command


def _optional_key(name: str, args: list[str]) -> Command | Usage:
    if len(args) > 1:
        return _bad(name, "takes at most one ticket key")
    return _with_key(name, args[0]) if args else Command(name)


def _rule(name: str, args: list[str]) -> Command | Usage:
    if len(args) != 1:
        return _bad(name, "needs exactly one rule id")
    rule_id = parse_rule_id(args[0])
    if rule_id is None:
        return _bad(name, f"`{quote(args[0], 40)}` is not a rule id (lower-case letters, digits, _)")
    return Command(name, rule_id=rule_id)


def _with_key(name: str, token: str) -> Command | Usage:
    key = parse_ticket_key(token)
    if key is None:
        return _bad(name, f"`{quote(token, 40)}` is not a ticket key (like `ONB-12` or `4711`)")
    return Command(name, key=key)


def _bad(name: str, problem: str) -> Usage:
    return Usage(f"{usage(name)}: {problem}.")


_PARSERS = {
    "help": _no_args,
    "rules": _no_args,
    "status": _key_only,
    "why": _key_only,
    "dry-run": _key_only,
    "approve": _key_only,
    "reject": lambda name, args: _key_and_reason(name, args, reason_required=False),
    "comms": lambda name, args: _key_and_reason(name, args, reason_required=True),
    "timers": _optional_key,
    "pause": _rule,
    "resume": _rule,
    "console": _no_args,
}
