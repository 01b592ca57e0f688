"""``ticketbot run``: the daemon's parts wired together.

    webhook -> Intake (verify, parse, commit to inbox) -> 202
    inbox -> WorkerPool -> Handler (decode, guards, Processor) -> tracker, traces, applied effects
    leader only: Scheduler -> jira-poll (Poller -> inbox), inbox-sweep, timer-sweep
    (under ``ticketbot run`` with worker processes the first of them stands for leader, not the HTTP process)

:class:`Daemon` takes its collaborators (rules, tracker, clock, alert) so tests build it
around an in-memory site and a virtual clock; :func:`bot.daemon.build.build_daemon` builds it from settings.
Other areas extend it: ``daemon.app.include_router(...)`` adds HTTP routes (Slack's, see
:mod:`bot.daemon.slack`), ``daemon.scheduler.add_job(...)`` adds leader-only periodic jobs (those
registered by :func:`bot.daemon.build.build_daemon`, which the worker process running the scheduler builds too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from bot.clock import Clock, SystemClock
from bot.daemon.health import DatabaseProbe, WatchedFile
from bot.daemon.http import Endpoint, Intake, create_app, jira_automation_verifier, jira_verifier, zendesk_verifier
from bot.engine import BoundRule
from bot.inbox.archive import EventArchive
from bot.inbox.guards import Guards
from bot.inbox.leader import LeaderElector, lock_for
from bot.inbox.metrics import Metrics
from bot.inbox.poller import ZENDESK_SOURCE, DaemonState, Poller, decode_poll
from bot.inbox.queue import Inbox
from bot.inbox.scheduler import Scheduler
from bot.inbox.spool import IntakeFile, intake_path
from bot.inbox.timers import TimerSweep
from bot.inbox.workers import Handler, Retry, Source, WorkerPool
from bot.migrations import upgrade
from bot.model import Event, User
from bot.settings import Settings
from bot.slack.notifier import Notifier
from bot.slack.sender import build_notifier
from bot.sources import jira_webhook, zendesk_webhook
from bot.sources.internal import internal_sources
from bot.state import StateStore
from bot.store import Store
from bot.trackers.base import Tracker
from bot.trackers.jira.model import FieldCatalog
from bot.trackers.zendesk.adapter import ZendeskSearcher, ZendeskTracker

log = logging.getLogger(__name__)

#: Finished inbox rows are kept this long: Jira retries for hours, not weeks.
INBOX_RETENTION = timedelta(days=14)
SWEEP_SECONDS = 30


class ChildProcess(Protocol):
    """A worker process the daemon delegates processing to (:class:`bot.daemon.serve.WorkerProcess`)."""

    #: The child that stands for leader and runs the periodic jobs (at most one).
    runs_scheduler: bool
    restarts: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self) -> None: ...

    @property
    def alive(self) -> bool: ...

    def api_counts(self) -> dict[str, dict[str, float]]: ...

    def in_flight(self) -> int | None: ...

    def scheduler(self) -> dict[str, Any] | None: ...


class Daemon:
    def __init__(self, settings: Settings, *, rules: Sequence[BoundRule], tracker: Tracker,
                 clock: Clock | None = None, zendesk_tracker: Tracker | None = None,
                 bot_user: Callable[[], User | None] = lambda: None,
                 catalog: Callable[[], FieldCatalog | None] = lambda: None,
                 alert: Callable[[str], None] | None = None, notifier: Notifier | None = None,
                 migrate: bool = True) -> None:
        self.settings = settings
        #: Slack (TICKETBOT_SLACK__BOT_TOKEN): SlackMessage effects and the guards' alerts go through it.
        self.notifier = notifier if notifier is not None else build_notifier(settings)
        alert = alert or (self.notifier.alert if self.notifier is not None else None)
        self.rules = list(rules)
        self.clock = clock or SystemClock()
        if migrate:
            upgrade(settings.database_url)
        self.store = Store(settings.database_url)
        self.database_probe = DatabaseProbe(self.store.engine)  # /readyz: answering, and the file opened now
        self._intake_file: WatchedFile | None = None
        self.inbox = Inbox(self.store.engine, self.clock)
        self.archive = EventArchive(self.store.engine, self.clock,
                                    retention=timedelta(days=settings.archive.retention_days))
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
        self.worker_processes: list[ChildProcess] = []
        self._scheduler_process: ChildProcess | None = None  # the child that runs the leader's jobs, if one does
        self.on_started: list[Callable[[], None]] = []  # e.g. Slack's Socket Mode connection
        self.on_stopped: list[Callable[[], None]] = []
        self.intake = Intake(self.inbox, self.metrics, self.clock, endpoints=self._endpoints())
        self.app = create_app(self.intake, self.metrics, self.health, max_body_bytes=settings.http.max_body_bytes,
                              on_startup=self.start, on_shutdown=self.stop)

    def delegate_processing(self, processes: Sequence[ChildProcess], metrics_dir: Path) -> None:
        """Run the workers in these child processes instead of threads of this one."""
        self.worker_processes = list(processes)
        self._scheduler_process = next((p for p in self.worker_processes if p.runs_scheduler), None)
        for process in self.worker_processes:
            self.inbox.on_notify.append(process.wake)
        self.metrics.serve_processing_from(metrics_dir)  # the children write there (multiprocess mode)
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
        writes the inbox itself, so no more will come; see bot/inbox/spool.py)."""
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
        self.inbox.prune(INBOX_RETENTION, keep=self.archive.keep)
        self.archive.prune()

    def _endpoints(self) -> dict[str, Endpoint]:
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


def _secure(endpoint: Endpoint, secret: SecretStr | None, allow_unsigned: bool,
            verifier: Callable[[str], Callable[..., None]]) -> None:
    """Verify with the secret; without one, stay closed unless explicitly opened."""
    if secret is not None and secret.get_secret_value():
        endpoint.verify = verifier(secret.get_secret_value())
    elif not allow_unsigned:
        endpoint.closed_reason = "webhook endpoint closed: no signing secret is configured"


def _sources(catalog: Callable[[], FieldCatalog | None]) -> dict[str, Source]:
    """How each inbox source's envelope becomes an Event again (with the site's field names)."""
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


def _zendesk_poller(tracker: Tracker, daemon: Daemon) -> Poller | None:
    """Polls Zendesk's incremental export (cursor kept in the daemon state) for the watched groups."""

    if not isinstance(tracker, ZendeskTracker):
        return None
    # Only the very first poll reads from a moment (5 minutes back); after it the export cursor says what is new.
    return Poller(ZendeskSearcher(tracker), daemon.inbox, daemon.state, daemon.clock, projects=daemon.watched_projects,
                  overlap=300, system="zendesk", source=ZENDESK_SOURCE)
