"""Fixtures of the hostile-input tests: :class:`~tests.hostile.world.World`, the daemon on the real Jira and
Slack clients against the fakes (``make_daemon`` and ``pg_url`` come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.fakes.fake_slack
from bot.clock import VirtualClock
from bot.trackers.site import Site
from tests.fakes.fake_jira import FakeJira, load_specs
from tests.fakes.fake_slack import SlackSpec, urllib_via_requests
from tests.hostile.loopback import free_server, serving
from tests.hostile.world import World, fake_slack
from tests.slack.helpers import WEB_API_SPEC
from tests.support.paths import EXAMPLES


def _site() -> Site:
    return Site.load(EXAMPLES / "everbright" / "site.yaml")


def _slack_spec() -> SlackSpec | None:
    return SlackSpec.load(WEB_API_SPEC) if WEB_API_SPEC.exists() else None


@pytest.fixture
def world(make_daemon, clock: VirtualClock) -> Iterator[World]:  # noqa: F811 - the fixture imported above
    """The EverBright site on the fake Jira (spec-checked when ../shared is there), the fake Slack (both
    through ``responses``), the daemon. At teardown every request the bot made matched the vendors' specs."""
    site = _site()
    slack = fake_slack(_slack_spec())
    with FakeJira(site, specs=load_specs(), now=clock.now()) as jira, urllib_via_requests():
        assert jira._mock is not None
        slack.install(jira._mock)
        yield World(make_daemon, site, jira, slack, clock)
    assert jira.violations == [] and slack.violations == []


@pytest.fixture
def loopback_world(make_daemon, clock: VirtualClock,  # noqa: F811 - the fixture imported above
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """:func:`world`, with both fakes behind a real loopback HTTP server (urllib3 and http.client run)."""
    server = free_server()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(tests.fakes.fake_slack, "HOOKS_BASE_URL", f"{base}/hooks/")  # response_urls come here
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    site = _site()
    jira = FakeJira(site, base_url=base, specs=load_specs(), now=clock.now())
    slack = fake_slack(_slack_spec(), base_url=f"{base}/api/")
    with serving(server, jira, slack), urllib_via_requests():
        yield World(make_daemon, site, jira, slack, clock)
    assert jira.violations == [] and slack.violations == []
