"""``ticketbot run``: the daemon's parts wired together.

    webhook -> Intake (verify, parse, commit to inbox) -> 202
    inbox -> WorkerPool -> Handler (decode, guards, Processor) -> tracker, traces, applied effects
    leader only: Scheduler -> jira-poll (Poller -> inbox), inbox-sweep, timer-sweep
    (under ``ticketbot run`` with worker processes the first of them stands for leader, not the HTTP process)

:class:`Daemon` takes its collaborators (rules, tracker, clock, alert) so tests build it
around an in-memory site and a virtual clock; :func:`build_daemon` builds it from settings.
Other areas extend it: ``extensions=[register]`` adds HTTP routes, :meth:`Daemon.add_source`
lets a new event source (Slack commands, timers) go through the same inbox and workers,
``daemon.scheduler.add_job(...)`` adds leader-only periodic jobs (those registered by :func:`build_daemon`,
which the worker process running the scheduler builds too).
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from pydantic import SecretStr

from bot.clock import Clock, SystemClock
from bot.engine import BoundRule
from bot.guards import Guards
from bot.health import DatabaseProbe, WatchedFile
from bot.inbox import Inbox
from bot.intake import IntakeFile, intake_path
from bot.internal_sources import internal_sources
from bot.leader import LeaderElector, lock_for
from bot.metrics import Metrics, merge_expositions
from bot.migrations import upgrade
from bot.model import Event, User
from bot.poller import ZENDESK_SOURCE, DaemonState, Poller, decode_poll
from bot.scheduler import Scheduler
from bot.server import Endpoint, Intake, create_app, jira_automation_verifier, jira_verifier, zendesk_verifier
from bot.settings import Settings
from bot.state import StateStore
from bot.store import Store
from bot.timers import TimerSweep
from bot.trackers.base import Tracker
from bot.trackers.jira_model import FieldCatalog
from bot.worker import STATUS_EVERY, WORKER_NICENESS, Handler, Retry, Source, WorkerPool, WorkerProcess, write_status

if TYPE_CHECKING:
    from bot.notify import Notifier

log = logging.getLogger(__name__)

#: Finished inbox rows are kept this long: Jira retries for hours, not weeks.
INBOX_RETENTION = timedelta(days=14)
#: Seconds a worker process waits after a wake-up before it moves new webhooks from the intake file.
MOVE_GATHER = 0.02
SWEEP_SECONDS = 30


class Daemon:
    def __init__(self, settings: Settings, *, rules: Sequence[BoundRule], tracker: Tracker,
                 clock: Clock | None = None, zendesk_tracker: Tracker | None = None,
                 bot_user: Callable[[], User | None] = lambda: None,
                 catalog: Callable[[], FieldCatalog | None] = lambda: None,
                 alert: Callable[[str], None] | None = None, notifier: Notifier | None = None,
                 extensions: Sequence[Callable[[FastAPI], None]] = (), migrate: bool = True) -> None:
        self.settings = settings
        #: Slack (TICKETBOT_SLACK__BOT_TOKEN): SlackMessage effects and the guards' alerts go through it.
        self.notifier = notifier if notifier is not None else slack_notifier(settings)
        alert = alert or (self.notifier.alert if self.notifier is not None else None)
        self.rules = list(rules)
        self.clock = clock or SystemClock()
        if migrate:
            upgrade(settings.database_url)
        self.store = Store(settings.database_url)
        self.database_probe = DatabaseProbe(self.store.engine)  # /readyz: answering, and the file opened now
        self._intake_file: WatchedFile | None = None
        self.inbox = Inbox(self.store.engine, self.clock)
        self.state = DaemonState(self.store.engine, self.clock)
        self.metrics = Metrics()
        zendesk_bot = [own_account(zendesk_tracker, settings.zendesk.email)] \
            if zendesk_tracker is not None and settings.zendesk.email else []
        self.guards = Guards(self.store, settings.guards, self.clock, bot_user=bot_user, bot_users=zendesk_bot,
                             alert=alert)
        trackers = {"jira": tracker, **({"zendesk": zendesk_tracker} if zendesk_tracker else {})}
        self.handler = Handler(rules=self.rules, trackers=trackers, sources=_sources(catalog), guards=self.guards,
                               store=self.store, clock=self.clock, metrics=self.metrics, dry_run=settings.dry_run,
                               notifier=self.notifier)
        w = settings.worker
        self.workers = WorkerPool(self.inbox, self.handler, self.metrics, count=w.count, lease_seconds=w.lease_seconds,
                                  idle_poll=w.idle_poll, alert=alert,
                                  retry=Retry(w.max_attempts, w.backoff_base, w.backoff_max,
                                              outage_cap=w.outage_probe_max, outage_alert_after=w.outage_alert_after,
                                              outage_max=w.outage_max_hours * 3600))
        self.elector = LeaderElector(lock_for(settings.database_url), retry=w.leader_retry)
        self.scheduler = Scheduler(self.elector)
        self.timers = TimerSweep(StateStore(self.store), self.inbox, self.clock)
        self.poller = Poller(tracker, self.inbox, self.state, self.clock,  # type: ignore[arg-type]
                             projects=self.watched_projects, overlap=settings.jira.poll_overlap)
        self.zendesk_poller = _zendesk_poller(zendesk_tracker, self) if zendesk_tracker is not None else None
        self._register_jobs(tracker)
        self.metrics.watch(inbox_depth=self.inbox.depth, api_counters=trackers)
        self.worker_processes: list[WorkerProcess] = []
        self._scheduler_process: WorkerProcess | None = None  # the child that runs the leader's jobs, if one does
        self.on_started: list[Callable[[], None]] = []  # e.g. Slack's Socket Mode connection
        self.on_stopped: list[Callable[[], None]] = []
        self.intake = Intake(self.inbox, self.metrics, self.clock, endpoints=self._endpoints())
        self.app = create_app(self.intake, self.metrics, self.health, max_body_bytes=settings.http.max_body_bytes,
                              on_startup=self.start, on_shutdown=self.stop, extensions=extensions)

    def delegate_processing(self, processes: Sequence[WorkerProcess]) -> None:
        """Run the workers in these child processes instead of threads of this one."""
        self.worker_processes = list(processes)
        self._scheduler_process = next((p for p in self.worker_processes if p.runs_scheduler), None)
        for process in self.worker_processes:
            self.inbox.on_notify.append(process.wake)
        self.metrics.foreign_processing = lambda: merge_expositions(
            [p.metrics_text().decode() for p in self.worker_processes])
        self.metrics.watch(inbox_depth=self.inbox.depth, api_counters=self.handler.trackers,
                           more_api_counts=self._children_api_counts)

    def _children_api_counts(self) -> dict[str, dict[str, float]]:
        total: dict[str, dict[str, float]] = {}
        for process in self.worker_processes:
            for system, counts in process.api_counts().items():
                mine = total.setdefault(system, {"calls": 0.0, "throttled": 0.0})
                for name, value in counts.items():
                    mine[name] = mine.get(name, 0.0) + value
        return total

    # extension points -------------------------------------------------------------------------
    def add_source(self, source: Source) -> None:
        """Let events of another source (``slack``, ``timer``…) be queued and processed like webhooks."""
        self.handler.sources[source.name] = source

    def watched_projects(self) -> set[str]:
        return {p for b in self.rules if b.config.enabled for p in b.rule.watched_projects(b.config)}

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Workers first (the inbox may hold events from before a restart), then the election."""
        for name, endpoint in self.intake.endpoints.items():
            if endpoint.verify is None and not endpoint.closed_reason:
                log.warning("/webhooks/%s accepts UNSIGNED requests (TICKETBOT_%s__ALLOW_UNSIGNED is set); "
                            "anyone who can reach it can make ticketbot act", name, name.upper())
        if self.worker_processes:
            for process in self.worker_processes:
                process.start()
        else:
            self._move_leftover_intake()
            self.inbox.reclaim_orphans()
            self.workers.start()
        if self._scheduler_process is None:
            self.elector.start()
        for hook in self.on_started:
            hook()
        log.info("ticketbot daemon started: %d worker thread(s) in %s, rules: %s", self.workers.count,
                 f"{len(self.worker_processes)} worker process(es)" if self.worker_processes else "this process",
                 ", ".join(b.id for b in self.rules if b.config.enabled) or "none")

    def _move_leftover_intake(self) -> None:
        """Webhooks an earlier ``ticketbot run`` with worker processes received and did not move (this process
        writes the inbox itself, so no more will come; see bot/intake.py)."""
        spool = intake_path(self.settings.database_url)
        if spool is None or not spool.exists():
            return
        intake = IntakeFile(spool)
        try:
            moved = self.inbox.move_from(intake)
        finally:
            intake.close()
        if moved:
            log.info("moved %d webhook(s) left in %s into the inbox", moved, spool)

    def stop(self) -> None:
        """Stop periodic jobs, let workers finish the events in hand; the rest waits in the inbox."""
        if self._scheduler_process is None:
            self.elector.stop()
        for process in self.worker_processes:
            process.stop()
        if not self.worker_processes:
            self.workers.stop()
        for hook in self.on_stopped:
            hook()
        log.info("ticketbot daemon stopped; %d event(s) wait in the inbox", self._depth_or_zero())

    # health -----------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        """Readiness (``/readyz``, ``/healthz``): the database answers and is the file opened at start, the
        intake file (if webhooks go through one) is still there and writable, workers and scheduler live."""
        problem = self.database_probe.problem()
        database, db_ok = problem or "ok", problem is None
        intake = self._intake_problem()
        if self._scheduler_process is None:
            scheduler = self.scheduler_report()
        else:  # as the worker process running it last said
            scheduler = self._scheduler_process.scheduler() or {"alive": False, "leader": False, "running": False,
                                                                "jobs": []}
        scheduler_ok = scheduler["alive"]
        workers = self._workers_health()
        report: dict[str, Any] = {
            "database": database,
            "workers": workers,
            "scheduler": scheduler,
            "last_poll": self._safe(self.poller.last_poll) if db_ok else None,
            "inbox_depth": self._safe(self.inbox.depth) if db_ok else None,
        }
        if self.inbox.intake is not None:
            report["intake"] = intake or "ok"
        problems = [p for p in (problem and f"database: {problem}", intake and f"intake: {intake}",
                                None if workers["alive"] else "the workers are not running",
                                None if scheduler_ok else "the scheduler (polls, timers) is not running") if p]
        ok = not problems
        report["status"] = "ok" if ok else "unhealthy"
        if problems:
            report["problems"] = problems  # one line each, for whoever reads the 503
        return ok, report

    def _intake_problem(self) -> str | None:
        """What is wrong with the intake file this process commits webhooks to (SQLite, worker processes)."""
        if self.inbox.intake is None:
            return None
        if self._intake_file is None or self._intake_file.path != self.inbox.intake.path:
            self._intake_file = WatchedFile(self.inbox.intake.path, "the intake file", writable=True)
        return self._intake_file.problem()

    def scheduler_report(self) -> dict[str, Any]:
        """This process's election and scheduler: alive (standing for leader, and running the jobs if leading)."""
        leader = self.elector.is_leader
        return {"alive": self.elector.alive and (self.scheduler.running or not leader), "leader": leader,
                "running": self.scheduler.running, "jobs": self.scheduler.job_ids}

    def _workers_health(self) -> dict[str, Any]:
        if not self.worker_processes:
            return {"alive": self.workers.alive, "in_flight": self.workers.in_flight}
        return {"alive": all(p.alive for p in self.worker_processes),
                "in_flight": sum(p.in_flight() or 0 for p in self.worker_processes),
                "processes": len(self.worker_processes), "restarts": sum(p.restarts for p in self.worker_processes)}

    # wiring helpers ---------------------------------------------------------------------------
    def _register_jobs(self, tracker: Tracker) -> None:
        interval = self.settings.jira.poll_interval
        if interval > 0 and hasattr(tracker, "search_updated"):
            self.scheduler.add_job("jira-poll", self.poller.poll_once, "interval", seconds=interval)
        zendesk_interval = self.settings.zendesk.poll_interval
        if self.zendesk_poller is not None and zendesk_interval > 0:
            self.scheduler.add_job("zendesk-poll", self.zendesk_poller.poll_once, "interval", seconds=zendesk_interval)
        self.scheduler.add_job("inbox-sweep", self.sweep, "interval", seconds=SWEEP_SECONDS)
        self.scheduler.add_job("timer-sweep", self.timers.run_once, "interval",
                               seconds=self.settings.worker.timer_sweep_seconds)

    def sweep(self) -> None:
        """Leader housekeeping: reclaim events of dead local processes, forget old finished ones."""
        self.inbox.reclaim_orphans()
        self.inbox.prune(INBOX_RETENTION)

    def _endpoints(self) -> dict[str, Endpoint]:
        from bot.sources import jira_webhook, zendesk_webhook

        s = self.settings
        jira = Endpoint("jira", lambda payload, headers: jira_webhook.parse_jira_webhook(payload, headers=headers),
                        None, (jira_webhook.MalformedEvent,), body_identifies_event=True)
        _secure(jira, s.jira.webhook_secret, s.jira.allow_unsigned, jira_verifier)
        automation = Endpoint(jira_webhook.AUTOMATION_SOURCE, lambda payload, headers:
                              jira_webhook.parse_jira_automation(payload, headers=headers), None,
                              (jira_webhook.MalformedEvent,))
        _secure(automation, s.jira.automation_secret, False, jira_automation_verifier)  # never open unproven
        if automation.closed_reason:
            automation.closed_reason = "webhook endpoint closed: TICKETBOT_JIRA__AUTOMATION_SECRET is not set"
        zendesk = Endpoint("zendesk", lambda payload, _headers: zendesk_webhook.normalize_zendesk_webhook(
            payload, received_at=self.clock.now()), None, (zendesk_webhook.MalformedEvent,))
        _secure(zendesk, s.zendesk.webhook_secret, s.zendesk.allow_unsigned,
                lambda secret: zendesk_verifier(secret, self.clock, s.zendesk.max_signature_age))
        return {"jira": jira, automation.source: automation, "zendesk": zendesk}

    def _depth_or_zero(self) -> int:
        return self._safe(self.inbox.depth) or 0

    @staticmethod
    def _safe(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:  # health and shutdown messages must not fail on a database hiccup
            log.warning("could not read %s", getattr(read, "__name__", "a value"), exc_info=True)
            return None


def slack_notifier(settings: Settings) -> Notifier | None:
    """The Slack notifier when TICKETBOT_SLACK__BOT_TOKEN is set, else None (the daemon runs without Slack)."""
    from bot.daemon_slack import build_notifier

    return build_notifier(settings)


def mount_slack(daemon: Daemon) -> Any:
    """Serve Slack (``/slack/events``, Socket Mode) from this daemon when it is configured; see bot.daemon_slack."""
    from bot.daemon_slack import mount_slack as mount

    return mount(daemon)


def _secure(endpoint: Endpoint, secret: SecretStr | None, allow_unsigned: bool,
            verifier: Callable[[str], Callable[..., None]]) -> None:
    """Verify with the secret; without one, stay closed unless explicitly opened."""
    if secret is not None and secret.get_secret_value():
        endpoint.verify = verifier(secret.get_secret_value())
    elif not allow_unsigned:
        endpoint.closed_reason = "webhook endpoint closed: no signing secret is configured"


def _sources(catalog: Callable[[], FieldCatalog | None]) -> dict[str, Source]:
    """How each inbox source's envelope becomes an Event again (with the site's field names)."""
    from bot.sources import jira_webhook, zendesk_webhook

    def jira(envelope: dict[str, Any]) -> Event:
        return jira_webhook.parse_jira_webhook(envelope["body"], headers=envelope.get("headers"), catalog=catalog())

    def automation(envelope: dict[str, Any]) -> Event:
        return jira_webhook.parse_jira_automation(envelope["body"], headers=envelope.get("headers"))

    def zendesk(envelope: dict[str, Any]) -> Event:
        return zendesk_webhook.normalize_zendesk_webhook(
            envelope["body"], received_at=datetime.fromisoformat(envelope["received_at"]))

    return {
        "jira": Source("jira", jira, "jira", (jira_webhook.MalformedEvent,)),
        jira_webhook.AUTOMATION_SOURCE: Source(jira_webhook.AUTOMATION_SOURCE, automation, "jira",
                                               (jira_webhook.MalformedEvent,)),
        "zendesk": Source("zendesk", zendesk, "zendesk", (zendesk_webhook.MalformedEvent,)),
        "poll": Source("poll", decode_poll, "jira", (KeyError, ValueError)),
        ZENDESK_SOURCE: Source(ZENDESK_SOURCE, decode_poll, "zendesk", (KeyError, ValueError)),
        **internal_sources(),  # Slack decisions, fired timers
    }


# from settings -----------------------------------------------------------------------------------
AlertFactory = Callable[[Settings], Callable[[str], None] | None]


def build_daemon(settings: Settings, *, alert: Callable[[str], None] | None = None,
                 extensions: Sequence[Callable[[FastAPI], None]] = (), migrate: bool = True) -> Daemon:
    """The daemon ``ticketbot run`` serves: Jira from ``TICKETBOT_JIRA__*``, or the testing site."""
    from rules import load_rules  # rules import bot; keep bot importable without them

    rules = load_rules(settings.config)
    clock = SystemClock()
    if settings.tracker.startswith("memory:"):
        tracker, bot_user, catalog = _memory_site(settings.tracker, clock)
    else:
        tracker, bot_user, catalog = _jira(settings)
    return Daemon(settings, rules=rules, tracker=tracker, clock=clock, bot_user=bot_user, catalog=catalog,
                  zendesk_tracker=_zendesk(settings, clock), alert=alert, extensions=extensions, migrate=migrate)


def _memory_site(setting: str, clock: Clock) -> tuple[Tracker, Callable[[], User | None], Callable[[], Any]]:
    from bot.trackers.shared_memory import SharedMemoryTracker
    from bot.trackers.site import jira_field_json

    tracker = SharedMemoryTracker.open(setting, now=clock.now)
    log.warning("TESTING MODE: tracker is the in-memory site %s, not Jira", setting.removeprefix("memory:"))
    account = tracker.site.bot_account
    bot = User(account_id=account.account_id, email=account.email, display_name=account.display_name)
    catalog = FieldCatalog.from_fields(jira_field_json(tracker.site))
    return tracker, lambda: bot, lambda: catalog


def _jira(settings: Settings) -> tuple[Tracker, Callable[[], User | None], Callable[[], Any]]:
    from bot.trackers.jira import JiraTracker

    jira = settings.require_jira()
    tracker = JiraTracker(url=str(jira.url), email=jira.email, api_token=jira.api_token.get_secret_value(),
                          max_retries=jira.max_retries)
    if jira.bot_account_id:
        bot = User(account_id=jira.bot_account_id)
        bot_user: Callable[[], User | None] = lambda: bot
    else:  # the account the API token belongs to (its events are our own)
        bot_user = own_account(tracker, jira.email or "")
    return tracker, bot_user, tracker.field_catalog


def own_account(tracker: Tracker, email: str) -> Callable[[], User | None]:
    """The bot's own account on a tracker, looked up by its e-mail once (retried while the lookup fails)."""
    known: list[User] = []

    def lookup() -> User | None:
        if not known:
            try:
                found = tracker.find_user(email)
            except Exception:  # retried on the next event; until then own events are not recognised
                log.warning("could not look up the bot's own account %s", email, exc_info=True)
                return None
            known.append(found or User(email=email))
        return known[0]

    return lookup


def _zendesk(settings: Settings, clock: Clock) -> Tracker | None:
    """The Zendesk tracker when ``TICKETBOT_ZENDESK__URL``/``__EMAIL``/``__API_TOKEN`` are set (one of them
    alone is a configuration error naming the others); None: Zendesk events are recorded and set aside."""
    from bot.settings import require_zendesk
    from bot.trackers.zendesk import ZendeskTracker

    z = settings.zendesk
    if not (z.url or z.email or z.api_token):
        return None
    z = require_zendesk(settings)
    return ZendeskTracker(z.url or "", z.email or "", z.api_token.get_secret_value() if z.api_token else "",
                          now=clock.now)


def _zendesk_poller(tracker: Tracker, daemon: Daemon) -> Poller | None:
    """Polls Zendesk's incremental export (cursor kept in the daemon state) for the watched groups."""
    from bot.trackers.zendesk import ZendeskSearcher, ZendeskTracker

    if not isinstance(tracker, ZendeskTracker):
        return None
    # Only the very first poll reads from a moment (5 minutes back); after it the export cursor says what is new.
    return Poller(ZendeskSearcher(tracker), daemon.inbox, daemon.state, daemon.clock, projects=daemon.watched_projects,
                  overlap=300, system="zendesk", source=ZENDESK_SOURCE)


def run(settings: Settings, *, alert_factory: AlertFactory | None = None,
        extensions: Sequence[Callable[[FastAPI], None]] = ()) -> None:
    """Serve until SIGTERM/SIGINT: uvicorn stops accepting, finishes requests, then the lifespan
    shutdown lets workers finish their events; whatever was not started stays in the inbox.

    ``alert_factory(settings)`` builds the admin alert (Slack) in whichever process runs the
    guards; it must be a module-level function (it is sent to the worker processes).
    """
    import shutil
    import tempfile

    import uvicorn

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    daemon = build_daemon(settings, alert=alert_factory(settings) if alert_factory else None, extensions=extensions)
    check_names_at_start(settings, daemon.rules, daemon.guards.alert)  # --strict: refuses on a missing name
    mount_slack(daemon)  # /slack/events and Socket Mode when TICKETBOT_SLACK__BOT_TOKEN is set
    status_dir = Path(tempfile.mkdtemp(prefix="ticketbot-workers-"))
    if settings.worker.processes:
        spool = intake_path(settings.database_url)
        if spool is not None:  # SQLite: webhooks are committed to a file the workers never lock (bot/intake.py)
            daemon.inbox.receive_through(IntakeFile(spool))
        daemon.delegate_processing([  # the first also runs the leader's jobs: this process only acknowledges
            WorkerProcess(settings, status_dir / f"worker-{i}.json", alert_factory=alert_factory, runs_scheduler=i == 0)
            for i in range(settings.worker.processes)])
    config = uvicorn.Config(daemon.app, host=settings.http.host, port=settings.http.port, log_config=None,
                            access_log=False, lifespan="on", timeout_graceful_shutdown=30)
    # Everything loaded so far lives as long as the process: keep it out of the collector's sight, or
    # each full collection walks the whole of SQLAlchemy, FastAPI and co. (~150 ms, stalling every ack).
    gc.collect()
    gc.freeze()
    # Cleaned at lifespan shutdown: after SIGTERM uvicorn re-raises the signal, so no `finally` would run.
    daemon.on_stopped.append(lambda: shutil.rmtree(status_dir, ignore_errors=True))
    uvicorn.Server(config).run()


def check_names_at_start(settings: Settings, rules: Sequence[BoundRule], alert: Callable[[str], None]) -> list[str]:
    """``ticketbot check`` before serving: every name the enabled rules use that the sites do not have is
    logged and told to the admin channel (one alert per start); returns those lines.

    With ``TICKETBOT_CHECK__STRICT`` (``ticketbot run --strict``) a required name missing refuses the
    start instead: a ConfigurationError with one line per miss (the CLI exits 2). A site that cannot
    be asked is only a warning: the outage path deals with it once events come. Skipped, in no time,
    when ``TICKETBOT_CHECK__AT_START`` is false or no tracker is configured.
    """
    from bot.check import FAILED, MISSING, connect_from_settings, miss_line, run_check
    from bot.settings import ConfigurationError

    if not settings.check.at_start:
        return []
    configured = [system for system in (settings.jira, settings.zendesk)
                  if all((system.url, system.email, system.api_token))]
    if not (settings.tracker.startswith("memory:") or configured):
        log.info("start-up check skipped: no tracker is configured")
        return []
    try:
        report = run_check(rules, connect_from_settings(settings))
    except Exception:  # the check must never be why the daemon does not serve (unless --strict found a miss)
        log.warning("start-up check could not run; serving anyway (`ticketbot check` shows the names)",
                    exc_info=True)
        return []
    misses = [r for r in report.resolutions if r.outcome == MISSING]
    lines = [miss_line(r) + ("" if r.requirement.required else " [optional]") for r in misses]
    for line in lines:
        log.warning("start-up check: %s", line)
    unasked = {r.requirement.system: r.detail for r in report.resolutions if r.outcome == FAILED}
    for system, detail in sorted(unasked.items()):
        log.warning("start-up check: could not ask %s (%s); serving anyway", system,
                    report.unavailable.get(system) or detail)
    required = [miss_line(r) for r in misses if r.requirement.required]
    if settings.check.strict and required:
        raise ConfigurationError(f"{len(required)} name(s) the rules use are missing (strict start-up check, "
                                 "TICKETBOT_CHECK__STRICT / --strict); fix the site or the config:\n"
                                 + "\n".join(required))
    if lines:
        alert(f"ticketbot started, but {len(lines)} name(s) the rules use were not found on the sites:\n"
              + "\n".join(lines) + "\nFix the site or the rule config; `ticketbot check` shows the closest names.")
    return lines


def serve_worker_process(settings: Settings, wake: Any, status_path: Path,
                         alert_factory: AlertFactory | None, *, runs_scheduler: bool = False) -> None:
    """The worker child: claim and process inbox events until SIGTERM or until the parent is gone; with
    ``runs_scheduler``, also stand for leader and run its jobs (polls, timer sweep, housekeeping)."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _yield_the_cpu()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    daemon = build_daemon(settings, alert=alert_factory(settings) if alert_factory else None, migrate=False)
    spool = intake_path(settings.database_url)
    intake = IntakeFile(spool) if spool is not None else None
    if intake is not None:
        daemon.inbox.move_from(intake)  # what an earlier life received and did not move
    daemon.inbox.reclaim_orphans()
    daemon.workers.start()
    threading.Thread(target=_relay_wakeups, args=(wake, daemon.inbox, stop, intake), name="wake-relay",
                     daemon=True).start()
    if runs_scheduler:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        daemon.elector.start()
    parent = os.getppid()
    report = lambda: write_status(status_path, daemon.workers, daemon.metrics, daemon.handler.trackers,  # noqa: E731
                                  daemon.scheduler_report() if runs_scheduler else None)
    report()
    while not stop.wait(STATUS_EVERY):
        report()
        if os.getppid() != parent:
            log.warning("the HTTP process is gone; worker process stopping")
            stop.set()
    if runs_scheduler:
        daemon.elector.stop()  # the lock goes at once: another replica's scheduler can take over
    daemon.workers.stop()
    report()


def _yield_the_cpu() -> None:
    """Let the HTTP process have the CPU the moment it wakes. A niced process is not enough on a kernel
    with the EEVDF scheduler (6.6+): a waking acknowledgement could wait out the worker's slice, several
    milliseconds at its tail. SCHED_IDLE is preempted at once by any normal task (Linux; the threads this
    process starts from here on inherit it) and still gets every CPU cycle nobody else wants."""
    os.nice(WORKER_NICENESS)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # not allowed here (some sandboxes): the niceness stays
            log.debug("SCHED_IDLE refused; the worker process stays at nice %d", WORKER_NICENESS, exc_info=True)


def _relay_wakeups(wake: Any, inbox: Inbox, stop: threading.Event, intake: IntakeFile | None = None) -> None:
    """Turn bytes from the HTTP process into local wake-ups; end of file means the parent died.

    With an intake file, a wake-up (and every second without one) first moves its new rows into the inbox.
    """
    fd = wake.fileno()
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready and intake is not None:
            stop.wait(MOVE_GATHER)  # let a few more arrive: one move per batch, not one per webhook
        if ready and not os.read(fd, 4096):
            log.warning("lost the HTTP process; worker process stopping")
            stop.set()
            return
        if intake is not None:
            try:
                inbox.move_from(intake)  # wakes the workers when it moved something
            except Exception:  # the database is busy or away: the rows wait in the intake file
                log.warning("could not move received webhooks into the inbox; trying again", exc_info=True)
        elif ready:
            inbox.notify()
