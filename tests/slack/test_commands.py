"""``/ticketbot`` through the real ``POST /slack/events`` route: signed requests, bolt, the ack,
the lazy listener answering on the response_url (run inline by the test executor)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.settings import Settings
from bot.slack.app import build_slack_app
from bot.slack.router import slack_router
from bot.slack.services import ServiceError
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import ADMIN, APPROVER, STRANGER, RecordingServices, form, sign, slash_command_fields


def command(http: TestClient, fake: FakeSlack, text: str, user: str = STRANGER) -> tuple[Any, list[dict]]:
    """POST a signed /ticketbot command; return the HTTP response and what went to its response_url."""
    response_url = fake.new_response_url()
    body = form(slash_command_fields(text, user, response_url))
    response = http.post("/slack/events", content=body, headers=sign(body))
    return response, fake.response_posts[response_url]


def ack_text(response: Any) -> str:
    return response.json()["text"] if response.content else ""


# every subcommand: (text, user, the service call expected, whether the ack says "working on it")
EVERY_SUBCOMMAND = [
    ("status ONB-12", STRANGER, ("status", "ONB-12"), True),
    ("why onb-12", STRANGER, ("why", "ONB-12"), True),
    ("dry-run 4711", STRANGER, ("dry_run", "4711"), True),
    ("approve ONB-12", APPROVER, ("approve", "ONB-12", APPROVER, "command"), False),
    ("reject ONB-12 wrong   customer", APPROVER, ("reject", "ONB-12", APPROVER, "wrong customer", "command"), False),
    ("reject 4711", ADMIN, ("reject", "4711", ADMIN, "", "command"), False),
    ("comms ONB-12 go-live moves a week", STRANGER, ("comms", "ONB-12", STRANGER, "go-live moves a week"), False),
    ("timers", STRANGER, ("timers", None), True),
    ("timers ONB-12", STRANGER, ("timers", "ONB-12"), True),
    ("rules", STRANGER, ("rules",), False),
    ("pause nudge_approver", ADMIN, ("pause", "nudge_approver", ADMIN), False),
    ("RESUME nudge_approver", ADMIN, ("resume", "nudge_approver", ADMIN), False),
]


@pytest.mark.parametrize(("text", "user", "expected", "slow"), EVERY_SUBCOMMAND,
                         ids=[case[0] for case in EVERY_SUBCOMMAND])
def test_every_subcommand_is_acked_then_answered_on_the_response_url(
        http: TestClient, fake_slack: FakeSlack, services: RecordingServices,
        text: str, user: str, expected: tuple, slow: bool) -> None:
    response, posts = command(http, fake_slack, text, user)

    assert response.status_code == 200
    assert ack_text(response).startswith("Working on") == slow
    assert services.calls == [expected]
    assert posts == [{"text": services.replies.get(expected[0], f"{expected[0]} done: "
                                                  + " ".join(str(a) for a in expected[1:])),
                      "response_type": "ephemeral"}]
    assert services.refusals == []


def test_bolt_checks_the_bot_token_once_on_the_first_request(http: TestClient, fake_slack: FakeSlack) -> None:
    command(http, fake_slack, "rules")
    command(http, fake_slack, "rules")
    assert fake_slack.count("auth.test") == 1


@pytest.mark.parametrize("text", ["", "help", "HELP"])
def test_help_is_the_ack_itself_and_touches_nothing(http: TestClient, fake_slack: FakeSlack,
                                                    services: RecordingServices, text: str) -> None:
    response, posts = command(http, fake_slack, text)
    assert response.json()["response_type"] == "ephemeral"
    assert "/ticketbot dry-run KEY" in ack_text(response)
    assert (services.calls, posts) == ([], [])


def test_an_unknown_subcommand_gets_help_without_echoing_it(http: TestClient, fake_slack: FakeSlack,
                                                           services: RecordingServices) -> None:
    response, posts = command(http, fake_slack, "frobnicate <!channel>")
    text = ack_text(response)
    assert text.startswith("I don't know that command.") and "ticketbot commands:" in text
    assert "frobnicate" not in text and "channel>" not in text
    assert (services.calls, posts) == ([], [])


@pytest.mark.parametrize(("text", "expected"), [
    ("status", "`/ticketbot status KEY`: needs exactly one ticket key."),
    ("status ONB-12 ONB-13", "`/ticketbot status KEY`: needs exactly one ticket key."),
    ("comms ONB-12", "`/ticketbot comms KEY reason`: needs a reason."),
    ("pause Nudge-Approver",
     "`/ticketbot pause RULE`: `Nudge-Approver` is not a rule id (lower-case letters, digits, _)."),
    ("rules all", "`/ticketbot rules`: takes no arguments."),
])
def test_malformed_commands_get_their_usage_in_the_ack(http: TestClient, fake_slack: FakeSlack,
                                                      services: RecordingServices, text: str, expected: str) -> None:
    response, posts = command(http, fake_slack, text)
    assert ack_text(response) == expected
    assert (services.calls, posts) == ([], [])


def test_an_unauthorized_approve_is_refused_politely_and_recorded(http: TestClient, fake_slack: FakeSlack,
                                                                 services: RecordingServices) -> None:
    response, posts = command(http, fake_slack, "approve ONB-12", STRANGER)

    assert response.status_code == 200
    assert services.called("approve") == []
    assert services.refusals == [(STRANGER, "approve ONB-12", "not an approver of ONB-12")]
    assert posts == [{"text": "Sorry, only the approver of ONB-12 or a ticketbot admin can approve it. "
                              "I've noted the attempt.", "response_type": "ephemeral"}]


def test_a_ticket_without_approver_can_only_be_decided_by_an_admin(http: TestClient, fake_slack: FakeSlack,
                                                                  services: RecordingServices) -> None:
    command(http, fake_slack, "reject ONB-99 nope", APPROVER)
    command(http, fake_slack, "reject ONB-99 nope", ADMIN)
    assert services.refusals == [(APPROVER, "reject ONB-99", "not an approver of ONB-99")]
    assert services.called("reject") == [("reject", "ONB-99", ADMIN, "nope", "command")]


@pytest.mark.parametrize("text", ["pause nudge_approver", "resume nudge_approver"])
def test_pause_and_resume_are_for_admins_only(http: TestClient, fake_slack: FakeSlack,
                                             services: RecordingServices, text: str) -> None:
    verb = text.split()[0]
    _, posts = command(http, fake_slack, text, APPROVER)

    assert services.called(verb) == []
    assert services.refusals == [(APPROVER, text, "not an admin")]
    assert posts[0]["text"].startswith(f"Sorry, only ticketbot admins can {verb} rules.")


def test_services_can_name_more_admins(http: TestClient, fake_slack: FakeSlack, services: RecordingServices) -> None:
    services.extra_admins.add("UOPSLEAD")
    command(http, fake_slack, "pause nudge_approver", "UOPSLEAD")
    assert services.called("pause") == [("pause", "nudge_approver", "UOPSLEAD")]


def test_typed_text_and_service_replies_cannot_inject_mentions_or_links(
        http: TestClient, fake_slack: FakeSlack, services: RecordingServices) -> None:
    services.replies["status"] = "ONB-12 <!here> summary <@U0BOSS> & <https://evil.test|invoice>"
    _, status_posts = command(http, fake_slack, "status ONB-12")
    _, comms_posts = command(http, fake_slack, "comms ONB-12 <!channel> ping <@U0CEO>")
    usage, _ = command(http, fake_slack, "why <!everyone>")

    assert status_posts[0]["text"] == ("ONB-12 &lt;!here&gt; summary &lt;@U0BOSS&gt; &amp; "
                                       "&lt;https://evil.test|invoice&gt;")
    # the reason reaches the service as typed (it is data); the echo is escaped
    assert services.called("comms") == [("comms", "ONB-12", STRANGER, "<!channel> ping <@U0CEO>")]
    assert comms_posts[0]["text"] == f"comms done: ONB-12 {STRANGER} &lt;!channel&gt; ping &lt;@U0CEO&gt;"
    assert ack_text(usage) == ("`/ticketbot why KEY`: `&lt;!everyone&gt;` is not a ticket key "
                               "(like `ONB-12` or `4711`).")
    for text in (status_posts[0]["text"], comms_posts[0]["text"], ack_text(usage)):
        assert "<" not in text and ">" not in text


def test_a_service_error_is_shown_escaped(http: TestClient, fake_slack: FakeSlack,
                                          services: RecordingServices) -> None:
    services.raise_on["status"] = ServiceError("no ticket ONB-12 <here>")
    _, posts = command(http, fake_slack, "status ONB-12")
    assert posts[0]["text"] == "no ticket ONB-12 &lt;here&gt;"


def test_a_broken_service_is_logged_and_apologized_for(http: TestClient, fake_slack: FakeSlack,
                                                       services: RecordingServices,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    services.raise_on["dry_run"] = RuntimeError("database is locked")
    with caplog.at_level(logging.ERROR, logger="bot.slack.commands"):
        _, posts = command(http, fake_slack, "dry-run ONB-12")
    assert posts[0]["text"] == "Sorry, `dry-run ONB-12` failed on my side. The error is in ticketbot's log."
    assert "database is locked" in caplog.text and "database is locked" not in posts[0]["text"]


def test_with_bolts_thread_pool_the_lazy_answer_still_arrives(slack_settings: Settings, fake_slack: FakeSlack,
                                                             services: RecordingServices) -> None:
    """The production set-up (listeners on a thread pool); shutting the pool down waits for the lazy work."""
    pool = ThreadPoolExecutor(max_workers=2)
    api = FastAPI()
    api.include_router(slack_router(build_slack_app(slack_settings, services, listener_executor=pool)))
    with TestClient(api) as http:
        response, posts = command(http, fake_slack, "status ONB-12")
    pool.shutdown(wait=True)

    assert ack_text(response) == "Working on `status ONB-12`…"
    assert posts == [{"text": "status done: ONB-12", "response_type": "ephemeral"}]
