"""The read model answers the same on PostgreSQL as on SQLite: the demo replayed into each, every page's data
compared (board with each kind of filter, a timeline, timers, rules, dead letters, audit)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bot.clock import VirtualClock
from bot.console.queries import BoardFilter, ConsoleQueries, TicketLinks
from bot.store import Store
from rules import load_rules
from tests.console.conftest import FINISHED, JIRA_URL, MIDWAY, replay_demo
from tests.support.paths import EVERBRIGHT_ONLY

FILTERS = [BoardFilter(), BoardFilter(closed_days=7), BoardFilter(q="helio"), BoardFilter(q="CS-201"),
           BoardFilter(q="50%_off"), BoardFilter(person="david.ellis"),
           BoardFilter(person="Tom.Becker@goeverbright.com"),
           BoardFilter(runbook="everbright_onboarding", stage="awaiting-approval"), BoardFilter(q="São")]


def _answers(url: str, now: datetime) -> dict[str, Any]:
    store = Store(url)
    try:
        queries = ConsoleQueries(store, load_rules(EVERBRIGHT_ONLY), VirtualClock(now), links=TicketLinks(JIRA_URL))
        instance = queries.instance("SS-101")
        assert instance is not None and not isinstance(instance, str)
        return {"boards": [queries.board(f).as_dict() for f in FILTERS], "instance": instance.as_dict(),
                "member": queries.instance("CS-201"), "timers": queries.timers().as_dict(),
                "rules": [r.as_dict() for r in queries.rules()], "dead": queries.dead_letters().as_dict(),
                "audit": [e.as_dict() for e in queries.audit()[0]],
                "index": [ix["column_names"] for ix in inspect(store.engine).get_indexes("rule_state")
                          if ix["name"] == "ix_rule_state_board"]}
    finally:
        store.engine.dispose()


def _empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def test_the_read_model_on_postgresql_answers_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    for until, now in ((MIDWAY, MIDWAY), (None, FINISHED)):
        sqlite_url = f"sqlite:///{tmp_path / f'demo-{now:%d}.sqlite3'}"
        replay_demo(sqlite_url, "everbright", EVERBRIGHT_ONLY, until)
        _empty(pg_url)
        replay_demo(pg_url, "everbright", EVERBRIGHT_ONLY, until)
        on_sqlite, on_postgres = _answers(sqlite_url, now), _answers(pg_url, now)
        assert on_postgres["index"] == [["scope", "rule_id", "stage", "updated_at"]]  # migration 0009
        assert on_postgres == on_sqlite
        boards = on_postgres["boards"]
        assert on_postgres["member"] == "SS-101"
        assert [i["ticket"] for r in boards[2]["runbooks"] for s in r["stages"] for i in s["instances"]] == ["SS-103"]
        assert boards[4]["in_flight"] == 0  # LIKE wildcards searched as text
    assert {c["ticket"] for c in boards[1]["closed"]} == {"SS-101", "SS-105"}
