"""Migrations cover every table; the daemon's CLI commands (db upgrade, dead-letters, rules pause/resume)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from bot.cli.main import app as ticketbot
from bot.migrations import current, head, load_models, upgrade
from bot.store import Store, make_engine
from tests.support.daemon import CONFIG


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), load_models())
    finally:
        engine.dispose()


def test_migrations_create_every_table_of_the_metadata(db_url):
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    assert current(db_url) == head() == "0011_console_sign_in"
    assert _diff(db_url) == []
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(load_models().tables) <= tables


def test_a_database_made_before_migrations_is_adopted(tmp_path):
    from bot.store import Base, make_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    Base.metadata.tables["traces"].create(engine)  # what the first Store's create_all made
    Base.metadata.tables["applied_effects"].create(engine)
    engine.dispose()
    assert current(url) is None
    upgrade(url)
    assert current(url) == head() and _diff(url) == []


def test_a_store_on_a_file_is_migrated_to_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    Store(url).engine.dispose()
    assert current(url) == head() and _diff(url) == []


def test_cli_db_upgrade_dead_letters_and_rules(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", url)
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    runner = CliRunner()
    result = runner.invoke(ticketbot, ["db", "upgrade"])
    assert result.exit_code == 0 and f"revision {head()}" in result.output

    from datetime import UTC, datetime

    from bot.clock import SystemClock
    from bot.inbox.queue import Inbox
    from bot.model import TICKET_UPDATED, Event

    inbox = Inbox(make_engine(url), SystemClock())
    event = Event(id="e1", source="jira", kind=TICKET_UPDATED, ticket_key="SS-9", occurred_at=datetime.now(UTC))
    inbox.add(key="jira:e1", source="jira", event=event, envelope={})
    inbox.fail(inbox.claim(60), "TrackerError: HTTP 502", retry_in=None)

    listing = runner.invoke(ticketbot, ["dead-letters"])
    assert listing.exit_code == 0 and "SS-9" in listing.output and "HTTP 502" in listing.output
    assert runner.invoke(ticketbot, ["dead-letters", "--retry", "999"]).exit_code == 1
    retried = runner.invoke(ticketbot, ["dead-letters", "--retry", "1"])
    assert retried.exit_code == 0 and "1 event(s) queued again" in retried.output
    assert inbox.dead_letters() == [] and inbox.depth() == 1

    assert runner.invoke(ticketbot, ["rules", "pause", "everbright_onboarding", "--reason", "audit"]).exit_code == 0
    from bot.inbox.guards import Guards
    from bot.settings import GuardSettings

    guards = Guards(Store(url), GuardSettings(), SystemClock())
    assert [p.reason for p in guards.active_pauses()] == ["audit"]
    resumed = runner.invoke(ticketbot, ["rules", "resume", "everbright_onboarding"])
    assert resumed.exit_code == 0 and "1 pause(s) lifted" in resumed.output
    assert guards.active_pauses() == []
    unknown = runner.invoke(ticketbot, ["rules", "resume", "no_such_rule"])
    assert unknown.exit_code != 0
