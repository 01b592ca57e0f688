"""Outages (bot.inbox.outage): the breaker on its own, Slack's transient failures, and the workers holding the
events of a system that is down without spending their attempts, in order, one probe at a time; Zendesk
down for ten minutes end to end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import responses

from bot.config import RuleBlock
from bot.daemon.core import Daemon
from bot.engine import BoundRule
from bot.inbox.outage import Outages
from bot.inbox.queue import DONE, PENDING
from bot.settings import SlackSettings
from bot.slack.notifier import NotifyError
from bot.slack.sender import SlackNotifier
from bot.sources.signatures import zendesk_signature
from bot.trackers.base import Unavailable
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.zendesk.adapter import ZendeskTracker
from tests.daemon.test_zendesk_daemon import BOT, TOKEN, FollowUpPartnerOnboarding, zendesk_site
from tests.fakes.fake_slack import FakeSlack, urllib_via_requests
from tests.fakes.fake_zendesk import FakeZendesk
from tests.support.daemon import (
    ZENDESK_SECRET,
    daemon_settings,
    encode,
    jira_headers,
    onboarding_created,
    onboarding_site,
    onboarding_updated,
)


# the breaker ---------------------------------------------------------------------------------------------
def test_one_probe_at_a_time_backing_off_to_the_cap_then_the_held_events_are_hurried(clock):
    alerts: list[str] = []
    hurried: list[list[int]] = []
    outages = Outages(clock, alert=alerts.append, base=2, cap=60, alert_after=180)
    outages.on_back = hurried.append
    assert outages.wait("jira", 1) is None  # up: go ahead
    assert outages.failed("jira", 1) == pytest.approx(2.001)  # after the next probe time, by a hair
    assert outages.wait("jira", 2) == 2  # down: held without calling Jira until the probe
    clock.advance(timedelta(seconds=2))
    assert outages.wait("jira", 2) is None  # event 2 probes …
    assert outages.wait("jira", 1) == 2  # … and event 1 waits for its result
    waits = []
    for _ in range(8):  # every probe fails: 4, 8, 16, 32, 60, 60 … s apart
        waits.append(outages.failed("jira", 2))
        clock.advance(timedelta(seconds=waits[-1]))
        assert outages.wait("jira", 2) is None
    assert [round(w) for w in waits] == [4, 8, 16, 32, 60, 60, 60, 60]
    [down] = alerts  # once, when it had lasted past three minutes
    assert down.startswith("jira has been unavailable for") and "2 event(s) held" in down
    outages.reached(["jira"])
    assert hurried == [[1, 2]] and outages.down() == {}
    assert alerts[1].startswith("jira is back after") and "2 held event(s) now being processed" in alerts[1]


def test_a_short_outage_is_not_alerted(clock):
    alerts: list[str] = []
    outages = Outages(clock, alert=alerts.append, alert_after=180)
    outages.failed("zendesk", 1)
    clock.advance(timedelta(seconds=170))
    outages.failed("zendesk", 1)
    outages.reached(["zendesk"])
    assert alerts == []


def test_held_past_the_bound_expires_with_one_alert(clock):
    alerts: list[str] = []
    outages = Outages(clock, alert=alerts.append, alert_after=10_000, max_seconds=3600)
    outages.failed("jira", 1)
    outages.failed("jira", 2)
    clock.advance(timedelta(seconds=3601))
    assert outages.expired("jira", 1) and outages.expired("jira", 2)
    [gave_up] = alerts
    assert "dead-lettered" in gave_up and "`ticketbot dead-letters --all`" in gave_up


# Slack's failures, sorted ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "error", "transient"), [
    (503, "service_unavailable", True),
    (500, "fatal_error", True),
    (200, "fatal_error", True),
    (200, "internal_error", True),
    (200, "channel_not_found", False),
    (200, "not_in_channel", False),
    (404, "unknown_method", False),
])
def test_slack_says_whether_a_failure_is_slack_being_down(status, error, transient):
    fake = FakeSlack()
    fake.add_channel("CGENERAL")
    notifier = SlackNotifier.from_settings(SlackSettings(bot_token=fake.token, api_url=fake.base_url),
                                           sleep=lambda _: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, urllib_via_requests():
        mock.add(responses.POST, f"{fake.base_url}chat.postMessage", status=status,
                 json={"ok": False, "error": error})
        with pytest.raises(NotifyError) as caught:
            notifier._call("chat.postMessage", notifier.client.chat_postMessage, channel="CGENERAL", text="hi")
    assert caught.value.transient is transient


def test_slack_unreachable_is_transient():
    notifier = SlackNotifier.from_settings(SlackSettings(bot_token="xoxb-x", api_url="https://slack.invalid/api/"),
                                           sleep=lambda _: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False), urllib_via_requests(), \
            pytest.raises(NotifyError) as caught:
        notifier._call("chat.postMessage", notifier.client.chat_postMessage, channel="C1", text="hi")
    assert caught.value.transient


# the workers ---------------------------------------------------------------------------------------------
class DownTracker(SharedMemoryTracker):
    """Jira answering 503 to everything while ``down``; counts the reads it was asked for."""

    down = False
    reads = 0

    def get_ticket(self, key: str, *, with_people: bool = False):  # noqa: ANN201
        self.reads += 1
        if self.down:
            raise Unavailable(f"Jira GET issue {key} failed (HTTP 503): Service unavailable.")
        return super().get_ticket(key, with_people=with_people)


def _receive(daemon: Daemon, body: dict) -> None:
    raw = encode(body)
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202


def _run_until(daemon: Daemon, clock, seconds: float) -> None:  # noqa: ANN001
    """Let virtual time run ``seconds``, the workers taking every event when it is due."""
    end = clock.now() + timedelta(seconds=seconds)
    while True:
        daemon.workers.drain()
        due = [r.next_attempt_at for r in daemon.inbox.rows(status=PENDING)]
        upcoming = [d for d in due if d > clock.now().timestamp()]
        if not upcoming or min(upcoming) > end.timestamp():
            break
        clock.advance(timedelta(seconds=min(upcoming) - clock.now().timestamp()))
    clock.set(end)
    daemon.workers.drain()


def test_events_meeting_jira_down_are_held_in_order_without_spending_attempts_one_probe_at_a_time(
        make_daemon, tmp_path, clock):
    site = onboarding_site(["SS-1", "SS-2", "SS-3"])
    tracker = DownTracker(site, tmp_path / "down.sqlite3", now=clock.now)
    alerts: list[str] = []
    daemon = make_daemon(site, tracker=tracker, alert=alerts.append, worker={"max_attempts": 2})
    tracker.down = True
    _receive(daemon, onboarding_created("SS-1", 1793610840000))
    _receive(daemon, onboarding_updated("SS-1", 1793610900000))
    _receive(daemon, onboarding_created("SS-2", 1793610840000))
    _receive(daemon, onboarding_created("SS-3", 1793610840000))
    daemon.workers.drain()
    assert tracker.reads == 1  # SS-1 met Jira down; SS-2 and SS-3 were held without asking Jira
    rows = {(r.ticket_key, r.kind): (r.status, r.attempts) for r in daemon.inbox.rows()}
    assert rows == {("SS-1", "ticket.created"): (PENDING, 0), ("SS-1", "ticket.updated"): (PENDING, 0),
                    ("SS-2", "ticket.created"): (PENDING, 0), ("SS-3", "ticket.created"): (PENDING, 0)}
    _run_until(daemon, clock, 600)  # ten minutes down: far more than max_attempts tries
    assert daemon.inbox.dead_letters() == []
    assert 8 <= tracker.reads <= 6 + 600 / 60 + 1  # one probe at a time: 2, 4 … 60 s apart
    assert [a.split(" for ")[0] for a in alerts] == ["jira has been unavailable"]
    assert 'ticketbot_events_held_total{source="jira",system="jira"}' in daemon.metrics.render().decode()
    tracker.down = False
    _run_until(daemon, clock, 61)
    rows = daemon.inbox.rows()
    assert {(r.status, r.attempts) for r in rows} == {(DONE, 1)}
    ss1 = [r for r in rows if r.ticket_key == "SS-1"]
    assert ss1[0].finished_at <= ss1[1].finished_at  # the created before the update
    assert alerts[1].startswith("jira is back after 10 min") and "3 held event(s)" in alerts[1]


# Zendesk down for ten minutes ------------------------------------------------------------------------------
class DownZendesk(FakeZendesk):
    """The fake Zendesk, answering 503 while ``down``."""

    down = False

    def _respond(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.down:
            self.calls.append((request.method.upper(), "503"))
            return self._json(503, {"error": "ServiceUnavailable", "description": "Maintenance"})
        return super()._respond(request)


def test_zendesk_down_for_ten_minutes_holds_its_events_and_applies_each_once_after(tmp_path, clock):
    alerts: list[str] = []
    with DownZendesk(zendesk_site(), groups=["SS"]) as zendesk:
        jira = SharedMemoryTracker(onboarding_site([]), tmp_path / "jira.sqlite3", now=clock.now)
        daemon = Daemon(daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"),
                        rules=[BoundRule(FollowUpPartnerOnboarding(), RuleBlock())], tracker=jira,
                        zendesk_tracker=ZendeskTracker(zendesk.url, BOT, TOKEN, now=clock.now, sleep=lambda _: None),
                        clock=clock, alert=alerts.append)
        try:
            first = zendesk.id_for("SUP-1")
            sup = next(g["id"] for g in zendesk.groups.values() if g["name"] == "SUP")
            second = zendesk.add_ticket("Onboarding of Sunpeak, second site", group_id=sup)
            zendesk.down = True
            for ticket in (first, second):
                raw, stamp = encode({"ticketbot": "zendesk-trigger/1", "event": "ticket.created",
                                     "ticket": {"id": str(ticket)}}), clock.now().isoformat()
                headers = {"x-zendesk-webhook-signature": zendesk_signature(ZENDESK_SECRET, raw, stamp),
                           "x-zendesk-webhook-signature-timestamp": stamp}
                assert daemon.intake.receive("zendesk", raw, headers).status == 202
            _run_until(daemon, clock, 600)
            assert daemon.inbox.dead_letters() == [] and zendesk.writes() == []
            refused = [c for c in zendesk.calls if c[1] == "503"]
            # One probe at a time, at most every 60 s; each try is 4 requests (zenpy's session retries a 503 3 times).
            assert len(refused) <= 4 * (6 + 600 / 60 + 1)
            zendesk.down = False
            _run_until(daemon, clock, 61)
            assert {(r.status, r.attempts) for r in daemon.inbox.rows()} == {(DONE, 1)}
        finally:
            daemon.store.engine.dispose()
        for ticket in (first, second):
            stored = zendesk.ticket(ticket)
            assert zendesk.user_id("david.ellis@goeverbright.com") in stored["follower_ids"]
            assert len([c for c in stored["comments"] if "David follows" in c["body"]]) == 1
    assert [a.split(" for ")[0].split(" after ")[0] for a in alerts] == [
        "zendesk has been unavailable", "zendesk is back"]
