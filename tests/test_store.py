"""The store's deferred writes: one transaction per event, nothing lost when the event fails; the SQLite driver
path of its batches: the rows SQLAlchemy would write."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from bot.clock import VirtualClock
from bot.effects import AddWatcher, SlackMessage
from bot.executor import APPLIED, Executor
from bot.state import _INSERT_STATE, _INSERT_TIMER, _UPDATE_STATE, _UPDATE_TIMER
from bot.store import _INSERT_TRACE, LIVE, Store, _insert_applied, _json_text, _sqlite_datetimes, executemany
from bot.trackers.memory import MemoryTracker

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")


def trace(store: Store, rule: str = "r1") -> None:
    store.add_trace(scope=LIVE, event_id="e1", event_kind="ticket.updated", ticket_key="SS-1", rule_id=rule, at=AT,
                    matched=True, verdicts=[{"name": "c", "passed": True}], effects=[], notes=[], error=None)


def record(store: Store, key: str, **extra) -> None:
    store.record_applied(scope=LIVE, effect_key=key, ticket_key="SS-1", rule_id="r1", kind="add_watcher",
                         outcome=APPLIED, detail="", at=AT, **extra)


def seen_elsewhere(store: Store) -> tuple[int, set[str]]:
    """What another worker thread (its own connection) sees: trace count and applied keys."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append((len(store.traces()), {r.effect_key for r in store.applied()})))
    worker.start()
    worker.join()
    return out[0]


def count_commits(store: Store) -> list[int]:
    commits = [0]
    sa_event.listen(store.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    return commits


def test_an_events_traces_and_records_go_in_one_transaction_at_its_end(store: Store) -> None:
    commits = count_commits(store)
    with store.deferred():
        for rule in ("r1", "r2", "r3"):
            trace(store, rule)
        record(store, "r1:SS-1:watcher:a")
        record(store, "r1:SS-1:watcher:b")
        assert store.applied_keys(LIVE, ["r1:SS-1:watcher:a", "other"]) == {"r1:SS-1:watcher:a"}
        assert store.is_applied(LIVE, "r1:SS-1:watcher:b")
        assert seen_elsewhere(store) == (0, set())  # nothing written yet
        assert commits[0] == 0
    assert commits[0] == 1
    assert seen_elsewhere(store) == (3, {"r1:SS-1:watcher:a", "r1:SS-1:watcher:b"})


def test_a_failing_event_still_writes_what_it_did(store: Store) -> None:
    with pytest.raises(RuntimeError, match="rule blew up"), store.deferred():
        trace(store)
        record(store, "r1:SS-1:watcher:a")
        raise RuntimeError("rule blew up")
    assert seen_elsewhere(store) == (1, {"r1:SS-1:watcher:a"})
    with store.deferred():  # the thread's buffer was reset: a new block starts empty
        pass
    assert seen_elsewhere(store) == (1, {"r1:SS-1:watcher:a"})


def test_a_durable_record_is_written_at_once_with_everything_before_it(store: Store) -> None:
    with store.deferred():
        trace(store)
        record(store, "r1:SS-1:slack:dm", durable=True)
        assert seen_elsewhere(store) == (1, {"r1:SS-1:slack:dm"})
        record(store, "r1:SS-1:watcher:a")
        assert seen_elsewhere(store) == (1, {"r1:SS-1:slack:dm"})
    assert seen_elsewhere(store)[1] == {"r1:SS-1:slack:dm", "r1:SS-1:watcher:a"}


def test_a_key_recorded_twice_keeps_the_first_record(store: Store) -> None:
    record(store, "r1:SS-1:watcher:a")
    with store.deferred():
        store.record_applied(scope=LIVE, effect_key="r1:SS-1:watcher:a", ticket_key="SS-1", rule_id="r1",
                             kind="add_watcher", outcome="already-true", detail="second", at=AT)
    rows = store.applied("SS-1")
    assert [(r.effect_key, r.outcome) for r in rows] == [("r1:SS-1:watcher:a", APPLIED)]


def test_nested_blocks_join_the_outer_one(store: Store) -> None:
    commits = count_commits(store)
    with store.deferred():
        with store.deferred():
            trace(store)
        assert seen_elsewhere(store) == (0, set())
        trace(store)
    assert commits[0] == 1 and seen_elsewhere(store)[0] == 2


def test_outside_a_block_each_write_is_its_own_transaction(store: Store) -> None:
    trace(store)
    record(store, "r1:SS-1:watcher:a")
    assert seen_elsewhere(store) == (1, {"r1:SS-1:watcher:a"})


class SentSlack:
    """A notifier that remembers what it sent and what the database held at that moment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: list[str] = []

    def send(self, message: SlackMessage) -> str:
        self.sent.append(message.text)
        return f"1700000000.{len(self.sent):06d}"

    def alert(self, text: str) -> None:  # pragma: no cover - not used here
        self.sent.append(text)


def test_the_executor_records_each_write_the_moment_it_is_made(store: Store, tmp_path) -> None:
    """A crash after a write and before the event's end must not repeat the write, even when a person
    changed the ticket since (a state check cannot tell the bot's transition from theirs): a status,
    field, Slack or create write is recorded at once (with whatever was pending before it)."""
    from bot.effects import Transition
    from tests.support.daemon import onboarding_site

    clock = VirtualClock(AT)
    tracker = MemoryTracker(onboarding_site(["SS-1"]), now=clock.now)
    executor = Executor(tracker, store, clock, scope=LIVE, notifier=SentSlack(store))
    dm = SlackMessage(rule_id="r1", ticket_key="SS-1", step="reminder-1", user_email="david.ellis@goeverbright.com",
                      text="Please approve SS-1")
    watcher = AddWatcher(rule_id="r1", ticket_key="SS-1", step="watcher", email="david.ellis@goeverbright.com")
    back = Transition(rule_id="r1", ticket_key="SS-1", step="back-to-support", status="In Progress")
    with store.deferred():
        trace(store)
        outcomes = executor.apply([dm, watcher, back])
        assert [o.status for o in outcomes] == [APPLIED, APPLIED, APPLIED]
        assert seen_elsewhere(store)[1] == {dm.key, watcher.key, back.key}  # in the database already
        pending = store._pending()
        pending.clear()  # the process is SIGKILLed here: the event's own commit never happens
    tracker.apply_external_change("SS-1", "status", "Waiting for support")  # a person moves it on
    moves = [line for line in tracker.log if "status" in line or "In Progress" in line]
    again = Executor(tracker, store, clock, scope=LIVE, notifier=SentSlack(store))  # the retry
    assert [o.status for o in again.apply([dm, watcher, back])] == ["already-true"] * 3
    assert [line for line in tracker.log if "status" in line or "In Progress" in line] == moves  # not moved back
    assert tracker.get_ticket("SS-1").status == "Waiting for support"


def test_flush_writes_with_the_callers_statement_in_one_transaction_or_not_at_all(store: Store) -> None:
    """The worker marks the event done in the same transaction: a failed "done" keeps the traces
    pending (and unwritten), and the retry writes both."""
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE done_marks (event TEXT)"))

    def mark(conn, fail: bool) -> str:  # conn: a SQLAlchemy Connection
        conn.execute(text("INSERT INTO done_marks VALUES ('e1')"))
        if fail:
            raise RuntimeError("database went away")
        return "done"

    with store.deferred():
        trace(store)
        record(store, "r1:SS-1:watcher:a")
        with pytest.raises(RuntimeError):
            store.flush(also=lambda conn: mark(conn, fail=True))
        assert seen_elsewhere(store) == (0, set())
        assert store.flush(also=lambda conn: mark(conn, fail=False)) == "done"
        assert seen_elsewhere(store) == (1, {"r1:SS-1:watcher:a"})
    assert seen_elsewhere(store) == (1, {"r1:SS-1:watcher:a"})  # the block's end writes nothing twice
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM done_marks")).scalar() == 1


# the SQLite driver path (bot.store.executemany) -----------------------------------------------------------
#: UTC, the same moment at another offset (stored as that wall time), an offset, naive, year 5.
MOMENTS = [AT, AT.astimezone(timezone(timedelta(hours=2))), datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(
    timedelta(hours=5, minutes=30))), datetime(2026, 3, 1, 23, 59, 59, 999999), datetime(5, 1, 1, tzinfo=UTC)]


def driver_path_batches() -> list[tuple[Any, list[dict[str, Any]]]]:
    """A batch for each statement the driver path writes: every column type, NULLs, unicode, JSON given as
    text and as values (None too), a key recorded twice (ON CONFLICT DO NOTHING), updates of the rows."""
    traces = [{"scope": LIVE, "event_id": f"e{i}", "event_kind": "ticket.updated", "ticket_key": "SS-1",
               "rule_id": "r1 ✓", "at": at, "matched": i % 2 == 0,
               "verdicts": _json_text([{"name": "summary", "observed": "Zürich 🌞", "expected": None}]),
               "effects": [{"at": "2026-11-23", "n": 1.5}], "notes": None if i else ["è"],
               "error": None if i % 2 else "boom\n"} for i, at in enumerate(MOMENTS)]
    applied = [{"scope": LIVE, "effect_key": f"r1:SS-1:{i % 3}", "ticket_key": "SS-1", "rule_id": "r1",
                "kind": "comment", "outcome": APPLIED, "detail": "ts 1.2 ✓" if i else "", "at": at}
               for i, at in enumerate(MOMENTS)]
    states = [{"scope": LIVE, "rule_id": "r1", "ticket_key": f"SS-{i}", "stage": "new",
               "data": {"cs": "CS-1", "ö": [1, None]}, "history": [{"stage": "new", "at": at.isoformat()}],
               "created_at": at, "updated_at": at} for i, at in enumerate(MOMENTS)]
    timers = [{"scope": LIVE, "timer_id": f"r1:SS-{i}:remind", "rule_id": "r1", "ticket_key": f"SS-{i}",
               "name": "remind", "due_at": at, "status": "pending", "data": {}, "created_at": AT, "fired_at": None,
               "fire_count": 0} for i, at in enumerate(MOMENTS)]
    state_changes = [{**row, "stage": "done", "data": {"x": "ÿ"}} for row in states]
    timer_changes = [{**row, "status": "fired", "fired_at": MOMENTS[2], "fire_count": 2} for row in timers[1:]]
    return [(_INSERT_TRACE, traces), (_insert_applied("sqlite"), applied), (_INSERT_STATE, states),
            (_UPDATE_STATE, [{f"b_{k}": v for k, v in row.items()} for row in state_changes]),
            (_INSERT_TIMER, timers), (_UPDATE_TIMER, [{f"b_{k}": v for k, v in row.items()} for row in timer_changes])]


def stored(path: Path) -> dict[str, list[tuple]]:
    """Every row of the written tables as the database holds it (the driver's values: their types too)."""
    with closing(sqlite3.connect(path)) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                for table in ("traces", "applied_effects", "rule_state", "timers")}


def test_the_driver_path_writes_the_rows_sqlalchemy_writes(tmp_path: Path) -> None:
    by_sqlalchemy, by_driver = (Store(f"sqlite:///{tmp_path / name}") for name in ("a.sqlite3", "b.sqlite3"))
    for statement, rows in driver_path_batches():
        with by_sqlalchemy.engine.begin() as conn:
            conn.execute(statement, rows)
        with by_driver.engine.begin() as conn:
            executemany(conn, statement, rows)
    expected = stored(tmp_path / "a.sqlite3")
    assert stored(tmp_path / "b.sqlite3") == expected
    assert [len(rows) for rows in expected.values()] == [5, 3, 5, 5]
    assert [row[6] for row in expected["timers"][:3]] == ["2026-11-23 09:00:00.000000", "2026-11-23 11:00:00.000000",
                                                          "2026-01-02 03:04:05.000006"]
    assert expected["traces"][0][10] == '["\\u00e8"]'
    assert [(t.at, t.verdicts, t.notes) for t in by_driver.traces()] == [(t.at, t.verdicts, t.notes)
                                                                         for t in by_sqlalchemy.traces()]


def test_the_driver_path_raises_sqlalchemys_errors(store: Store) -> None:
    row = driver_path_batches()[0][1][0]
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        executemany(conn, _INSERT_TRACE, [row, {**row, "scope": None}])
    assert store.traces() == []  # the transaction was rolled back


offsets = st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))


@given(st.lists(st.datetimes(timezones=st.none() | offsets) | st.dates() | st.none() | st.sampled_from(MOMENTS)))
def test_the_driver_path_writes_datetimes_as_sqlalchemys_sqlite_datetime_does(values: list[Any]) -> None:
    dialect = sqlite_dialect.dialect()
    process = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert list(_sqlite_datetimes(process, values)) == [process(v) for v in values]


def test_a_postgresql_url_without_its_driver_says_which_extra_to_install(monkeypatch):
    """psycopg is the ``postgres`` extra: without it, one clear line instead of SQLAlchemy's traceback."""
    import sys

    import pytest

    from bot.settings import ConfigurationError
    from bot.store import make_engine

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ConfigurationError) as refused:
        make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    assert str(refused.value) == ("TICKETBOT_DATABASE_URL needs the Python module 'psycopg', which is not installed "
                                  "(pip install 'ticketbot[postgres]')")
