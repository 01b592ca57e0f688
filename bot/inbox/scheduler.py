"""Periodic jobs (the polls, the timer sweep, inbox housekeeping), run by the leader only.

Register jobs at any time with :meth:`Scheduler.add_job`; they run while this process is
the leader (see :mod:`bot.inbox.leader`) and stop when it is not. Underneath is APScheduler 3's
``BackgroundScheduler``, created afresh on each election, with every registered job added
under its explicit id (re-registering an id replaces the job, it never duplicates it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot.inbox.leader import LeaderElector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[], Any]
    trigger: Any  # "interval" | "cron" | "date" | an APScheduler trigger object
    trigger_args: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    """Leader-only periodic jobs. ``add_job(id, func, trigger, **trigger_args)``."""

    def __init__(self, elector: LeaderElector | None = None) -> None:
        self._jobs: dict[str, JobSpec] = {}
        self._aps: BackgroundScheduler | None = None
        self._lock = threading.RLock()
        self._elector = elector
        if elector is not None:
            elector.on_change(self._leadership_changed)

    # registering ------------------------------------------------------------------------------
    def add_job(self, id: str, func: Callable[[], Any], trigger: Any, **trigger_args: Any) -> None:  # noqa: A002
        """Run ``func`` on ``trigger`` while leader, e.g. ``add_job("jira-poll", poll, "interval", seconds=60)``."""
        spec = JobSpec(id, func, trigger, trigger_args)
        with self._lock:
            self._jobs[id] = spec
            if self._aps is not None:
                self._schedule(self._aps, spec)

    def remove_job(self, id: str) -> None:  # noqa: A002
        with self._lock:
            self._jobs.pop(id, None)
            if self._aps is not None and self._aps.get_job(id):
                self._aps.remove_job(id)

    @property
    def job_ids(self) -> list[str]:
        return sorted(self._jobs)

    # state ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while this process runs the jobs."""
        return self._aps is not None and self._aps.running

    @property
    def is_leader(self) -> bool:
        return self._elector is None or self._elector.is_leader

    def run_job_now(self, id: str) -> Any:  # noqa: A002
        """Run one registered job in the caller's thread (tests, admin commands)."""
        return self._jobs[id].func()

    # leadership -------------------------------------------------------------------------------
    def start(self) -> None:
        """Without an elector this process always leads; with one, jobs start on election."""
        if self._elector is None:
            self._leadership_changed(True)

    def shutdown(self) -> None:
        self._leadership_changed(False)

    def _leadership_changed(self, leader: bool) -> None:
        with self._lock:
            if leader and self._aps is None:
                aps = BackgroundScheduler(timezone=UTC, job_defaults={
                    "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
                for spec in self._jobs.values():
                    self._schedule(aps, spec)
                aps.start()
                self._aps = aps
                log.info("scheduler started with jobs: %s", ", ".join(self.job_ids) or "none")
            elif not leader and self._aps is not None:
                aps, self._aps = self._aps, None
                aps.shutdown(wait=False)  # a running job finishes on its own thread
                log.info("scheduler stopped")

    @staticmethod
    def _schedule(aps: BackgroundScheduler, spec: JobSpec) -> None:
        aps.add_job(spec.func, spec.trigger, id=spec.id, name=spec.id, replace_existing=True, **spec.trigger_args)
