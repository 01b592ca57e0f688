"""Zendesk in the daemon: its webhooks are processed with the Zendesk tracker, Jira's with Jira's, and the
leader polls Zendesk's incremental export, keeping the cursor in the database. Zendesk is the stateful
FakeZendesk (checked against Zendesk's spec where ../shared is present); Jira is the in-memory site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import RuleBlock
from bot.daemon.build import build_daemon
from bot.daemon.core import Daemon
from bot.effects import AddWatcher, InternalComment
from bot.engine import BoundRule, Evaluation, Rule, RuleContext
from bot.inbox.poller import ZENDESK_SOURCE, DaemonState, state_names
from bot.inbox.queue import DONE
from bot.model import TICKET_CREATED, Event, Ticket
from bot.sources.signatures import zendesk_signature
from bot.trackers.site import Site, SiteTicket, SiteUser
from bot.trackers.zendesk.adapter import ZendeskTracker
from tests.fakes.fake_zendesk import FakeZendesk
from tests.support import daemon as harness

BOT, TOKEN = "ticketbot@goeverbright.com", "zendesk-api-token"
DAVID = "david.ellis@goeverbright.com"


def zendesk_site() -> Site:
    """A Zendesk account with a support queue (group SUP) and the onboarding queue (group SS)."""
    return Site(bot_account=SiteUser(account_id="500", email=BOT, display_name="ticketbot"),
                users=[SiteUser(account_id="501", email=DAVID, display_name="David Ellis")],
                tickets=[SiteTicket(key="SUP-1", summary="Partner onboarding for Helio", reporter=DAVID,
                                    status="open")])


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk(zendesk_site(), groups=["SS"]) as fake:
        yield fake
        assert fake.violations == [], "calls outside Zendesk's Support API spec"
        assert fake.unimplemented == []


def _zendesk_post(url: str, body: dict, now: datetime) -> httpx.Response:
    raw, stamp = harness.encode(body), now.isoformat()
    return httpx.post(f"{url}/webhooks/zendesk", content=raw, headers={
        "X-Zendesk-Webhook-Signature": zendesk_signature(harness.ZENDESK_SECRET, raw, stamp),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp})


def _trigger(ticket_id: int, event: str = "ticket.created") -> dict:
    return {"ticketbot": "zendesk-trigger/1", "event": event, "ticket": {"id": str(ticket_id)}}


def _settings_with_zendesk(tmp_path: Path, zendesk: FakeZendesk, **zendesk_settings: object):
    site = harness.onboarding_site(["SS-1"])
    harness.write_site(tmp_path / "site.yaml", site)
    return harness.daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
                           tracker=f"memory:{tmp_path / 'site.yaml'}:{tmp_path / 'site-state.sqlite3'}",
                           zendesk={"url": zendesk.url, "email": BOT, "api_token": TOKEN, **zendesk_settings})


# wiring from the settings ------------------------------------------------------------------------------
def test_each_event_is_processed_with_the_tracker_of_its_source(tmp_path, zendesk):
    daemon = build_daemon(_settings_with_zendesk(tmp_path, zendesk))
    try:
        assert isinstance(daemon.handler.trackers["zendesk"], ZendeskTracker)
        assert "zendesk-poll" in daemon.scheduler.job_ids
        ticket = zendesk.id_for("SUP-1")
        jira_body = harness.encode(harness.onboarding_created("SS-1", 1793610840000))
        with harness.live_server(daemon.app, lifespan="off") as url:
            assert _zendesk_post(url, _trigger(ticket), datetime.now(UTC)).json()["status"] == "queued"
            assert httpx.post(f"{url}/webhooks/jira", content=jira_body,
                              headers=harness.jira_headers(jira_body)).json()["status"] == "queued"
        assert daemon.workers.drain() == 2
        assert {(r.source, r.status) for r in daemon.inbox.rows()} == {("zendesk", DONE), ("jira", DONE)}
        # The Zendesk event was read from Zendesk; Jira's onboarding form was handled on Jira, and only there.
        assert ("GET", f"/api/v2/tickets/{ticket}.json") in zendesk.calls
        assert zendesk.writes() == []
        jira_log = daemon.handler.trackers["jira"].changes()
        assert sorted(line for line in harness.lines_of(jira_log, "SS-1") if "created" not in line) == sorted(
            harness.INTAKE_LINES
        )
        assert not harness.lines_of(jira_log, str(ticket))
        metrics = daemon.metrics.render().decode()
        assert 'ticketbot_api_calls_total{system="zendesk"}' in metrics
        assert 'ticketbot_api_calls_total{system="zendesk"} 0.0' not in metrics
    finally:
        daemon.store.engine.dispose()


def test_a_partial_zendesk_configuration_names_the_missing_key(tmp_path, zendesk):
    from bot.settings import ConfigurationError

    settings = _settings_with_zendesk(tmp_path, zendesk)
    settings.zendesk.api_token = None
    with pytest.raises(ConfigurationError, match="TICKETBOT_ZENDESK__API_TOKEN"):
        build_daemon(settings)


def test_the_leader_polls_zendesk_and_a_restarted_one_goes_on_from_the_stored_cursor(tmp_path, zendesk):
    group = next(g["id"] for g in zendesk.groups.values() if g["name"] == "SS")  # a queue a rule watches
    now = datetime.now(UTC)
    first = zendesk.add_ticket("Installer question", updated_at=now - timedelta(minutes=3), group_id=group)
    zendesk.add_ticket("Not a watched queue", updated_at=now - timedelta(minutes=3))
    settings = _settings_with_zendesk(tmp_path, zendesk)
    daemon = build_daemon(settings)
    try:
        result = daemon.scheduler.run_job_now("zendesk-poll")
        assert (result.error, result.queued) == ("", 1)
        [row] = daemon.inbox.rows()
        assert (row.source, row.ticket_key) == (ZENDESK_SOURCE, str(first))
        assert daemon.workers.drain() == 1
        assert daemon.inbox.rows()[0].status == DONE
        assert ("GET", f"/api/v2/tickets/{first}.json") in zendesk.calls  # processed with the Zendesk tracker
        cursor = DaemonState(daemon.store.engine, daemon.clock).get(state_names("zendesk")[2])
        assert cursor
        assert daemon.poller.last_poll() is None  # Jira's poll state is its own
    finally:
        daemon.store.engine.dispose()

    second = zendesk.add_ticket("Another question", updated_at=datetime.now(UTC) - timedelta(minutes=2),
                                group_id=group)
    restarted = build_daemon(settings)  # a new leader, same database
    try:
        assert restarted.scheduler.run_job_now("zendesk-poll").queued == 1
        exports = [r for r in zendesk.requests if r.path.startswith("/api/v2/incremental/")]
        assert exports[-1].query.get("cursor") == [cursor] and "start_time" not in exports[-1].query
        assert [r.ticket_key for r in restarted.inbox.rows()] == [str(first), str(second)]
    finally:
        restarted.store.engine.dispose()


# rule effects land in Zendesk ------------------------------------------------------------------------------
class FollowUpPartnerOnboarding(Rule):
    """A tiny runbook for the test: a new SUP ticket about onboarding gets David as a follower and a note."""

    id = "test_follow_up"
    title = "test: follow up partner onboarding"
    Config = RuleBlock

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        if event.kind != TICKET_CREATED or ticket.project != "SUP" or "onboarding" not in ticket.summary.lower():
            return Evaluation.skip([], "not a new onboarding ticket in SUP")
        key = ticket.key
        return Evaluation(effects=[AddWatcher(rule_id=self.id, ticket_key=key, step="watcher", email=DAVID),
                                   InternalComment(rule_id=self.id, ticket_key=key, step="note",
                                                   body="David follows partner onboardings.")])

    def watched_projects(self, config: RuleBlock) -> set[str]:
        return {"SUP"}


def test_a_zendesk_webhook_through_http_makes_its_effects_in_zendesk_once(tmp_path, zendesk, clock):
    from bot.trackers.shared_memory import SharedMemoryTracker

    settings = harness.daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}")
    jira = SharedMemoryTracker(harness.onboarding_site([]), tmp_path / "jira.sqlite3", now=clock.now)
    daemon = Daemon(settings, rules=[BoundRule(FollowUpPartnerOnboarding(), RuleBlock())], tracker=jira,
                    zendesk_tracker=ZendeskTracker(zendesk.url, BOT, TOKEN, now=clock.now), clock=clock)
    ticket = zendesk.id_for("SUP-1")
    try:
        with harness.live_server(daemon.app) as url:  # lifespan on: the workers run
            for _ in range(3):  # Zendesk retries a webhook it thinks failed
                assert _zendesk_post(url, _trigger(ticket), clock.now()).status_code == 202
            harness.wait_until(lambda: daemon.inbox.depth() == 0)
    finally:
        daemon.store.engine.dispose()
    stored = zendesk.ticket(ticket)
    assert zendesk.user_id(DAVID) in stored["follower_ids"]
    notes = [c for c in stored["comments"] if "David follows" in c["body"]]
    assert len(notes) == 1 and notes[0]["public"] is False
    assert jira.changes() == []


def test_zendesk_events_caused_by_the_bots_own_zendesk_account_are_ignored(tmp_path, zendesk, clock):
    """The bot's notes and follower changes come back as Zendesk webhooks: they must not start a loop.
    Its Zendesk account (TICKETBOT_ZENDESK__EMAIL) is looked up once; a person's event still runs."""
    from bot.trackers.shared_memory import SharedMemoryTracker

    settings = harness.daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
                               zendesk={"url": zendesk.url, "email": BOT, "api_token": TOKEN})
    jira = SharedMemoryTracker(harness.onboarding_site([]), tmp_path / "jira.sqlite3", now=clock.now)
    daemon = Daemon(settings, rules=[BoundRule(FollowUpPartnerOnboarding(), RuleBlock())], tracker=jira,
                    zendesk_tracker=ZendeskTracker(zendesk.url, BOT, TOKEN, now=clock.now), clock=clock)
    ticket = zendesk.id_for("SUP-1")
    by_bot = {**_trigger(ticket), "actor": {"email": BOT.upper(), "name": "ticketbot"}}
    by_david = {**_trigger(ticket), "actor": {"email": DAVID, "name": "David Ellis"}, "n": 2}
    try:
        with harness.live_server(daemon.app, lifespan="off") as url:
            assert _zendesk_post(url, by_bot, clock.now()).status_code == 202
        assert daemon.workers.drain() == 1
        [row] = daemon.inbox.rows()
        assert (row.status, row.note) == (DONE, "event caused by ticketbot's own account")
        assert zendesk.writes() == []
        with harness.live_server(daemon.app, lifespan="off") as url:
            assert _zendesk_post(url, by_david, clock.now()).status_code == 202
        assert daemon.workers.drain() == 1
    finally:
        daemon.store.engine.dispose()
    assert zendesk.user_id(DAVID) in zendesk.ticket(ticket)["follower_ids"]


# API calls and 429s by system on /metrics ----------------------------------------------------------------
def test_metrics_report_api_calls_and_429s_per_system(tmp_path, zendesk, clock):
    from prometheus_client.parser import text_string_to_metric_families

    from bot.model import User
    from bot.trackers.jira.adapter import JiraTracker
    from tests.fakes.fake_jira import FakeJira

    site = harness.onboarding_site(["SS-1"])
    slept: list[float] = []
    with FakeJira(site) as fake_jira:  # its own `responses` mock: the Zendesk fake is not reachable inside
        jira = JiraTracker(fake_jira.base_url, BOT, TOKEN, max_retries=2, sleep=slept.append)
        zendesk_tracker = ZendeskTracker(zendesk.url, BOT, TOKEN, now=clock.now)
        bot = site.bot_account
        daemon = Daemon(
            harness.daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"),
            rules=_configured_rules(),
            tracker=jira,
            zendesk_tracker=zendesk_tracker,
            clock=clock,
            catalog=jira.field_catalog,
            bot_user=lambda: User(account_id=bot.account_id, email=bot.email),
        )
        body = harness.encode(harness.onboarding_created("SS-1", 1793610840000))
        fake_jira.throttle(1, status=429, retry_after="3")
        try:
            with harness.live_server(daemon.app) as url:
                assert (
                    httpx.post(f"{url}/webhooks/jira", content=body, headers=harness.jira_headers(body)).status_code
                    == 202
                )
                harness.wait_until(lambda: daemon.inbox.depth() == 0)
                text = httpx.get(f"{url}/metrics").text
            assert [r.status for r in daemon.inbox.rows()] == [DONE]  # the intake went through, after the 429
            assert fake_jira.ticket("SS-1").watchers and fake_jira.violations == []
        finally:
            daemon.store.engine.dispose()
    samples = {(s.name, s.labels.get("system")): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert slept == [3.0]
    assert samples[("ticketbot_api_rate_limited_total", "jira")] == 1.0
    assert samples[("ticketbot_api_calls_total", "jira")] == sum(jira.calls.values()) == len(fake_jira.calls) > 1
    assert samples[("ticketbot_api_rate_limited_total", "zendesk")] == 0.0
    assert samples[("ticketbot_api_calls_total", "zendesk")] == 0.0  # no Zendesk event came


def _configured_rules():
    from rules import load_rules
    from tests.support.daemon import CONFIG

    return load_rules(CONFIG)
