"""The fake Slack itself: it must catch the mistakes the real Slack would punish."""

from __future__ import annotations

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.fakes.fake_slack import FakeSlack, SlackSpec


@pytest.fixture
def web(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=fake_slack.token, base_url=fake_slack.base_url, retry_handlers=[])


@pytest.fixture
def spec(slack_spec: SlackSpec | None) -> SlackSpec:
    if slack_spec is None:
        pytest.skip("Slack Web API spec (../shared/contracts/slack/slack_web_api_openapi_v2.json) is absent")
    return slack_spec


def test_spec_violations_are_recorded(spec: SlackSpec, fake_slack: FakeSlack, web: WebClient) -> None:
    with pytest.raises(SlackApiError):
        web.api_call("chat.postMesage", json={"channel": "CADMIN", "text": "typo"})
    web.api_call("chat.postMessage", json={"channel": "CADMIN", "text": "hi", "colour": "red"})
    with pytest.raises(SlackApiError):
        web.api_call("users.lookupByEmail", json={"email": "approver@acme.test"})
    with pytest.raises(SlackApiError):
        web.api_call("chat.postMessage", params={"text": "no channel"})

    assert fake_slack.violations == [
        "chat.postMesage: not a method of the Slack Web API spec",
        "chat.postMesage: called, but the fake does not implement it",
        "chat.postMessage: parameters not in the spec: ['colour']",
        "users.lookupByEmail: JSON body not accepted (spec consumes ['application/x-www-form-urlencoded'])",
        "chat.postMessage: required parameters missing: ['channel']",
    ]
    fake_slack.violations.clear()


def test_get_only_where_the_spec_says_so(spec: SlackSpec, fake_slack: FakeSlack) -> None:
    headers = {"Authorization": f"Bearer {fake_slack.token}"}
    assert requests.get(fake_slack.base_url + "users.info?user=UADMIN01", headers=headers).json()["ok"]
    requests.get(fake_slack.base_url + "chat.postMessage?channel=CADMIN&text=x", headers=headers)
    assert fake_slack.violations == ["chat.postMessage: HTTP GET not accepted (spec: ['POST'])"]
    fake_slack.violations.clear()


def test_the_token_is_checked(fake_slack: FakeSlack) -> None:
    for token, error in (("xoxb-wrong", "invalid_auth"), (None, "not_authed")):
        with pytest.raises(SlackApiError) as failure:
            WebClient(token=token, base_url=fake_slack.base_url).chat_postMessage(channel="CADMIN", text="x")
        assert failure.value.response["error"] == error
    assert fake_slack.messages == {}
    assert fake_slack.violations in ([], ["chat.postMessage: required parameters missing: ['token']"])
    fake_slack.violations.clear()


def test_block_kit_limits_are_checked(fake_slack: FakeSlack, web: WebClient) -> None:
    web.chat_postMessage(channel="CADMIN", text="x", blocks=[{"type": "section", "text": {"type": "mrkdwn",
                                                                                        "text": "y" * 3001}}])
    assert fake_slack.violations == ["chat.postMessage: section text longer than 3000"]
    fake_slack.violations.clear()


def test_429_then_normal_service(fake_slack: FakeSlack, web: WebClient) -> None:
    fake_slack.rate_limit(1, retry_after=3)
    with pytest.raises(SlackApiError) as failure:
        web.auth_test()
    assert failure.value.response.status_code == 429
    assert failure.value.response.headers["Retry-After"] == "3"
    assert web.auth_test()["user_id"] == "UTICKETBOT"


def test_one_method_fails_as_told_the_others_answer(fake_slack: FakeSlack, web: WebClient) -> None:
    fake_slack.fail("auth.test", 2, status=503, error="service_unavailable")
    with pytest.raises(SlackApiError) as failure:
        web.auth_test()
    assert (failure.value.response.status_code, failure.value.response["error"]) == (503, "service_unavailable")
    assert web.chat_postMessage(channel="CADMIN", text="x")["channel"] == "CADMIN"
    with pytest.raises(SlackApiError):
        web.auth_test()
    assert web.auth_test()["url"] == fake_slack.workspace_url and web.auth_test()["team"] == fake_slack.team


def test_response_urls_must_have_been_issued(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url()
    assert WebhookClient(url).send(text="hello", response_type="ephemeral").status_code == 200
    assert fake_slack.response_posts[url] == [{"text": "hello", "response_type": "ephemeral"}]
    assert WebhookClient(url + "x").send(text="forged").status_code == 404
    assert fake_slack.violations == [f"response_url {url}x was never issued"]
    fake_slack.violations.clear()


def test_nothing_unregistered_gets_through(fake_slack: FakeSlack) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get("https://slack.com/api/auth.test")
    with pytest.raises(requests.ConnectionError):  # urllib too: it is routed through the same mock
        WebClient(token="xoxb-1", retry_handlers=[]).auth_test()
