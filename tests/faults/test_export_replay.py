"""Recorded live, exported, replayed: the demo run through the real daemon, its events exported from the inbox and
the event archive (``ticketbot events export``), replayed on the virtual clock, reach the same timeline."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.executor import ALREADY, APPLIED
from bot.replay import Replay, read_records
from bot.state import RuleStateRow
from bot.store import LIVE, AppliedEffectRow, Store
from bot.trackers.site import Site
from rules import load_rules
from tests.faults.world import CONFIG, SITE, World


def _timeline(store: Store, scope: str) -> set[tuple[str, str, str]]:
    """Every effect the scope made true, with the minute it did."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(AppliedEffectRow.effect_key, AppliedEffectRow.outcome, AppliedEffectRow.at)
                            .where(AppliedEffectRow.scope == scope,
                                   AppliedEffectRow.outcome.in_((APPLIED, ALREADY)))).all()
    return {(r.effect_key, r.outcome, f"{r.at:%Y-%m-%d %H:%M}") for r in rows}


def _stages(store: Store, scope: str) -> set[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(RuleStateRow.rule_id, RuleStateRow.ticket_key, RuleStateRow.stage)
                            .where(RuleStateRow.scope == scope)).all()
    return {tuple(r) for r in rows}


def test_a_live_run_exported_and_replayed_reaches_the_same_timeline(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    with World(tmp_path / "live") as world:
        world.run_clean()
        daemon = world.daemon
        # The first half of the run is past the inbox's retention: the sweep moves it into the archive.
        middle = world.steps[len(world.steps) // 2].at
        moved = daemon.inbox.prune(world.clock.now() - middle, keep=daemon.archive.keep)
        assert 0 < moved < len(world.inbox()) + moved and daemon.archive.stats().events == moved
        live_timeline, live_stages = _timeline(daemon.store, LIVE), _stages(daemon.store, LIVE)
        end, db_url = world.end(), world.db_url

    monkeypatch.setenv("TICKETBOT_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["events", "export"])
    assert result.exit_code == 0, result.output
    exported = tmp_path / "events.jsonl"
    exported.write_text("".join(line + "\n" for line in result.stdout.splitlines() if line.startswith("{")))
    assert f"{len(world.steps)} event(s) exported" in result.output  # every webhook; the timer firings left out

    store = Store(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    player = Replay(load_rules(CONFIG), Site.load(SITE), store, scope="replay")
    list(player.run(read_records(exported), until=end))
    assert live_timeline and _timeline(store, "replay") == live_timeline
    assert live_stages and _stages(store, "replay") == live_stages
