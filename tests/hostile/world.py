"""``ticketbot run`` in one process, against fakes of everything outside it, for hostile scenarios.

The real Daemon (HTTP app, inbox, workers, timer sweep, guards) with the real Jira adapter (the
``jira`` library) talking to the stateful fake Jira, and Slack mounted on the real bolt app and
WebClient talking to the fake Slack. Jira events arrive as signed webhook bodies through
``POST /webhooks/jira``; Slack commands as signed requests through ``POST /slack/events``. Workers
are drained inline after each request and time is virtual, so nothing here waits.

Every secret has a distinctive value, so a test can look for it (and its encodings) in the logs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, quote_plus

from fastapi.testclient import TestClient

from bot.clock import VirtualClock
from bot.daemon.core import Daemon
from bot.daemon.slack import mount_slack
from bot.model import APPROVAL_GIVEN, APPROVAL_REJECTED, COMMS_REQUESTED
from bot.ops.audit import AuditLog
from bot.sources.signatures import jira_signature
from bot.state import StateStore
from bot.store import LIVE
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.site import Site, SiteTicket
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.rules.webhooks import Issue, JiraWebhooks
from tests.slack.helpers import InlineExecutor, block_action_payload, form, interaction_body, sign, slash_command_fields

RULE = "everbright_onboarding"
BOT_EMAIL = "ticketbot@goeverbright.com"
APPROVER = "david.ellis@goeverbright.com"
MANAGER = "tom.becker@goeverbright.com"
CONFIG_PERSON = "lena.config@goeverbright.com"
AUTOMATION = "automation@goeverbright.com"
CUSTOMER = "ops@sunpeaksolar.example"
APPROVER_SLACK = "U0DAVID"
ADMIN_SLACK = "UADMIN01"
STRANGER_SLACK = "USTRANGER"

JIRA_API_TOKEN = "ATATT3xFfGF0-hostile-jira-api-token-7Qz2"
JIRA_WEBHOOK_SECRET = "hostile-jira-webhook-secret-p4Ks"
ZENDESK_WEBHOOK_SECRET = "hostile-zendesk-signing-secret-Vn8w"
SLACK_SIGNING_SECRET = "hostile-slack-signing-secret-3hJd"
SLACK_BOT_TOKEN = "xoxb-4242424242-hostile-bot-token-Wq9r"
SECRETS = {"Jira API token": JIRA_API_TOKEN, "Jira webhook secret": JIRA_WEBHOOK_SECRET,
           "Zendesk webhook secret": ZENDESK_WEBHOOK_SECRET, "Slack signing secret": SLACK_SIGNING_SECRET,
           "Slack bot token": SLACK_BOT_TOKEN}


def fake_slack(spec: Any = None, **kw: Any) -> FakeSlack:
    """The fake Slack workspace: the approver, an admin, a stranger, the admin channel."""
    slack = FakeSlack(spec=spec, token=SLACK_BOT_TOKEN, **kw)
    slack.add_user(APPROVER_SLACK, APPROVER, "David Ellis")
    slack.add_user(ADMIN_SLACK, "admin@goeverbright.com", "Ada Admin")
    slack.add_user(STRANGER_SLACK, "stranger@goeverbright.com", "Sam Stranger")
    slack.add_channel("CADMIN")
    return slack


class World:
    """The daemon and the fakes around it; methods are what people (and Jira's automation) do."""

    def __init__(self, make_daemon: Callable[..., Daemon], site: Site, jira: FakeJira, slack: FakeSlack,
                 clock: VirtualClock) -> None:
        self.jira, self.slack, self.clock = jira, slack, clock
        tracker = JiraTracker(jira.base_url, BOT_EMAIL, JIRA_API_TOKEN, sleep=lambda _s: None)
        self.daemon = make_daemon(
            site, tracker=tracker,
            jira={"url": jira.base_url, "email": BOT_EMAIL, "api_token": JIRA_API_TOKEN,
                  "webhook_secret": JIRA_WEBHOOK_SECRET, "poll_interval": 0},
            zendesk={"webhook_secret": ZENDESK_WEBHOOK_SECRET},
            slack={"bot_token": SLACK_BOT_TOKEN, "signing_secret": SLACK_SIGNING_SECRET, "admins": [ADMIN_SLACK],
                   "api_url": slack.base_url, "admin_channel": "CADMIN"})
        self.mount = mount_slack(self.daemon, listener_executor=InlineExecutor())
        self.http = TestClient(self.daemon.app)
        self.hooks = JiraWebhooks(site, jira.base_url)
        self.issues: dict[str, Issue] = {}
        self.states = StateStore(self.daemon.store)

    # Jira: what people do, then the webhook Jira sends ------------------------------------------------
    def deliver(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a signed Jira webhook body; it must be accepted; the workers then process it."""
        raw = json.dumps(body).encode()
        response = self.http.post("/webhooks/jira", content=raw,
                                  headers={"Content-Type": "application/json",
                                           "X-Hub-Signature": jira_signature(JIRA_WEBHOOK_SECRET, raw)})
        assert response.status_code == 202, response.text
        self.drain()
        return response.json()

    def create(self, key: str, summary: str, description: str, reporter: str, *, status: str = "Waiting for support",
               issue_type: str = "Service Request", participants: tuple[str, ...] = (),
               fields: dict[str, Any] | None = None) -> dict[str, Any]:
        self.jira.now = self.clock.now()
        self.jira.add_ticket(SiteTicket(key=key, summary=summary, description=description, status=status,
                                        issue_type=issue_type, reporter=reporter, participants=list(participants),
                                        fields=fields or {}))
        issue = self.issues[key] = Issue(self.hooks, key, summary=summary, issue_type=issue_type, status=status,
                                         created=self.clock.now())
        return self.deliver(issue.create(reporter, description=description, fields=fields))

    def move(self, key: str, status: str, by: str = CONFIG_PERSON) -> dict[str, Any]:
        self.jira.now = self.clock.now()
        self.jira.ticket(key).status = status
        return self.deliver(self.issues[key].move(self.clock.now(), by, status))

    def comment(self, key: str, author: str, body: str) -> dict[str, Any]:
        self.jira.now = self.clock.now()
        self.jira.comment_as(key, author, body)
        return self.deliver(self.issues[key].comment(self.clock.now(), author, body, internal=False))

    # time ----------------------------------------------------------------------------------------------
    def advance(self, delta: timedelta, *, step: timedelta = timedelta(hours=1)) -> None:
        """Let time pass in steps; at each, the leader's timer sweep runs and the workers drain."""
        until = self.clock.now() + delta
        while self.clock.now() < until:
            self.clock.set(min(until, self.clock.now() + step))
            self.jira.now = self.clock.now()
            self.daemon.timers.run_once()
            self.drain()

    def drain(self) -> None:
        self.daemon.workers.drain()

    # Slack ---------------------------------------------------------------------------------------------
    def slash(self, text: str, user: str, *, secret: str = SLACK_SIGNING_SECRET,
              timestamp: int | None = None) -> tuple[int, str, list[dict[str, Any]]]:
        """A signed ``/ticketbot`` command: (HTTP status, the ack's text, what went to its response_url)."""
        response_url = self.slack.new_response_url()
        body = form(slash_command_fields(text, user, response_url))
        response = self.http.post("/slack/events", content=body, headers=sign(body, secret, timestamp))
        self.drain()
        ack = response.json().get("text", "") if response.content and response.status_code == 200 else ""
        return response.status_code, ack, self.slack.response_posts[response_url]

    def click(self, action_id: str, value: str, user: str, message: dict[str, Any] | None = None
              ) -> tuple[int, list[dict[str, Any]]]:
        response_url = self.slack.new_response_url()
        body = interaction_body(block_action_payload(action_id, value, user, response_url, message=message))
        response = self.http.post("/slack/events", content=body, headers=sign(body, SLACK_SIGNING_SECRET))
        self.drain()
        return response.status_code, self.slack.response_posts[response_url]

    # looking -------------------------------------------------------------------------------------------
    def bot_comments(self, key: str) -> list[str]:
        return [c.body for c in self.jira.ticket(key).comments if c.author == self.jira.bot.account_id]

    def all_bot_comments(self) -> list[str]:
        return [body for key in self.jira.issues for body in self.bot_comments(key)]

    def slack_messages(self) -> list[dict[str, Any]]:
        """Everything the bot posted with chat.postMessage, in every channel and DM."""
        return [m for messages in self.slack.messages.values() for m in messages]

    def stage(self, key: str) -> str | None:
        state = self.states.get(LIVE, RULE, key)
        return state.stage if state else None

    def decisions(self) -> list[Any]:
        """Slack decisions and requests waiting in (or done by) the inbox."""
        return [r for r in self.daemon.inbox.rows(limit=10_000)
                if r.kind in (APPROVAL_GIVEN, APPROVAL_REJECTED, COMMS_REQUESTED)]

    def audit(self, **filters: Any) -> list[Any]:
        return AuditLog(self.daemon.store, self.daemon.clock).entries(**filters)

    def pauses(self) -> list[Any]:
        return self.daemon.guards.active_pauses()


# the whole runbook ------------------------------------------------------------------------------------------
FORM = ("Thank you for partnering with EverBright!\n\n* Installer name: {name}\n"
        "* Installer contact email: {email}\n")


def onboarding_until_approval_asked(world: World, *, installer: str = "Sunpeak Solar", contact: str = CUSTOMER,
                                    ss: str = "SS-101", cs: str = "CS-201") -> None:
    """Steps 1–4: the onboarding form arrives, Jira's automation creates the CS ticket, Config puts it on hold."""
    world.create(ss, "EverBright Partner Onboarding", FORM.format(name=installer, email=contact), CUSTOMER,
                 participants=(CUSTOMER,))
    world.advance(timedelta(minutes=2), step=timedelta(minutes=2))
    world.create(cs, f"EverBright integrated finance setup ({ss})", f"Created by automation from {ss}.", AUTOMATION,
                 status="To Do", issue_type="Task")
    world.advance(timedelta(hours=20))
    world.move(cs, "On Hold")


def secret_forms(secret: str) -> Iterator[str]:
    """The ways a secret can show up in a log: as is, URL-encoded, base64 (standard and URL-safe, at
    any alignment inside a longer base64 text, as in ``Basic base64(email:token)``), hex."""
    yield secret
    yield quote(secret, safe="")
    yield quote_plus(secret)
    yield secret.encode().hex()
    for pad in range(3):  # base64 of the secret behind 0, 1 or 2 other bytes: the stable middle part
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + secret.encode()).decode()
            core = text[-(-8 * pad // 6):-4]  # drop the characters that mix in other bytes
            if len(core) >= 12:
                yield core
