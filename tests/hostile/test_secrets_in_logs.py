"""No secret in the logs, even at DEBUG for every logger.

The whole EverBright runbook (all six steps: intake, the CS ticket, on hold, the question, the 24 h
Slack reminder, the approval from Slack, CS done and SS closed) runs daemon-style: signed webhooks
through ``POST /webhooks/jira``, a signed ``/ticketbot approve`` through ``POST /slack/events``, the
real Jira adapter (the ``jira`` library, Basic auth) against the fake Jira, the real WebClient (Bearer
token) against the fake Slack. Refused requests (a wrong Jira, Zendesk and Slack signature) are sent
too. Every log record of every logger is captured, formatted with its traceback, together with
stdout/stderr; no secret may appear there, raw or encoded, nor an Authorization header's value, nor
the valid signature of a refused request (which would let a log reader forge it).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote_plus

import pytest

from bot.sources.signatures import jira_signature, zendesk_signature
from tests.hostile.world import (
    APPROVER_SLACK,
    BOT_EMAIL,
    JIRA_API_TOKEN,
    JIRA_WEBHOOK_SECRET,
    SECRETS,
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    ZENDESK_WEBHOOK_SECRET,
    World,
    onboarding_until_approval_asked,
    secret_forms,
)
from tests.slack.helpers import form, sign, slash_command_fields

#: Loggers named explicitly: the HTTP and vendor libraries that know the credentials.
NOISY = ("urllib3", "requests", "slack_sdk", "slack_bolt", "jira", "httpx", "httpcore", "responses", "bot",
         "rules", "uvicorn", "fastapi", "starlette", "sqlalchemy", "alembic", "apscheduler")


class Everything(logging.Handler):
    """Keeps every record, formatted as a log file would hold it (traceback and stack included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[Everything]:
    """Every logger at DEBUG (those that exist now and those created later), all records captured."""
    handler = Everything()
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in NOISY] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers] + [(root, root.level, root.disabled)]
    for logger, _, _ in saved:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    root.addHandler(handler)
    non_propagating = [logger for logger, _, _ in saved if not logger.propagate]
    for logger in non_propagating:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger in non_propagating:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted({f"{what} ({form!r})" for what, secret in secrets.items() for form in secret_forms(secret)
                   if form in text})


def test_the_leak_detector_finds_what_it_looks_for() -> None:
    basic = base64.b64encode(f"{BOT_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
    assert [hit.split(" (")[0] for hit in leaks(f"'Authorization': 'Basic {basic}'", SECRETS)] == ["Jira API token"]
    assert leaks(f"headers {{'Authorization': 'Bearer {SLACK_BOT_TOKEN}'}}", SECRETS)
    assert leaks(f"token={quote_plus(SLACK_SIGNING_SECRET + '/x')}", SECRETS)
    for pad in ("", "a", "ab"):  # base64 of a secret inside a longer text, at each alignment
        assert leaks(base64.b64encode(f"{pad}{ZENDESK_WEBHOOK_SECRET}!".encode()).decode(), SECRETS)
    assert leaks("nothing to see " + JIRA_API_TOKEN[:-1], SECRETS) == []


def test_the_whole_runbook_at_debug_logs_no_secret(debug_logs: Everything, loopback_world: World, capfd) -> None:
    world = loopback_world  # created after the capture started: its start-up is logged too
    # Steps 1-4 through signed webhooks: intake, the CS ticket linked, on hold, the approver asked. On the
    # way Jira throttles once (the retry is logged) and fails once (the failed effect is logged, retried).
    world.jira.throttle(1, retry_after="1")
    onboarding_until_approval_asked(world)
    world.jira.throttle(1, status=500, retry_after=None)
    world.move("CS-201", "Waiting for support")
    world.move("CS-201", "On Hold")
    assert world.stage("SS-101") == "awaiting-approval"
    # Step 5: no answer for 24 h, the Slack reminder with buttons (Slack throttles once on the way); the
    # approver approves with the command.
    world.slack.rate_limit(1, retry_after=0)
    world.advance(timedelta(hours=25))
    [reminder] = world.slack.dm(APPROVER_SLACK)
    assert "SS-101" in reminder["text"]
    status, _, [reply] = world.slash("approve SS-101", APPROVER_SLACK)
    assert status == 200 and reply["text"].startswith("Recorded your approval of SS-101")
    assert world.stage("SS-101") == "approved" and world.jira.ticket("CS-201").status == "To Do"
    # Step 6: CS done, SS closed.
    world.advance(timedelta(hours=3))
    world.move("CS-201", "Done")
    assert world.stage("SS-101") == "closed" and world.jira.ticket("SS-101").status == "Closed"

    # Refused requests, each of which knows what the right signature would have been.
    body = b'{"webhookEvent": "jira:issue_updated", "timestamp": 1793610840000, "issue": {"key": "SS-101"}}'
    response = world.http.post("/webhooks/jira", content=body, headers={"X-Hub-Signature": "sha256=" + "0" * 64})
    assert response.status_code == 401
    stamp = world.clock.now().isoformat()
    response = world.http.post("/webhooks/zendesk", content=body, headers={
        "X-Zendesk-Webhook-Signature": base64.b64encode(b"x" * 32).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp})
    assert response.status_code == 401
    slack_body = form(slash_command_fields("approve SS-101", APPROVER_SLACK, world.slack.new_response_url()))
    forged = sign(slack_body, "not-the-signing-secret")
    assert world.http.post("/slack/events", content=slack_body, headers=forged).status_code == 401
    right_signatures = {"valid Jira signature of a refused body": jira_signature(
        JIRA_WEBHOOK_SECRET, body).removeprefix("sha256="),
        "valid Zendesk signature of a refused body": zendesk_signature(ZENDESK_WEBHOOK_SECRET, body, stamp),
        "valid Slack signature of a refused body": sign(slack_body, SLACK_SIGNING_SECRET, int(
            forged["X-Slack-Request-Timestamp"]))["X-Slack-Signature"].removeprefix("v0=")}

    captured = "\n".join(debug_logs.lines)
    out, err = capfd.readouterr()
    everything = f"{captured}\n{out}\n{err}"
    # The capture is real: the libraries did log their requests at DEBUG.
    assert any("jira" in line or "urllib3" in line or "requests" in line for line in debug_logs.lines)
    assert "chat.postMessage" in captured and "/rest/api/2/issue/SS-101" in captured
    assert "Jira answered 429" in captured and "failed on attempt 1" in captured  # the error paths ran
    assert "A retry handler found: RateLimitRetry" in captured
    basic = base64.b64encode(f"{BOT_EMAIL}:{JIRA_API_TOKEN}".encode()).decode()
    assert leaks(everything, SECRETS) == []
    assert basic not in everything and f"Bearer {SLACK_BOT_TOKEN}" not in everything
    assert [what for what, value in right_signatures.items() if value in everything] == []
