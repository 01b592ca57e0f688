"""429/503 storms: Jira or Slack refuses every request for a while; the runbook still ends as a clean run.

A storm is a window of virtual time during which the fake answers every request 429 (with
``Retry-After``) or 503 (with or without it) instead of serving it. Nothing sleeps: every wait the
adapters ask for is recorded and moves the virtual clock, and the fake logs each request with the
virtual moment it arrived, so the tests can tell whether a wait was honoured and how hard the bot
knocked. A 429 or 503 is the system unavailable, not the event wrong: past the adapter's retries the
inbox holds the event without spending its attempts (see bot.inbox.outage), retrying it after 2 s, doubling, at
most every 60 s and never sooner than the Retry-After it was given, for as long as the storm lasts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from bot.inbox.queue import DONE
from tests.faults.world import (
    APPROVER_SLACK,
    Clean,
    FaultyJira,
    FaultySlack,
    World,
    clean_run,
    diff,
    operational_alerts,
    pop_operational_alerts,
    throttled,
)

#: The daemon's defaults the budgets below are computed from.
JIRA_RETRIES = 4  # TICKETBOT_JIRA__MAX_RETRIES
SLACK_RETRIES = 3  # SlackNotifier.from_settings


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
        assert ss101.attempts == 1  # the storm outlasted the adapter's retries: held, its attempts not spent
        if retry_after is None:
            assert waits == []  # no Retry-After: no blind retry of a request that may have gone through
            # One request per try, the inbox's backoff between: 2, 4, 8 s …
            assert len(knocks) > 1 and min(gaps_after_refusals(world.jira)) >= 2
        else:
            assert len(knocks) > JIRA_RETRIES + 1  # the inbox tried again
            assert waits and set(waits) == {retry_after}, "Retry-After is waited out, exactly"
            # Honoured within each attempt and between them: no request sooner than Retry-After after a refusal.
            assert min(gaps_after_refusals(world.jira)) >= retry_after
            assert len(knocks) <= seconds / retry_after + 1


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
        assert fired.attempts == 1  # held while Slack refused, its attempts not spent
        knocks = refused(world.slack)
        waits = [s for who, s in world.slept if who == "slack"]
        if retry_after is None:
            assert waits == [] and len(knocks) > 1 and min(gaps_after_refusals(world.slack)) >= 2
        else:
            assert len(knocks) > SLACK_RETRIES + 1
            assert waits and set(waits) == {retry_after}
            assert min(gaps_after_refusals(world.slack)) >= retry_after
            assert len(knocks) <= seconds / retry_after + 1


def test_a_storm_longer_than_every_retry_holds_the_event_until_it_is_over(tmp_path):
    """An hour of 429s outlasts the adapter's retries and the inbox's attempts: the event is held (not
    dead-lettered, attempts not spent) and completes as a clean run would once the storm is over; the
    admin channel hears of it past 3 minutes and when it is over."""
    clean = clean_run(tmp_path / "clean")
    with World(tmp_path / "run", max_retries=JIRA_RETRIES) as world:
        ss101 = world.steps[0]
        storm(world, world.jira, ss101.at, 3600, 429, 7)
        world.act(ss101)
        world.deliver_until_acknowledged(ss101)
        world.process()
        world.wait_until(ss101.at + timedelta(minutes=30))
        [row] = world.inbox()
        assert (row.status, row.attempts) == ("pending", 0) and "429" in row.last_error
        assert world.daemon.inbox.dead_letters() == []
        assert world.state()["tickets"]["SS-101"] == _untouched(clean, world)
        for step in world.steps[1:]:
            world.wait_until(step.at)
            world.act(step)
            world.deliver_until_acknowledged(step)
            world.process()
        world.wait_until(world.end())
        alerts = operational_alerts(world)
        assert [a.split(" for ")[0].split(" after ")[0] for a in alerts] == [
            "jira has been unavailable", "jira is back"]
        pop_operational_alerts(world)
        assert_as_clean(world, clean)
        # No tight loop: never sooner than Retry-After after a refusal.
        assert min(gaps_after_refusals(world.jira)) >= 7
        assert len(refused(world.jira)) <= 3600 / 7 + 1


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
