"""Serving a daemon: ``ticketbot run`` in the HTTP process, and the worker processes beside it.

The HTTP process acknowledges webhooks; :class:`WorkerProcess` children do the CPU-heavy part
(rules, executor, traces), each running :func:`serve_worker_process`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from bot.daemon.build import build_daemon, check_names_at_start
from bot.daemon.console import mount_console
from bot.daemon.slack import mount_slack
from bot.inbox.metrics import api_counts
from bot.inbox.queue import Inbox
from bot.inbox.spool import IntakeFile, intake_path
from bot.inbox.workers import WorkerPool
from bot.settings import Settings, configure_logging

log = logging.getLogger(__name__)

#: prometheus_client's multiprocess mode: the directory each worker process writes its metric values to.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# workers in a child process -------------------------------------------------------------------------
#: Rule processing yields the CPU to webhook acknowledgements when the machine is busy.
WORKER_NICENESS = 19
STATUS_EVERY = 1.0  # seconds between the child's status reports (in-flight, API calls, liveness)
STALE_AFTER = 15.0  # a status older than this means the child is stuck


def _child_main(settings: Any, wake: Any, status_path: str, runs_scheduler: bool = False) -> None:
    """Entry point of the spawned worker process (module-level so it pickles)."""
    serve_worker_process(settings, wake, Path(status_path), runs_scheduler=runs_scheduler)


class WorkerProcess:
    """One child process running a WorkerPool; restarted if it dies; woken through a pipe.

    The HTTP process acknowledges webhooks; this child does the CPU-heavy part (rules, executor,
    traces). Both share the inbox through the database, so nothing is handed over in memory:
    a dead child's claims are reclaimed by the next one (same host, dead pid).
    """

    def __init__(self, settings: Any, status_path: Path, *, restart_delay: float = 1.0,
                 runs_scheduler: bool = False, metrics_dir: Path | None = None) -> None:
        self.settings = settings
        self.status_path = status_path
        #: This child (one per ``ticketbot run``) also stands for leader and runs its jobs: polls, the
        #: timer sweep, inbox housekeeping; the HTTP process then does nothing but acknowledge.
        self.runs_scheduler = runs_scheduler
        self.restart_delay = restart_delay
        self.metrics_dir = metrics_dir  # prometheus_client's multiprocess files of the children
        self.restarts = 0
        self._proc: Any = None
        self._writer: Any = None
        self._started_at = 0.0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # no forked copies of threads, locks or connections
        reader, writer = context.Pipe(duplex=False)
        os.set_blocking(writer.fileno(), False)  # waking must never block an acknowledgement
        self._proc = context.Process(target=_child_main, name="ticketbot-worker",
                                     args=(self.settings, reader, str(self.status_path), self.runs_scheduler))
        self._proc.start()
        reader.close()
        self._writer, self._started_at = writer, time.monotonic()
        log.info("worker process %s started", self._proc.pid)

    def _supervise(self) -> None:
        delay = self.restart_delay
        while not self._stopping.wait(1.0):
            if self._proc is not None and not self._proc.is_alive() and not self._stopping.is_set():
                log.error("worker process %s exited with %s; restarting in %.0fs", self._proc.pid,
                          self._proc.exitcode, delay)
                if self.metrics_dir is not None:  # its counts stay; its live gauges (if any) go
                    multiprocess.mark_process_dead(self._proc.pid, str(self.metrics_dir))
                if self._stopping.wait(delay):
                    return
                self.restarts += 1
                self._spawn()
                delay = min(60.0, delay * 2)

    def wake(self) -> None:
        """Tell the child there is new work (a byte down the pipe; a full pipe means it knows already)."""
        writer = self._writer
        if writer is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(writer.fileno(), b"!")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the child: it finishes the events in hand and exits; the rest stays in the inbox."""
        self._stopping.set()
        if self._proc is None:
            return
        self._proc.terminate()
        self._proc.join(timeout)
        if self._proc.is_alive():
            log.error("worker process %s did not stop within %.0fs; killing it", self._proc.pid, timeout)
            self._proc.kill()
            self._proc.join(5)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # what the child reports ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def alive(self) -> bool:
        if self._proc is None or not self._proc.is_alive():
            return False
        status = self.status()
        if status is None or status.get("pid") != self._proc.pid:
            return time.monotonic() - self._started_at < STALE_AFTER  # still starting
        return time.time() - status["at"] < STALE_AFTER and status.get("threads_alive", False)

    def api_counts(self) -> dict[str, dict[str, float]]:
        return (self.status() or {}).get("api", {})

    def in_flight(self) -> int | None:
        return (self.status() or {}).get("in_flight")

    def scheduler(self) -> dict[str, Any] | None:
        """The child's scheduler as it last reported it (None when it runs none or is not up)."""
        return (self.status() or {}).get("scheduler") if self.alive else None


def write_status(path: Path, pool: WorkerPool, adapters: dict[str, Any],
                 scheduler: dict[str, Any] | None = None) -> None:
    """The child's report to the HTTP process: liveness, in-flight count, API calls, its scheduler if it runs
    one (atomically replaced). Its metrics go through prometheus_client's multiprocess files."""
    report = {"pid": os.getpid(), "at": time.time(), "threads_alive": pool.alive, "in_flight": pool.in_flight,
              "api": api_counts(adapters), "scheduler": scheduler}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    os.replace(tmp, path)


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT: uvicorn stops accepting, finishes requests, then the lifespan
    shutdown lets workers finish their events; whatever was not started stays in the inbox.

    Admin alerts go to Slack's admin channel from whichever process raises them (each builds its notifier).
    """
    import shutil
    import tempfile

    import uvicorn

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    daemon = build_daemon(settings)
    check_names_at_start(settings, daemon.rules, daemon.guards.alert)  # --strict: refuses on a missing name
    mount_slack(daemon)  # /slack/events and Socket Mode when TICKETBOT_SLACK__BOT_TOKEN is set
    mount_console(daemon)  # /console and /api/v1 when TICKETBOT_CONSOLE__ADMINS is set
    status_dir = Path(tempfile.mkdtemp(prefix="ticketbot-workers-"))
    if settings.worker.processes:
        spool = intake_path(settings.database_url)
        if spool is not None:  # SQLite: webhooks are committed to a file the workers never lock (bot/inbox/spool.py)
            daemon.inbox.receive_through(IntakeFile(spool))
        metrics_dir = status_dir / "metrics"
        metrics_dir.mkdir()
        # Read by prometheus_client when the spawned children import it: their values go to files there.
        os.environ[MULTIPROC_DIR] = str(metrics_dir)
        daemon.delegate_processing([  # the first also runs the leader's jobs: this process only acknowledges
            WorkerProcess(settings, status_dir / f"worker-{i}.json", runs_scheduler=i == 0, metrics_dir=metrics_dir)
            for i in range(settings.worker.processes)], metrics_dir)
    # proxy_headers off: the console believes its identity header only from the peer address of the connection,
    # which uvicorn would otherwise replace with an X-Forwarded-For value (bot/console/access.py).
    config = uvicorn.Config(daemon.app, host=settings.http.host, port=settings.http.port, log_config=None,
                            access_log=False, lifespan="on", timeout_graceful_shutdown=30, proxy_headers=False)
    # Everything loaded so far lives as long as the process: keep it out of the collector's sight, or
    # each full collection walks the whole of SQLAlchemy, FastAPI and co. (~150 ms, stalling every ack).
    gc.collect()
    gc.freeze()
    # Cleaned at lifespan shutdown: after SIGTERM uvicorn re-raises the signal, so no `finally` would run.
    daemon.on_stopped.append(lambda: shutil.rmtree(status_dir, ignore_errors=True))
    uvicorn.Server(config).run()


def serve_worker_process(settings: Settings, wake: Any, status_path: Path, *, runs_scheduler: bool = False) -> None:
    """The worker child: claim and process inbox events until SIGTERM or until the parent is gone; with
    ``runs_scheduler``, also stand for leader and run its jobs (polls, timer sweep, housekeeping)."""
    configure_logging(settings)
    _yield_the_cpu()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    daemon = build_daemon(settings, migrate=False)
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
    report = lambda: write_status(status_path, daemon.workers, daemon.handler.trackers,  # noqa: E731
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


#: Seconds a worker process waits after a wake-up before it moves new webhooks from the intake file.
MOVE_GATHER = 0.02

