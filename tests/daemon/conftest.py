"""Fixtures of the daemon tests: an in-process Daemon on a file-backed in-memory site, and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.daemon.core import Daemon
from bot.model import User
from bot.settings import Settings
from bot.trackers.jira.model import FieldCatalog
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import Site, jira_field_json
from tests.daemon.helpers import CONFIG, SECRET

ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
PG_ADMIN_URL = os.environ.get("TICKETBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def daemon_settings(db_url: str, **overrides: Any) -> Settings:
    base = {
        "database_url": db_url, "config": CONFIG,
        "jira": {"webhook_secret": SECRET, "poll_interval": 0},
        "zendesk": {"webhook_secret": ZENDESK_SECRET},
        "worker": {"count": 3, "idle_poll": 0.05, "leader_retry": 0.2, "backoff_base": 10},
    }
    return Settings(**_merge(base, overrides))


@pytest.fixture
def make_daemon(tmp_path: Path, clock, rules) -> Iterator[Callable[..., Daemon]]:  # noqa: ANN001
    """``make(site, db_url=None, alert=None, **settings)`` -> a Daemon (not started) on a fresh site file."""
    made: list[Daemon] = []

    def make(site: Site, *, db_url: str | None = None, alert: Callable[[str], None] | None = None,
             tracker: Any = None, **overrides: Any) -> Daemon:
        settings = daemon_settings(db_url or f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}", **overrides)
        tracker = tracker or SharedMemoryTracker(site, tmp_path / f"site-{uuid.uuid4().hex[:6]}.sqlite3",
                                                 now=clock.now)
        bot = site.bot_account
        catalog = FieldCatalog.from_fields(jira_field_json(site))
        daemon = Daemon(settings, rules=rules, tracker=tracker, clock=clock, alert=alert,
                        bot_user=lambda: User(account_id=bot.account_id, email=bot.email), catalog=lambda: catalog)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.store.engine.dispose()


# PostgreSQL --------------------------------------------------------------------------------------------
def _pg_admin():  # noqa: ANN202 - a SQLAlchemy Engine
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                         connect_args={"connect_timeout": 2})


def postgres_unreachable() -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    try:
        with _pg_admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"PostgreSQL unreachable at {PG_ADMIN_URL} ({exc.__class__.__name__}); set TICKETBOT_TEST_POSTGRES_URL"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards; skips when PostgreSQL is unreachable."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"ticketbot_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
