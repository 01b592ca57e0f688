"""Ticket keys: the grammar each tracker gives them, checked before a key is used anywhere.

A key reaches ticketbot from outside (a webhook body, the command line, a Slack command) and is then
put into URLs with the bot's credentials. Only a key that matches its tracker's grammar may go on:
Jira's ``PROJ-123`` (a project key of ASCII capitals, digits and underscores starting with a
letter, a dash, an issue number) or Zendesk's ticket id (``123``, optionally written ``#123``).
"""

from __future__ import annotations

import re

#: Jira: project key (letter first; Jira's default pattern allows A-Z, 0-9 and _), dash, number.
JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}")
#: Zendesk: a ticket id.
ZENDESK_KEY = re.compile(r"[1-9][0-9]{0,17}")
_GRAMMARS = {"jira": JIRA_KEY, "zendesk": ZENDESK_KEY}
_MAX_SHOWN = 60


class InvalidKey(ValueError):
    """The text is not a ticket key of the tracker named; the message quotes it safely, shortened."""


def normalize_key(key: object, system: str | None = None) -> str:
    """``key`` as the tracker writes it (``ss-101`` → ``SS-101``, ``#123`` → ``123``), or InvalidKey.

    ``system``: ``"jira"`` or ``"zendesk"``; None accepts either grammar.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"a ticket key must be text, not {type(key).__name__}")
    text = key.strip()
    candidates = {"jira": text.upper(), "zendesk": text.removeprefix("#")}
    systems = (system,) if system else ("jira", "zendesk")
    for name in systems:
        grammar = _GRAMMARS.get(name)
        if grammar is None:
            raise InvalidKey(f"unknown tracker {name!r}")
        if grammar.fullmatch(candidates[name]):
            return candidates[name]
    raise InvalidKey(f"{shown(key)} is not a {_described(systems)} ticket key ({_examples(systems)})")


def is_key(key: object, system: str | None = None) -> bool:
    """True when ``key`` is (after normalizing) a ticket key of ``system`` (or of any tracker)."""
    try:
        normalize_key(key, system)
    except InvalidKey:
        return False
    return True


def shown(text: str) -> str:
    """``text`` quoted for a message: repr (so control characters show), cut to a readable length."""
    quoted = repr(text)
    return quoted if len(quoted) <= _MAX_SHOWN else quoted[:_MAX_SHOWN - 1] + "…"


def _described(systems: tuple[str, ...]) -> str:
    return " or ".join({"jira": "Jira", "zendesk": "Zendesk"}[s] for s in systems)


def _examples(systems: tuple[str, ...]) -> str:
    examples = {"jira": "a Jira key looks like SS-101", "zendesk": "a Zendesk key is a ticket id such as 123"}
    return "; ".join(examples[s] for s in systems)
