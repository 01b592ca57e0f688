"""The inbox on SQLite and PostgreSQL: claims, per-ticket order across replicas, retries, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import VirtualClock
from bot.inbox.queue import DEAD, DONE, PENDING, PROCESSING, Claim, Inbox, owner_id
from bot.migrations import upgrade
from bot.model import TICKET_UPDATED, Event
from bot.state import StateStore, member
from bot.store import LIVE, Store, make_engine

LEASE = 60.0


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


# one runbook instance, several tickets ------------------------------------------------------------------------
@pytest.fixture
def states(db_url):  # noqa: ANN001, ANN201
    """The rule state layer on the replicas' database: what records that a ticket belongs to an instance."""
    store = Store(db_url)
    yield StateStore(store)
    store.engine.dispose()


def _join(states: StateStore, instance: str, ticket: str, *, scope: str = LIVE) -> None:
    """What a rule's ``SetState`` with :func:`bot.state.member` does (EverBright: SS records its CS ticket)."""
    states.put(scope, "everbright_onboarding", instance, stage="configuring",
               data={"cs_key": ticket, **member(ticket, "config ticket")},
               at=datetime(2026, 11, 2, 8, tzinfo=UTC))


def test_one_onboarding_in_order_across_its_tickets_others_in_parallel_across_replicas(replicas, states):
    """The approval comment on SS-1 is being processed when Config's Done on CS-1 arrives: CS-1 waits for it."""
    a, b, _ = replicas
    _join(states, "SS-1", "CS-1")
    _add(a, "SS-1", 1)  # the approval comment
    _add(b, "CS-1", 2)  # Config's Done, right after the bot's "please push live"
    _add(a, "SS-2", 3)  # another onboarding
    first = a.claim(LEASE)
    second = b.claim(LEASE)
    assert (first.ticket_key, second.ticket_key) == ("SS-1", "SS-2")  # CS-1 waits behind SS-1, its instance
    assert a.claim(LEASE) is None and b.claim(LEASE) is None
    assert a.complete(first)
    third = b.claim(LEASE)
    assert (third.ticket_key, third.envelope) == ("CS-1", {"n": 2})
    # Other onboardings, and a replay's records (a scope with no inbox to order), hold nothing back.
    assert b.complete(second)
    _join(states, "SS-2", "CS-2")
    _join(states, "SS-3", "CS-3", scope="replay-1")
    for n, key in enumerate(("CS-2", "SS-3", "CS-3"), start=4):
        _add(a, key, n)
    assert [c.ticket_key for c in (a.claim(LEASE), b.claim(LEASE), a.claim(LEASE))] == ["CS-2", "SS-3", "CS-3"]


def test_the_instance_ticket_waits_behind_an_earlier_event_of_a_member(replicas, states):
    a, b, _ = replicas
    _join(states, "SS-1", "CS-1")
    _add(a, "CS-1", 1)
    _add(a, "SS-1", 2)
    first = a.claim(LEASE)
    assert first.ticket_key == "CS-1" and b.claim(LEASE) is None
    assert a.fail(first, "TrackerError: Jira is down", retry_in=30)  # waiting for its retry, it still holds SS-1
    assert b.claim(LEASE) is None


def test_worker_threads_of_two_replicas_keep_each_onboarding_in_order(replicas, states):
    """Three claimers in each replica, events of six onboardings (SS, CS and an approval ticket each)
    interleaved: no two events of one onboarding are ever in hand together, and each is taken in arrival order."""
    import threading

    a, b, _ = replicas
    for n in range(6):
        _join(states, f"SS-{n}", f"CS-{n}")
        states.put(LIVE, "everbright_onboarding", f"SS-{n}", stage="", at=datetime(2026, 11, 2, 8, tzinfo=UTC),
                   data=member(f"SS-{100 + n}", "approval ticket"))
    arrivals: dict[str, list[int]] = {}
    for i in range(60):
        n = i % 6
        key = (f"SS-{n}", f"CS-{n}", f"SS-{100 + n}")[(i // 6) % 3]
        _add(a if i % 2 else b, key, i)
        arrivals.setdefault(f"SS-{n}", []).append(i)
    lock = threading.Lock()
    in_hand: dict[str, int] = {}
    taken: dict[str, list[int]] = {}
    overlaps: list[str] = []

    def take(inbox: Inbox) -> Claim | None:
        claim = inbox.claim(LEASE)
        if claim is not None:
            instance = f"SS-{claim.envelope['n'] % 6}"
            with lock:
                if in_hand.get(instance):
                    overlaps.append(instance)
                in_hand[instance] = in_hand.get(instance, 0) + 1
                taken.setdefault(instance, []).append(claim.envelope["n"])
        return claim

    def work(inbox: Inbox) -> None:
        """Each claimer holds two events at once when it can (a slow event and the next one)."""
        while True:
            held = [c for c in (take(inbox), take(inbox)) if c is not None]
            if not held:
                with lock:
                    if sum(len(v) for v in taken.values()) == 60:
                        return
                continue
            for claim in held:
                with lock:
                    in_hand[f"SS-{claim.envelope['n'] % 6}"] -= 1
                assert inbox.complete(claim)

    threads = [threading.Thread(target=work, args=(inbox,)) for inbox in (a, b) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert overlaps == [] and taken == arrivals


def test_the_claim_query_reads_no_finished_rows(replicas, states, db_url):
    """Blocked-by-instance is index look-ups: the instance's tickets, then their unfinished rows."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the plan is checked on SQLite (PostgreSQL's depends on its statistics)")
    a, _, _ = replicas
    for query in a._queries:  # noqa: SLF001 - the plan of the claim queries themselves
        sql = str(query.params(now=0.0).compile(a.engine, compile_kwargs={"literal_binds": True}))
        with a.engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        assert not [step for step in plan if step.startswith("SCAN")], plan
        earlier = [step for step in plan if step.startswith("SEARCH inbox_")]
        assert len(earlier) == 2 and all("ix_inbox_ticket_status (ticket_key=? AND status=? AND id<?)" in step
                                          for step in earlier), plan
