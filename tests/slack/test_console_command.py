"""``/ticketbot console`` through the real ``POST /slack/events`` route: admins get the link, ephemerally; anyone
else a refusal that is recorded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bot.slack.parsing import Command, Usage, parse_command
from bot.slack.services import ServiceError
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import ADMIN, APPROVER, STRANGER, RecordingServices
from tests.slack.test_commands import ack_text, command


def test_the_command_parses_and_takes_no_arguments() -> None:
    assert parse_command("console") == Command("console")
    assert parse_command("CONSOLE") == Command("console")
    assert isinstance(parse_command("console ann@example.com"), Usage)


def test_an_admin_gets_the_link_ephemerally(http: TestClient, fake_slack: FakeSlack,
                                            services: RecordingServices) -> None:
    services.replies["console_link"] = "Your sign-in link: https://tb.example/console/sign-in/abc"
    response, posts = command(http, fake_slack, "console", ADMIN)
    assert response.status_code == 200 and ack_text(response) == ""
    assert services.calls == [("console_link", ADMIN)]
    assert posts == [{"text": "Your sign-in link: https://tb.example/console/sign-in/abc",
                      "response_type": "ephemeral"}]


def test_someone_who_is_not_an_admin_is_refused_and_it_is_recorded(http: TestClient, fake_slack: FakeSlack,
                                                                   services: RecordingServices) -> None:
    for user in (STRANGER, APPROVER):
        _, posts = command(http, fake_slack, "console", user)
        assert posts == [{"text": "Sorry, only ticketbot admins can sign in to the operations console. "
                                  "I've noted the attempt; ask an admin if it needs doing.",
                          "response_type": "ephemeral"}]
    assert services.called("console_link") == []
    assert services.refusals == [(STRANGER, "console", "not an admin"), (APPROVER, "console", "not an admin")]


def test_what_the_services_refuse_is_said(http: TestClient, fake_slack: FakeSlack,
                                          services: RecordingServices) -> None:
    services.raise_on["console_link"] = ServiceError("x@y is not one of the console's admins")
    _, posts = command(http, fake_slack, "console", ADMIN)
    assert posts[0]["text"] == "x@y is not one of the console's admins"
