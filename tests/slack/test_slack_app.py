"""Settings, the app factory, Socket Mode, and the shapes our test payloads share with Slack's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.settings import ConfigurationError, Settings, SlackSettings, load_settings
from bot.slack.app import build_slack_app, socket_mode_handler
from bot.slack.router import slack_router
from bot.slack.socket_mode import SocketMode
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import RecordingServices, block_action_payload, contract, form, sign, slash_command_fields


def test_slack_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_SLACK__BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("TICKETBOT_SLACK__SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("TICKETBOT_SLACK__APP_TOKEN", "xapp-1")
    monkeypatch.setenv("TICKETBOT_SLACK__API_URL", "https://slack.test/api")
    monkeypatch.setenv("TICKETBOT_SLACK__ADMINS", "U0ADMIN1, W0ADMIN2")
    monkeypatch.setenv("TICKETBOT_SLACK__ADMIN_CHANNEL", "C0OPS")

    slack = load_settings().slack

    assert slack.bot_token is not None and slack.bot_token.get_secret_value() == "xoxb-1"
    assert "xoxb-1" not in repr(slack) and "s3cret" not in repr(slack)
    assert slack.api_url == "https://slack.test/api/"
    assert (slack.admins, slack.admin_channel) == (["U0ADMIN1", "W0ADMIN2"], "C0OPS")


def test_admins_also_as_a_json_list_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().slack == SlackSettings()
    assert SlackSettings().api_url == "https://slack.com/api/"
    monkeypatch.setenv("TICKETBOT_SLACK__ADMINS", '["U0ADMIN1"]')
    assert load_settings().slack.admins == ["U0ADMIN1"]


@pytest.mark.parametrize(("name", "value"), [("ADMINS", "U0ADMIN1,alice"), ("API_URL", "slack.com/api")])
def test_bad_slack_settings_name_the_key(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"TICKETBOT_SLACK__{name}", value)
    with pytest.raises(ConfigurationError, match=f"TICKETBOT_SLACK__{name}"):
        load_settings()


@pytest.mark.parametrize(("slack", "missing"), [
    (SlackSettings(signing_secret="s"), "TICKETBOT_SLACK__BOT_TOKEN"),
    (SlackSettings(bot_token="xoxb-1"), "TICKETBOT_SLACK__SIGNING_SECRET"),
])
def test_the_app_needs_its_credentials(slack: SlackSettings, missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        build_slack_app(Settings(slack=slack), RecordingServices())


def test_building_the_app_calls_nothing(fake_slack: FakeSlack, slack_settings: Settings) -> None:
    build_slack_app(slack_settings, RecordingServices())
    assert fake_slack.hits == []  # auth.test waits for the first request: the daemon starts while Slack is down


def test_socket_mode_only_refuses_every_http_request(fake_slack: FakeSlack) -> None:
    """Without a signing secret (Socket Mode), /slack/events must fail closed, whoever signs."""
    settings = Settings(slack=SlackSettings(bot_token=fake_slack.token, app_token="xapp-1-A0-1-abc",
                                            api_url=fake_slack.base_url))
    services = RecordingServices()
    api = FastAPI()
    api.include_router(slack_router(build_slack_app(settings, services)))
    body = form(slash_command_fields("rules", "U0ADMIN1", fake_slack.new_response_url()))
    for secret in ("", "guess"):
        assert TestClient(api).post("/slack/events", content=body, headers=sign(body, secret or "x")).status_code == 401
    assert services.calls == []


def test_socket_mode_handler(fake_slack: FakeSlack, slack_settings: Settings) -> None:
    app = build_slack_app(slack_settings, RecordingServices())
    with pytest.raises(ConfigurationError, match="xapp-"):
        socket_mode_handler(app, "xoxb-not-an-app-token")
    handler = socket_mode_handler(app, "xapp-1-A0-1-abc")
    try:
        assert isinstance(handler, SocketMode)
        assert (handler.app, handler.client.app_token) == (app, "xapp-1-A0-1-abc")
    finally:
        handler.close()  # its event loop runs from construction
    assert fake_slack.hits == []  # not connected


def test_events_api_url_verification_uses_the_same_route(http: TestClient) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    headers = sign(body) | {"Content-Type": "application/json"}
    response = http.post("/slack/events", content=body, headers=headers)
    assert (response.status_code, response.json()) == (
        200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})


def _skeleton(name: str) -> dict[str, Any]:
    return json.loads(contract(f"java-slack-sdk-samples/{name}").read_text(encoding="utf-8"))


def test_our_slash_command_fields_are_slacks(fake_slack: FakeSlack) -> None:
    ours = slash_command_fields("rules", "U1", fake_slack.new_response_url())
    assert set(ours) == set(_skeleton("app-backend/SlashCommandPayload.json"))


def test_our_block_actions_payload_uses_slacks_fields(fake_slack: FakeSlack) -> None:
    skeleton = _skeleton("app-backend/BlockActionPayload.json")
    ours = block_action_payload("ticketbot_approve", "ONB-12", "U1", fake_slack.new_response_url())
    assert set(ours) <= set(skeleton)
    assert set(ours["user"]) <= set(skeleton["user"]) and set(ours["container"]) <= set(skeleton["container"])
    assert set(ours["actions"][0]) <= set(skeleton["actions"][0])


@pytest.mark.parametrize("method", ["users.info", "users.lookupByEmail"])
def test_the_fakes_users_have_slacks_shape(fake_slack: FakeSlack, method: str) -> None:
    skeleton = _skeleton(f"api/{method}.json")["user"]
    user = {k: v for k, v in fake_slack.users["UAPPROVER"].items() if not k.startswith("_")}
    assert set(user) <= set(skeleton)
    assert set(user["profile"]) <= set(skeleton["profile"])
