"""config/slack-app-manifest.yaml creates the Slack app ticketbot needs: every Web API method the code
calls has a bot scope Slack's spec lists for it, and the command, buttons and events reach /slack/events.

The methods are found in the code (``client.chat_postMessage(`` is ``chat.postMessage``), so a new call
without its scope fails here, not in a workspace. Scopes per method come from Slack's OpenAPI spec in
``../shared/contracts/slack``; it lists classic scopes (``chat:write:bot``), which a bot token's granular
scope (``chat:write``) stands for.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from bot.slack.commands import COMMAND
from tests.support.daemon import CONTRACTS, ROOT

MANIFEST = ROOT / "config" / "slack-app-manifest.yaml"
SPEC = CONTRACTS / "slack" / "slack_web_api_openapi_v2.json"
#: ``client.<family>_<method>(``: how slack_sdk's WebClient spells a Web API method.
CALL = re.compile(r"\.((?:chat|conversations|users|views|reactions|pins|files|team|usergroups|bookmarks|apps|auth)"
                  r"_[A-Za-z]+)\b")


def called_methods() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        found |= {m.replace("_", ".", 1) for m in CALL.findall(path.read_text(encoding="utf-8"))}
    return found


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def granular(scope: str) -> str:
    """``chat:write:bot`` -> ``chat:write``: the classic per-token-type suffix is gone for bot tokens."""
    return scope.removesuffix(":bot").removesuffix(":user")


@pytest.mark.skipif(not SPEC.is_file(), reason=f"{SPEC} is absent: Slack's scopes per method are read from it "
                                                 "(set TICKETBOT_SHARED_DIR)")
def test_every_web_api_method_the_code_calls_has_a_scope_in_the_manifest() -> None:
    paths = json.loads(SPEC.read_text(encoding="utf-8"))["paths"]
    methods = {m for m in called_methods() if f"/{m}" in paths}  # other ``.users_x`` are no Slack calls
    assert {"chat.postMessage", "conversations.open", "conversations.history", "users.lookupByEmail",
            "users.info"} <= methods  # the finder still sees the notifier's calls
    bot_scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    missing = {}
    for method in sorted(methods):
        listed = {granular(s) for op in paths[f"/{method}"].values() if isinstance(op, dict)
                  for requirement in op.get("security") or () for s in requirement.get("slackAuth", ())}
        if listed - {"none"} and not listed & bot_scopes:
            missing[method] = sorted(listed)
    assert missing == {}, f"add one of these scopes to {MANIFEST.name}: {missing}"
    # DMs are opened and read (reminders, decisions); the command needs its own scope.
    assert {"im:write", "im:history", "commands"} <= bot_scopes


def test_the_command_buttons_and_events_go_to_slack_events() -> None:
    app = manifest()
    [command] = app["features"]["slash_commands"]
    assert command["command"] == COMMAND
    settings = app["settings"]
    urls = {command["url"], settings["interactivity"]["request_url"], settings["event_subscriptions"]["request_url"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert app["features"]["bot_user"]["display_name"]
    assert set(app) >= {"display_information", "features", "oauth_config", "settings"}
