"""A replay writes in batches (bot.replay.Replay, bot.state.BufferedStateStore, Store.batch): the database
holds exactly what the per-event path wrote (traces, effect records, rule state, timers), for the demos and
for a synthetic stream; the batch goes to the database every ``batch_events`` events and at the end, also
when the replay fails half-way."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from bot.replay import Replay, ReplayError, Step, read_records
from bot.state import BufferedStateStore, StateStore
from bot.store import Store, _json_text, _jsonable
from bot.trackers.site import Site
from rules import load_rules
from tests.support.paths import CONFIG, EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
SCOPE = "replay-test"
TABLES = {  # every column but the id, in row order (the ids are compared through that order)
    "traces": "id, scope, event_id, event_kind, ticket_key, rule_id, at, matched, verdicts, effects, notes, error",
    "applied_effects": "id, scope, effect_key, ticket_key, rule_id, kind, outcome, detail, at",
    "rule_state": "id, scope, rule_id, ticket_key, stage, data, history, created_at, updated_at",
    "timers": "id, scope, timer_id, rule_id, ticket_key, name, due_at, status, data, created_at, fired_at, fire_count",
}


class Unbatched(Replay):
    """The replay as it was before batching: each event's traces and records committed at its end (and a
    durable record at once), rule state and timers written through :class:`StateStore` one transaction
    each, the due timers asked of the database before every event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.states = StateStore(self.store)
        self.processor.executor.states = self.states
        self.processor.engine.states = self.states

    def _step(self, event):  # noqa: ANN001, ANN202
        before = len(self.log)
        report = self.processor.process(event)
        return Step(event, report, self.log[before:])

    def commit(self) -> None:
        pass


def dump(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: [tuple(_plain(v) for v in row) for row in
                            conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY id"))]
                    for table, columns in TABLES.items()}
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def play(cls: type[Replay], url: str, records: list[dict], *, site: Site, config: Path = CONFIG,
         until: datetime | None = None, **kwargs: Any) -> tuple[Replay, list[Step]]:
    player = cls(load_rules(config), site, Store(url), scope=SCOPE, **kwargs)
    return player, list(player.run(records, until=until))


def summary(steps: list[Step]) -> list[Any]:
    return [
        (
            s.event.id,
            [(r.rule_id, [(o.effect.key, o.status, o.detail) for o in r.outcomes]) for r in s.report.rules],
            s.changes,
        )
        for s in steps
    ]


def synthetic(n: int) -> list[dict]:
    module = sys.modules.get("scale_bench")
    if module is None:  # its dataclasses need the module registered
        spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
        module = sys.modules["scale_bench"] = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
    return module.synthetic_events(n)


def assert_same(tmp_path: Path, records: list[dict], site: Site, *, until: datetime | None = None,
                batch_events: int = 7) -> dict[str, list[tuple]]:
    url_a, url_b = f"sqlite:///{tmp_path / 'unbatched.sqlite3'}", f"sqlite:///{tmp_path / 'batched.sqlite3'}"
    ref, ref_steps = play(Unbatched, url_a, records, site=site, until=until)
    new, new_steps = play(Replay, url_b, records, site=site, until=until, batch_events=batch_events)
    assert summary(new_steps) == summary(ref_steps)
    assert new.log == ref.log
    expected, got = dump(url_a), dump(url_b)
    for table in TABLES:
        assert got[table] == expected[table], table
    return got


@pytest.mark.parametrize("example, until", [("everbright", None), ("nfe", datetime(2027, 3, 1, tzinfo=UTC)),
                                            ("momentus", None), ("procountor", None), ("sharespine", None)])
def test_a_batched_replay_of_a_demo_writes_what_the_per_event_replay_wrote(tmp_path: Path, example: str,
                                                                          until: datetime | None) -> None:
    records = list(read_records(EXAMPLES / example / "events.jsonl"))
    got = assert_same(tmp_path, records, Site.load(EXAMPLES / example / "site.yaml"), until=until)
    assert got["traces"] and got["applied_effects"] and got["rule_state"]


def test_a_batched_replay_of_a_synthetic_stream_writes_what_the_per_event_replay_wrote(tmp_path: Path) -> None:
    records = synthetic(700)  # ~100 onboardings: reminders fire, approvals by comment and by separate ticket
    got = assert_same(tmp_path, records, Site.load(EXAMPLES / "everbright" / "site.yaml"),
                      until=datetime(2026, 11, 10, tzinfo=UTC), batch_events=64)
    assert any(row[11] > 0 for row in got["timers"]) and any(row[7] == "cancelled" for row in got["timers"])
    assert sum(1 for row in got["rule_state"] if row[4] == "closed") >= 50


@pytest.fixture
def pg_urls() -> Any:
    """Two throwaway PostgreSQL databases (tests/daemon/conftest.py's server); skipped where none runs."""
    import uuid

    from sqlalchemy.engine import make_url

    from tests.support.daemon import PG_ADMIN_URL, pg_admin, postgres_unreachable

    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    names = [f"ticketbot_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = pg_admin()
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield [make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_batched_replay_on_postgresql_writes_what_the_per_event_replay_wrote(pg_urls: list[str]) -> None:
    site = Site.load(EXAMPLES / "everbright" / "site.yaml")
    records = list(read_records(EXAMPLES / "everbright" / "events.jsonl"))
    ref, ref_steps = play(Unbatched, pg_urls[0], records, site=site)
    new, new_steps = play(Replay, pg_urls[1], records, site=site, batch_events=5)
    for player in (ref, new):
        player.store.engine.dispose()
    assert summary(new_steps) == summary(ref_steps)
    expected, got = dump(pg_urls[0]), dump(pg_urls[1])
    assert got == expected and got["traces"] and got["timers"]


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    finally:
        engine.dispose()


def test_the_batch_is_written_every_batch_events_events_and_at_the_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    records = list(read_records(EXAMPLES / "everbright" / "events.jsonl"))
    player = Replay(load_rules(CONFIG), Site.load(EXAMPLES / "everbright" / "site.yaml"), Store(url), scope=SCOPE,
                    batch_events=4)
    steps = player.run(records)
    for _ in range(3):
        next(steps)
    assert [count(url, t) for t in TABLES] == [0, 0, 0, 0]  # three events held in memory
    assert player.states.dirty > 0 and player.states.get(SCOPE, "everbright_onboarding", "SS-101") is not None
    next(steps)  # the fourth: the batch is committed
    after_four = [count(url, t) for t in TABLES]
    assert after_four[0] == 4 * len(player.processor.engine.rules) and after_four[2] > 0
    assert player.states.dirty == 0
    rest = list(steps)
    assert len(rest) > 4
    # The end: all of it (a held message's delivery leaves one trace, of its own rule; every other event one a rule).
    assert count(url, "traces") == 4 * len(player.processor.engine.rules) + sum(len(s.report.rules) for s in rest)
    assert any(len(s.report.rules) == 1 for s in rest)  # the demo has deliveries: the sum above is not the product
    assert player.states.dirty == 0


def test_a_replay_that_fails_half_way_leaves_what_the_per_event_replay_left(tmp_path: Path) -> None:
    """A record that cannot be read (ReplayError), and a tracker failing inside an event: everything played
    before is in the database, with the failing event's traces and records so far, as before batching."""
    site = Site.load(EXAMPLES / "everbright" / "site.yaml")
    records = list(read_records(EXAMPLES / "everbright" / "events.jsonl"))
    bad = [*records[:9], {"source": "zendesk", "headers": {}, "body": {"type": "zen:event-type:ticket.created"}},
           *records[9:]]
    results = {}
    for name, cls in (("unbatched", Unbatched), ("batched", Replay)):
        url = f"sqlite:///{tmp_path / f'{name}-decode.sqlite3'}"
        player = cls(load_rules(CONFIG), site, Store(url), scope=SCOPE, batch_events=4)
        with pytest.raises(ReplayError):
            list(player.run(bad))
        results[name] = dump(url)
    assert results["batched"] == results["unbatched"]
    assert len({row[2] for row in results["batched"]["traces"]}) >= 9

    for name, cls in (("unbatched", Unbatched), ("batched", Replay)):
        url = f"sqlite:///{tmp_path / f'{name}-tracker.sqlite3'}"
        player = cls(load_rules(CONFIG), site, Store(url), scope=SCOPE, batch_events=4)
        reads, real = [0], player.tracker.get_ticket

        def failing(key: str, *, with_people: bool = False, _real=real, _reads=reads):  # noqa: ANN001, ANN202
            _reads[0] += 1
            if _reads[0] == 12:
                raise RuntimeError("the tracker broke")
            return _real(key, with_people=with_people)

        player.tracker.get_ticket = failing
        with pytest.raises(RuntimeError, match="the tracker broke"):
            list(player.run(records))
        results[name] = dump(url)
    assert results["batched"] == results["unbatched"]
    assert results["batched"]["traces"] and results["batched"]["rule_state"]


def test_a_replay_abandoned_half_way_writes_what_it_played_when_closed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    records = list(read_records(EXAMPLES / "everbright" / "events.jsonl"))
    player = Replay(load_rules(CONFIG), Site.load(EXAMPLES / "everbright" / "site.yaml"), Store(url), scope=SCOPE)
    steps = player.run(records)
    played = [next(steps) for _ in range(5)]
    assert count(url, "traces") == 0
    steps.close()  # as the consumer dropping the generator does
    assert count(url, "traces") == len(played) * len(player.processor.engine.rules)


# BufferedStateStore against StateStore, operation by operation --------------------------------------------
def test_the_buffered_state_store_answers_as_the_state_store_does(tmp_path: Path) -> None:
    sql = StateStore(Store(f"sqlite:///{tmp_path / 'a.sqlite3'}"))
    buffered_store = Store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    buffered = BufferedStateStore(buffered_store, SCOPE)
    rng = random.Random(3)
    at = datetime(2026, 11, 2, 8, tzinfo=UTC)
    rules, keys, stages, names = ["r1", "r2"], [f"SS-{i}" for i in range(12)], ["new", "a", "b", "closed"], ["t1", "t2"]
    for step in range(1500):
        at += timedelta(minutes=rng.randint(0, 90))
        rule, key, op = rng.choice(rules), rng.choice(keys), rng.random()
        scope = SCOPE if rng.random() < 0.9 else "other"  # another scope goes to the database
        if op < 0.25:
            data = {"cs_key": rng.choice([f"CS-{i}" for i in range(4)] + [None]), "n": rng.randint(0, 3),
                    "when": at, "items": (1, "x")}
            args = dict(stage=rng.choice([*stages, ""]), data=data, at=at)
            assert buffered.put(scope, rule, key, **args) == sql.put(scope, rule, key, **args)
        elif op < 0.4:
            args = dict(rule_id=rule, ticket_key=key, name=rng.choice(names), at=at, data={"attempt": step},
                        due_at=at + timedelta(hours=rng.randint(-2, 30)))
            assert buffered.start_timer(scope, **args) == sql.start_timer(scope, **args)
        elif op < 0.5:
            name = rng.choice(names)
            assert buffered.cancel_timer(scope, rule, key, name) == sql.cancel_timer(scope, rule, key, name)
        elif op < 0.6:
            due = sql.due(scope, at, limit=1)
            assert buffered.due(scope, at, limit=1) == due
            if due:
                assert buffered.mark_fired(scope, due[0], at) == sql.mark_fired(scope, due[0], at)
        elif op < 0.65:
            assert buffered.due(scope, at) == sql.due(scope, at)
            assert buffered.next_due(scope) == sql.next_due(scope)
        else:
            assert buffered.get(scope, rule, key) == sql.get(scope, rule, key)
            for query in ({"stages": [rng.choice(stages)]}, {"stages": ["a", "b"]}, {"cs_key": f"CS-{step % 4}"},
                          {"stages": ["a", "closed"], "cs_key": "CS-1"}, {"n": 2}, {}):
                assert buffered.find(scope, rule, **query) == sql.find(scope, rule, **query), query
            assert buffered.timers(scope, key) == sql.timers(scope, key)
            assert buffered.timers(scope, status="pending") == sql.timers(scope, status="pending")
            assert buffered.all(scope, key) == sql.all(scope, key)
            assert buffered.all(scope) == sql.all(scope)
        if step % 200 == 0:  # written now and then, as the replay's batches are
            with buffered_store.engine.begin() as conn:
                buffered.write(conn)
    with buffered_store.engine.begin() as conn:
        buffered.write(conn)
    assert buffered.dirty == 0
    # The other scope's rows were written at once, the buffered scope's later: ids interleave differently, the
    # order within each scope is the same.
    assert by_scope(dump(f"sqlite:///{tmp_path / 'b.sqlite3'}")) == by_scope(
        dump(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    )
    reloaded = BufferedStateStore(Store(f"sqlite:///{tmp_path / 'b.sqlite3'}"), SCOPE)  # loads what is there
    assert reloaded.all(SCOPE) == sql.all(SCOPE) and reloaded.timers(SCOPE) == sql.timers(SCOPE)
    assert reloaded.due(SCOPE, at, limit=1) == sql.due(SCOPE, at, limit=1)


def by_scope(tables: dict[str, list[tuple]]) -> dict[tuple[str, str], list[tuple]]:
    return {(table, scope): [row[2:] for row in rows if row[1] == scope]
            for table, rows in tables.items() for scope in (SCOPE, "other")}


# the JSON shortcuts ---------------------------------------------------------------------------------------
def _old_jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


Pair = namedtuple("Pair", "a b")


class Real(float):
    pass


@dataclass
class Point:
    x: int = 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.just("\ud800 lone")
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.sampled_from([Path("a/b"), frozenset(), Pair(1, "x"), Real(1.5), Decimal("2.50"), Point(), b"raw"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3), children, max_size=4)
        | st.dictionaries(st.integers(0, 3), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_jsonable_and_json_text_give_what_the_json_round_trip_gave(value: Any) -> None:
    assert _jsonable(value) == _old_jsonable(value)
    assert json.loads(_json_text(value)) == _old_jsonable(value)  # what the JSON column gave back before


def test_json_text_is_compact_and_writes_nan_and_infinities_as_json_dumps_did() -> None:
    assert _json_text([{"name": "é ✓", "at": date(2026, 11, 2), "n": (1, 2.5)}]) == \
        '[{"name":"é ✓","at":"2026-11-02","n":[1,2.5]}]'  # orjson's text
    text = _json_text({"nan": math.nan, "inf": [math.inf, -math.inf], "none": None})
    assert text == json.dumps({"nan": math.nan, "inf": [math.inf, -math.inf], "none": None})
    assert math.isnan(json.loads(text)["nan"]) and json.loads(text)["inf"] == [math.inf, -math.inf]
