"""Slack in the daemon, end to end: signed requests to the daemon's own ``POST /slack/events``,
bolt, the real BotServices, the inbox, the workers; SlackMessage effects and alerts through the
daemon's notifier to a stateful fake Slack (spec-checked when ../shared is there)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.daemon.console import mount_console
from bot.daemon.slack import InboxDeliveries, mount_slack
from bot.model import APPROVAL_GIVEN
from bot.ops.audit import AuditLog
from bot.settings import Settings
from bot.slack.app import socket_mode_handler
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.slack.sender import build_notifier
from bot.sources.internal import decode
from bot.state import StateStore
from bot.store import LIVE
from tests.console.conftest import ADMIN as CONSOLE_ADMIN
from tests.console.conftest import HEADER
from tests.fakes.fake_slack import FakeSlack, SlackSpec
from tests.fakes.fake_socket_mode import FakeSocketMode, serving
from tests.slack.helpers import (
    ADMIN,
    APPROVER,
    SIGNING_SECRET,
    STRANGER,
    WEB_API_SPEC,
    InlineExecutor,
    block_action_payload,
    contract,
    form,
    installed_fake_slack,
    interaction_body,
    sign,
    slash_command_fields,
)
from tests.support.approval_rule import RULE_ID, approval_rules
from tests.support.daemon import encode, jira_headers, lines_of, onboarding_created, onboarding_site

CREATED_MS = 1793610000000


@pytest.fixture
def rules():
    return approval_rules(approver_email="approver@acme.test")


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with installed_fake_slack(SlackSpec.load(WEB_API_SPEC) if WEB_API_SPEC.exists() else None, stranger=True) as fake:
        yield fake


def _slack(fake: FakeSlack, **more: Any) -> dict[str, Any]:
    return {"bot_token": fake.token, "signing_secret": SIGNING_SECRET, "admins": [ADMIN], "api_url": fake.base_url,
            "admin_channel": "CADMIN", **more}


@pytest.fixture
def daemon(make_daemon, fake_slack):
    """A daemon with Slack configured and mounted (bolt's listeners run inline), SS-1 created and processed."""
    daemon = make_daemon(onboarding_site(["SS-1"]), slack=_slack(fake_slack))
    daemon.slack = mount_slack(daemon, listener_executor=InlineExecutor())
    raw = encode(onboarding_created("SS-1", CREATED_MS))
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202
    daemon.workers.drain()
    return daemon


def command(http: TestClient, fake: FakeSlack, text: str, user: str,
            secret: str = SIGNING_SECRET) -> tuple[int, list[dict[str, Any]]]:
    response_url = fake.new_response_url()
    body = form(slash_command_fields(text, user, response_url))
    response = http.post("/slack/events", content=body, headers=sign(body, secret))
    return response.status_code, fake.response_posts[response_url]


def click(http: TestClient, fake: FakeSlack, message: dict[str, Any], user: str,
          action: str = APPROVE_ACTION) -> list[dict[str, Any]]:
    response_url = fake.new_response_url()
    body = interaction_body(block_action_payload(action, "SS-1", user, response_url, message=message))
    assert http.post("/slack/events", content=body, headers=sign(body)).status_code == 200
    return fake.response_posts[response_url]


def approvals(daemon) -> list:
    return [r for r in daemon.inbox.rows() if r.kind == APPROVAL_GIVEN]


# the notifier ------------------------------------------------------------------------------------------------
def test_rule_messages_are_sent_through_the_daemons_notifier(daemon, fake_slack):
    [message] = fake_slack.dm(APPROVER)
    assert message["text"] == "Please approve SS-1"
    [buttons] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in buttons["elements"]] == [
        ("ticketbot_approve", "SS-1"), ("ticketbot_reject", "SS-1")]
    where = f"ts {message['ts']} in {fake_slack.dm_channel(APPROVER)}"  # the DM chat.postMessage answered
    [sent] = [a for a in daemon.store.applied("SS-1") if a.kind == "slack_message"]
    assert (sent.outcome, sent.detail) == ("applied", where)
    [effect] = [e for t in daemon.store.traces("SS-1") for e in t.effects if e["kind"] == "slack_message"]
    assert (effect["outcome"], effect["detail"], effect["url"]) == (
        "applied", where, f"https://fake.slack.test/archives/DAPPROVER/p{message['ts'].replace('.', '')}")


def test_the_consoles_ticket_page_links_to_the_message_sent(make_daemon, fake_slack):
    """From the worker to the page: the permalink the notifier made (auth.test's workspace url) is a link on the
    ticket's timeline and in the instance's JSON."""
    fake_slack.workspace_url = "https://acme-support.slack.test/"
    daemon = make_daemon(onboarding_site(["SS-1"]), slack=_slack(fake_slack),
                         console={"admins": CONSOLE_ADMIN, "trusted_header": HEADER, "trusted_proxies": "127.0.0.1"})
    assert mount_console(daemon) is not None
    raw = encode(onboarding_created("SS-1", CREATED_MS))
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202
    daemon.workers.drain()

    [message] = fake_slack.dm(APPROVER)
    permalink = f"https://acme-support.slack.test/archives/DAPPROVER/p{message['ts'].replace('.', '')}"
    http = TestClient(daemon.app, client=("127.0.0.1", 40000))
    page = http.get("/console/ticket/SS-1", headers={HEADER: CONSOLE_ADMIN})
    link = f'<a class="ext" href="{permalink}" rel="noopener noreferrer" target="_blank">Slack message ↗</a>'
    assert page.status_code == 200 and link in page.text
    effects = [e for event in http.get("/api/v1/instances/SS-1", headers={HEADER: CONSOLE_ADMIN}).json()["timeline"]
               for r in event["rules"] for e in r["effects"]]
    assert [(e["detail"], e["url"]) for e in effects if e["url"]] == [(f"ts {message['ts']} in DAPPROVER", permalink)]
    assert fake_slack.count("auth.test") == 1


def test_the_guards_alerts_go_to_the_admin_channel(daemon, fake_slack):
    http = TestClient(daemon.app)
    status, [reply] = command(http, fake_slack, f"pause {RULE_ID}", ADMIN)
    assert status == 200 and reply["text"].startswith(f"Rule {RULE_ID} paused")
    [alert] = fake_slack.in_channel("CADMIN")
    assert alert["text"] == (f"ticketbot paused rule {RULE_ID}: paused from Slack by {ADMIN}. "
                             f"Resume with `ticketbot rules resume {RULE_ID}`.")
    assert build_notifier(Settings()) is None  # no Slack: the guards log alerts instead


# commands ------------------------------------------------------------------------------------------------------
def test_approve_from_the_approver_puts_an_approval_in_the_inbox(daemon, fake_slack):
    status, [reply] = command(TestClient(daemon.app), fake_slack, "approve ss-1", APPROVER)
    assert status == 200
    assert reply["text"] == "Recorded your approval of SS-1; ticketbot acts on it in a moment."
    [row] = approvals(daemon)
    assert (row.source, row.ticket_key, row.status) == ("slack", "SS-1", "pending")
    assert decode(row.envelope).payload == {"via": "command", "slack_user": APPROVER, "email": "approver@acme.test",
                                            "role": "approver"}
    daemon.workers.drain()
    assert StateStore(daemon.store).get(LIVE, RULE_ID, "SS-1").stage == "approved"
    assert lines_of(daemon.handler.trackers["jira"].changes(), "SS-1")[-1] == "internal comment: Approved in Slack."


def test_approve_from_someone_else_is_refused_politely_recorded_and_queues_nothing(daemon, fake_slack):
    status, [reply] = command(TestClient(daemon.app), fake_slack, "approve SS-1", STRANGER)
    assert status == 200
    assert (
        reply["text"] == "Sorry, only the approver of SS-1 or a ticketbot admin can approve it. I've noted the attempt."
    )
    assert approvals(daemon) == []
    [entry] = AuditLog(daemon.store, daemon.clock).entries(outcome="refused")
    assert (entry.actor, entry.command, entry.detail) == (STRANGER, "approve SS-1", "not an approver of SS-1")


def test_the_approve_button_clicked_twice_makes_one_event(daemon, fake_slack):
    http = TestClient(daemon.app)
    [message] = fake_slack.dm(APPROVER)
    [first] = click(http, fake_slack, message, APPROVER)
    [second] = click(http, fake_slack, message, APPROVER)  # the old message, clicked again before it was replaced
    assert first["replace_original"] is True and "Recorded your approval of SS-1" in first["text"]
    assert "was already recorded; nothing new was queued" in second["text"]
    [row] = approvals(daemon)
    assert decode(row.envelope).payload["via"] == "button"
    assert [e.outcome for e in AuditLog(daemon.store, daemon.clock).entries(actor=APPROVER)] == ["done", "duplicate"]


def test_a_reject_clicked_after_the_approval_says_so_and_leaves_the_message(daemon, fake_slack):
    http = TestClient(daemon.app)
    [message] = fake_slack.dm(APPROVER)
    status, [approved] = command(http, fake_slack, "approve SS-1", APPROVER)
    response_url = fake_slack.new_response_url()
    body = interaction_body(block_action_payload(REJECT_ACTION, "SS-1", APPROVER, response_url, message=message))
    assert http.post("/slack/events", content=body, headers=sign(body)).status_code == 200
    [queued] = fake_slack.response_posts[response_url]  # before ticketbot acted on the approval
    assert queued == {"text": f"An approval by {APPROVER} of SS-1 is already queued; ticketbot acts on it in a moment, "
                              "so your rejection was not recorded.", "response_type": "ephemeral",
                      "replace_original": False}
    daemon.workers.drain()
    [reply] = click(http, fake_slack, message, APPROVER, action=REJECT_ACTION)  # after it
    assert reply == {"text": f"SS-1 was already approved by {APPROVER} on 2026-11-02 09:00 UTC; your rejection was "
                             "not recorded.", "response_type": "ephemeral", "replace_original": False}
    [again] = click(http, fake_slack, message, APPROVER)
    assert again["text"].startswith("SS-1 was already approved") and again["replace_original"] is False
    assert [r.kind for r in daemon.inbox.rows() if r.source == "slack"] == [APPROVAL_GIVEN]
    assert StateStore(daemon.store).get(LIVE, RULE_ID, "SS-1").stage == "approved"


def test_status_answers_from_the_bots_records(daemon, fake_slack):
    status, [reply] = command(TestClient(daemon.app), fake_slack, "status SS-1", STRANGER)
    assert status == 200
    assert reply["text"] == daemon.slack.services.status("SS-1").replace(">", "&gt;")  # what the CLI prints, escaped
    assert "stage *awaiting_approval* since 2026-11-02 09:00 UTC" in reply["text"]
    assert "`approval_test` reminder: due 2026-11-03 09:00 UTC (in 1d 0h 0m)" in reply["text"]
    status, [timers] = command(TestClient(daemon.app), fake_slack, "timers", STRANGER)
    assert timers["text"] == ("Pending timers (1):\n"
                              "• SS-1 `approval_test` reminder: due 2026-11-03 09:00 UTC (in 1d 0h 0m)")


# signatures ------------------------------------------------------------------------------------------------------
def test_requests_signed_as_the_official_vector_says_are_the_only_ones_accepted(make_daemon, fake_slack):
    vector = json.loads(contract("signing_test_vector_slash_command.json").read_text(encoding="utf-8"))
    secret = vector["signing_secret"]
    assert sign(vector["raw_body"], secret, int(vector["headers"]["X-Slack-Request-Timestamp"]))[
        "X-Slack-Signature"] == vector["expected_signature"]  # our signer is the documented scheme
    daemon = make_daemon(onboarding_site(["SS-1"]), slack=_slack(fake_slack, signing_secret=secret))
    mount_slack(daemon, listener_executor=InlineExecutor())
    raw = encode(onboarding_created("SS-1", CREATED_MS))
    daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()})
    daemon.workers.drain()
    http = TestClient(daemon.app)

    assert http.post("/slack/events", content=vector["raw_body"], headers=vector["headers"]).status_code == 401
    status, _ = command(http, fake_slack, "approve SS-1", APPROVER, secret=SIGNING_SECRET)  # someone else's secret
    assert status == 401 and approvals(daemon) == []
    status, [reply] = command(http, fake_slack, "approve SS-1", APPROVER, secret=secret)
    assert status == 200 and reply["text"].startswith("Recorded your approval")
    assert len(approvals(daemon)) == 1


# without Slack, and Socket Mode ------------------------------------------------------------------------------------
def test_without_slack_the_daemon_runs_as_before(make_daemon):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    assert daemon.notifier is None and mount_slack(daemon) is None
    with TestClient(daemon.app) as http:
        assert http.get("/healthz").status_code == 200
        assert http.post("/slack/events", content=b"x").status_code == 404
        raw = encode(onboarding_created("SS-1", CREATED_MS))
        assert http.post("/webhooks/jira", content=raw, headers=jira_headers(raw)).status_code == 202
    daemon.workers.drain()
    [skipped] = [o for o in daemon.store.traces("SS-1")[-1].effects if o["kind"] == "slack_message"]
    assert skipped["outcome"] == "skipped"
    assert StateStore(daemon.store).get(LIVE, RULE_ID, "SS-1").stage == "awaiting_approval"


class FakeSocket:
    """bolt's SocketModeHandler as the daemon uses it: the first connection attempt fails."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token
        self.attempts = 0
        self.closed = threading.Event()

    def connect(self) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionError("wss://wss-primary.slack.com unreachable")

    def close(self) -> None:
        self.closed.set()


def test_socket_mode_connects_in_the_background_and_closes_at_shutdown(make_daemon, fake_slack, monkeypatch):
    import bot.daemon.slack

    monkeypatch.setattr(bot.daemon.slack, "CONNECT_RETRY", 0.01)
    made: list[FakeSocket] = []
    daemon = make_daemon(onboarding_site([]), slack=_slack(fake_slack, app_token="xapp-1-A0-123-abc"))
    mount = mount_slack(daemon, socket_factory=lambda app, token: made.append(FakeSocket(app, token)) or made[-1])
    [socket] = made
    assert socket.token == "xapp-1-A0-123-abc" and socket.app is mount.app
    assert socket.attempts == 0  # nothing before the daemon starts
    with TestClient(daemon.app):
        assert mount.connected.wait(10)
        assert socket.attempts == 2  # retried after the failed attempt
    assert socket.closed.is_set() and not mount.connected.is_set()


def test_socket_mode_needs_an_app_level_token(make_daemon, fake_slack):
    from bot.settings import ConfigurationError

    daemon = make_daemon(onboarding_site([]), slack=_slack(fake_slack, app_token="xoxb-not-an-app-token"))
    with pytest.raises(ConfigurationError, match="TICKETBOT_SLACK__APP_TOKEN"):
        mount_slack(daemon)


def test_ticketbot_run_mounts_slack_and_never_logs_its_secrets(tmp_path):
    """The real ``ticketbot run`` (worker process included) with Slack configured and unreachable."""
    import signal

    from tests.support.daemon import SECRET, DaemonProcess, free_port, write_site

    write_site(tmp_path / "site.yaml", onboarding_site(["SS-1"]))
    token, app_secret = "xoxb-never-logged-0123456789", "signing-secret-never-logged"
    env = {"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
           "TICKETBOT_JIRA__WEBHOOK_SECRET": SECRET, "TICKETBOT_JIRA__POLL_INTERVAL": "0",
           "TICKETBOT_TRACKER": f"memory:{tmp_path / 'site.yaml'}:{tmp_path / 'site-state.sqlite3'}",
           "TICKETBOT_SLACK__BOT_TOKEN": token, "TICKETBOT_SLACK__SIGNING_SECRET": app_secret,
           "TICKETBOT_SLACK__API_URL": f"http://127.0.0.1:{free_port()}/api/", "TICKETBOT_LOG_LEVEL": "DEBUG"}
    daemon = DaemonProcess(env, tmp_path / "daemon.log").start()
    try:
        import httpx

        body = form(slash_command_fields("status SS-1", STRANGER, "https://hooks.slack.test/commands/1"))
        unsigned = httpx.post(f"{daemon.url}/slack/events", content=body, timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert unsigned.status_code == 401
        signed = httpx.post(f"{daemon.url}/slack/events", content=body, headers=sign(body, app_secret), timeout=10)
        assert signed.status_code != 404  # the route is there and verified the request
        assert daemon.health()["scheduler"]["jobs"] == ["inbox-sweep", "timer-sweep"]
        assert daemon.kill(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    finally:
        daemon.stop()
    log = (tmp_path / "daemon.log").read_text()
    assert "Slack: /slack/events mounted" in log
    assert token not in log and app_secret not in log


# Socket Mode against a server speaking Slack's protocol over a real websocket ----------------------------------------
@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with serving(fake_slack) as server:
        yield server


def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Wait (bounded) for something another thread does."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_socket_mode_reconnects_with_backoff_and_tells_the_admin_channel_how_long_slack_was_down(
        make_daemon, fake_slack, socket_server, clock, monkeypatch, caplog):
    import bot.daemon.slack

    monkeypatch.setattr(bot.daemon.slack, "CONNECT_RETRY", 0.01)
    caplog.set_level(logging.DEBUG)  # everything is logged, and the app token in none of it
    daemon = make_daemon(onboarding_site([]), slack=_slack(fake_slack, app_token=fake_slack.app_token))
    mount = mount_slack(daemon, listener_executor=InlineExecutor())
    with TestClient(daemon.app):
        socket_server.wait_connections(1)
        assert mount.connected.wait(10)
        fake_slack.unreachable, socket_server.reachable = True, False  # Slack goes away, connection and Web API
        socket_server.drop(0)
        until(lambda: len(mount.retry_delays) >= 2, "two failed attempts")
        fake_slack.unreachable = False  # the Web API is back, its websockets still close at once
        until(lambda: len(mount.retry_delays) >= 4, "four failed attempts")
        assert not mount.connected.is_set()
        clock.advance(timedelta(minutes=7, seconds=30))
        socket_server.reachable = True
        socket_server.wait_connections(2)
        until(lambda: bool(fake_slack.in_channel("CADMIN")), "the outage report")
        assert mount.connected.is_set()
    assert mount.retry_delays[:4] == [0.01, 0.02, 0.04, 0.08]  # backing off
    [report] = fake_slack.in_channel("CADMIN")
    assert report["text"].startswith("ticketbot could not reach Slack over Socket Mode for 7m 30s "
                                     "(since 2026-11-02 09:00 UTC); connected again.")
    assert socket_server.wait_closed(1).close_code == 1000  # closed properly at shutdown
    assert fake_slack.app_token not in caplog.text
    assert all(fake_slack.app_token not in str(r.args) for r in caplog.records)


def test_a_decision_redelivered_over_socket_mode_queues_one_approval_and_one_answer(daemon, fake_slack, socket_server):
    """Slack delivers the click again with the same envelope_id when the ack was late: acted on once."""
    daemon.settings.slack.app_token = None
    socket = socket_mode_handler(
        daemon.slack.app, fake_slack.app_token, deliveries=InboxDeliveries(daemon.inbox, daemon.clock)
    )
    socket.connect()
    try:
        socket_server.wait_connections(1)  # connect() can return before the server has taken the connection
        [message] = fake_slack.dm(APPROVER)
        url = fake_slack.new_response_url()
        click = block_action_payload(APPROVE_ACTION, "SS-1", APPROVER, url, message=message)
        envelope = socket_server.send("interactive", click)
        socket_server.wait_ack(envelope)
        socket_server.send("interactive", click, envelope_id=envelope)
        socket_server.wait_ack(envelope, count=2)
    finally:
        socket.close()
    assert len(approvals(daemon)) == 1
    [answer] = fake_slack.response_posts[url]
    assert "Recorded your approval of SS-1" in answer["text"]
