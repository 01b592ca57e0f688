"""Text that goes from untrusted input (a ticket description) into the bot's own comments.

A description is written by whoever sent the onboarding form. Values copied from it into an
internal comment must not become markup: a Jira wiki mention (``[~accountid:…]``) would
notify someone, a link (``[text|url]``) would disguise a URL, ``{html}`` or ``!image!``
would render, a ``\\`` would break the line, a bidi override would make the rest read backwards.
:func:`untrusted` neutralizes them and bounds the length.
"""

from __future__ import annotations

import functools

#: Each markup character, backslash-escaped.
_ESCAPED = str.maketrans({ch: "\\" + ch for ch in "[]{}|!~^<>@#*_+`"})
MAX_VALUE_LENGTH = 200
#: What a backslash in a value becomes: "\\" is a line break in Jira wiki, and no escape makes a
#: backslash literal there, so a look-alike stands in for it (a value could otherwise start a new
#: line of its own inside the bot's comment, or cancel the escape of the character after it).
BACKSLASH = "\u29f5"  # ⧵ REVERSE SOLIDUS OPERATOR


@functools.lru_cache(maxsize=1024)  # the same installer names, again on every step of their onboarding
def untrusted(value: str | None, *, limit: int = MAX_VALUE_LENGTH) -> str:
    """One line of visible text, markup characters backslash-escaped, at most ``limit`` characters.

    Invisible characters (controls, zero-width characters, bidi overrides that make text read
    backwards) are dropped, and a backslash becomes :data:`BACKSLASH`.
    """
    return visible(value, limit=limit).replace("\\", BACKSLASH).translate(_ESCAPED)


def visible(value: str | None, *, limit: int = MAX_VALUE_LENGTH) -> str:
    """One line of visible text, at most ``limit`` characters, markup left as it is: for a Slack
    message, which the notifier escapes for Slack (:func:`bot.slack.text.escape`); a tracker
    comment needs :func:`untrusted`."""
    text = " ".join((value or "").split())
    if not text.isprintable():
        text = "".join(filter(str.isprintable, text))
    return text[: limit - 1] + "…" if len(text) > limit else text
