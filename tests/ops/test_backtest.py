"""`ticketbot backtest`: the same recorded events under two rule configurations, and what differs."""

from __future__ import annotations

import gc
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from bot.cli.main import app
from bot.ops import backtest as backtest_module
from bot.ops.backtest import Comparison, RecordFiles, backtest, backtest_files, describe, play
from bot.replay import ReplayError, read_records
from bot.trackers.site import Site
from rules import load_rules
from tests.support.paths import CONFIG, EXAMPLES

EVERBRIGHT = EXAMPLES / "everbright" / "events.jsonl"
MOMENTUS = EXAMPLES / "momentus" / "events.jsonl"
ROOT = Path(__file__).resolve().parents[2]


def _config_b(tmp_path: Path, change) -> Path:  # noqa: ANN001
    raw = yaml.safe_load(CONFIG.read_text())
    change(raw["rules"])
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def _compare(events: Path, config_b: Path):  # noqa: ANN202
    site = Site.load(events.parent / "site.yaml")
    return backtest(lambda: read_records(events), site, load_rules(CONFIG), load_rules(config_b))


def _quick_reminders(rules: dict) -> None:
    rules["everbright_onboarding"]["approval_reminder_after"] = "2h"
    rules["everbright_onboarding"]["approval_reminder_every"] = "2h"


def test_the_same_configuration_twice_differs_in_nothing(tmp_path: Path) -> None:
    comparison = _compare(EVERBRIGHT, _config_b(tmp_path, lambda rules: None))
    assert comparison.identical and comparison.differences == [] and comparison.stages == []
    assert comparison.a.done.keys() == comparison.b.done.keys() and len(comparison.a.done) > 20
    assert describe(comparison) == [f"No difference: A and B do the same on {comparison.a.events} events "
                                    f"({len(comparison.a.done)} effects)."]


def test_a_shorter_reminder_delay_brings_the_approvers_reminders_forward(tmp_path: Path) -> None:
    comparison = _compare(EVERBRIGHT, _config_b(tmp_path, _quick_reminders))
    assert not comparison.identical
    reminders = [d for d in comparison.differences if (d.a or d.b).kind == "slack_message"  # type: ignore[union-attr]
                 and "david.ellis" in (d.a or d.b).summary]  # type: ignore[union-attr]
    moved = [d for d in reminders if d.kind == "moved"]
    assert moved, describe(comparison)
    assert all(d.b.at < d.a.at for d in moved if d.a and d.b)  # 2 h comes before the next business day
    assert any(d.kind == "added" for d in reminders)  # and rings more often before the approval comes
    assert comparison.summary()["b"]["slack messages"] > comparison.summary()["a"]["slack messages"]
    assert not any(d.kind == "removed" for d in comparison.differences)
    text = "\n".join(describe(comparison))
    assert "moved" in text and "→" in text and "ticket(s) differ" in text


def test_a_disabled_rule_shows_every_effect_it_had_as_removed(tmp_path: Path) -> None:
    comparison = _compare(MOMENTUS, _config_b(tmp_path, lambda rules: rules.pop("momentus_einvoicing")))
    momentus = [done for done in comparison.a.done.values() if done.rule_id == "momentus_einvoicing"]
    assert momentus  # the demo's requests were worked in A
    removed = {d.a.key for d in comparison.differences if d.kind == "removed" and d.a}
    assert removed == {done.key for done in momentus}
    assert not any(done.rule_id == "momentus_einvoicing" for done in comparison.b.done.values())
    assert comparison.stages and all(s.b is None and s.a for s in comparison.stages)


def test_the_command_prints_json_and_writes_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "live.db"
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", f"sqlite:///{database}")
    result = CliRunner().invoke(app, ["backtest", str(EVERBRIGHT), "--config-b",
                                      str(_config_b(tmp_path, _quick_reminders)), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    assert data["identical"] is False and data["summary"]["moved"] >= 1
    assert any(e["kind"] == "moved" for t in data["tickets"].values() for e in t["effects"])
    assert not database.exists()  # the backtest's own store is in memory; the live database is untouched


def test_the_json_is_the_text_rich_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'live.db'}")
    result = CliRunner().invoke(app, ["backtest", str(EVERBRIGHT), "--config-b",
                                      str(_config_b(tmp_path, _quick_reminders)), "--json"])
    assert result.exit_code == 0, result.output
    written = result.stdout[result.stdout.index("{"):]
    console = Console(file=io.StringIO(), highlight=False, soft_wrap=True)  # as bot.cli.common.out, not a terminal
    console.print_json(data=json.loads(written))
    assert written == console.file.getvalue()


def test_a_missing_other_configuration_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    result = CliRunner().invoke(app, ["backtest", str(EVERBRIGHT), "--config-b", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "--config-b" in result.output and "nope.yaml" in result.output and "Traceback" not in result.output


def test_an_invalid_other_configuration_names_its_bad_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    bad = _config_b(tmp_path, lambda rules: rules["everbright_onboarding"].update(approval_reminder_after="soon"))
    result = CliRunner().invoke(app, ["backtest", str(EVERBRIGHT), "--config-b", str(bad)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "approval_reminder_after" in result.output


def test_a_missing_events_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    result = CliRunner().invoke(app, ["backtest", str(tmp_path / "events.jsonl"), "--config-b", str(CONFIG)])
    assert result.exit_code == 2 and "FILE" in result.output and "events.jsonl" in result.output


def test_an_unreadable_record_is_named_by_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    events = tmp_path / "events.jsonl"
    events.write_text(EVERBRIGHT.read_text().splitlines()[0] + "\n{not json\n")
    (tmp_path / "site.yaml").write_text((EVERBRIGHT.parent / "site.yaml").read_text())
    result = CliRunner().invoke(app, ["backtest", str(events), "--config-b", str(CONFIG)])
    assert result.exit_code == 2 and f"{events}:2" in result.output and "Traceback" not in result.output


# The fast path: a backtest's replays build no traces and keep their records in memory (bot.store.MemoryStore).
def _synthetic(n: int) -> list[dict]:
    """``n`` webhooks of the synthetic EverBright stream benchmarks/scale.py plays."""
    module = sys.modules.get("scale_bench")
    if module is None:
        spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
        assert spec is not None and spec.loader is not None
        module = sys.modules["scale_bench"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.synthetic_events(n)


def _assert_same(fast: Comparison, plain: Comparison) -> None:
    assert fast == plain  # the sides (effects with outcome, moment and words; stages; counts) and the differences
    assert fast.as_dict() == plain.as_dict() and describe(fast) == describe(plain)


@pytest.mark.parametrize("example", ["everbright", "momentus", "sharespine", "procountor", "nfe"])
def test_the_fast_replays_give_the_comparison_the_plain_replays_give(tmp_path: Path, example: str) -> None:
    events = EXAMPLES / example / "events.jsonl"
    site = Site.load(events.parent / "site.yaml")
    rules_a, rules_b = load_rules(CONFIG), load_rules(_config_b(tmp_path, _quick_reminders))
    fast = backtest(lambda: read_records(events), site, rules_a, rules_b)
    plain = backtest(lambda: read_records(events), site, rules_a, rules_b, plain=True)
    _assert_same(fast, plain)
    assert fast.a.done and fast.a.stages
    if example == "everbright":
        assert not fast.identical


def test_the_fast_replays_give_the_same_comparison_on_a_larger_stream(tmp_path: Path) -> None:
    records = _synthetic(1500)  # ~250 onboardings: reminders fire, approvals by comment and by separate ticket
    site = Site.load(EVERBRIGHT.parent / "site.yaml")
    rules_a, rules_b = load_rules(CONFIG), load_rules(_config_b(tmp_path, _quick_reminders))
    fast = backtest(lambda: iter(records), site, rules_a, rules_b)
    plain = backtest(lambda: iter(records), site, rules_a, rules_b, plain=True)
    _assert_same(fast, plain)
    summary = fast.summary()
    assert summary["moved"] and summary["added"] and len(fast.tickets()) > 50
    assert fast.b.events > fast.a.events > 1500  # timers fired on both sides, more often in B


# ticketbot backtest plays B in a second process (spawned) while it plays A.
def test_b_in_a_second_process_gives_the_comparison_the_plain_replays_give(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(record) + "\n" for record in _synthetic(1500)))
    site = Site.load(EVERBRIGHT.parent / "site.yaml")
    config_b = _config_b(tmp_path, _quick_reminders)
    rules_a, rules_b = load_rules(CONFIG), load_rules(config_b)
    files = RecordFiles((EVERBRIGHT, events))
    parallel = backtest_files(files, site, rules_a, rules_b, config_b=config_b, processes=2)
    _assert_same(parallel, backtest(files, site, rules_a, rules_b, plain=True))
    assert parallel.summary()["moved"] and parallel.b.events > parallel.a.events > 1500


def test_the_command_in_two_processes_prints_what_it_prints_in_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'live.db'}")
    command = ["backtest", str(EVERBRIGHT), "--config-b", str(_config_b(tmp_path, _quick_reminders))]
    one = CliRunner().invoke(app, command)
    monkeypatch.setattr(backtest_module, "PARALLEL_BYTES", 0)  # the demo is small: two processes all the same
    two = CliRunner().invoke(app, command)
    assert one.exit_code == two.exit_code == 0, two.output
    assert two.stdout == one.stdout and "ticket(s) differ" in two.stdout


def test_a_failure_in_the_second_process_is_raised_here() -> None:
    with pytest.raises(ValueError, match="invalid literal"), backtest_module._Elsewhere(int, ("x",)) as elsewhere:
        elsewhere.result()
    with pytest.raises(RuntimeError, match="ended without a result .exit code 3"), \
            backtest_module._Elsewhere(os._exit, (3,)) as elsewhere:
        elsewhere.result()


def test_an_unreadable_record_is_named_when_b_plays_elsewhere(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(EVERBRIGHT.read_text().splitlines()[0] + "\n{not json\n")
    site = Site.load(EVERBRIGHT.parent / "site.yaml")
    with pytest.raises(ReplayError, match=f"{events}:2: not JSON"):
        backtest_files(RecordFiles((events,)), site, load_rules(CONFIG), load_rules(CONFIG), config_b=CONFIG,
                       processes=2)


@pytest.mark.parametrize("example", ["everbright", "momentus", "sharespine", "procountor", "nfe", "synthetic"])
def test_a_side_makes_no_reference_cycles(tmp_path: Path, example: str) -> None:
    """What lets a side pause the cycle collector (bot.ops.backtest._collector_paused): nothing it makes,
    the replay included, waits for the collector to be freed."""
    if example == "synthetic":
        records, site = _synthetic(1200), Site.load(EVERBRIGHT.parent / "site.yaml")
    else:
        events = EXAMPLES / example / "events.jsonl"
        records, site = list(read_records(events)), Site.load(events.parent / "site.yaml")
    rules = load_rules(_config_b(tmp_path, _quick_reminders))
    gc.collect()
    gc.disable()
    try:
        side, _ = play(rules, site, iter(records), until=None)
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert side.done and unreachable == 0
