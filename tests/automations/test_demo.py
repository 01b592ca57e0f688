"""The demo (examples/automations) replays with ``ticketbot replay``, and a backtest treats automations as rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from bot.cli.main import app
from bot.ops.backtest import backtest, describe
from bot.replay import read_records
from bot.trackers.site import Site
from rules import load_rules
from tests.automations.support import DEMO, write_config

CONFIG = DEMO / "ticketbot.yaml"


def _replay(tmp_path: Path, events: Path, *more: str) -> str:
    env = {"TICKETBOT_CONFIG": str(CONFIG), "TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    result = CliRunner().invoke(app, ["replay", str(events), *more], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_jira_demo_replays(tmp_path: Path) -> None:
    out = _replay(tmp_path, DEMO / "events.jsonl")
    for line in [
        "automation:waiting-for-customer-reminder → applied: start timer "
        "automation:waiting-for-customer-reminder:SUP-1:delay:a0 due 2026-11-04T13:00:00+00:00",
        "automation:customer-replied → applied: transition to 'Waiting for support'",
        "automation:waiting-for-customer-reminder → applied: cancel timer "
        "automation:waiting-for-customer-reminder:SUP-1:delay:a0",
        "automation:enterprise-morning-nudge → applied: slack to nina.berg@acme.example: Good morning: enterprise "
        "ticket SUP-1",
        "automation:enterprise-morning-nudge → applied: cancel timer "
        "automation:enterprise-morning-nudge:SUP-1:schedule",
        "automation:major-incident → applied: set 'Priority' = 'Highest'",
        "automation:major-incident → applied: add watcher lead@acme.example",
        "automation:link-problem → applied: link SUP-4 -[Relates]-> SUP-3",
        "automation:waiting-for-customer-reminder → applied: slack to omar.haddad@acme.example: SUP-2 (Receipts print "
        "blank) has waited 2 business days",
        "automation:customer-replied → held: slack to omar.haddad@acme.example: The customer answered on SUP-2",
    ]:
        assert line in out, line
    assert "2026-11-09 12:00 timer timer.fired SUP-2" in out  # Thursday + 2 business days = Monday
    assert "2026-11-10 07:00 timer timer.fired SUP-2" in out  # held overnight: Tuesday 08:00 in Oslo
    assert out.strip().splitlines()[-1].startswith("18 events replayed, 24 effects applied, 14 changes on the site")


def test_the_zendesk_demo_replays(tmp_path: Path) -> None:
    data = json.loads(_replay(tmp_path, DEMO / "zendesk" / "events.jsonl", "--json"))
    assert [s["event"]["ticket"] for s in data["steps"]] == ["5001", "5002", "5003"]
    for key in ("5001", "5003"):  # the subject says so; the ticket arrives tagged urgent
        mine = [line for line in data["changes"] if line.startswith(f"{key}: ") or f"ticket {key} " in line]
        assert [line.split(": ")[1] if line.startswith(key) else line.split(":")[0] for line in mine] == [
            "Escalation = 'Urgent'", "internal comment", "watcher + oncall@acme.example", "slack oncall@acme.example"]
    night = data["steps"][0]["rules"][-1]
    assert night["rule"] == "automation:urgent-ticket"
    assert [e["outcome"] for e in night["effects"]] == ["applied"] * 4  # Saturday 02:10: on-call is told at once
    billing = [r for r in data["steps"][1]["rules"] if r["rule"] == "automation:urgent-ticket"][0]
    assert billing["verdicts"] == [{"name": "project", "passed": False, "observed": "Billing", "expected": "Support",
                                    "note": "case and whitespace ignored"}]


def test_why_shows_an_automations_conditions_after_the_replay(tmp_path: Path) -> None:
    _replay(tmp_path, DEMO / "events.jsonl")
    env = {"TICKETBOT_CONFIG": str(CONFIG), "TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    result = CliRunner().invoke(app, ["why", "SUP-4", "--scope", _scope(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "✓ trigger: Impact changed to 'Major' or 'Outage': observed \"Impact: None → 'Outage'\"" in result.output
    assert "✓ issue type: observed 'Incident', expected 'Incident'" in result.output


def _scope(tmp_path: Path) -> str:
    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    try:
        return next(t.scope for t in store.traces("SUP-4"))
    finally:
        store.engine.dispose()


def test_make_events_writes_the_recorded_files(tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in (DEMO / "events.jsonl", DEMO / "zendesk" / "events.jsonl")}
    subprocess.run([sys.executable, str(DEMO / "make_events.py")], check=True, cwd=tmp_path)
    assert {p: p.read_bytes() for p in before} == before


def test_a_backtest_shows_an_automation_added_or_removed(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["include"] = [str((DEMO / name).resolve()) for name in raw["include"]]
    without = write_config(tmp_path / "a.yaml", [a for a in raw["automations"] if a["name"] != "major-incident"],
                           include=raw["include"])
    site = Site.load(DEMO / "site.yaml")
    events = DEMO / "events.jsonl"
    comparison = backtest(lambda: read_records(events), site, load_rules(without), load_rules(CONFIG))
    added = [(d.kind, d.b.rule_id, d.b.summary) for d in comparison.differences if d.b]
    assert added == [("added", "automation:major-incident", "set 'Priority' = 'Highest'"),
                     ("added", "automation:major-incident", "add watcher lead@acme.example"),
                     ("added", "automation:major-incident", "slack to #support: Major incident SUP-4: All tills down "
                                                            "at Sol Bakery (impact Outage).")]
    assert all(d.kind == "added" and d.ticket_key == "SUP-4" for d in comparison.differences)
    text = "\n".join(describe(comparison))
    assert "1 ticket(s) differ" in text and "3 effect(s) added, 0 removed" in text

    removed = backtest(lambda: read_records(events), site, load_rules(CONFIG), load_rules(without))
    assert [(d.kind, d.a.rule_id) for d in removed.differences if d.a] == [("removed", "automation:major-incident")] * 3


def test_a_backtest_of_a_longer_delay_finds_the_customers_answer_first(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    shipped = yaml.safe_load((DEMO / raw["include"][0]).read_text())["automations"]
    for action in shipped[0]["actions"]:
        action["delay"] = "3 business days"
    later = write_config(tmp_path / "b.yaml", [*raw["automations"], *shipped],
                         include=[str((DEMO / raw["include"][1]).resolve())])
    site = Site.load(DEMO / "site.yaml")
    events = DEMO / "events.jsonl"
    comparison = backtest(lambda: read_records(events), site, load_rules(CONFIG), load_rules(later))
    # SUP-2's customer answers on Monday afternoon: 3 business days from Thursday would have been Tuesday
    assert [(d.kind, d.ticket_key, d.a.kind, d.a.at.isoformat()) for d in comparison.differences if d.a] == [
        ("removed", "SUP-2", "slack_message", "2026-11-09T12:00:00+00:00"),
        ("removed", "SUP-2", "internal_comment", "2026-11-09T12:00:00+00:00")]
