"""``ticketbot status KEY`` and ``ticketbot timers [KEY]``: the same text as Slack's answers, and ``--json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.clock import SystemClock, VirtualClock
from bot.inbox.guards import Guards
from bot.inbox.queue import Inbox
from bot.ops.services import BotServices
from bot.settings import GuardSettings
from bot.state import StateStore
from bot.store import LIVE, Store
from rules import load_rules
from tests.support.paths import CONFIG

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
RULE = "everbright_onboarding"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A database file with one ticket's state, two timers and an applied effect; the CLI's clock at NOW."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", url)
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    monkeypatch.setattr(SystemClock, "now", lambda self: NOW)
    store = Store(url)
    states = StateStore(store)
    start = NOW - timedelta(hours=3)
    states.put(LIVE, RULE, "SS-1", stage="intake_done", data={}, at=start)
    states.put(LIVE, RULE, "SS-1", stage="awaiting_approval", data={"cs_ticket": "CS-7"}, at=start + timedelta(hours=1))
    states.start_timer(
        LIVE,
        rule_id=RULE,
        ticket_key="SS-1",
        name="approval_reminder",
        due_at=start + timedelta(hours=25),
        data={},
        at=start,
    )
    states.start_timer(
        LIVE,
        rule_id=RULE,
        ticket_key="SS-2",
        name="approval_reminder",
        due_at=NOW - timedelta(minutes=5),
        data={},
        at=start,
    )
    store.record_applied(scope=LIVE, effect_key=f"{RULE}:SS-1:watchers", ticket_key="SS-1", rule_id=RULE,
                         kind="add_watcher", outcome="applied", detail="", at=start)
    return store


def _slack_says(store: Store) -> BotServices:
    clock = VirtualClock(NOW)
    return BotServices(store=store, inbox=Inbox(store.engine, clock), rules=load_rules(CONFIG), clock=clock,
                       guards=Guards(store, GuardSettings(), clock))


def test_status_prints_what_slack_answers(db: Store) -> None:
    result = CliRunner().invoke(app, ["status", "ss-1"])
    assert result.exit_code == 0, result.output
    assert result.output == _slack_says(db).status("SS-1") + "\n"
    assert "• `everbright_onboarding`: stage *awaiting_approval* since 2026-11-02 10:00 UTC" in result.output
    assert "stages: intake_done (2026-11-02 09:00 UTC) → awaiting_approval (2026-11-02 10:00 UTC)" in result.output
    assert "record: cs_ticket = 'CS-7'" in result.output
    assert "• `everbright_onboarding` approval_reminder: due 2026-11-03 10:00 UTC (in 22h 0m)" in result.output
    assert "• 2026-11-02 09:00 UTC `everbright_onboarding` add_watcher watchers: applied" in result.output


def test_status_json(db: Store) -> None:
    result = CliRunner().invoke(app, ["status", "SS-1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == _slack_says(db).status_report("SS-1")
    [rule] = report["rules"]
    assert (rule["stage"], rule["data"], [h["stage"] for h in rule["history"]]) == (
        "awaiting_approval", {"cs_ticket": "CS-7"}, ["intake_done", "awaiting_approval"])
    assert [t["name"] for t in report["timers"]] == ["approval_reminder"]


def test_status_of_an_unknown_ticket(db: Store) -> None:
    result = CliRunner().invoke(app, ["status", "SS-99"])
    assert (result.exit_code, result.output) == (
        0, "ticketbot has no record of SS-99: no event for it has been processed.\n")


def test_timers_all_one_ticket_and_json(db: Store) -> None:
    everything = CliRunner().invoke(app, ["timers"])
    assert everything.exit_code == 0, everything.output
    assert everything.output == (
        "Pending timers (2):\n"
        "• SS-2 `everbright_onboarding` approval_reminder: due 2026-11-02 11:55 UTC (overdue by 5m)\n"
        "• SS-1 `everbright_onboarding` approval_reminder: due 2026-11-03 10:00 UTC (in 22h 0m)\n")
    assert everything.output == _slack_says(db).timers(None) + "\n"
    one = CliRunner().invoke(app, ["timers", "SS-2", "--json"])
    [timer] = json.loads(one.output)
    assert (timer["id"], timer["status"], timer["due_in"]) == (f"{RULE}:SS-2:approval_reminder", "pending",
                                                               "overdue by 5m")
    assert CliRunner().invoke(app, ["timers", "SS-3"]).output == "No pending timers for SS-3.\n"
