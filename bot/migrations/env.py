"""Alembic environment: one connection, one transaction, a lock so replicas migrate one at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from bot.inbox.leader import advisory_key
from bot.migrations import load_models
from bot.store import make_engine

MIGRATION_LOCK = advisory_key("ticketbot:migrations")


def run_migrations_online() -> None:
    url = context.config.attributes["database_url"]
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=load_models(),
                              render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Held to the end of the transaction: a second replica waits, then finds head.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `ticketbot db upgrade`")
run_migrations_online()
