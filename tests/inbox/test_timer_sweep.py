"""Durable timers in the daemon: the leader's sweep turns due timers into inbox events, once,
across restarts, crashes and downtime (virtual clock: nothing sleeps)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.inbox.queue import DONE
from bot.model import TIMER_FIRED
from bot.state import CANCELLED, FIRED, PENDING, StateStore
from bot.store import LIVE
from tests.support.approval_rule import RULE_ID, approval_rules
from tests.support.daemon import encode, jira_headers, lines_of, onboarding_created, onboarding_site

REMINDER = "internal comment: Reminder: the approval of SS-1 is still pending."
CREATED_MS = 1793610000000  # 2026-11-02 07:40 UTC, before the clock's 09:00


@pytest.fixture
def rules():
    return approval_rules(approver_slack="UAPPROVER")


def _created(daemon, key: str = "SS-1") -> None:
    raw = encode(onboarding_created(key, CREATED_MS))
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202
    daemon.workers.drain()


def _timer(daemon, key: str = "SS-1"):
    [timer] = StateStore(daemon.store).timers(LIVE, key)
    return timer


def _fired_rows(daemon) -> list:
    return [r for r in daemon.inbox.rows() if r.kind == TIMER_FIRED]


def test_the_sweep_is_a_leader_job_at_the_configured_interval(make_daemon):
    daemon = make_daemon(onboarding_site([]), worker={"timer_sweep_seconds": 7})
    assert "timer-sweep" in daemon.scheduler.job_ids
    assert daemon.scheduler._jobs["timer-sweep"].trigger_args == {"seconds": 7}
    assert make_daemon(onboarding_site([])).settings.worker.timer_sweep_seconds == 0.25


def test_a_timer_survives_a_restart_during_the_wait_and_fires_once(make_daemon, clock):
    first = make_daemon(onboarding_site(["SS-1"]))
    _created(first)
    timer = _timer(first)
    assert (timer.status, timer.due_at) == (PENDING, clock.now() + timedelta(hours=24))
    clock.advance(timedelta(hours=23))
    assert first.scheduler.run_job_now("timer-sweep") == 0  # not due yet
    tracker = first.handler.trackers["jira"]
    first.store.engine.dispose()  # the process goes away during the wait…

    clock.advance(timedelta(hours=5))  # …and stays down past the due time
    second = make_daemon(onboarding_site(["SS-1"]), tracker=tracker)
    assert second.scheduler.run_job_now("timer-sweep") == 1  # overdue: fires on the first sweep
    assert second.scheduler.run_job_now("timer-sweep") == 0
    second.workers.drain()

    [row] = _fired_rows(second)
    due = "2026-11-03T09:00:00+00:00"
    assert (row.source, row.status, row.dedup_key) == ("timer", DONE, f"timer:{RULE_ID}:SS-1:reminder:{due}")
    timer = _timer(second)
    assert (timer.status, timer.fire_count, timer.fired_at) == (FIRED, 1, clock.now())
    assert lines_of(tracker.changes(), "SS-1").count(REMINDER) == 1
    assert [t.matched for t in second.store.traces("SS-1") if t.event_kind == TIMER_FIRED] == [True]
    assert StateStore(second.store).get(LIVE, RULE_ID, "SS-1").get("reminded") is True


def test_a_crash_between_queueing_and_marking_fires_once(make_daemon, clock, monkeypatch):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    _created(daemon)
    clock.advance(timedelta(days=2))

    def crash(*_args, **_kwargs):
        raise RuntimeError("killed after the event was committed")

    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "mark_fired", crash)
        with pytest.raises(RuntimeError):
            daemon.timers.run_once()
    assert len(_fired_rows(daemon)) == 1 and _timer(daemon).status == PENDING

    assert daemon.timers.run_once() == 1  # the repeat: the inbox already has the event
    assert daemon.timers.run_once() == 0
    daemon.workers.drain()
    assert len(_fired_rows(daemon)) == 1
    assert _timer(daemon).fire_count == 1
    assert lines_of(daemon.handler.trackers["jira"].changes(), "SS-1").count(REMINDER) == 1


def test_a_cancelled_timer_never_fires(make_daemon, clock):
    from bot.model import APPROVAL_GIVEN, Event
    from bot.sources.internal import SLACK, envelope

    daemon = make_daemon(onboarding_site(["SS-1"]))
    _created(daemon)
    approval = Event(id="approval.given:SS-1:UAPPROVER:1", source=SLACK, kind=APPROVAL_GIVEN, ticket_key="SS-1",
                     occurred_at=clock.now(), payload={"via": "button", "slack_user": "UAPPROVER"})
    assert daemon.inbox.add(key="slack:" + approval.id, source=SLACK, event=approval,
                            envelope=envelope(SLACK, approval))
    daemon.workers.drain()
    assert _timer(daemon).status == CANCELLED
    clock.advance(timedelta(days=3))
    assert daemon.timers.run_once() == 0
    assert _fired_rows(daemon) == []
    assert REMINDER not in lines_of(daemon.handler.trackers["jira"].changes(), "SS-1")


def test_many_due_timers_fire_in_batches(make_daemon, clock):
    keys = [f"SS-{n}" for n in range(1, 8)]
    daemon = make_daemon(onboarding_site(keys))
    for key in keys:
        _created(daemon, key)
    daemon.timers.batch = 3
    clock.advance(timedelta(days=1, seconds=1))
    assert daemon.timers.run_once() == 7
    assert sorted(r.ticket_key for r in _fired_rows(daemon)) == sorted(keys)


def test_a_backlog_of_due_timers_is_queued_together_and_fires_once(make_daemon, clock, monkeypatch):
    """From timers.PARALLEL due timers on, a batch's events go to the inbox together, then are marked fired
    in one transaction; a failure while queueing marks nothing, and the repeat fires each timer once."""
    from bot.inbox.queue import Inbox
    from bot.inbox.timers import PARALLEL

    keys = [f"SS-{n}" for n in range(1, PARALLEL + 5)]
    daemon = make_daemon(onboarding_site(keys))
    for key in keys:
        _created(daemon, key)
    clock.advance(timedelta(days=1, seconds=1))
    real_add = Inbox.add_async
    calls = []

    async def failing(self, **kwargs):
        calls.append(kwargs["key"])
        if len(calls) == 3:
            raise RuntimeError("database went away")
        return await real_add(self, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Inbox, "add_async", failing)
        with pytest.raises(RuntimeError):
            daemon.timers.run_once()
    assert all(t.status == PENDING for key in keys for t in StateStore(daemon.store).timers(LIVE, key))

    assert daemon.timers.run_once() == len(keys)  # the events already queued are not queued twice
    assert daemon.timers.run_once() == 0
    daemon.workers.drain()
    assert sorted(r.ticket_key for r in _fired_rows(daemon)) == sorted(keys)
    assert {_timer(daemon, key).fire_count for key in keys} == {1}
    changes = daemon.handler.trackers["jira"].changes()
    assert all(lines_of(changes, key).count(REMINDER.replace("SS-1", key)) == 1 for key in keys)
