"""429/503 storms: Jira or Slack refuses every request for a while; the runbook still ends as a clean run.

A storm is a window of virtual time during which the fake answers every request 429 (with
``Retry-After``) or 503 (with or without it) instead of serving it. Nothing sleeps: every wait the
adapters ask for is recorded and moves the virtual clock, and the fake logs each request with the
virtual moment it arrived, so the tests can tell whether a wait was honoured and how hard the bot
knocked. Between attempts of an event the inbox's own backoff (2 s, doubling; 5 attempts) applies.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from bot.inbox import DONE
from tests.faults.world import (
    APPROVER_SLACK,
    Clean,
    FaultyJira,
    FaultySlack,
    World,
    clean_run,
    diff,
    throttled,
)

#: The daemon's defaults the budgets below are computed from.
JIRA_RETRIES = 4  # TICKETBOT_JIRA__MAX_RETRIES
SLACK_RETRIES = 3  # SlackNotifier.from_settings
ATTEMPTS = 5  # TICKETBOT_WORKER__MAX_ATTEMPTS


def storm(world: World, fake: FaultyJira | FaultySlack, start: datetime, seconds: float, status: int,
          retry_after: float | None) -> None:
    """From ``start``, for ``seconds`` of virtual time, ``fake`` answers every request ``status``."""
    until = start + timedelta(seconds=seconds)

    def refuse(method: str, path: str) -> tuple[int, dict[str, str], str] | None:
        if start <= world.clock.now() < until:
            return throttled(status, retry_after, slack=isinstance(fake, FaultySlack))
        return None

    fake.before.append(refuse)


def refused(fake: FaultyJira | FaultySlack) -> list[tuple[datetime, str, str, int]]:
    return [entry for entry in fake.log if entry[3] in (429, 503)]


def gaps_after_refusals(fake: FaultyJira | FaultySlack) -> list[float]:
    """Seconds between each refused request and the next request."""
    return [(b[0] - a[0]).total_seconds() for a, b in pairwise(fake.log) if a[3] in (429, 503)]


def reminder_due(world: World) -> datetime:
    """When the first approval reminder of SS-101 fires: 24 h after Config put CS-201 on hold."""
    on_hold = next(s for s in world.steps if s.key == "CS-201" and "On Hold" in s.label)
    return on_hold.at + timedelta(hours=24)


def assert_as_clean(world: World, clean: Clean) -> None:
    assert diff(clean.state, world.state()) == []
    assert Counter(world.writes()) == Counter(clean.writes)
    assert {r.status for r in world.inbox()} == {DONE}


@pytest.mark.parametrize(("status", "retry_after", "seconds"), [
    (429, 7, 60),  # rate limited for a minute: the adapter waits 7 s between tries, the inbox between attempts
    (503, 5, 45),  # unavailable, saying when to come back: treated like a 429
    (503, None, 20),  # unavailable, not saying when: the adapter does not retry; the inbox's backoff does
])
def test_a_jira_storm_during_the_intake_is_waited_out(tmp_path, status, retry_after, seconds):
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", max_retries=JIRA_RETRIES) as world:
        start = world.steps[0].at
        storm(world, world.jira, start, seconds, status, retry_after)
        world.run_clean()
        assert_as_clean(world, clean)
        knocks = refused(world.jira)
        waits = [s for who, s in world.slept if who == "jira"]
        ss101 = next(r for r in world.inbox() if r.ticket_key == "SS-101")
        assert ss101.attempts > 1  # the storm outlasted the adapter's retries: the inbox tried again
        if retry_after is None:
            assert waits == []  # no Retry-After: no blind retry of a request that may have gone through
            assert len(knocks) == ss101.attempts - 1  # one request per attempt, then the inbox's backoff
        else:
            assert waits and set(waits) == {retry_after}, "Retry-After is waited out, exactly"
            # Honoured within each attempt: every wait is followed by the next request Retry-After later.
            assert sum(gap >= retry_after for gap in gaps_after_refusals(world.jira)) >= len(waits)
            # No tight loop: at most one try per Retry-After, plus one per inbox attempt.
            assert len(knocks) <= seconds / retry_after + ss101.attempts
            assert len(knocks) <= ss101.attempts * (JIRA_RETRIES + 1)


@pytest.mark.parametrize(("status", "retry_after", "seconds"), [
    (429, 5, 40),  # slack_sdk's handler waits 5 s between tries (up to 3 retries), then the inbox retries
    (503, None, 10),  # Slack down: the send fails, the inbox retries the fired timer's event
])
def test_a_slack_storm_when_the_reminder_fires_sends_it_once_when_it_ends(tmp_path, status, retry_after, seconds):
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run") as world:
        storm(world, world.slack, reminder_due(world), seconds, status, retry_after)
        world.run_clean()
        assert_as_clean(world, clean)
        assert len(world.slack.dm(APPROVER_SLACK)) == 1
        fired = next(r for r in world.inbox() if r.source == "timer")
        assert fired.attempts > 1
        knocks = refused(world.slack)
        waits = [s for who, s in world.slept if who == "slack"]
        if retry_after is None:
            assert waits == [] and len(knocks) == fired.attempts - 1
        else:
            assert waits and set(waits) == {retry_after}
            assert sum(gap >= retry_after for gap in gaps_after_refusals(world.slack)) >= len(waits)
            assert len(knocks) <= seconds / retry_after + fired.attempts
            assert len(knocks) <= fired.attempts * (SLACK_RETRIES + 1)


def test_a_storm_longer_than_every_retry_dead_letters_the_event_and_a_retry_completes_it(tmp_path):
    """Past the adapter's retries and the inbox's attempts the event is set aside, not lost: an admin's
    ``ticketbot dead-letters --retry`` after the storm completes it as a clean run would have."""
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", max_retries=JIRA_RETRIES) as world:
        ss101 = world.steps[0]
        storm(world, world.jira, ss101.at, 3600, 429, 7)
        world.act(ss101)
        world.deliver_until_acknowledged(ss101)
        world.process()
        world.wait_until(ss101.at + timedelta(minutes=30))
        [dead] = world.daemon.inbox.dead_letters()
        assert (dead.ticket_key, dead.attempts) == ("SS-101", ATTEMPTS) and "429" in dead.last_error
        assert len(refused(world.jira)) == ATTEMPTS * (JIRA_RETRIES + 1)  # and not one request more
        assert world.state()["tickets"]["SS-101"] == _untouched(clean, world)
        world.wait_until(ss101.at + timedelta(hours=1, seconds=1))  # the storm is over
        assert world.daemon.inbox.retry_dead(dead.id) == 1
        world.process()
        for step in world.steps[1:]:
            world.wait_until(step.at)
            world.act(step)
            world.deliver_until_acknowledged(step)
            world.process()
        world.wait_until(world.end())
        assert_as_clean(world, clean)


def _untouched(clean: Clean, world: World) -> dict:
    """SS-101 as the person created it: nothing of the bot's on it."""
    ticket = dict(world.state()["tickets"]["SS-101"])
    assert ticket["organizations"] == [] and ticket["watchers"] == [] and ticket["comments"] == []
    assert ticket != clean.state["tickets"]["SS-101"]
    return ticket


@pytest.mark.parametrize("vendor", ["jira", "slack"])
def test_the_next_attempt_after_giving_up_on_a_429_waits_for_its_retry_after(tmp_path, vendor):
    with World(tmp_path / "run", max_retries=JIRA_RETRIES) as world:
        fake = world.jira if vendor == "jira" else world.slack
        start = world.steps[0].at if vendor == "jira" else reminder_due(world)
        storm(world, fake, start, 60, 429, 7)
        world.run_clean()
        knocks = refused(fake)
        if len(knocks) < 2 or {r.status for r in world.inbox()} != {DONE}:
            raise RuntimeError("the storm did not play out as staged")
        gaps = gaps_after_refusals(fake)
        assert min(gaps) >= 7, f"asked again {min(gaps):g} s after 'Retry-After: 7'"
