"""The condition helpers (rules/runbook/checks.py) and bot/text.py: verdicts and the texts rules read and write."""

from __future__ import annotations

import random
import re

import pytest

from bot.engine import Verdict, all_passed
from bot.text import BACKSLASH, untrusted, visible
from rules.runbook.checks import labelled_value, text_matches

MARKUP = "[]{}|!~^<>@#*_+`"


def test_text_matches_keeps_what_it_observed_when_it_answers_from_its_cache():
    for _ in range(2):
        assert text_matches("summary", None, "X") == Verdict("summary", False, None, "X", "case and whitespace ignored")
        assert text_matches("summary", "", "X").observed == ""
        assert text_matches("summary", " x ", "X").passed
        assert text_matches("project", " x ", "X").name == "project"


def test_all_passed():
    assert all_passed([]) and all_passed(iter([Verdict("a", True)]))
    assert not all_passed([Verdict("a", True), Verdict("b", False)])


@pytest.mark.parametrize(("text", "label", "others", "value"), [
    ("* Installer name: Sunpeak Solar\n* Installer contact email: a@b.example", "Installer name",
     ["Installer contact email"], "Sunpeak Solar"),
    ("* Installer contact email: a@b.example\n* Installer name: Sunpeak", "Installer contact email",
     ["Installer name"], "a@b.example"),
    ("Installer name:\nInstaller contact email: a@b.example", "Installer name", ["Installer contact email"], None),
    ("Region (EU) = North", "Region (EU)", [], "North"),  # the label's own regex characters are literal
    ("Region EU = North", "Region (EU)", [], None),
])
def test_labelled_value_from_its_cached_pattern(text, label, others, value):
    for _ in range(2):
        assert labelled_value(text, label, other_labels=others) == value


def _untrusted_reference(value: str | None, limit: int) -> str:
    """What :func:`untrusted` returned when it escaped with a regex, one character at a time."""
    return re.sub(r"([\[\]{}|!~^<>@#*_+`])", r"\\\1", _visible_reference(value, limit).replace("\\", BACKSLASH))


def _visible_reference(value: str | None, limit: int) -> str:
    text = "".join(ch for ch in " ".join((value or "").split()) if ch.isprintable())
    return text[: limit - 1] + "…" if len(text) > limit else text


def test_untrusted_and_visible_are_what_they_were_on_hostile_text():
    rng = random.Random(5)
    alphabet = [*MARKUP, "\\", " ", "\t", "\n", "\u202e", "\u200b", "\x00", "\x1b", "é", "a", "Z", "1", "…"]
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        limit = rng.choice([1, 5, 20, 200])
        for _ in range(2):  # the second time from the cache
            assert untrusted(value, limit=limit) == _untrusted_reference(value, limit), repr(value)
            assert visible(value, limit=limit) == _visible_reference(value, limit), repr(value)
    assert untrusted(None) == "" and untrusted("a*b") == "a\\*b" and untrusted("a*b", limit=2) == "a…"
