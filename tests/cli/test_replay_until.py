"""`ticketbot replay --until`: timers due after the last recorded event fire on the virtual clock."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from tests.support.paths import CONFIG, EXAMPLES

DEMO = str(EXAMPLES / "nfe" / "events.jsonl")  # its 60-day target is still running after the last event


@pytest.fixture(autouse=True)
def _shipped_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))


def _timer_steps(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["replay", DEMO, "--json", *args])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout[result.stdout.index("{"):])["steps"]
    return [s for s in steps if s["event"]["kind"] == "timer.fired"]


def test_until_lets_pending_timers_fire_after_the_last_event() -> None:
    without = _timer_steps()
    later = _timer_steps("--until", "2027-03-01")
    assert len(later) > len(without)
    extra = later[len(without):]
    assert all(s["event"]["at"] <= "2027-03-01T00:00:00+00:00" for s in extra)
    assert any(o["outcome"] == "applied" for s in extra for r in s["rules"] for o in r["effects"])


def test_until_rejects_a_malformed_moment() -> None:
    result = CliRunner().invoke(app, ["replay", DEMO, "--until", "next tuesday"])
    assert result.exit_code == 2 and "until" in result.output.lower()
