"""Approve / Reject buttons: from the message the notifier posts to the click on ``/slack/events``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.effects import SlackMessage
from bot.settings import Settings
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.slack.sender import SlackNotifier
from bot.slack.services import ServiceError
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import (
    ADMIN,
    APPROVER,
    STRANGER,
    RecordingServices,
    block_action_payload,
    interaction_body,
    sign,
)

ASK = SlackMessage(rule_id="everbright_onboarding", ticket_key="ONB-12", step="ask_approval",
                   text="Please approve the configuration of ONB-12 (Everbright)", user_email="approver@acme.test",
                   actions=("approve", "reject"))


def posted_approval_request(settings: Settings, fake: FakeSlack) -> dict[str, Any]:
    """The message as the notifier posted it to the approver (what Slack sends back on a click)."""
    SlackNotifier.from_settings(settings.slack, sleep=lambda _: None).send(ASK)
    return fake.dm(APPROVER)[-1]


def click(http: TestClient, fake: FakeSlack, action_id: str, user: str, *, value: str = "ONB-12",
          message: dict[str, Any] | None = None) -> tuple[Any, list[dict]]:
    response_url = fake.new_response_url()
    body = interaction_body(block_action_payload(action_id, value, user, response_url, message))
    response = http.post("/slack/events", content=body, headers=sign(body))
    return response, fake.response_posts[response_url]


def test_the_approver_clicks_approve_and_the_message_says_who_decided(
        http: TestClient, fake_slack: FakeSlack, services: RecordingServices, slack_settings: Settings) -> None:
    message = posted_approval_request(slack_settings, fake_slack)

    response, posts = click(http, fake_slack, APPROVE_ACTION, APPROVER, message=message)

    assert response.status_code == 200 and response.content == b""  # the ack
    assert services.calls == [("approve", "ONB-12", APPROVER, "button")]
    [update] = posts
    assert update["replace_original"] is True
    assert [b["type"] for b in update["blocks"]] == ["section", "context"]  # buttons gone
    assert update["blocks"][0] == message["blocks"][0]
    assert update["blocks"][1]["elements"][0]["text"] == (
        f":white_check_mark: Approved by <@{APPROVER}>. approve done: ONB-12 {APPROVER} button")


def test_an_admin_may_reject_any_ticket_by_button(http: TestClient, fake_slack: FakeSlack,
                                                  services: RecordingServices) -> None:
    _, posts = click(http, fake_slack, REJECT_ACTION, ADMIN, value="4711")
    assert services.calls == [("reject", "4711", ADMIN, "", "button")]
    assert posts[0]["blocks"][-1]["elements"][0]["text"].startswith(f":x: Rejected by <@{ADMIN}>.")


def test_a_stranger_clicking_is_refused_recorded_and_the_buttons_stay(
        http: TestClient, fake_slack: FakeSlack, services: RecordingServices) -> None:
    _, posts = click(http, fake_slack, APPROVE_ACTION, STRANGER)

    assert services.called("approve") == []
    assert services.refusals == [(STRANGER, "approve ONB-12 (button)", "not an approver of ONB-12")]
    assert posts == [{"text": "Sorry, only the approver of ONB-12 or a ticketbot admin can approve it. "
                              "I've noted the attempt.", "response_type": "ephemeral", "replace_original": False}]


@pytest.mark.parametrize("value", ["<!channel>", "", "ONB-12; drop table", "onb"])
def test_a_button_value_that_is_not_a_ticket_key_records_nothing(
        http: TestClient, fake_slack: FakeSlack, services: RecordingServices, value: str) -> None:
    _, posts = click(http, fake_slack, APPROVE_ACTION, ADMIN, value=value)
    assert (services.calls, services.refusals) == ([], [])
    assert posts[0]["text"] == "That button does not carry a ticket I understand; nothing was recorded."


def test_a_service_refusal_keeps_the_buttons(http: TestClient, fake_slack: FakeSlack,
                                             services: RecordingServices) -> None:
    services.raise_on["approve"] = ServiceError("ONB-12 is already approved by <@U1>")
    _, posts = click(http, fake_slack, APPROVE_ACTION, APPROVER)
    assert posts == [{"text": "ONB-12 is already approved by &lt;@U1&gt;", "response_type": "ephemeral",
                      "replace_original": False}]


def test_a_broken_service_does_not_pretend_the_click_was_recorded(http: TestClient, fake_slack: FakeSlack,
                                                                  services: RecordingServices) -> None:
    services.raise_on["reject"] = RuntimeError("inbox unavailable")
    _, posts = click(http, fake_slack, REJECT_ACTION, APPROVER)
    assert posts[0]["replace_original"] is False
    assert posts[0]["text"].startswith("Sorry, recording `reject ONB-12` failed on my side. Nothing was recorded")
