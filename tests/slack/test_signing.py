"""Request verification, with Slack's official signing test vector (read from ../shared at test time).

The vector's timestamp (1531420618, July 2018) is long past Slack's 5-minute window, so its
signature math is checked with an injected clock, and the same request sent for real is refused.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk.signature import Clock, SignatureVerifier

from bot.settings import Settings, SlackSettings
from bot.slack.app import build_slack_app
from bot.slack.router import slack_router
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import InlineExecutor, RecordingServices, contract, form, sign, slash_command_fields


class FrozenClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    return json.loads(contract("signing_test_vector_slash_command.json").read_text(encoding="utf-8"))


@pytest.fixture
def vector_http(vector: dict[str, Any], fake_slack: FakeSlack, services: RecordingServices) -> TestClient:
    """The /slack/events route of an app whose signing secret is the vector's."""
    settings = Settings(slack=SlackSettings(bot_token=fake_slack.token, signing_secret=vector["signing_secret"],
                                            api_url=fake_slack.base_url))
    api = FastAPI()
    api.include_router(slack_router(build_slack_app(settings, services, listener_executor=InlineExecutor())))
    return TestClient(api)


def test_the_official_vector_verifies_at_its_own_time(vector: dict[str, Any]) -> None:
    timestamp = int(vector["headers"]["X-Slack-Request-Timestamp"])
    verifier = SignatureVerifier(vector["signing_secret"], clock=FrozenClock(timestamp + 60))

    signature = verifier.generate_signature(timestamp=str(timestamp), body=vector["raw_body"])
    assert signature == vector["expected_signature"]
    assert verifier.is_valid_request(vector["raw_body"], vector["headers"])
    assert not verifier.is_valid_request(vector["raw_body"].replace("roadrunner", "coyote"), vector["headers"])
    assert not SignatureVerifier(vector["signing_secret"], clock=FrozenClock(timestamp + 301)).is_valid_request(
        vector["raw_body"], vector["headers"])


def test_our_test_signer_agrees_with_the_vector(vector: dict[str, Any]) -> None:
    headers = sign(vector["raw_body"], vector["signing_secret"], int(vector["headers"]["X-Slack-Request-Timestamp"]))
    assert headers["X-Slack-Signature"] == vector["expected_signature"]


def test_the_vector_sent_now_is_refused_as_stale(vector: dict[str, Any], vector_http: TestClient,
                                                 fake_slack: FakeSlack, services: RecordingServices) -> None:
    response = vector_http.post("/slack/events", content=vector["raw_body"], headers=vector["headers"])
    assert response.status_code == 401
    assert services.calls == [] and fake_slack.hits == []  # refused before any listener or auth.test


def test_the_vector_body_signed_now_passes_verification(vector: dict[str, Any], vector_http: TestClient) -> None:
    body = vector["raw_body"]
    response = vector_http.post("/slack/events", content=body, headers=sign(body, vector["signing_secret"]))
    assert response.status_code == 404  # verified; /webhook-collect is simply not a command of ours


@pytest.mark.parametrize("tamper", ["wrong secret", "no headers", "body changed", "stale", "from the future"])
def test_unverifiable_requests_are_refused_401(http: TestClient, fake_slack: FakeSlack,
                                               services: RecordingServices, tamper: str) -> None:
    body = form(slash_command_fields("approve ONB-12", "UADMIN01", fake_slack.new_response_url()))
    headers = {
        "wrong secret": sign(body, "not-the-secret"),
        "no headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "body changed": sign(body.replace("ONB-12", "ONB-13")),
        "stale": sign(body, timestamp=int(time.time()) - 6 * 60),
        "from the future": sign(body, timestamp=int(time.time()) + 6 * 60),
    }[tamper]
    response = http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    assert services.calls == [] and services.refusals == []
