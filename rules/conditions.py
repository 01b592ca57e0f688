"""Conditions that explain themselves.

Every check a rule makes returns a :class:`Verdict` carrying what it observed and what it
expected, so a trace says *why* a rule did not fire ("summary was 'Partner onboarding',
expected 'EverBright Partner Onboarding'"), as Home Assistant's condition traces do.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from bot.engine import Verdict


def normalize_text(text: str | None) -> str:
    """Case- and whitespace-insensitive form.

    ``'  EverBright   partner onboarding '`` -> ``'everbright partner onboarding'``."""
    return " ".join((text or "").split()).casefold()


def equals(name: str, observed: Any, expected: Any) -> Verdict:
    return Verdict(name, observed == expected, observed, expected)


# Pure, and asked the same questions on every event (each rule's project, the onboarding subject): a
# frozen Verdict is built once per question.
@functools.lru_cache(maxsize=4096)
def text_matches(name: str, observed: str | None, expected: str) -> Verdict:
    """Equal once case and runs of whitespace are ignored."""
    return Verdict(name, normalize_text(observed) == normalize_text(expected), observed, expected,
                   "case and whitespace ignored")


def one_of(name: str, observed: Any, allowed: Iterable[Any]) -> Verdict:
    allowed = list(allowed)
    return Verdict(name, observed in allowed, observed, allowed)


_LABEL_SEPARATORS = r"[ \t]*(?::|-|–|—|=|\|)?[ \t]*(?:\r?\n[ \t]*)*"
_BULLET = r"(?:^|\n)[ \t]*(?:[-*•·>#|]+|\d+[.)])?[ \t]*(?:\*\*|\*|_)?"


def labelled_value(text: str, label: str, *, other_labels: Iterable[str] = ()) -> str | None:
    """Find ``label`` in a form-like text and return the value after it.

    Tolerates bullets (``-``, ``*``, ``•``, numbering), bold/italic markers, a colon,
    dash or equals sign, line breaks between label and value, and extra spaces. The value
    runs to the end of its line. Returns ``None`` when the label is absent or empty; a
    "value" that is really the next label (``other_labels``) counts as empty.
    """
    others = tuple(normalize_text(o) for o in other_labels)
    for match in _label_pattern(label).finditer(text or ""):
        value = " ".join(match.group("value").strip(" \t*_|").split())
        if value and not value.startswith(":") and not (others and normalize_text(value).startswith(others)):
            return value
    return None


@functools.lru_cache(maxsize=256)
def _label_pattern(label: str) -> re.Pattern[str]:
    """The pattern of :func:`labelled_value` for ``label`` (a rule asks for the same few labels every time)."""
    words = r"\s+".join(re.escape(w) for w in label.split())
    return re.compile(
        _BULLET + words + r"(?:\*\*|\*|_)?" + _LABEL_SEPARATORS + r"(?:\*\*|\*|_)?(?P<value>[^\n]*)",
        re.IGNORECASE,
    )
