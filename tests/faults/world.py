"""The EverBright world the fault tests run: people acting on a fake Jira, the daemon reacting.

The recorded stream ``examples/everbright/events.jsonl`` is played as what happened in the world:
at each event's time the person's action (a ticket created, a status changed, a comment written,
a label added) is made on the stateful fake Jira, then Jira sends the recorded webhook body,
signed. The bot under test is the real daemon, in-process (:class:`bot.daemon.core.Daemon`): the
webhook intake and its inbox on a real database, the workers, the guards, the pipeline, the real
Jira adapter talking HTTP to :class:`tests.fakes.fake_jira.FakeJira` through ``responses``, the
real Slack notifier talking to :class:`tests.fakes.fake_slack.FakeSlack`, and the durable timers
fired by the daemon's sweep on a virtual clock. Nothing sleeps: every sleep the adapters ask for
is recorded and moves the virtual clock.

A test perturbs how the webhooks reach the bot, or breaks the bot, a database or a vendor, and
compares :meth:`World.state` (every ticket's fields, status, resolution, people, comments and
links, the organizations, and every Slack message) with the state a clean run reaches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bot.clock import VirtualClock
from bot.daemon.core import Daemon
from bot.inbox.queue import PENDING, InboxRow, dedup_key, owner_id
from bot.settings import Settings, SlackSettings
from bot.slack.sender import SlackNotifier
from bot.sources.jira_webhook import ID_HEADER, parse_jira_webhook
from bot.state import StateStore
from bot.store import LIVE
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.site import Site, SiteTicket
from rules import load_rules
from tests.fakes.fake_jira import FakeJira, load_specs
from tests.fakes.fake_slack import FakeSlack, urllib_via_requests
from tests.support.daemon import SECRET, encode, in_process_daemon, jira_headers
from tests.support.paths import EVERBRIGHT_ONLY, EXAMPLES

EVENTS = EXAMPLES / "everbright" / "events.jsonl"
SITE = EXAMPLES / "everbright" / "site.yaml"
CONFIG = EVERBRIGHT_ONLY  # the EverBright rule alone
APPROVER = "david.ellis@goeverbright.com"
APPROVER_SLACK = "U0DAVID"
ADMIN_CHANNEL = "CADMIN"
BOT_EMAIL = "ticketbot@goeverbright.com"
#: Virtual time after the last recorded event that the world keeps running (timers may be due).
AFTERWARDS = timedelta(days=3)


#: The rule's own alert, once per onboarding, that an organization (Helio Homes) has no account manager: part of
#: every run. Fault tests look at the operational alerts beside it (:func:`operational_alerts`).
RULE_ALERT = "has no account manager"


def operational_alerts(world: World) -> list[str]:
    """What the admin channel heard about the bot's own troubles (outages, dead letters, refused names)."""
    return [m["text"] for m in world.slack.in_channel(ADMIN_CHANNEL) if RULE_ALERT not in m["text"]]


def pop_operational_alerts(world: World) -> list[str]:
    """:func:`operational_alerts`, taken out of the channel (the rule's alerts stay, as in a clean run)."""
    found = operational_alerts(world)
    world.slack.messages[ADMIN_CHANNEL] = [m for m in world.slack.in_channel(ADMIN_CHANNEL)
                                           if RULE_ALERT in m["text"]]
    return found


class Crash(BaseException):
    """The process dies at this point: nothing after it runs, not even ``except Exception`` blocks."""


# the recorded stream ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One recorded webhook: what a person (or Jira's automation) did, and the body Jira sent."""

    index: int
    body: dict[str, Any]

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.body["timestamp"] / 1000, tz=UTC)

    @property
    def key(self) -> str:
        return self.body["issue"]["key"]

    @property
    def delivery(self) -> str:
        """Jira's ``X-Atlassian-Webhook-Identifier``: the same on every retry of this webhook."""
        return f"everbright-{self.index}"

    @property
    def event_id(self) -> str:
        """The id its event gets (traces carry it): the delivery identifier."""
        return parse_jira_webhook(self.body, headers={ID_HEADER: self.delivery}).id

    @property
    def inbox_key(self) -> str:
        """The key the inbox files it under: its delivery, or for a comment the comment itself."""
        return dedup_key("jira", parse_jira_webhook(self.body, headers={ID_HEADER: self.delivery}))

    @property
    def label(self) -> str:
        changes = ",".join(f"{i['field']}={i.get('toString')}" for i in (self.body.get("changelog") or {})
                           .get("items", []) if i["field"] != "summary")
        return f"{self.index}:{self.body['webhookEvent'].removeprefix('jira:')} {self.key} {changes}".strip()

    def raw(self) -> bytes:
        return encode(self.body)


def recorded_steps() -> list[Step]:
    lines = [line for line in EVENTS.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("//")]
    steps = [Step(n, json.loads(line)) for n, line in enumerate(lines)]
    assert [s.at for s in steps] == sorted(s.at for s in steps), "the recording is in time order"
    return steps


# the vendors, with fault hooks ----------------------------------------------------------------------------
Reply = tuple[int, dict[str, str], str]
#: ``before(method, path)``: a reply to give instead of serving the request (a 429, a 503), or None.
Before = Callable[[str, str], Reply | None]
#: ``after(method, path, status)``: runs once the request has been served (raising there loses the answer).
After = Callable[[str, str, int], None]


class FaultyJira(FakeJira):
    """The stateful fake Jira, plus: a log of every request with its virtual time and answer, and hooks."""

    def __init__(self, site: Site, clock: VirtualClock, **kw: Any) -> None:
        super().__init__(site, now=clock.now(), **kw)
        self.clock = clock
        self.log: list[tuple[datetime, str, str, int]] = []
        self.before: list[Before] = []
        self.after: list[After] = []

    def _serve(self, request: Any) -> Reply:
        method, path = request.method.upper(), urlsplit(request.url).path
        self.now = self.clock.now()
        for hook in list(self.before):
            reply = hook(method, path)
            if reply is not None:
                self.log.append((self.clock.now(), method, path, reply[0]))
                return reply
        status, headers, body = super()._serve(request)
        self.log.append((self.clock.now(), method, path, status))
        for hook in list(self.after):
            hook(method, path, status)
        return status, headers, body


class FaultySlack(FakeSlack):
    """The fake Slack Web API with the same log and hooks (the path is the Web API method)."""

    def __init__(self, clock: VirtualClock, **kw: Any) -> None:
        super().__init__(**kw)
        self.clock = clock
        self.log: list[tuple[datetime, str, str, int]] = []
        self.before: list[Before] = []
        self.after: list[After] = []

    def _web_api(self, request: Any) -> Reply:
        method = urlsplit(request.url or "").path.rsplit("/", 1)[-1]
        for hook in list(self.before):
            reply = hook("POST", method)
            if reply is not None:
                self.hits.append(method)
                self.log.append((self.clock.now(), "POST", method, reply[0]))
                return reply
        status, headers, body = super()._web_api(request)
        self.log.append((self.clock.now(), "POST", method, status))
        for hook in list(self.after):
            hook("POST", method, status)
        return status, headers, body


def throttled(status: int, retry_after: float | None, *, slack: bool = False) -> Reply:
    """A 429/503 answer as Jira (or Slack) gives it."""
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    body = {"ok": False, "error": "ratelimited" if status == 429 else "service_unavailable"} if slack else \
        {"errorMessages": ["Rate limit exceeded." if status == 429 else "Service unavailable."]}
    return status, headers, json.dumps(body)


# the world ------------------------------------------------------------------------------------------------
class World:
    """The fake vendors, the virtual clock, the database, and the daemon (which :meth:`restart` replaces).

    Use as a context manager. ``db_url`` defaults to a SQLite file in ``tmp``; ``extra_rules`` are bound
    beside the EverBright rule (a poison rule, say); ``specs``: check every Jira request against
    Atlassian's OpenAPI spec (slower; the clean run uses it, the fuzzed runs need not). The adapters'
    retries are the daemon's defaults (Jira: 4, ``TICKETBOT_JIRA__MAX_RETRIES``; Slack: 3, at most 30 s
    each); ``worker`` overrides ``TICKETBOT_WORKER__*`` settings.
    """

    def __init__(self, tmp: Path, *, db_url: str | None = None, extra_rules: Sequence[Any] = (),
                 specs: bool = False, max_retries: int = 4, slack_max_wait: float = 30.0, **worker: Any) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.steps = recorded_steps()
        self.clock = VirtualClock(self.steps[0].at - timedelta(minutes=1))
        self.site = Site.load(SITE)
        self.jira = FaultyJira(self.site, self.clock, specs=load_specs() if specs else None)
        self.slack = FaultySlack(self.clock)
        self.slack.add_user(APPROVER_SLACK, APPROVER, "David Ellis")
        self.slack.add_channel(ADMIN_CHANNEL)
        self.db_url = db_url or f"sqlite:///{tmp / 'ticketbot.sqlite3'}"
        self.extra_rules = list(extra_rules)
        self.max_retries = max_retries
        self.slack_max_wait = slack_max_wait
        self.worker = {"count": 1, "idle_poll": 0.05, **worker}
        #: Every sleep the Jira adapter and the Slack client asked for (each moved the virtual clock).
        self.slept: list[tuple[str, float]] = []
        self.daemons: list[Daemon] = []
        self.crashes = 0
        self._stack = ExitStack()

    # lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._stack.enter_context(self.jira)
        assert self.jira._mock is not None
        self.slack.install(self.jira._mock)
        self._stack.enter_context(urllib_via_requests())
        self.restart()
        return self

    def __exit__(self, *exc: object) -> None:
        for daemon in self.daemons:
            daemon.store.engine.dispose()
        self._stack.close()

    @property
    def daemon(self) -> Daemon:
        return self.daemons[-1]

    def restart(self) -> Daemon:
        """A new process on the same database: new engine, adapters with cold caches, a new lease owner.

        The dead process's claims are handed back at once, as a restarted container (same host and
        pid, a new per-process nonce) gets them back (:meth:`bot.inbox.queue.Inbox.reclaim_orphans`).
        """
        if self.daemons:
            self.daemons[-1].store.engine.dispose()
        settings = Settings(database_url=self.db_url, config=CONFIG,
                            jira={"webhook_secret": SECRET, "poll_interval": 0}, worker=self.worker)
        rules = [*load_rules(CONFIG), *self.extra_rules]
        tracker = JiraTracker(self.jira.base_url, BOT_EMAIL, "api-token", max_retries=self.max_retries,
                              sleep=self._sleeper("jira"))
        notifier = SlackNotifier.from_settings(
            SlackSettings(bot_token=self.slack.token, api_url=self.slack.base_url, admin_channel=ADMIN_CHANNEL),
            sleep=self._sleeper("slack"), max_wait=self.slack_max_wait)
        daemon = in_process_daemon(settings, self.site, rules=rules, tracker=tracker, clock=self.clock,
                                   notifier=notifier, field_json=self.jira.field_json())
        daemon.inbox.owner = f"{owner_id().rsplit(':', 1)[0]}:{uuid.uuid4().hex[:8]}"
        daemon.inbox.reclaim_orphans()
        self.daemons.append(daemon)
        return daemon

    def _sleeper(self, who: str) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            self.slept.append((who, seconds))
            self.clock.advance(timedelta(seconds=seconds))

        return sleep

    # what people do -----------------------------------------------------------------------------------------
    def act(self, step: Step, *, now: bool = False) -> None:
        """Make on the fake Jira, at the step's time (``now``: at the current time), what the person did
        (Jira then sends the webhook)."""
        if not now:
            self.clock.set(step.at)
        self.jira.now = self.clock.now()
        body, issue = step.body, step.body["issue"]
        fields = issue["fields"]
        kind = body["webhookEvent"]
        if kind == "jira:issue_created":
            request_type = (fields.get("customfield_10010") or {}).get("requestType", {}).get("name")
            self.jira.add_ticket(SiteTicket(
                key=issue["key"], summary=fields["summary"], description=fields.get("description") or "",
                status=fields["status"]["name"], issue_type=fields["issuetype"]["name"],
                reporter=(fields.get("reporter") or {}).get("emailAddress"), request_type=request_type,
                participants=[p["emailAddress"] for p in fields.get("customfield_10001") or []],
                labels=list(fields.get("labels") or [])))
        elif kind == "jira:issue_updated":
            stored = self.jira.ticket(issue["key"])
            for item in body["changelog"]["items"]:
                if item["field"] == "status":
                    stored.status = item["toString"]
                elif item["field"] == "labels":
                    stored.labels = (item["toString"] or "").split()
                else:
                    raise AssertionError(f"the world cannot replay a change of {item['field']!r}")
            stored.updated = self.jira.now
        elif kind == "comment_created":
            comment = body["comment"]
            self.jira.comment_as(issue["key"], comment["author"]["emailAddress"], comment["body"])
        else:
            raise AssertionError(f"the world cannot replay {kind}")

    # what the bot sees ----------------------------------------------------------------------------------------
    def deliver(self, step: Step, delivery: str | None = "") -> int:
        """Jira POSTs the step's webhook once; returns the HTTP status the daemon answered.

        ``delivery``: the webhook identifier header ("" = the step's own, as Jira's retries carry;
        None = no header, so the inbox recognises a repeat by the body's identity digest)."""
        raw = step.raw()
        headers = jira_headers(raw, step.delivery if delivery == "" else delivery)
        return self.daemon.intake.receive("jira", raw, {k.lower(): v for k, v in headers.items()}).status

    def process(self) -> int:
        """The workers take every ready event (in the test's thread)."""
        return self.daemon.workers.drain()

    def sweep(self) -> int:
        """The leader's timer sweep, then the workers."""
        fired = self.daemon.timers.run_once()
        self.process()
        return fired

    def wait_until(self, moment: datetime) -> None:
        """Let virtual time run to ``moment``: timers fire at their due times, retries run when due."""
        while True:
            self.sweep()
            now = self.clock.now()
            upcoming = [t for t in (self.next_timer(), self.next_retry()) if t is not None and t > now]
            if not upcoming or min(upcoming) > moment:
                break
            self.clock.set(min(upcoming))
        self.clock.set(moment)
        self.sweep()

    def next_timer(self) -> datetime | None:
        return StateStore(self.daemon.store).next_due(LIVE)

    def next_retry(self) -> datetime | None:
        """When the earliest event waiting for its next attempt is due."""
        with self.daemon.store.engine.connect() as conn:
            due = conn.execute(select(func.min(InboxRow.next_attempt_at)).where(
                InboxRow.status == PENDING, InboxRow.next_attempt_at > self.clock.now().timestamp())).scalar()
        return datetime.fromtimestamp(due, tz=UTC) if due is not None else None

    def end(self) -> datetime:
        return self.steps[-1].at + AFTERWARDS

    # the clean run ----------------------------------------------------------------------------------------
    def run_clean(self, *, survive: bool = False) -> None:
        """Every webhook delivered (until acknowledged) right after its action, and processed at once.

        ``survive``: a :class:`Crash` anywhere kills the process; the world goes on with a restarted
        one (:meth:`restart`), and Jira keeps sending the webhook it got no acknowledgement for."""
        for step in self.steps:
            self.phase(lambda: self.wait_until(step.at), survive)  # noqa: B023 - called at once
            self.act(step)
            self.phase(lambda: self.deliver_until_acknowledged(step), survive)  # noqa: B023
            self.phase(self.process, survive)
        self.phase(lambda: self.wait_until(self.end()), survive)

    def phase(self, work: Callable[[], object], survive: bool) -> None:
        while True:
            try:
                work()
                return
            except Crash:
                if not survive:
                    raise
                self.crashes += 1
                self.restart()

    def deliver_until_acknowledged(self, step: Step, attempts: int = 20) -> None:
        """Jira's sender: it retries a webhook until it is answered 2xx."""
        for _ in range(attempts):
            if self.deliver(step) == 202:
                return
        raise AssertionError(f"{step.label} never acknowledged")

    # looking ----------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return world_state(self.jira, self.slack)

    def inbox(self) -> list[InboxRow]:
        return self.daemon.inbox.rows()

    def writes(self) -> list[tuple[str, str]]:
        """Every write request the fake Jira served (2xx), in order."""
        return [(m, p) for _, m, p, s in self.jira.log if m != "GET" and 200 <= s < 300]


def world_state(jira: FakeJira, slack: FakeSlack) -> dict[str, Any]:
    """What the people see: every ticket as the fake Jira stores it, the organizations, Slack's messages.

    Jira's own timestamps (created, updated) are left out: a later delivery lands later. Everything
    the bot writes, including the moments it writes into comments, is in.
    """
    def who(account_id: str | None) -> str | None:
        return jira.users[account_id].email if account_id in jira.users else account_id

    link_names = {t.id: t.name for t in jira.site.link_types}
    plain = [f for f in jira.site.fields if not f.type.startswith("sd-")]
    tickets = {}
    for key, issue in sorted(jira.issues.items()):
        tickets[key] = {
            "summary": issue.summary, "description": issue.description, "issue_type": issue.issue_type,
            "status": issue.status, "resolution": issue.resolution, "reporter": who(issue.reporter),
            "organizations": jira.organization_names(key), "request_type": jira.request_type_name(key),
            "participants": [who(a) for a in issue.participants], "watchers": [who(a) for a in issue.watchers],
            "labels": list(issue.labels), "fields": {f.name: jira.field(key, f.name) for f in plain},
            "comments": [(who(c.author), "internal" if c.internal else "PUBLIC", c.body) for c in issue.comments],
            "links": [(link_names[lk.type_id], lk.inward, lk.outward) for lk in issue.links],
        }
    desks = {desk: sorted(jira.organizations[o] for o in orgs) for desk, orgs in jira.desk_organizations.items()}
    messages = {channel: [(m["text"], json.dumps(m["blocks"], sort_keys=True)) for m in posted]
                for channel, posted in sorted(slack.messages.items())}
    return {"tickets": tickets, "organizations": sorted(jira.organizations.values()), "desks": desks,
            "slack": messages}


def diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """A readable list of the differences between two world states (empty: identical)."""
    out: list[str] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(f"{path}/{k}", a.get(k, "<absent>"), b.get(k, "<absent>"))
        elif a != b:
            out.append(f"{path}: expected {a!r}\n{' ' * len(path)}       got {b!r}")

    walk("", expected, actual)
    return out


@dataclass(frozen=True)
class Clean:
    """What a clean run ends with: the world's state and the Jira writes it took."""

    state: dict[str, Any]
    writes: list[tuple[str, str]]


def clean_run(tmp: Path) -> Clean:
    """The clean run (computed once per test session: the stream is fixed), spec-checked when the
    vendor specs are there: every request it sends is one Atlassian's spec describes."""
    global _CLEAN
    if _CLEAN is None:
        with World(tmp, specs=True) as world:
            world.run_clean()
            assert world.jira.violations == [] and world.jira.unserved == [] and world.slack.violations == []
            assert {r.status for r in world.inbox()} == {"done"}
            _CLEAN = Clean(world.state(), world.writes())
    return _CLEAN


_CLEAN: Clean | None = None
