"""The inbox on SQLite and PostgreSQL: claims, per-ticket order across replicas, retries, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import VirtualClock
from bot.inbox import DEAD, DONE, PENDING, PROCESSING, Inbox, owner_id
from bot.migrations import upgrade
from bot.model import TICKET_UPDATED, Event
from bot.store import make_engine

LEASE = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):  # noqa: ANN001, ANN201
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inbox.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def replicas(db_url):  # noqa: ANN001, ANN201
    """Two inboxes on one database, as two replicas (the second on another host), sharing a virtual clock."""
    upgrade(db_url)
    engine = make_engine(db_url)
    clock = VirtualClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    yield Inbox(engine, clock), Inbox(engine, clock, owner="other-host:1:0000"), clock
    engine.dispose()


def _add(inbox: Inbox, key: str, n: int) -> None:
    event = Event(id=f"{key}#{n}", source="jira", kind=TICKET_UPDATED, ticket_key=key,
                  occurred_at=datetime(2026, 11, 2, 8, n, tzinfo=UTC))
    assert inbox.add(key=f"jira:{event.id}", source="jira", event=event, envelope={"n": n})


def test_redelivery_is_a_no_op(replicas):
    a, _, _ = replicas
    _add(a, "SS-1", 1)
    event = Event(id="SS-1#1", source="jira", kind=TICKET_UPDATED, ticket_key="SS-1",
                  occurred_at=datetime(2026, 11, 2, 8, 1, tzinfo=UTC))
    assert not a.add(key="jira:SS-1#1", source="jira", event=event, envelope={"n": 1})
    assert len(a.rows()) == 1


def test_one_ticket_in_order_others_in_parallel_across_replicas(replicas):
    a, b, _ = replicas
    _add(a, "SS-1", 1)
    _add(b, "SS-1", 2)
    _add(a, "SS-2", 1)
    first = a.claim(LEASE)
    second = b.claim(LEASE)
    assert (first.ticket_key, first.envelope) == ("SS-1", {"n": 1})
    assert (second.ticket_key, second.envelope) == ("SS-2", {"n": 1})  # SS-1#2 waits behind SS-1#1
    assert a.claim(LEASE) is None and b.claim(LEASE) is None
    assert b.complete(second)
    assert a.claim(LEASE) is None
    assert a.complete(first)
    third = b.claim(LEASE)
    assert (third.ticket_key, third.envelope) == ("SS-1", {"n": 2})


def test_a_claim_is_taken_once_even_when_both_replicas_saw_it(replicas):
    a, b, clock = replicas
    _add(a, "SS-1", 1)
    [(row_id, version)] = a._candidates(clock.now().timestamp())  # noqa: SLF001 - the race, step by step
    assert b._take(row_id, version, clock.now().timestamp(), LEASE) is not None  # noqa: SLF001
    assert a._take(row_id, version, clock.now().timestamp(), LEASE) is None  # noqa: SLF001


def test_a_failed_event_is_retried_later_and_holds_back_its_ticket_only(replicas):
    a, b, clock = replicas
    _add(a, "SS-1", 1)
    _add(a, "SS-1", 2)
    _add(a, "SS-2", 1)
    claim = a.claim(LEASE)
    assert a.fail(claim, "TrackerError: Jira is down", retry_in=30)
    other = b.claim(LEASE)
    assert other.ticket_key == "SS-2"  # SS-1#1 waits for its retry, SS-1#2 waits behind it
    assert b.claim(LEASE) is None
    clock.advance(timedelta(seconds=31))
    again = b.claim(LEASE)
    assert (again.envelope, again.attempts) == ({"n": 1}, 2)
    assert b.fail(again, "still down", retry_in=None)  # last attempt: dead letter
    assert [r.envelope for r in a.dead_letters()] == [{"n": 1}]
    after = a.claim(LEASE)
    assert after.envelope == {"n": 2}  # a dead letter no longer blocks its ticket
    assert a.complete(after)
    assert a.retry_dead() == 1
    revived = a.claim(LEASE)
    assert (revived.envelope, revived.attempts) == ({"n": 1}, 1)


def test_an_expired_lease_is_claimable_by_another_replica(replicas):
    a, b, clock = replicas
    _add(a, "SS-1", 1)
    lost = a.claim(LEASE)
    assert b.claim(LEASE) is None
    clock.advance(timedelta(seconds=LEASE + 1))
    taken = b.claim(LEASE)
    assert taken.id == lost.id
    assert not a.complete(lost)  # the first owner's late result is refused
    assert b.complete(taken)
    assert [r.status for r in a.rows()] == [DONE]


def test_a_renewed_lease_is_not_taken_over(replicas):
    a, b, clock = replicas
    _add(a, "SS-1", 1)
    held = a.claim(LEASE)
    clock.advance(timedelta(seconds=LEASE - 1))
    a.renew([held], LEASE)
    clock.advance(timedelta(seconds=2))
    assert b.claim(LEASE) is None


def test_claims_of_a_dead_local_process_are_reclaimed_at_once(replicas):
    a, _, _ = replicas
    _add(a, "SS-1", 1)
    ghost = Inbox(a.engine, a.clock, owner=f"{owner_id().rsplit(':', 2)[0]}:999999:deadbeef")
    assert ghost.claim(LEASE) is not None
    assert [r.status for r in a.rows()] == [PROCESSING]
    assert a.reclaim_orphans() == 1
    assert [r.status for r in a.rows()] == [PENDING]
    assert a.claim(LEASE) is not None


def test_live_processes_and_other_hosts_keep_their_claims(replicas):
    a, b, _ = replicas
    _add(a, "SS-1", 1)
    _add(a, "SS-2", 1)
    assert b.claim(LEASE) is not None  # another host: only its lease can tell
    assert Inbox(a.engine, a.clock).claim(LEASE) is not None  # this very process: alive
    assert a.reclaim_orphans() == 0


def test_dead_letters_and_depth(replicas):
    a, _, _ = replicas
    _add(a, "SS-1", 1)
    _add(a, "SS-2", 1)
    assert a.depth() == 2
    a.fail(a.claim(LEASE), "boom", retry_in=None)
    assert a.depth() == 1
    assert [(r.status, r.last_error) for r in a.dead_letters()] == [(DEAD, "boom")]


def test_a_write_whose_caller_went_away_does_not_stop_the_writer(replicas):
    """An async caller whose event loop closed before the commit answered: the writer thread lives on."""
    import asyncio

    a, _, _ = replicas
    event = Event(id="SS-9#1", source="jira", kind=TICKET_UPDATED, ticket_key="SS-9",
                  occurred_at=datetime(2026, 11, 2, 8, 1, tzinfo=UTC))
    loop = asyncio.new_event_loop()
    pending = loop.create_task(a.add_async(key="jira:SS-9#1", source="jira", event=event, envelope={}))
    loop.run_until_complete(asyncio.sleep(0))  # the write is queued; the loop then closes unanswered
    pending.cancel()
    loop.close()
    a._writer._thread.join(timeout=0.5)  # had it died, join would return at once with the thread gone
    assert a._writer._thread.is_alive()
    _add(a, "SS-9", 2)  # and it still commits the next write
    assert {r.ticket_key for r in a.rows()} == {"SS-9"} and len(a.rows()) == 2
