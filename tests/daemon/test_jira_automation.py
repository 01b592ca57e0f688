"""``POST /webhooks/jira-automation``: Jira Automation's "Send web request", over real HTTP.

Automation cannot sign a body: the admin adds the header ``X-Ticketbot-Automation-Secret`` to the
action, holding ``TICKETBOT_JIRA__AUTOMATION_SECRET``. Without that setting the path refuses
everything, as the signed path does without its secret.
"""

from __future__ import annotations

import json

import httpx

from bot.inbox.queue import DONE
from tests.support import daemon as harness

AUTOMATION_SECRET = "automation shared secret"
PATH = "/webhooks/jira-automation"
HEADER = "X-Ticketbot-Automation-Secret"


def jira_format(key: str, ts_ms: int) -> dict:
    """"Issue data (Jira format)": the issue under ``issue``, and when the rule ran; no ``webhookEvent``."""
    return {"issue": harness.onboarding_created(key, ts_ms)["issue"], "timestamp": ts_ms}


def test_a_send_web_request_with_the_secret_runs_the_rules_on_its_issue(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]), jira={"automation_secret": AUTOMATION_SECRET})
    body = harness.encode(jira_format("SS-1", 1793610840000))
    with harness.live_server(daemon.app, lifespan="off") as url, httpx.Client(base_url=url) as client:
        first = client.post(PATH, content=body, headers={HEADER: AUTOMATION_SECRET})
        again = client.post(PATH, content=body, headers={HEADER: AUTOMATION_SECRET})  # the action retried
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert daemon.workers.drain() == 1
    [row] = daemon.inbox.rows()
    assert (row.source, row.kind, row.ticket_key, row.status) == ("jira-automation", "ticket.updated", "SS-1", DONE)
    log = daemon.handler.trackers["jira"].changes()
    assert sorted(line for line in harness.lines_of(log, "SS-1") if "created" not in line) == sorted(
        harness.INTAKE_LINES
    )
    assert AUTOMATION_SECRET not in json.dumps(row.envelope)  # the secret is never stored


def test_the_automation_format_is_accepted_too(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]), jira={"automation_secret": AUTOMATION_SECRET})
    issue = jira_format("SS-1", 1793610840000)["issue"]
    issue["fields"]["updated"] = "2026-11-02T09:14:00.000+0000"
    with harness.live_server(daemon.app, lifespan="off") as url:
        r = httpx.post(f"{url}{PATH}", content=harness.encode(issue), headers={HEADER: AUTOMATION_SECRET})
    assert r.status_code == 202 and r.json()["status"] == "queued"


def test_without_the_secret_or_with_another_the_request_is_refused(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]), jira={"automation_secret": AUTOMATION_SECRET})
    body = harness.encode(jira_format("SS-1", 1793610840000))
    with harness.live_server(daemon.app, lifespan="off") as url, httpx.Client(base_url=url) as client:
        for headers in ({}, {HEADER: "not the secret"}, {HEADER: AUTOMATION_SECRET[:-1]}, {HEADER: ""},
                        harness.jira_headers(body)):  # an HMAC signature is no automation secret
            r = client.post(PATH, content=body, headers=headers)
            assert r.status_code == 401, headers
            assert AUTOMATION_SECRET not in r.text
        unreadable = client.post(
            PATH, content=harness.encode({"issue": {"key": "SS-1"}}), headers={HEADER: AUTOMATION_SECRET}
        )
    assert unreadable.status_code == 400 and "Issue data (Jira format)" in unreadable.json()["error"]
    assert daemon.inbox.rows() == []


def test_without_the_setting_the_path_is_closed(make_daemon):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]))
    body = harness.encode(jira_format("SS-1", 1793610840000))
    with harness.live_server(daemon.app, lifespan="off") as url:
        r = httpx.post(f"{url}{PATH}", content=body, headers={HEADER: "anything"})
    assert r.status_code == 403 and "TICKETBOT_JIRA__AUTOMATION_SECRET" in r.json()["error"]
    assert daemon.inbox.rows() == []
