"""Strict parsing of /ticketbot text, as a table."""

from __future__ import annotations

import pytest

from bot.slack.commands import acknowledgement
from bot.slack.parsing import MAX_REASON, SUBCOMMANDS, Command, Usage, help_text, parse_command, usage
from bot.slack.text import escape, mention, quote

CASES = [
    ("", Command("help")),
    ("   ", Command("help")),
    ("help", Command("help")),
    ("status ONB-12", Command("status", key="ONB-12")),
    ("Status onb-12", Command("status", key="ONB-12")),
    ("why SUP2-7", Command("why", key="SUP2-7")),
    ("dry-run 4711", Command("dry-run", key="4711")),
    ("approve ONB-12", Command("approve", key="ONB-12")),
    ("reject ONB-12", Command("reject", key="ONB-12")),
    ("reject ONB-12  not\tour   customer", Command("reject", key="ONB-12", reason="not our customer")),
    ("comms 4711 outage notice", Command("comms", key="4711", reason="outage notice")),
    ("timers", Command("timers")),
    ("timers ONB-12", Command("timers", key="ONB-12")),
    ("rules", Command("rules")),
    ("pause nudge_approver", Command("pause", rule_id="nudge_approver")),
    ("resume rule2", Command("resume", rule_id="rule2")),
]

REJECTED = [
    "status ONB12", "status -12", "status 1ONB-12", "status ONB-12x", "status 0", "status 0123",
    "status 1234567890123", "status ONB-12 extra", "approve", "approve ONB-12 ONB-13",
    "comms ONB-12", "comms", "timers ONB-12 ONB-13", "rules now", "pause", "pause Nudge",
    "pause nudge-approver", "pause nudge_approver now", "resume <!channel>", "dry-run ../../etc",
    "status ONB-１２",  # full-width digits are not \\d here
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_well_formed_commands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", REJECTED)
def test_malformed_commands_become_usage(text: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Usage)
    assert "<" not in result.message and ">" not in result.message


def test_every_subcommand_has_a_parser_and_a_help_line() -> None:
    for name in SUBCOMMANDS:
        assert isinstance(parse_command(name), Command | Usage)
        assert usage(name) in help_text()


def test_a_reason_is_bounded_and_printable() -> None:
    assert isinstance(parse_command("reject ONB-12 " + "x" * (MAX_REASON + 1)), Usage)
    assert parse_command("comms ONB-12 call\x00 them\u200b") == Command("comms", key="ONB-12", reason="call them")


def test_describe_never_includes_the_reason() -> None:
    assert Command("reject", key="ONB-12", reason="<!channel>").describe() == "reject ONB-12"


@pytest.mark.parametrize(("text", "expected"), [
    ("help", "ticketbot commands:"), ("status ONB-12", "Working on `status ONB-12`…"),
    ("approve ONB-12", None), ("nonsense", "I don't know that command."),
])
def test_the_ack_needs_nothing_but_the_text(text: str, expected: str | None) -> None:
    ack = acknowledgement(text)
    assert (ack["text"].startswith(expected) if expected else ack == {})


def test_slack_escaping() -> None:
    assert escape("a & b <!channel> <@U1|x> >") == "a &amp; b &lt;!channel&gt; &lt;@U1|x&gt; &gt;"
    assert escape("&amp;") == "&amp;amp;"  # not "already escaped": the text is shown as typed
    assert quote("a\n<!here>\tb" + "c" * 100, 12) == "a &lt;!here&gt; b…"
    assert mention("U0ABC12") == "<@U0ABC12>"
    assert mention("U1> <!channel") == "U1&gt; &lt;!channel"
