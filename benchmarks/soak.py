"""Soak benchmark: a live ``ticketbot run`` SIGKILLed and restarted while onboardings run through it.

    .venv/bin/python benchmarks/soak.py --minutes 2 --kill-every 20
    .venv/bin/python benchmarks/soak.py --minutes 10 --kill-every 30 --json

The daemon (``python -m bot.cli run``, SQLite file, one worker process, the five rules of
``config/ticketbot.yaml`` with the EverBright delays shortened: approval reminder after/every
``--reminder`` seconds, at most two, then the admin alert; a CS ticket looked for again every 3 s)
talks over real HTTP to a stateful fake Jira Cloud + Service Management and a fake Slack Web API
served by this process on loopback (``tests/fakes`` behind ``benchmarks/fake_http.py``).

This process plays the people and Jira: it opens an onboarding every ``--every`` seconds (at most
``--concurrency`` at a time) and walks each through the six runbook steps, changing the fake site
as a person would and posting the signed webhook Jira would send (retried until acknowledged, as
Jira retries): the form arrives (step 1, the bot's intake is step 2), Jira's automation creates the
CS ticket (step 3; for one in ten before the intake is done, so the bot's find-again timer runs),
Config puts CS on hold (step 4, the bot asks for approval and arms the reminder), the approver
answers by comment at once, or only after a Slack reminder, or after the admin alert, or by a
separate ticket (step 5), and Config sets CS Done (step 6, the bot closes SS). Each step waits for
the bot's previous writes to show on the fake site, and then ``--think`` seconds (a person noticing).

Meanwhile the daemon's whole process group is SIGKILLed at random (intervals uniform in
0.5-1.5 x ``--kill-every`` s) and started again. After ``--minutes`` no onboarding is opened and nothing is
killed; the rest gets ``--drain`` seconds to finish. Then it prints:

* events sent / acknowledged / processed (finished in the inbox) / lost (acknowledged but never
  processed) / dead-lettered, and onboardings completed or stuck (with the step they stopped at);
* duplicated writes in the fakes' final state: the same bot comment twice on a ticket, the same link
  twice, a transition applied twice, a watcher added twice, an organization created twice, a Slack
  message (reminder, alert) sent more often than its timer fired;
* timers: fired (``timer.fired`` events), fired twice, overdue but never fired, and how late:
  event queued by the sweep - due time, and the event processed (the Slack DM sent) - due time;
* RSS of the daemon's processes over time (``/proc/<pid>/status``), restarts.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import contextlib

from fake_http import FakeServer

from bot.trackers.site import Site, SiteTicket
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack

SECRET = "soak-webhook-secret"
SLACK_TOKEN = "xoxb-soak-fake-token"
APPROVER = "david.ellis@goeverbright.com"
APPROVER_SLACK = "U0DAVID"
ADMIN_CHANNEL = "C0ADMINS"
CUSTOMER = "ops@sunpeaksolar.example"
AUTOMATION = "automation@goeverbright.com"
CONFIG_PERSON = "lena.config@goeverbright.com"
ASK_TEXT = "Are we approved to push"


# the daemon --------------------------------------------------------------------------------------------
def soak_config(work: Path, reminder: float) -> Path:
    """config/ticketbot.yaml with the EverBright delays in seconds instead of hours."""
    config = yaml.safe_load((ROOT / "config" / "ticketbot.yaml").read_text(encoding="utf-8"))
    everbright = config["rules"]["everbright_onboarding"]
    everbright.update({"approval_reminder_after": f"{reminder:g}s", "approval_reminder_every": f"{reminder:g}s",
                       "approval_reminder_max": 2, "find_config_ticket_every": "3s",
                       "find_config_ticket_attempts": 20})
    everbright["approver"]["slack_user"] = None  # looked up by e-mail in the fake Slack
    path = work / "ticketbot.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


class Daemon:
    """``ticketbot run`` in its own process group (SIGKILL takes the worker process with it)."""

    def __init__(self, work: Path, jira_url: str, slack_url: str, config: Path, bot_account: str) -> None:
        from tests.support.daemon import free_port

        self.port = free_port()
        self.work = work
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKETBOT_")},
                    "TICKETBOT_DATABASE_URL": f"sqlite:///{work / 'ticketbot.sqlite3'}",
                    "TICKETBOT_CONFIG": str(config),
                    "TICKETBOT_JIRA__URL": jira_url, "TICKETBOT_JIRA__EMAIL": "ticketbot@goeverbright.com",
                    "TICKETBOT_JIRA__API_TOKEN": "soak-jira-token", "TICKETBOT_JIRA__BOT_ACCOUNT_ID": bot_account,
                    "TICKETBOT_JIRA__WEBHOOK_SECRET": SECRET, "TICKETBOT_JIRA__POLL_INTERVAL": "0",
                    "TICKETBOT_SLACK__BOT_TOKEN": SLACK_TOKEN, "TICKETBOT_SLACK__SIGNING_SECRET": "soak-signing",
                    "TICKETBOT_SLACK__API_URL": slack_url + "/api/", "TICKETBOT_SLACK__ADMIN_CHANNEL": ADMIN_CHANNEL,
                    "TICKETBOT_HTTP__PORT": str(self.port),
                    # a soak opens hundreds of onboardings an hour: the blast-radius cap would pause the rule
                    "TICKETBOT_GUARDS__MAX_TICKETS_PER_RULE_HOUR": "0",
                    "TICKETBOT_LOG_LEVEL": "WARNING", "TMPDIR": str(work)}
        self.proc: subprocess.Popen | None = None
        self.starts: list[float] = []
        self.kills: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for /healthz 200; returns the seconds it took."""
        began = time.monotonic()
        log = open(self.work / "ticketbot.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"daemon exited with {self.proc.returncode}; see {self.work / 'ticketbot.log'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.starts.append(time.time())
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"daemon not healthy after {timeout}s; see {self.work / 'ticketbot.log'}")

    def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills.append(time.time())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.kill()

    def pids(self) -> dict[str, int]:
        """The HTTP process and its worker children."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        out = {"http": self.proc.pid}
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                    # multiprocessing's resource tracker is a child too; the worker process is the other one
                    out["resource-tracker" if b"resource_tracker" in cmdline else "worker"] = int(child)
        except OSError:
            pass
        return out


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# the people and Jira -------------------------------------------------------------------------------------
@dataclass
class Sent:
    key: str
    delivery: str
    body: bytes
    first_at: float
    acked_at: float | None = None
    attempts: int = 0


@dataclass
class Onboarding:
    n: int
    style: str  # comment | after-reminder | after-alert | separate-ticket
    early_cs: bool
    step: str = "new"
    since: float = field(default_factory=time.time)
    seen_at: float | None = None  # when the bot's writes the next step waits for showed up
    done_at: float | None = None
    cs_done_at: float | None = None  # when Config set CS Done (step 6)

    @property
    def ss(self) -> str:
        return f"SS-{self.n}"

    @property
    def cs(self) -> str:
        return f"CS-{self.n}"

    @property
    def dup(self) -> str:
        return f"SS-{100000 + self.n}"


class World:
    """The fake sites, the webhooks sent to the daemon, and each onboarding's progress."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.RLock()
        site = Site.load(ROOT / "examples" / "everbright" / "site.yaml")
        self.jira = FakeJira(site)
        self.slack = FakeSlack(token=SLACK_TOKEN)
        self.slack.add_user(APPROVER_SLACK, APPROVER, "David Ellis")
        self.slack.add_channel(ADMIN_CHANNEL)
        self.jira_http = FakeServer(self.jira._serve, self.lock).start()
        self.jira.base_url = self.jira_http.url
        self.slack_http = FakeServer(self.slack._web_api, self.lock).start()
        self.slack_times: list[tuple[float, str, str]] = []  # (epoch, conversation, text)
        self._wrap_slack()
        self.rng = random.Random(seed)
        self.sent: dict[str, Sent] = {}
        self.outbox: list[Sent] = []  # not acknowledged yet
        self.onboardings: list[Onboarding] = []
        self.client = httpx.Client(timeout=5)

    def _wrap_slack(self) -> None:
        post = self.slack._m_chat_postMessage

        def recorded(params: dict[str, Any]) -> Any:
            reply = post(params)
            body = json.loads(reply[2])
            if body.get("ok"):
                self.slack_times.append((time.time(), body["channel"], str(params.get("text", ""))))
            return reply

        self.slack._m_chat_postMessage = recorded  # type: ignore[method-assign]

    # webhooks ----------------------------------------------------------------------------------------
    def _user(self, email: str) -> dict[str, Any]:
        return self.jira._user_json(self.jira.account_id(email))

    def _issue(self, key: str) -> dict[str, Any]:
        return self.jira._issue_json(self.jira.issues[key])

    def created(self, key: str, who: str) -> None:
        with self.lock:
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_created",
                    "issue_event_type_name": "issue_created", "user": self._user(who), "issue": self._issue(key)}
        self.queue(key, "created", body)

    def status_changed(self, key: str, old: str, new: str, who: str, step: str) -> None:
        with self.lock:
            issue = self.jira.issues[key]
            issue.status = new
            issue.updated = datetime.now(UTC)
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_updated",
                    "issue_event_type_name": "issue_generic", "user": self._user(who), "issue": self._issue(key),
                    "changelog": {"id": str(self.rng.randrange(10**9)), "items": [
                        {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "1",
                         "fromString": old, "to": "2", "toString": new}]}}
        self.queue(key, step, body)

    def commented(self, key: str, who: str, text: str) -> None:
        with self.lock:
            comment = self.jira.comment_as(key, who, text)
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": "comment_created",
                    "issue_event_type_name": "issue_commented", "comment": self.jira._comment_json(key, comment),
                    "issue": self._issue(key)}
        self.queue(key, f"comment-{comment.id}", body)

    def queue(self, key: str, step: str, body: dict[str, Any]) -> None:
        delivery = f"soak-{key}-{step}"
        sent = Sent(key, delivery, json.dumps(body).encode(), time.time())
        self.sent[delivery] = sent
        self.outbox.append(sent)

    def flush(self, url: str) -> None:
        """Post what is not acknowledged yet (Jira retries a failed delivery)."""
        for sent in list(self.outbox):
            sent.attempts += 1
            signature = "sha256=" + hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
            try:
                reply = self.client.post(f"{url}/webhooks/jira", content=sent.body, headers={
                    "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": sent.delivery,
                    "X-Hub-Signature": signature})
            except httpx.HTTPError:
                return  # the daemon is down: try again on the next round
            if 200 <= reply.status_code < 300:
                sent.acked_at = time.time()
                self.outbox.remove(sent)

    # the runbook from the people's side --------------------------------------------------------------
    def open(self, n: int) -> Onboarding:
        r = self.rng.random()
        style = ("comment" if r < 0.45 else "after-reminder" if r < 0.75 else "after-alert" if r < 0.85
                 else "separate-ticket")
        ob = Onboarding(n, style, early_cs=self.rng.random() < 0.1)
        installer = f"Installer {n:05d} Solar"
        form = f"* Installer name: {installer}\n* Installer contact email: {CUSTOMER}\n* State: Colorado\n"
        with self.lock:
            self.jira.add_ticket(SiteTicket(key=ob.ss, summary="EverBright Partner Onboarding", description=form,
                                            status="Waiting for support", issue_type="Service Request",
                                            reporter=CUSTOMER, participants=[CUSTOMER]))
        self.created(ob.ss, CUSTOMER)
        ob.step = "intake"
        if ob.early_cs:
            self._create_cs(ob)
        self.onboardings.append(ob)
        return ob

    def _create_cs(self, ob: Onboarding) -> None:
        with self.lock:
            self.jira.add_ticket(SiteTicket(
                key=ob.cs, summary=f"EverBright integrated finance setup: Installer {ob.n:05d} Solar",
                description=f"Created by automation from {ob.ss} (Needs Configuration? = Integrated Finance).",
                status="To Do", issue_type="Task", reporter=AUTOMATION))
        self.created(ob.cs, AUTOMATION)

    def advance(self, ob: Onboarding, think: float) -> None:
        """Take the next step once the bot's writes of the last one show on the site (and a person noticed)."""
        if not self.ready(ob):
            return
        now = time.time()
        if ob.seen_at is None:
            ob.seen_at = now + self.rng.uniform(0.5, 1.5) * think
        if now < ob.seen_at:
            return
        ob.seen_at = None
        self.act(ob)

    def ready(self, ob: Onboarding) -> bool:
        with self.lock:
            ss = self.jira.issues[ob.ss]
            cs = self.jira.issues.get(ob.cs)
            bot = self.jira.bot.account_id
            step = ob.step
            if step == "intake":
                return bool(ss.organizations) and self.jira.account_id(APPROVER) in ss.watchers
            if step == "config-ticket":
                return cs is not None and any({link.inward, link.outward} == {ob.ss, ob.cs} for link in ss.links) \
                    and bool(self.jira.field(ob.cs, "Installer name"))
            if step == "ask-approval":
                return any(c.author == bot and ASK_TEXT in c.body for c in ss.comments)
            if step == "approval":
                return self._approver_ready(ob)
            if step == "approved":
                return cs is not None and cs.status == "To Do" and any(
                    c.author == bot and "please push" in c.body for c in cs.comments)
            if step == "closing":
                return ss.status == "Closed"
            return False

    def act(self, ob: Onboarding) -> None:
        with self.lock:
            step = ob.step
            if step == "intake":
                if not ob.early_cs:
                    self._create_cs(ob)
                self._to(ob, "config-ticket")
            elif step == "config-ticket":
                self.status_changed(ob.cs, "To Do", "On Hold", CONFIG_PERSON, "on-hold")
                self._to(ob, "ask-approval")
            elif step == "ask-approval":
                self._to(ob, "approval")
            elif step == "approval":
                if ob.style == "separate-ticket":
                    self.jira.add_ticket(SiteTicket(key=ob.dup, summary=f"{ob.ss} approved",
                                                    status="Waiting for support",
                                                    description=f"Hi team: approved, please push {ob.ss} live.",
                                                    issue_type="Service Request", reporter=APPROVER))
                    self.created(ob.dup, APPROVER)
                else:
                    self.commented(ob.ss, APPROVER, "Approved, go ahead.")
                self._to(ob, "approved")
            elif step == "approved":
                self.status_changed(ob.cs, "To Do", "Done", CONFIG_PERSON, "done")
                ob.cs_done_at = time.time()
                self._to(ob, "closing")
            elif step == "closing":
                self._to(ob, "closed")
                ob.done_at = time.time()

    def _approver_ready(self, ob: Onboarding) -> bool:
        if ob.style in ("comment", "separate-ticket"):
            return True
        if ob.style == "after-reminder":
            return any(ob.ss in text for _, conv, text in self.slack_times if conv == "D" + APPROVER_SLACK[1:])
        return any(ob.ss in text for _, conv, text in self.slack_times if conv == ADMIN_CHANNEL)

    @staticmethod
    def _to(ob: Onboarding, step: str) -> None:
        ob.step = step
        ob.since = time.time()


# the run ---------------------------------------------------------------------------------------------------
def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    world = World(args.seed)
    config = soak_config(work, args.reminder)
    daemon = Daemon(work, world.jira_http.url, world.slack_http.url, config, world.jira.bot.account_id)
    startup = [daemon.start()]
    rss: dict[str, list[tuple[float, float]]] = defaultdict(list)
    stop = threading.Event()
    kill_rng = random.Random(args.seed + 1)
    began = time.time()
    end_of_load = began + args.minutes * 60
    state = {"down": False}

    def sampler() -> None:
        while not stop.wait(args.sample):
            for name, pid in daemon.pids().items():
                value = rss_mb(pid)
                if value is not None:
                    rss[name].append((time.time() - began, value))

    def killer() -> None:
        while not stop.is_set():
            # uniform in [0.5, 1.5] x the mean: random, but no minute-long gaps in a two-minute soak
            wait = kill_rng.uniform(0.5, 1.5) * args.kill_every if args.kill_every > 0 else float("inf")
            if wait == float("inf") or stop.wait(min(wait, max(0.0, end_of_load - time.time()))):
                return
            if time.time() >= end_of_load:
                return
            state["down"] = True
            daemon.kill()
            startup.append(daemon.start())
            state["down"] = False

    threads = [threading.Thread(target=sampler, daemon=True), threading.Thread(target=killer, daemon=True)]
    for thread in threads:
        thread.start()
    n, next_open = 0, time.time()
    print(f"soak: {args.minutes:g} min of load, SIGKILL every ~{args.kill_every:g}s (0.5-1.5x at random), "
          "a new onboarding "
          f"every {args.every:g}s (at most {args.concurrency} open), reminders after {args.reminder:g}s; "
          f"daemon up in {startup[0]:.1f}s; work dir {work}", flush=True)
    last_report = time.time()
    while True:
        now = time.time()
        loading = now < end_of_load
        open_ = [ob for ob in world.onboardings if ob.step != "closed"]
        if not loading and not open_ and not world.outbox:
            break
        if not loading and now > end_of_load + args.drain:
            break
        if loading and now >= next_open and len(open_) < args.concurrency:
            n += 1
            world.open(n)
            next_open = now + args.every
        for ob in open_:
            world.advance(ob, args.think)
        world.flush(daemon.url)
        if now - last_report > 15:
            last_report = now
            steps = Counter(ob.step for ob in world.onboardings)
            print(f"  t+{now - began:5.0f}s: {len(world.sent)} events sent, {len(world.outbox)} unacknowledged, "
                  f"{len(daemon.kills)} kills; onboardings {dict(sorted(steps.items()))}", flush=True)
        time.sleep(0.05)
    # Let the worker finish what is in hand (timers of closed onboardings are cancelled or moot).
    settle = time.time() + 5
    while time.time() < settle and _unfinished(work) > 0:
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    daemon.stop()
    elapsed = time.time() - began
    result = analyse(world, daemon, work, rss, startup, elapsed, args)
    world.jira_http.stop()
    world.slack_http.stop()
    return result


def _db(work: Path) -> sqlite3.Connection:
    return sqlite3.connect(work / "ticketbot.sqlite3", timeout=30)


def _unfinished(work: Path) -> int:
    """Events not finished: in the inbox, or acknowledged into the intake file (bot/inbox/spool.py), not yet moved."""
    try:
        with _db(work) as conn:
            open_ = conn.execute("SELECT count(*) FROM inbox WHERE status IN ('pending', 'processing')").fetchone()[0]
            moved = conn.execute("SELECT max(last_id) FROM intake_progress").fetchone()[0] or 0
        spool = work / "ticketbot.sqlite3-intake"
        if spool.exists():
            with sqlite3.connect(spool, timeout=30) as conn:
                open_ += conn.execute("SELECT count(*) FROM intake WHERE id > ?", (moved,)).fetchone()[0]
        return open_
    except sqlite3.Error:
        return 1


def _epoch(value: Any) -> float:
    moment = datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _inbox_key(sent: Sent) -> str:
    """The key the daemon filed a delivery under (a comment's is the comment's, not the delivery's)."""
    from bot.inbox.queue import dedup_key
    from bot.sources.jira_webhook import ID_HEADER, parse_jira_webhook

    event = parse_jira_webhook(json.loads(sent.body), headers={ID_HEADER: sent.delivery})
    return dedup_key("jira", event)


def analyse(world: World, daemon: Daemon, work: Path, rss: dict[str, list[tuple[float, float]]],
            startup: list[float], elapsed: float, args: argparse.Namespace) -> dict[str, Any]:
    with _db(work) as conn:
        inbox = {row[0]: row[1:] for row in conn.execute(
            "SELECT dedup_key, status, source, ticket_key, occurred_at, received_ts, finished_at, envelope "
            "FROM inbox")}
        pending_overdue = conn.execute(
            "SELECT count(*) FROM timers WHERE status = 'pending' AND due_at < ?",
            (datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),)).fetchone()[0]
        fire_counts = dict(conn.execute("SELECT timer_id, fire_count FROM timers").fetchall())

    # events ---------------------------------------------------------------------------------------------------
    acked = [s for s in world.sent.values() if s.acked_at is not None]
    status_of = {s.delivery: (inbox.get(_inbox_key(s)) or ("missing",))[0] for s in acked}
    statuses = Counter(status_of.values())
    processed = statuses["done"] + statuses["ignored"]
    lost = [delivery for delivery, status in status_of.items() if status in ("missing", "pending", "processing")]
    retried = sum(1 for s in world.sent.values() if s.attempts > 1)

    # timers -----------------------------------------------------------------------------------------------------
    timer_rows = [(key, *row) for key, row in inbox.items() if row[1] == "timer"]
    fired_by_timer: Counter[str] = Counter()
    late_queued, late_done, late_up = [], [], []
    # a timer due while the daemon was down (killed, not healthy yet) fires on the first sweep after the restart
    down = list(zip(daemon.kills, daemon.starts[1:], strict=False))
    reminders_fired: Counter[str] = Counter()
    for _key, _status, _source, ticket, occurred, received_ts, finished_at, envelope in timer_rows:
        due = _epoch(occurred)
        late_queued.append(float(received_ts) - due)
        if not any(start - 1 <= due <= end for start, end in down):
            late_up.append(float(received_ts) - due)
        if finished_at:
            late_done.append(_epoch(finished_at) - due)
        payload = (json.loads(envelope) if isinstance(envelope, str) else envelope).get("event", {}).get("payload", {})
        fired_by_timer[str(payload.get("timer_id"))] += 1
        if payload.get("timer") == "approval-reminder":
            reminders_fired[ticket] += 1
    marked_twice = sum(1 for tid, count in fire_counts.items() if count > fired_by_timer.get(tid, 0) and count > 1)
    # the DM of a reminder: when it reached Slack - its timer's due time (matched in order per ticket)
    dm_conv = "D" + APPROVER_SLACK[1:]
    dms: dict[str, list[float]] = defaultdict(list)
    alerts: Counter[str] = Counter()
    for at, conv, text in world.slack_times:
        ticket = next((w for w in text.replace("(", " ").replace(")", " ").replace(":", " ").split()
                       if w.startswith("SS-")), None)
        if ticket is None:
            continue
        if conv == dm_conv:
            dms[ticket].append(at)
        elif conv == ADMIN_CHANNEL:
            alerts[ticket] += 1
    dues: dict[str, list[float]] = defaultdict(list)
    for _key, _status, _source, ticket, occurred, *_ in timer_rows:
        payload_ok = "approval-reminder" in _key
        if payload_ok:
            dues[ticket].append(_epoch(occurred))
    late_dm = [at - due for t in dms for at, due in zip(sorted(dms[t]), sorted(dues.get(t, [])), strict=False)]
    dm_dupes = sum(max(0, len(dms[t]) - reminders_fired.get(t, 0)) for t in dms)
    alert_dupes = sum(max(0, c - 1) for c in alerts.values())

    # duplicated writes in the fake Jira's final state ------------------------------------------------------
    bot = world.jira.bot.account_id
    dup = Counter()
    with world.lock:
        for issue in world.jira.issues.values():
            bodies = Counter(c.body for c in issue.comments if c.author == bot)
            dup["comment"] += sum(c - 1 for c in bodies.values() if c > 1)
            links = Counter((link.type_id, link.inward, link.outward) for link in issue.links)
            dup["link"] += sum(c - 1 for c in links.values() if c > 1)
        writes = list(world.jira_http.writes)
    transitions = Counter((w.path, json.dumps((w.body or {}).get("transition"), sort_keys=True)) for w in writes
                          if w.path.endswith("/transitions"))
    dup["transition"] = sum(c - 1 for c in transitions.values() if c > 1)
    watchers = Counter((w.path, json.dumps(w.body)) for w in writes if w.path.endswith("/watchers"))
    dup["watcher"] = sum(c - 1 for c in watchers.values() if c > 1)
    orgs = Counter(
        json.dumps(w.body, sort_keys=True) for w in writes if w.path.endswith("/servicedeskapi/organization")
    )
    dup["organization"] = sum(c - 1 for c in orgs.values() if c > 1)
    dup["slack reminder"] = dm_dupes
    dup["slack alert"] = alert_dupes
    # CS Done -> SS closed: from Config's Done to the bot's transition of SS reaching the fake Jira
    closed_at = {w.path.rsplit("/", 2)[-2]: w.at for w in writes if w.path.endswith("/transitions")}
    to_close = [closed_at[ob.ss] - ob.cs_done_at for ob in world.onboardings
                if ob.cs_done_at is not None and ob.ss in closed_at]
    look_again = sum(1 for tid in fire_counts if ":cs-done-look-again" in tid)

    # onboardings ------------------------------------------------------------------------------------------------
    steps = Counter(ob.step for ob in world.onboardings)
    stuck = [f"{ob.ss}:{ob.step}" for ob in world.onboardings if ob.step != "closed"]
    rss_summary = {name: {"first": round(series[0][1]), "max": round(max(v for _, v in series)),
                          "last": round(series[-1][1]),
                          "series": [[round(t), round(v)] for t, v in series[:: max(1, len(series) // 20)]]}
                   for name, series in rss.items() if series}
    result = {
        "minutes": args.minutes, "elapsed_s": round(elapsed, 1), "kill_every_s": args.kill_every,
        "restarts": len(daemon.kills), "startup_s": {"p50": pct(startup, 50), "max": max(startup)},
        "events": {"sent": len(world.sent), "acknowledged": len(acked), "processed": processed,
                   "lost": len(lost), "dead": statuses["dead"], "retried_sends": retried,
                   "inbox_rows": len(inbox), "lost_keys": lost[:20]},
        "onboardings": {"opened": len(world.onboardings), "closed": steps["closed"], "by_step": dict(steps),
                        "stuck": stuck[:30],
                        "styles": dict(Counter(ob.style for ob in world.onboardings))},
        "duplicated_writes": dict(dup),
        "cs_done_to_closed_s": {"p50": pct(to_close, 50), "p95": pct(to_close, 95), "max": max(to_close, default=None),
                                "count": len(to_close), "look_again_timers": look_again},
        "jira_writes": len(writes), "slack_messages": len(world.slack_times),
        "timers": {"fired": len(timer_rows), "fired_twice": marked_twice + dm_dupes,
                   "overdue_never_fired": pending_overdue,
                   "late_queued_s": {"p50": pct(late_queued, 50), "p99": pct(late_queued, 99),
                                     "max": max(late_queued, default=None)},
                   "late_queued_due_while_up_s": {"p50": pct(late_up, 50), "p99": pct(late_up, 99),
                                                  "max": max(late_up, default=None), "count": len(late_up)},
                   "late_processed_s": {"p50": pct(late_done, 50), "p99": pct(late_done, 99),
                                        "max": max(late_done, default=None)},
                   "late_slack_dm_s": {"p50": pct(late_dm, 50), "p99": pct(late_dm, 99),
                                       "max": max(late_dm, default=None), "count": len(late_dm)}},
        "rss_mb": rss_summary,
    }
    report(result)
    return result


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def report(r: dict[str, Any]) -> None:
    e, o, t = r["events"], r["onboardings"], r["timers"]
    print(f"\nsoak of {r['minutes']:g} min ({r['elapsed_s']:.0f}s with the drain): {r['restarts']} SIGKILL + restarts "
          f"(mean every {r['kill_every_s']:g}s; back up in p50 {_s(r['startup_s']['p50'])}, max "
          f"{_s(r['startup_s']['max'])})")
    print(f"events: {e['sent']} sent, {e['acknowledged']} acknowledged ({e['retried_sends']} needed a retry), "
          f"{e['processed']} processed, LOST {e['lost']}, dead-lettered {e['dead']}")
    print(f"onboardings: {o['opened']} opened, {o['closed']} walked all six steps to closed; by step "
          f"{o['by_step']}; styles {o['styles']}")
    if o["stuck"]:
        print(f"  not closed: {', '.join(o['stuck'])}")
    c = r["cs_done_to_closed_s"]
    print(f"CS Done -> SS closed ({c['count']} onboardings): p50 {_s(c['p50'])}, p95 {_s(c['p95'])}, max "
          f"{_s(c['max'])}; CS-done look-again timers armed: {c['look_again_timers']}")
    dup = r["duplicated_writes"]
    print(f"duplicated writes: {sum(dup.values())} ({', '.join(f'{k} {v}' for k, v in dup.items())}) "
          f"among {r['jira_writes']} Jira writes and {r['slack_messages']} Slack messages")
    print(f"timers: {t['fired']} fired, {t['fired_twice']} fired twice, {t['overdue_never_fired']} overdue and never "
          f"fired; late (queued - due) p50 {_s(t['late_queued_s']['p50'])}, p99 {_s(t['late_queued_s']['p99'])}, "
          f"max {_s(t['late_queued_s']['max'])} (of the {t['late_queued_due_while_up_s']['count']} due while the "
          f"daemon was up: p50 {_s(t['late_queued_due_while_up_s']['p50'])}, p99 "
          f"{_s(t['late_queued_due_while_up_s']['p99'])}); (processed - due) p50 {_s(t['late_processed_s']['p50'])}, "
          f"p99 {_s(t['late_processed_s']['p99'])}, max {_s(t['late_processed_s']['max'])}; "
          f"reminder DM in Slack - due p50 {_s(t['late_slack_dm_s']['p50'])}, max {_s(t['late_slack_dm_s']['max'])}")
    for name, s in sorted(r["rss_mb"].items()):
        series = " ".join(f"{v}" for _, v in s["series"])
        print(f"RSS {name} process: first {s['first']} MB, max {s['max']} MB, last {s['last']} MB "
              f"(MB over the run, every restart a new process: {series})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="minutes of load with kills (default 2)")
    parser.add_argument("--kill-every", type=float, default=20.0, help="mean seconds between SIGKILLs (0: never)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between new onboardings (default 0.5)")
    parser.add_argument("--concurrency", type=int, default=40, help="onboardings open at once at most (default 40)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="mean seconds a person takes to act on what the bot did (uniform 0.5-1.5 x; default 2)")
    parser.add_argument("--reminder", type=float, default=6.0, help="approval reminder after/every, s (default 6)")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds to let open onboardings finish")
    parser.add_argument("--sample", type=float, default=1.0, help="RSS sampling interval, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, daemon log)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ticketbot-soak-"))
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}")
    result = soak(args, work)
    result["loadavg_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
