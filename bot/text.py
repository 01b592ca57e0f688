"""Text that goes from untrusted input (a ticket description) into the bot's own comments.

A description is written by whoever sent the onboarding form. Values copied from it into an
internal comment must not become markup: a Jira wiki mention (``[~accountid:…]``) would
notify someone, a link (``[text|url]``) would disguise a URL, ``{html}`` or ``!image!``
would render. :func:`untrusted` neutralizes them and bounds the length.
"""

from __future__ import annotations

import re

_MARKUP = re.compile(r"([\[\]{}|!~^<>@#*_+`\\])")
MAX_VALUE_LENGTH = 200


def untrusted(value: str | None, *, limit: int = MAX_VALUE_LENGTH) -> str:
    """One line, markup characters backslash-escaped, at most ``limit`` characters."""
    text = " ".join((value or "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MARKUP.sub(r"\\\1", text)
