"""The database goes away for a while in the middle of the EverBright runbook, on PostgreSQL.

tests/daemon/test_database_outage.py shows the mechanisms one by one (503 while it is down, the
worker's outcome written once it is back, a locked SQLite file). Here the whole runbook runs
through an outage and the question is the end state: nothing Jira sent is lost, nothing is done
twice, and Jira ends exactly as after a clean run. Jira's sender keeps every webhook it got no
2xx for and sends it again (it retries for hours); the outage ends after a few virtual minutes.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.inbox.queue import DONE
from tests.daemon.test_database_outage import _Outage
from tests.faults.world import Clean, Step, World, clean_run, diff


def _resend_until_stored(world: World, step: Step, patience: int = 50) -> list[int]:
    """Jira's retries of one webhook until it is answered 2xx; the answers it got."""
    answers = []
    for _ in range(patience):
        answers.append(world.deliver(step))
        if answers[-1] == 202:
            return answers
    raise AssertionError(f"{step.label}: never acknowledged after the outage ({answers})")


def _assert_nothing_lost_nothing_twice(world: World, clean: Clean) -> None:
    assert diff(clean.state, world.state()) == []
    assert Counter(world.writes()) == Counter(clean.writes), "a write was repeated or lost"
    rows = world.inbox()
    assert sorted(r.dedup_key for r in rows if r.source == "jira") == sorted(s.inbox_key for s in world.steps)
    assert {r.status for r in rows} == {DONE}


def test_webhooks_sent_during_an_outage_are_refused_then_all_processed_once(tmp_path, pg_url):
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", db_url=pg_url) as world:
        outage = _Outage(pg_url)
        steps = world.steps
        # Down from just after SS-103's intake until after SS-104 arrived: CS-202 (Jira's automation)
        # and SS-104 (a new form) are sent while nothing can be stored.
        first = next(i for i, s in enumerate(steps) if s.key == "CS-202")
        last = next(i for i, s in enumerate(steps) if s.key == "SS-104")
        unacknowledged: list[Step] = []
        for i, step in enumerate(steps):
            if i == first:
                outage.begin()
            if first <= i <= last:
                world.clock.set(step.at)
                world.act(step)
                assert [world.deliver(step) for _ in range(3)] == [503] * 3  # refused, never "accepted"
                unacknowledged.append(step)
                ok, health = world.daemon.health()
                assert not ok and health["database"].startswith("unreachable")
                try:
                    world.daemon.workers.run_once()  # a worker's round fails; nothing is claimed or lost
                except SQLAlchemyError:
                    pass
                else:
                    raise AssertionError("a worker got through to a database that is down")
                if i == last:
                    world.clock.advance(timedelta(minutes=5))
                    outage.end()
                    for pending in unacknowledged:  # Jira's next retries
                        assert _resend_until_stored(world, pending)[-1] == 202
                    world.process()
                continue
            world.wait_until(step.at)
            world.act(step)
            world.deliver_until_acknowledged(step)
            world.process()
        world.wait_until(world.end())
        _assert_nothing_lost_nothing_twice(world, clean)
        assert world.daemon.health()[1]["database"] == "ok"


def test_an_outage_between_a_jira_write_and_its_record_neither_loses_nor_repeats_it(tmp_path, pg_url):
    """The database goes the moment Jira has taken the field edit of CS-202 and before the executor can
    record it; it is back a moment later. The worker writes the failed attempt down once it can, the
    retry finds the edit already on the ticket (not sent again) and finishes the plan."""
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", db_url=pg_url) as world:
        outage = _Outage(pg_url)
        back = threading.Event()

        def database_goes(method: str, path: str, status: int) -> None:
            if (method, path) == ("PUT", "/rest/api/2/issue/CS-202") and not back.is_set():
                outage.begin()
                threading.Timer(0.5, lambda: (outage.end(), back.set())).start()

        world.jira.after.append(database_goes)
        world.run_clean()
        assert back.wait(10), "the outage never happened"
        cs202 = next(r for r in world.inbox() if r.ticket_key == "CS-202" and r.kind == "ticket.created")
        assert cs202.attempts == 2  # the interrupted attempt, then the retry after its backoff
        _assert_nothing_lost_nothing_twice(world, clean)
