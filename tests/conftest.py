"""Fixtures every folder uses: the demo site, the configured rules, a virtual clock, a real SQLite store, an
in-process Daemon on a file-backed in-memory site, a throwaway PostgreSQL database. Constants: tests/support."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import VirtualClock
from bot.daemon.core import Daemon
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import Site
from rules import load_rules
from tests.support.daemon import PG_ADMIN_URL, daemon_settings, in_process_daemon, pg_admin, postgres_unreachable
from tests.support.paths import EVERBRIGHT_ONLY, EXAMPLES


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


@pytest.fixture
def make_daemon(tmp_path: Path, clock, rules) -> Iterator[Callable[..., Daemon]]:  # noqa: ANN001
    """``make(site, db_url=None, alert=None, **settings)`` -> a Daemon (not started) on a fresh site file."""
    made: list[Daemon] = []

    def make(site: Site, *, db_url: str | None = None, alert: Callable[[str], None] | None = None,
             tracker: Any = None, **overrides: Any) -> Daemon:
        settings = daemon_settings(db_url or f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}", **overrides)
        tracker = tracker or SharedMemoryTracker(site, tmp_path / f"site-{uuid.uuid4().hex[:6]}.sqlite3",
                                                 now=clock.now)
        daemon = in_process_daemon(settings, site, rules=rules, tracker=tracker, clock=clock, alert=alert)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind: a SQLite file, then a throwaway PostgreSQL database (skipped without one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards; skips when PostgreSQL is unreachable."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"ticketbot_test_{uuid.uuid4().hex[:10]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
