"""Crash points: the process dies at an exact point, a new one starts on the same database, and the
EverBright runbook still ends exactly as a clean run ends, with no write made twice.

A crash is a :class:`~tests.faults.world.Crash` (a BaseException: no ``except Exception`` catches
it) raised at a numbered *crash point*: after the fake Jira or Slack has carried a write out (the
answer is lost, the process never learns it happened), before or after a commit of the inbox, an
effect record, the rule state, the timers, a trace. From that moment the dying process writes
nothing more: the traces and effect records it was holding for the event's end are dropped, not
flushed on the way out. The world then restarts the daemon (:meth:`World.restart`: new engine,
adapters with cold caches, the dead process's claims handed back), and Jira goes on retrying
whatever webhook it got no answer for.

``test_a_crash_at_any_point…`` draws the point among all of them (about 150 over the runbook);
the named tests pin the ones the guarantees are about: receive/commit/acknowledge, a tracker
write and its record, a timer's fire.

Every test asserts the fake Jira's final state (and Slack's) equals the clean run's, and that Jira
received the same writes: the write whose answer was lost was not made again.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.inbox.queue import DONE, Inbox
from bot.state import StateStore
from bot.store import LIVE, Store
from tests.faults.world import APPROVER_SLACK, Crash, World, clean_run, diff, recorded_steps


class CrashPlan:
    """Numbers the crash points as the run passes them, and dies at the chosen one."""

    def __init__(self, at: int | None = None, *, matching: str | None = None) -> None:
        self.at = at
        self.matching = matching  # or: die at the first point whose name contains this
        self.passed: list[str] = []
        self.died_at: str | None = None
        self.dead: object = None  # the dead process's Store: it writes nothing more

    def point(self, name: str, store: object = None) -> None:
        self.passed.append(name)
        due = (self.at is not None and len(self.passed) - 1 == self.at) or \
            (self.matching is not None and self.matching in name)
        if due and self.died_at is None:
            self.died_at = name
            self.dead = store
            raise Crash(name)


def _around(cls: type, name: str, before: Callable[..., str | None] | None,
            after: Callable[..., str | None] | None, plan: CrashPlan, world: World,
            patch: pytest.MonkeyPatch) -> None:
    original = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if before is not None and (label := before(*args, **kwargs)):
            plan.point(label, world.daemon.store)
        result = original(self, *args, **kwargs)
        if after is not None and (label := after(*args, **kwargs)):
            plan.point(label, world.daemon.store)
        return result

    patch.setattr(cls, name, wrapper)


@contextmanager
def crash_points(world: World, plan: CrashPlan) -> Iterator[CrashPlan]:
    """Instrument every point where a real process could die between two durable steps.

    An event's traces and effect records wait in memory for its end (:meth:`Store.deferred`), and
    are written when its block exits, also by an exception; a killed process writes nothing, so the
    dying process's store drops what it holds instead of writing it."""
    with pytest.MonkeyPatch.context() as patch:
        def intake(label: str) -> Callable[..., str | None]:
            return lambda **kw: f"{'intake' if kw['source'] == 'jira' else 'sweep'}: {label} {kw['key']}"

        _around(Inbox, "add", intake("before the commit"), intake("committed, not acknowledged"), plan, world, patch)
        _around(Inbox, "complete", lambda claim, **_: f"processed, not marked done {claim.dedup_key}", None,
                plan, world, patch)
        _around(Store, "record_applied", None, lambda **kw: f"record {kw['effect_key']}", plan, world, patch)
        _around(Store, "add_trace", None, lambda **kw: f"trace {kw['event_id']} {kw['ticket_key']}", plan, world,
                patch)
        _around(StateStore, "put", None, lambda scope, rule, key, **kw: f"state {key} -> {kw['stage'] or '='}",
                plan, world, patch)
        _around(StateStore, "start_timer", None, lambda scope, **kw: f"timer armed {kw['ticket_key']}:{kw['name']}",
                plan, world, patch)
        _around(StateStore, "mark_fired", lambda scope, timer, at: f"sweep: queued, not marked fired {timer.timer_id}",
                None, plan, world, patch)
        flush = Store.flush

        def flush_unless_dead(self: Store, *args: Any, **kwargs: Any) -> Any:
            if self is plan.dead:
                pending = self._pending()
                if pending is not None:
                    pending.clear()
                return None
            return flush(self, *args, **kwargs)

        patch.setattr(Store, "flush", flush_unless_dead)

        def vendor(system: str, writes: Callable[[str, str], bool]) -> Callable[[str, str, int], None]:
            def after(method: str, path: str, status: int) -> None:
                if writes(method, path) and 200 <= status < 300:
                    plan.point(f"{system} {method} {path} written, answer lost", world.daemon.store)
            return after

        world.jira.after.append(vendor("jira", lambda method, path: method != "GET"))
        world.slack.after.append(vendor("slack", lambda method, path: path == "chat.postMessage"))
        yield plan


SLACK_POSTED = "slack POST chat.postMessage"
#: The approval-by-separate-ticket plan commits two tickets' rule states: SS-101's approval, then SS-105's
#: "duplicate" (last, so that a retry never finds SS-105 done while SS-101 still waits for its approval).
SS105_DUPLICATE = "state SS-105 -> duplicate"
SS101_APPROVED = "state SS-101 -> approved"


def _run(plan: CrashPlan, tmp: Path) -> World:
    world = World(tmp)
    with world, crash_points(world, plan):
        world.run_clean(survive=True)
    return world


def _probe(tmp: Path) -> list[str]:
    """Every crash point a clean run passes, in order (computed once)."""
    global _POINTS
    if _POINTS is None:
        plan = CrashPlan()
        _run(plan, tmp)
        _POINTS = plan.passed
    return _POINTS


_POINTS: list[str] | None = None


def _died_as_planned(world: World, plan: CrashPlan) -> None:
    """Not an assertion: a crash point that no longer exists must fail loudly, not pass unexercised."""
    if plan.died_at is None or world.crashes != 1:
        raise RuntimeError(f"the process did not die where planned ({plan.at}, {plan.matching!r})")


def _assert_as_clean(world: World, plan: CrashPlan, clean: Any) -> None:
    _died_as_planned(world, plan)
    assert diff(clean.state, world.state()) == [], f"after a crash at {plan.died_at!r}"
    assert Counter(world.writes()) == Counter(clean.writes), f"a write was repeated after {plan.died_at!r}"
    assert {r.status for r in world.inbox()} == {DONE}


# any point ------------------------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_crash_at_any_point_then_a_restart_ends_as_a_clean_run(tmp_path_factory, data):
    clean = clean_run(tmp_path_factory.mktemp("clean"))
    points = _probe(tmp_path_factory.mktemp("probe"))
    assert len(points) > 140  # every write, commit and record of the whole runbook
    index = data.draw(st.sampled_from(range(len(points))), label="point")
    plan = CrashPlan(index)
    with tempfile.TemporaryDirectory() as tmp:
        world = _run(plan, Path(tmp))
        assert plan.died_at == points[index]
        _assert_as_clean(world, plan, clean)


# the named points -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("point", [
    # Between receiving a webhook and committing it: no answer, so Jira sends it again; it is processed once.
    "intake: before the commit jira:everbright-0",
    # Committed, but the process died before the 202 left: the retry is a duplicate, processed once.
    f"intake: committed, not acknowledged {recorded_steps()[8].inbox_key}",  # the approver's comment
    # Between a tracker write and its record: the restarted process finds it true on the ticket.
    "jira PUT /rest/api/2/issue/SS-101 written",  # the intake's one edit of four fields
    "jira POST /rest/api/2/issue/SS-101/watchers written",
    "jira POST /rest/servicedeskapi/organization written",  # created, not yet added to the desk
    "jira POST /rest/api/2/issue/CS-202/transitions written",  # the approval moves CS back to To Do
    # Everything written and recorded, the inbox row not finished: processed again, writes nothing.
    "processed, not marked done jira:everbright-10",
])
def test_a_crash_at_a_named_point_then_a_restart_ends_as_a_clean_run(tmp_path, point):
    clean = clean_run(tmp_path / "clean")
    plan = CrashPlan(matching=point)
    world = _run(plan, tmp_path / "run")
    _assert_as_clean(world, plan, clean)
    key = point.rsplit(" ", 1)[-1]
    if key.startswith("jira:"):
        assert len([r for r in world.inbox() if r.dedup_key == key]) == 1  # received once, processed once
        [step] = [s for s in world.steps if s.inbox_key == key]
        traces = [t for t in world.daemon.store.traces(limit=10_000) if t.event_id == step.event_id]
        assert sum(any(e["outcome"] == "applied" for e in t.effects) for t in traces) <= 1


@pytest.mark.parametrize("point", [
    # The leader's sweep queued the timer's event and died before marking the timer fired.
    "sweep: queued, not marked fired everbright_onboarding:SS-101:approval-reminder",
    # The reminder DM was sent and its record written; the process died before arming the next one.
    "record everbright_onboarding:SS-101:reminder:1",
    # The next reminder was armed; the process died before recording the stage.
    "record everbright_onboarding:SS-101:timer:approval-reminder:2",
    # Everything of the fired event done, its inbox row not finished.
    "processed, not marked done timer:everbright_onboarding:SS-101:approval-reminder",
])
def test_a_crash_during_a_timer_fire_fires_it_once(tmp_path, point):
    clean = clean_run(tmp_path / "clean")
    plan = CrashPlan(matching=point)
    world = _run(plan, tmp_path / "run")
    _assert_as_clean(world, plan, clean)
    assert len(world.slack.dm(APPROVER_SLACK)) == len(clean.state["slack"]["D0DAVID"]) == 1


def test_a_crash_right_after_the_reminder_dm_was_posted_does_not_send_it_twice(tmp_path):
    """chat.postMessage went through, the process died before recording it: the retry of the fired
    timer's event finds the note written before the send, looks in the conversation, and sends nothing."""
    clean = clean_run(tmp_path / "clean")
    points = _probe(tmp_path / "probe")  # the post of the reminder DM: the one its record follows
    at = next(i for i, point in enumerate(points) if SLACK_POSTED in point and "reminder" in points[i + 1])
    plan = CrashPlan(at)
    world = _run(plan, tmp_path / "run")
    assert plan.died_at is not None and SLACK_POSTED in plan.died_at
    _assert_as_clean(world, plan, clean)
    assert len(world.slack.dm(APPROVER_SLACK)) == 1
    posted = sum(len(messages) for messages in world.slack.messages.values())
    assert world.slack.count("chat.postMessage") == posted  # every post is one message: none was sent twice


def test_a_crash_right_after_an_alert_was_posted_does_not_send_it_twice(tmp_path):
    """A rule's alert to the admin channel (no account manager for Helio Homes) is a message like the others: the
    retry finds it in the channel by its marker and posts nothing more."""
    clean = clean_run(tmp_path / "clean")
    points = _probe(tmp_path / "probe")
    at = next(i for i, point in enumerate(points)
              if SLACK_POSTED in point and "account-manager-missing" in points[i + 1])
    plan = CrashPlan(at)
    world = _run(plan, tmp_path / "run")
    _assert_as_clean(world, plan, clean)
    alerts = [m for m in world.slack.in_channel("CADMIN") if "no account manager" in m["text"]]
    assert len(alerts) == 1
    assert world.slack.count("chat.postMessage") == sum(len(m) for m in world.slack.messages.values())


@pytest.mark.parametrize("point", [
    SS105_DUPLICATE,  # everything committed, the inbox row not finished
    "record everbright_onboarding:SS-101:cancel:approval-reminder",  # SS-101's reminder cancelled, not approved
    SS101_APPROVED,  # SS-101 approved, SS-105 not yet marked duplicate
])
def test_a_crash_between_the_two_state_commits_of_a_two_ticket_plan_loses_nothing(tmp_path, point):
    """The executor commits a plan's local effects one by one, not atomically: the separate approval
    ticket's plan records SS-101's approval before SS-105's "duplicate", so a retry after a crash between
    them still finds SS-105 new and completes (or, SS-101 already approved, only links and closes it)."""
    clean = clean_run(tmp_path / "clean")
    plan = CrashPlan(matching=point)
    world = _run(plan, tmp_path / "run")
    _assert_as_clean(world, plan, clean)
    points = plan.passed
    assert points.index(SS101_APPROVED) < points.index(SS105_DUPLICATE)  # the order the fix relies on
    states = StateStore(world.daemon.store)
    assert states.get(LIVE, "everbright_onboarding", "SS-101").stage == "closed"
    assert states.get(LIVE, "everbright_onboarding", "SS-105").stage == "duplicate"
