"""Shared fixtures: the demo site, the configured rules, a virtual clock, a real SQLite store."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import VirtualClock
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIG = ROOT / "config" / "ticketbot.yaml"
EVERBRIGHT_ONLY = ROOT / "tests" / "everbright_only.yaml"  # the shipped block of that one rule
SHARED = Path(os.environ.get("TICKETBOT_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture
def site() -> Site:
    return Site.load(EXAMPLES / "everbright" / "site.yaml")


@pytest.fixture
def rules():
    return load_rules(EVERBRIGHT_ONLY)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}")


@pytest.fixture
def memory(site: Site, clock: VirtualClock) -> MemoryTracker:
    return MemoryTracker(site, now=clock.now)


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's .env or TICKETBOT_* variables."""
    for name in list(os.environ):
        if name.startswith("TICKETBOT_") and name != "TICKETBOT_SHARED_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
