"""The store's deferred writes: one transaction per event, nothing lost when the event fails."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event as sa_event

from bot.clock import VirtualClock
from bot.effects import AddWatcher, SlackMessage
from bot.executor import APPLIED, Executor
from bot.store import LIVE, Store
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
    from tests.daemon.helpers import onboarding_site

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
