"""Socket Mode against a server speaking Slack's protocol over a real websocket (tests/fakes/fake_socket_mode.py):
bolt's app, ticketbot's Socket Mode connection, the real Web API client on the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from slack_bolt import App

from bot.clock import VirtualClock
from bot.daemon.slack import InboxDeliveries
from bot.inbox.queue import IGNORED, Inbox
from bot.settings import Settings
from bot.slack.app import build_slack_app, socket_mode_handler
from bot.slack.blocks import APPROVE_ACTION
from bot.slack.deliveries import Deliveries
from bot.slack.socket_mode import SocketMode
from bot.store import Store
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_socket_mode import FakeSocketMode, serving
from tests.slack.helpers import APPROVER, InlineExecutor, RecordingServices, block_action_payload, slash_command_fields


@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with serving(fake_slack) as server:
        yield server


@contextmanager
def connected(app: App, fake_slack: FakeSlack, server: FakeSocketMode,
              deliveries: Deliveries | None = None) -> Iterator[SocketMode]:
    """ticketbot's Socket Mode connection, open (the server has said hello) until the block ends."""
    handler = socket_mode_handler(app, fake_slack.app_token, deliveries=deliveries)
    before = len(server.connections)
    handler.connect()
    try:
        server.wait_connections(before + 1)
        yield handler
    finally:
        handler.close()


def test_an_envelope_right_after_a_refresh_is_acked_within_3_seconds_and_the_old_socket_is_closed(
        socket_server: FakeSocketMode, bolt_app: App, fake_slack: FakeSlack):
    """Slack refreshes connections every few hours; its ack limit is 3 s (the built-in client took 3.03-3.09 s)."""
    with connected(bolt_app, fake_slack, socket_server):
        socket_server.refresh()
        socket_server.wait_connections(2)
        envelope = socket_server.send(
            "slash_commands",
            slash_command_fields("help", APPROVER, fake_slack.new_response_url()),
            accepts_response_payload=True,
        )
        ack = socket_server.wait_ack(envelope)
        assert ack.connection == 1 and ack.seconds < 3
        assert ack.payload is not None and ack.payload["text"].startswith("ticketbot commands")
        first = socket_server.wait_closed(0)
        assert (first.close_code, first.dropped) == (1000, False)  # a close frame, not a dropped socket
    assert socket_server.wait_closed(1).close_code == 1000  # and at shutdown
    assert fake_slack.count("apps.connections.open") == 2


def test_the_same_envelope_twice_is_acted_on_once_and_answered_once(socket_server: FakeSocketMode, bolt_app: App,
                                                                    fake_slack: FakeSlack, services: RecordingServices):
    url = fake_slack.new_response_url()
    click = block_action_payload(APPROVE_ACTION, "ONB-12", APPROVER, url)
    with connected(bolt_app, fake_slack, socket_server):
        envelope = socket_server.send("interactive", click)
        socket_server.wait_ack(envelope)
        socket_server.send("interactive", click, envelope_id=envelope)  # as Slack redelivers when an ack is late
        socket_server.wait_ack(envelope, count=2)  # acked again, so Slack stops
    assert services.called("approve") == [("approve", "ONB-12", APPROVER, "button")]
    [answer] = fake_slack.response_posts[url]
    assert answer["replace_original"] is True


def test_a_redelivery_after_a_restart_is_not_acted_on_again(socket_server: FakeSocketMode, fake_slack: FakeSlack,
                                                            slack_settings: Settings, services: RecordingServices,
                                                            tmp_path: Path):
    """The deliveries acted on are kept in the inbox: a second life of the bot on the same database knows them."""
    url = fake_slack.new_response_url()
    click = block_action_payload(APPROVE_ACTION, "ONB-12", APPROVER, url)
    store, clock = Store(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"), VirtualClock()
    envelope = "env-before-the-restart"
    for life in (1, 2):
        deliveries = InboxDeliveries(Inbox(store.engine, clock), clock)
        app = build_slack_app(slack_settings, services, listener_executor=InlineExecutor(), deliveries=deliveries)
        with connected(app, fake_slack, socket_server, deliveries):
            socket_server.send("interactive", click, envelope_id=envelope)
            socket_server.wait_ack(envelope, count=life)
    assert len(services.called("approve")) == 1 and len(fake_slack.response_posts[url]) == 1
    records = Inbox(store.engine, clock).rows()
    assert sorted(r.dedup_key for r in records) == [
        f"slack:action:{APPROVER}:{APPROVE_ACTION}:{click['actions'][0]['action_ts']}", f"slack:envelope:{envelope}"]
    assert {r.status for r in records} == {IGNORED}  # records, never processed as events
