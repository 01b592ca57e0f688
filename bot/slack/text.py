"""Text that goes into Slack messages, escaped by Slack's own rules.

Slack's mrkdwn gives meaning to three characters only: ``&``, ``<`` and ``>``. Everything
that makes a message dangerous (``<!channel>``, ``<@U123>``, ``<https://evil|harmless>``)
needs ``<``; escaping those three as ``&amp;``, ``&lt;``, ``&gt;`` makes any text inert
while ``*bold*`` and `` `code` `` keep working. Bare ``@channel`` is not parsed in the messages
ticketbot sends (``parse`` and ``link_names`` are left off), so it stays plain text.
"""

from __future__ import annotations

import re

#: Slack's limit for a section block's text.
SECTION_LIMIT = 3000
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as Slack entities (https://docs.slack.dev/messaging/formatting-message-text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(untrusted: str, limit: int = 80) -> str:
    """A piece of what someone typed, on one line, clipped and escaped, for echoing back.

    Invisible characters (controls, zero-width and bidi overrides) are dropped: echoed, they would
    make the text read differently from what it is."""
    visible = "".join(ch for ch in " ".join(untrusted.split()) if ch.isprintable())
    return escape(clip(visible, limit))


def is_user_id(value: str) -> bool:
    """A Slack user id (``U…`` or Enterprise Grid ``W…``)."""
    return bool(_USER_ID.fullmatch(value))


def mention(user_id: str) -> str:
    """``<@U123>`` for a well-formed user id; anything else is escaped, never turned into markup."""
    return f"<@{user_id}>" if is_user_id(user_id) else escape(user_id)
