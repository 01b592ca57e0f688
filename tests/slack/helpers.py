"""Test doubles and request builders for the Slack tests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import responses

from tests.fakes.fake_slack import FakeSlack, SlackSpec, urllib_via_requests

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("TICKETBOT_SHARED_DIR", ROOT.parent / "shared"))
SLACK_CONTRACTS = SHARED / "contracts" / "slack"
WEB_API_SPEC = SLACK_CONTRACTS / "slack_web_api_openapi_v2.json"

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
ADMIN = "UADMIN01"
APPROVER = "UAPPROVER"
STRANGER = "USTRANGER"


def contract(name: str) -> Path:
    """A file of ../shared/contracts/slack (read in place, never copied), or skip saying what is missing."""
    path = SLACK_CONTRACTS / name
    if not path.exists():
        pytest.skip(f"Slack vendor material {path} is absent (../shared not checked out)")
    return path


class InlineExecutor(Executor):
    """Runs what bolt submits at once, on the calling thread: the ack listener and then the lazy
    listeners finish before ``App.dispatch`` returns, so tests need no waiting."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # mirror a pool: the failure lives in the future
            future.set_exception(exc)
        return future


@dataclass
class RecordingServices:
    """The Services protocol, recording each call and answering with canned text."""

    approvers: dict[str, set[str]] = field(default_factory=dict)
    extra_admins: set[str] = field(default_factory=set)
    replies: dict[str, str] = field(default_factory=dict)
    raise_on: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    refusals: list[tuple[str, str, str]] = field(default_factory=list)

    def _answer(self, name: str, *args: Any) -> str:
        self.calls.append((name, *args))
        if name in self.raise_on:
            raise self.raise_on[name]
        return self.replies.get(name, f"{name} done: {' '.join(str(a) for a in args)}")

    def status(self, key: str) -> str:
        return self._answer("status", key)

    def why(self, key: str) -> str:
        return self._answer("why", key)

    def dry_run(self, key: str) -> str:
        return self._answer("dry_run", key)

    def approve(self, key: str, slack_user: str, via: str) -> str:
        return self._answer("approve", key, slack_user, via)

    def reject(self, key: str, slack_user: str, reason: str, via: str) -> str:
        return self._answer("reject", key, slack_user, reason, via)

    def comms(self, key: str, slack_user: str, reason: str) -> str:
        return self._answer("comms", key, slack_user, reason)

    def timers(self, key: str | None) -> str:
        return self._answer("timers", key)

    def rules(self) -> str:
        return self._answer("rules")

    def pause(self, rule_id: str, slack_user: str) -> str:
        return self._answer("pause", rule_id, slack_user)

    def resume(self, rule_id: str, slack_user: str) -> str:
        return self._answer("resume", rule_id, slack_user)

    def console_link(self, slack_user: str) -> str:
        return self._answer("console_link", slack_user)

    def approver_for(self, key: str) -> set[str]:
        return set(self.approvers.get(key, set()))

    def is_admin(self, slack_user: str) -> bool:
        return slack_user in self.extra_admins

    def record_refusal(self, slack_user: str, command: str, reason: str) -> None:
        self.refusals.append((slack_user, command, reason))

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signing: v0=hex(HMAC-SHA256(secret, 'v0:' + ts + ':' + body))."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


#: Slack gives every command and click its own trigger_id and action_ts.
_TRIGGERS = itertools.count(1)


def _trigger_id() -> str:
    return f"13345224609.738474920.{next(_TRIGGERS):032x}"


def slash_command_fields(text: str, user_id: str, response_url: str) -> dict[str, str]:
    """A /ticketbot POST's fields (the documented slash-command fields, our values)."""
    return {"token": "legacy-verification-token", "api_app_id": "A0TICKETBOT", "team_id": "T0TICKET",
            "team_domain": "acme", "enterprise_id": "", "enterprise_name": "", "channel_id": "C0SUPPORT",
            "channel_name": "support-ops", "user_id": user_id, "user_name": user_id.lower(),
            "command": "/ticketbot", "text": text, "response_url": response_url,
            "trigger_id": _trigger_id(), "is_enterprise_install": "false"}


def block_action_payload(action_id: str, value: str, user_id: str, response_url: str,
                         message: dict[str, Any] | None = None) -> dict[str, Any]:
    """A block_actions payload for one button click on a bot message (each click its own action_ts)."""
    trigger = _trigger_id()
    message = message or {"type": "message", "ts": "1767225601.000001", "text": "Please approve ONB-12",
                          "blocks": []}
    return {
        "type": "block_actions", "api_app_id": "A0TICKETBOT", "token": "legacy-verification-token",
        "team": {"id": "T0TICKET", "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T0TICKET"},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": "DAPPROVER",
                      "is_ephemeral": False},
        "trigger_id": trigger,
        "channel": {"id": "DAPPROVER", "name": "directmessage"},
        "message": message, "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "ticketbot_decision",
                     "text": {"type": "plain_text", "text": "Approve"}, "value": value,
                     "action_ts": f"1767225700.{int(trigger[-6:], 16) % 1_000_000:06d}"}],
        "is_enterprise_install": False,
    }


def event_callback(event_id: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Events API ``event_callback`` (the outer event wrapper Slack documents)."""
    event = event or {"type": "app_mention", "user": APPROVER, "text": "<@UTICKETBOT> status ONB-12",
                      "ts": "1767225601.000100", "channel": "C0SUPPORT", "event_ts": "1767225601.000100"}
    return {"token": "legacy-verification-token", "team_id": "T0TICKET", "api_app_id": "A0TICKETBOT",
            "event": event, "type": "event_callback", "event_id": event_id, "event_time": 1767225601,
            "authorizations": [{"enterprise_id": None, "team_id": "T0TICKET", "user_id": "UTICKETBOT",
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": f"4-{event_id}"}


def form(fields: dict[str, str]) -> str:
    return urlencode(fields)


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


@contextmanager
def installed_fake_slack(spec: SlackSpec | None, *, stranger: bool = False) -> Iterator[FakeSlack]:
    """A fake Slack (the approver, an admin, ``stranger``: someone else; the admin channel) answering every
    http(s) request made through urllib or requests; at the end its calls must have been valid."""
    fake = FakeSlack(spec=spec)
    fake.add_user(APPROVER, "approver@acme.test", "Ann Approver")
    fake.add_user(ADMIN, "admin@acme.test", "Ada Admin")
    if stranger:
        fake.add_user(STRANGER, "stranger@acme.test", "Sam Stranger")
    fake.add_channel("CADMIN")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, urllib_via_requests():
        fake.install(mock)
        yield fake
    assert fake.violations == []
