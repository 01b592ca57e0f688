"""Each Slack request is acted on once, over HTTP: Events API retries (``X-Slack-Retry-Num``) and clicks
delivered twice; and the Events API callbacks ticketbot does not act on are answered 200, not 404."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from slack_bolt import App

from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import (
    APPROVER,
    RecordingServices,
    block_action_payload,
    event_callback,
    interaction_body,
    sign,
)


def post_json(http: TestClient, body: dict[str, Any], **headers: str) -> int:
    raw = json.dumps(body)
    return http.post("/slack/events", content=raw, headers=sign(raw) | {"Content-Type": "application/json"} | headers
                     ).status_code


def test_an_events_api_request_retried_with_x_slack_retry_num_is_acted_on_once(bolt_app: App, http: TestClient):
    mentions: list[str] = []
    bolt_app.event("app_mention")(lambda event: mentions.append(event["text"]))
    body = event_callback("Ev0RETRIED1")
    assert post_json(http, body) == 200
    assert post_json(http, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert post_json(http, body, **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert mentions == ["<@UTICKETBOT> status ONB-12"]
    assert post_json(http, event_callback("Ev0ANOTHER1")) == 200  # another event is another request
    assert len(mentions) == 2


def test_events_ticketbot_does_not_act_on_and_app_rate_limited_are_answered_200(http: TestClient):
    """Slack retries a non-2xx answer and disables the subscriptions of an app that keeps failing them."""
    message = {"type": "message", "user": APPROVER, "text": "hello", "ts": "1767225601.000200", "channel": "C0SUPPORT",
               "event_ts": "1767225601.000200", "channel_type": "channel"}
    assert post_json(http, event_callback("Ev0MESSAGE1", message)) == 200
    assert post_json(http, {"token": "legacy-verification-token", "type": "app_rate_limited", "team_id": "T0TICKET",
                            "minute_rate_limited": 1767225600, "api_app_id": "A0TICKETBOT"}) == 200


def test_a_click_delivered_twice_is_acted_on_once_and_answered_once(http: TestClient, services: RecordingServices,
                                                                    fake_slack: FakeSlack):
    url = fake_slack.new_response_url()
    body = interaction_body(block_action_payload(APPROVE_ACTION, "ONB-12", APPROVER, url))
    for _ in range(2):
        assert http.post("/slack/events", content=body, headers=sign(body)).status_code == 200
    assert services.called("approve") == [("approve", "ONB-12", APPROVER, "button")]
    assert len(fake_slack.response_posts[url]) == 1
    other = fake_slack.new_response_url()  # a second click (its own action_ts) is a new request
    body = interaction_body(block_action_payload(REJECT_ACTION, "ONB-12", APPROVER, other))
    assert http.post("/slack/events", content=body, headers=sign(body)).status_code == 200
    assert len(services.called("reject")) == 1 and len(fake_slack.response_posts[other]) == 1
