"""Alembic migrations of ticketbot's database, applied at ``ticketbot run`` start and by ``ticketbot db upgrade``.

Configured in code (no ``alembic.ini`` needed): :func:`upgrade` points Alembic at this
package. The migrations must describe every table on ``bot.store.Base.metadata``;
:func:`load_models` imports every module that defines tables, and a test compares the
migrated schema with that metadata. A module adding a table must be listed there and
come with a migration (``alembic -c <cfg> revision --autogenerate`` with :func:`alembic_config`).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

# Alembic's INFO lines (plugin setup on import, one per revision) are noise on every start.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

#: Every module that puts tables on ``Base.metadata``.
MODEL_MODULES = (
    "bot.store",
    "bot.state",
    "bot.inbox.queue",
    "bot.inbox.archive",
    "bot.inbox.spool",
    "bot.inbox.guards",
    "bot.inbox.poller",
    "bot.ops.audit",
    "bot.console.queries",  # declares an index of its own on rule_state (migration 0010)
    "bot.console.sessions",  # sign-in links and sessions (migration 0011)
    "bot.console.digest",  # the weekly digests sent (migration 0011)
    "bot.console.charts",  # ix_traces_rings, a partial index on traces (migration 0011)
)


def load_models() -> MetaData:
    """Import every table-defining module (by name: the store imports this package); the complete metadata."""
    modules = [importlib.import_module(name) for name in MODEL_MODULES]
    metadata: MetaData = modules[0].Base.metadata  # bot.store.Base, which every model module builds on
    return metadata


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["database_url"] = database_url  # not via set_main_option: '%' in passwords
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent; replicas starting together wait for each other)."""
    command.upgrade(alembic_config(database_url), revision)


def head() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def current(database_url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
