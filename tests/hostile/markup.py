"""What "inert" means for text the bot writes into Jira and Slack, as checks the hostile tests share."""

from __future__ import annotations

import re

#: Slack's markup all starts with "<": special mentions, user/channel mentions, links.
SLACK_MARKUP = ("<!channel>", "<!here>", "<!everyone>", "<@U", "<#C", "<http", "<mailto", "<!subteam", "<!date")
#: Characters that make Jira wiki text act: mentions [~…], links [..|..], macros {…}, images !…!, tables |.
JIRA_ACTIVE = frozenset("[]{}|!~<>@")


def inert_in_jira(text: str) -> bool:
    """Every Jira wiki markup character is escaped (a backslash before it), and nothing breaks the line
    (a newline, or ``\\\\``, which is a forced line break in Jira wiki)."""
    if "\n" in text or "\r" in text:
        return False
    bare = re.sub(r"\\(.)", lambda m: "" if m.group(1) != "\\" else "\\\\", text)
    return not (JIRA_ACTIVE & set(bare)) and "\\\\" not in bare


def slack_markup_in(text: str) -> list[str]:
    return [m for m in SLACK_MARKUP if m in text]


def invisible_in(text: str) -> list[str]:
    """Characters that do not show (controls, zero-width, bidi overrides), other than line breaks."""
    return [f"U+{ord(ch):04X}" for ch in text if not ch.isprintable() and ch not in "\n\t"]
