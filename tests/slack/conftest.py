"""Fixtures for the Slack tests: the fake Slack (spec-checked when ../shared is there), a recording
Services, and the real ``/slack/events`` route on a FastAPI app with bolt running listeners inline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_bolt import App

from bot.settings import Settings, SlackSettings
from bot.slack.app import build_slack_app
from bot.slack.router import slack_router
from tests.fakes.fake_slack import FakeSlack, SlackSpec
from tests.slack.helpers import (
    ADMIN,
    APPROVER,
    SIGNING_SECRET,
    WEB_API_SPEC,
    InlineExecutor,
    RecordingServices,
    installed_fake_slack,
)


@pytest.fixture(scope="session")
def slack_spec() -> SlackSpec | None:
    """Slack's Web API spec, or None: the fake then runs without spec checks."""
    return SlackSpec.load(WEB_API_SPEC) if WEB_API_SPEC.exists() else None


@pytest.fixture
def fake_slack(slack_spec: SlackSpec | None) -> Iterator[FakeSlack]:
    """A fake Slack answering every http(s) request made through urllib or requests; nothing reaches the network.

    At teardown the calls must have been valid against the spec."""
    with installed_fake_slack(slack_spec) as fake:
        yield fake


@pytest.fixture
def services() -> RecordingServices:
    return RecordingServices(approvers={"ONB-12": {APPROVER}, "4711": {APPROVER}})


@pytest.fixture
def slack_settings(fake_slack: FakeSlack) -> Settings:
    return Settings(slack=SlackSettings(bot_token=fake_slack.token, signing_secret=SIGNING_SECRET, admins=[ADMIN],
                                        api_url=fake_slack.base_url, admin_channel="CADMIN"))


@pytest.fixture
def bolt_app(slack_settings: Settings, services: RecordingServices) -> App:
    return build_slack_app(slack_settings, services, listener_executor=InlineExecutor())


@pytest.fixture
def http(bolt_app: App) -> Iterator[TestClient]:
    """The daemon's way of mounting Slack: a FastAPI app including ``slack_router``."""
    api = FastAPI()
    api.include_router(slack_router(bolt_app))
    with TestClient(api) as client:
        yield client
