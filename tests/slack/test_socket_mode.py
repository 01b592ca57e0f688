"""Socket Mode against a server speaking Slack's protocol over a real websocket (tests/fakes/fake_socket_mode.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack import socket_mode_handler
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_socket_mode import FakeSocketMode
from tests.slack.helpers import APPROVER, slash_command_fields


@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    fake_slack.socket_url = server.new_url
    yield server
    server.stop()


def test_an_envelope_right_after_a_refresh_is_acked_within_3_seconds_and_the_old_socket_is_closed(
        socket_server, bolt_app, fake_slack):
    handler = socket_mode_handler(bolt_app, fake_slack.app_token)
    handler.connect()
    try:
        socket_server.wait_connections(1)
        socket_server.refresh()
        socket_server.wait_connections(2)
        envelope = socket_server.send("slash_commands", slash_command_fields("help", APPROVER, fake_slack.new_response_url()),
                                      accepts_response_payload=True)
        ack = socket_server.wait_ack(envelope)
        print("ack seconds", ack.seconds)
        assert ack.connection == 1 and ack.seconds < 3
        assert "ticketbot" in ack.payload["text"]
        first = socket_server.wait_closed(0)
        assert (first.close_code, first.dropped) == (1000, False)
    finally:
        handler.close()
