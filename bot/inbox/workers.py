"""Workers: take events from the inbox and put each through the one path (guards, then Processor).

A pool of threads claims events (see :mod:`bot.inbox.queue` for the per-ticket ordering); an
event whose processing fails is retried with exponential backoff and, after the last
attempt, dead-lettered (with an admin alert naming the command that retries it). A failing
event holds back only its own ticket's later events. An event that met its system unavailable
(an outage, see :mod:`bot.inbox.outage`) is held instead: its attempt is given back and it is retried
for as long as the outage lasts, up to a bound of hours.

Under ``ticketbot run`` the pool lives in a child process (:class:`bot.daemon.serve.WorkerProcess`, niced):
rule processing is CPU-bound Python, and in the HTTP process it would take the interpreter
lock from the webhook acknowledgements (figures: benchmarks/README.md, ingest).
On stop, each worker finishes the event in hand and the rest stays in the inbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock
from bot.engine import BoundRule
from bot.executor import FAILED
from bot.inbox.guards import Guards
from bot.inbox.metrics import Metrics
from bot.inbox.outage import SLACK, Outages, is_outage
from bot.inbox.queue import IGNORED, Claim, Inbox
from bot.model import Event
from bot.pipeline import Processor, ProcessReport
from bot.settings import log_context
from bot.sources.base import Source, Undecodable
from bot.store import LIVE, Store
from bot.trackers.base import Tracker

if TYPE_CHECKING:
    from bot.slack.notifier import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 5
    base: float = 2.0
    cap: float = 600.0
    #: An outage (see :mod:`bot.inbox.outage`): the longest wait between probes, when to alert, when to give up.
    outage_cap: float = 60.0
    outage_alert_after: float = 180.0
    outage_max: float = 24 * 3600.0

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next attempt after ``attempts`` failed ones; None: give up."""
        if attempts >= self.max_attempts:
            return None
        return min(self.cap, self.base * 2 ** (attempts - 1))


class EventFailed(Exception):
    """Processing finished but something failed (a rule error or a failed write); ``retry_after``:
    the longest wait a throttling system asked for, if one did."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(EventFailed):
    """The event failed having met ``systems`` unavailable: it is held, not charged an attempt."""

    def __init__(self, systems: Sequence[str], cause: Exception) -> None:
        super().__init__(f"{', '.join(systems)} unavailable: {cause.__class__.__name__}: {cause}",
                         retry_after=getattr(cause, "retry_after", None))
        self.systems = list(systems)


class Held(Exception):
    """The event's system is in an outage and another event is probing it: wait ``seconds`` without calling it."""

    def __init__(self, system: str, seconds: float) -> None:
        super().__init__(f"held: {system} is unavailable (outage), not called")
        self.system = system
        self.seconds = seconds


@dataclass
class _Seen:
    """The systems one event's calls reached (``up``) and found unavailable (``down``)."""

    up: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)


class _Watched:
    """A tracker or notifier whose calls note in ``seen`` whether ``system`` answered or was unavailable.

    ``alert`` is not watched: it never raises, so its return says nothing about Slack."""

    def __init__(self, target: Any, system: str, seen: _Seen) -> None:
        self._target, self._system, self._seen = target, system, seen

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr) or name.startswith("_") or name == "alert":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except Exception as exc:
                if is_outage(exc):
                    self._seen.down.add(self._system)
                raise
            self._seen.up.add(self._system)
            return result

        return call


class Handler:
    """Everything one event goes through once claimed."""

    def __init__(self, *, rules: Sequence[BoundRule], trackers: dict[str, Tracker], sources: dict[str, Source],
                 guards: Guards, store: Store, clock: Clock, metrics: Metrics, dry_run: bool = False,
                 notifier: Notifier | None = None) -> None:
        self.rules = list(rules)
        self.trackers = trackers
        self.sources = sources
        self.guards = guards
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.dry_run = dry_run
        self.notifier = notifier  # Slack: SlackMessage effects are sent through it
        #: The pool's breaker (set by WorkerPool): an event of a system in an outage waits for its probe.
        self.outages: Outages | None = None

    def handle(self, claim: Claim) -> tuple[str, str]:
        """Process one event; returns (final status, note). Raises on a retryable failure."""
        source = self.sources.get(claim.source)
        if source is None:
            return IGNORED, f"no decoder registered for source {claim.source!r}"
        tracker = self.trackers.get(source.system)
        if tracker is None and source.route is None:
            return IGNORED, f"no {source.system} tracker configured"
        event = self._decode(source, claim)
        system = source.system
        if source.route is not None:
            system = source.route(event)
            tracker = self.trackers.get(system)
            if tracker is None:
                return IGNORED, f"no {system} tracker configured"
        self._gate(system, claim)
        seen = _Seen()
        with log_context(event_id=event.id, ticket_key=event.ticket_key), self._watching(seen):
            with self.store.deferred():  # refusals, traces and effect records of the event: one transaction
                admission = self.guards.admit(event, self.rules)
                self.guards.trace_refusals(event, admission)
                if not admission.rules:
                    return "done", "; ".join(sorted(set(admission.refused.values()))) or "no enabled rule"
                notifier = _Watched(self.notifier, SLACK, seen) if self.notifier is not None else None
                processor = Processor(admission.rules, _Watched(tracker, system, seen), self.store, self.clock,
                                      scope=LIVE, dry_run=self.dry_run, notifier=notifier,
                                      alert=self.guards.alert)
                report = processor.process(event)
            self.metrics.observe_report(claim.source, report)
            if report.failed:  # only what a retry may mend: a rejected write was reported and the runbook went on
                waits = [o.retry_after for o in report.outcomes if o.retry_after is not None]
                raise EventFailed(_failure_summary(report), retry_after=max(waits, default=None))
        return "done", report.skipped

    def _gate(self, system: str, claim: Claim) -> None:
        """Raise Held when ``system`` is in an outage and it is not this event's turn to probe it."""
        wait = self.outages.wait(system, claim.id) if self.outages is not None else None
        if wait is not None:
            raise Held(system, wait)

    @contextmanager
    def _watching(self, seen: _Seen) -> Iterator[None]:
        """A failure of an event that met a system unavailable becomes Unreachable (held, not charged);
        a system the event reached is up again (its outage, if any, is over)."""
        try:
            yield
        except Exception as exc:
            if seen.down:
                raise Unreachable(sorted(seen.down), exc) from exc
            raise
        finally:
            if self.outages is not None:
                self.outages.reached(seen.up - seen.down)

    @staticmethod
    def _decode(source: Source, claim: Claim) -> Event:
        try:
            return source.decode(claim.envelope)
        except source.malformed as exc:
            raise Undecodable(f"{exc.__class__.__name__}: {exc}") from exc


def _failure_summary(report: ProcessReport) -> str:
    parts = [f"{r.rule_id}: {r.result.error}" for r in report.rules if r.result.error]
    parts += [f"{o.effect.key}: {o.detail}" for o in report.outcomes if o.status == FAILED]
    return "; ".join(parts)[:4000]


#: Seconds between looks for claims left by dead processes of this host (see WorkerPool._heartbeat).
ORPHAN_CHECK = 2.0


class WorkerPool:
    """N threads claiming and handling inbox events, plus a heartbeat that renews their leases
    and hands back the claims of dead processes on this host."""

    def __init__(self, inbox: Inbox, handler: Handler, metrics: Metrics, *, count: int = 4,
                 lease_seconds: float = 60.0, idle_poll: float = 0.5, retry: Retry = Retry(),
                 orphan_check: float = ORPHAN_CHECK, alert: Callable[[str], None] | None = None) -> None:
        self.inbox = inbox
        self.handler = handler
        self.metrics = metrics
        self.count = count
        self.lease_seconds = lease_seconds
        self.idle_poll = idle_poll
        self.retry = retry
        self.orphan_check = orphan_check
        self.alert = alert  # the admin channel: dead letters, outages
        self.outages = Outages(inbox.clock, alert=alert, base=retry.base, cap=retry.outage_cap,
                               alert_after=retry.outage_alert_after, max_seconds=retry.outage_max)
        self.outages.on_back = inbox.hurry
        handler.outages = self.outages
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight: dict[int, Claim] = {}
        self._mutex = threading.Lock()

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._work, name=f"inbox-worker-{i}", daemon=True)
                         for i in range(self.count)]
        self._threads.append(threading.Thread(target=self._heartbeat, name="inbox-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; wait for the events in hand to finish; leave the rest in the inbox."""
        self._stop.set()
        self.inbox.notify()
        for thread in self._threads:
            thread.join(timeout=timeout)
        released = self.inbox.release_mine()  # only if a worker was stuck past the timeout
        if released:
            log.warning("released %d unfinished event(s) back to the inbox", released)

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # work ---------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # a database hiccup must not kill the worker
                log.exception("inbox worker round failed")
                worked = False
            if not worked:
                self.inbox.wait(self.idle_poll)

    def run_once(self) -> bool:
        """Claim and handle one event; False when nothing was ready."""
        claim = self.inbox.claim(self.lease_seconds)
        if claim is None:
            return False
        with self._mutex:
            self._in_flight[claim.id] = claim
        try:
            self._handle(claim)
        finally:
            with self._mutex:
                self._in_flight.pop(claim.id, None)
        return True

    def drain(self, limit: int = 10_000) -> int:
        """Handle ready events in the caller's thread until none is left (tests, one-shot runs)."""
        handled = 0
        while handled < limit and self.run_once():
            handled += 1
        return handled

    def _handle(self, claim: Claim) -> None:
        store = self.handler.store
        with store.deferred():  # the event's traces and records are committed with its "done"
            try:
                status, note = self.handler.handle(claim)
            except Exception as exc:  # one event's failure never stops the others
                self._failed(claim, exc)
                return
            self._record(lambda: store.flush(
                also=lambda conn: self.inbox.complete(claim, status=status, note=note[:4000], conn=conn)))
        self.outages.done(claim.id)
        self.metrics.latency.labels(claim.source).observe(
            max(0.0, self.inbox.clock.now().timestamp() - claim.received_ts))

    def _failed(self, claim: Claim, exc: Exception) -> None:
        """Retry later with backoff, or dead-letter: after the last attempt, or at once when undecodable.
        An outage holds the event instead (see :meth:`_hold`)."""
        if isinstance(exc, Held | Unreachable):
            self._hold(claim, exc)
            return
        undecodable = isinstance(exc, Undecodable)
        error = str(exc) if undecodable else f"{exc.__class__.__name__}: {exc}"
        delay = None if undecodable else self.retry.delay(claim.attempts)
        asked = getattr(exc, "retry_after", None)  # a throttled vendor said when to come back: not sooner
        if delay is not None and asked is not None and asked > delay:
            delay = asked
        if not isinstance(exc, EventFailed):  # rule and write failures were counted per rule already
            log.warning("inbox event %s (%s) failed on attempt %d: %s", claim.id, claim.ticket_key,
                        claim.attempts, error, exc_info=not (undecodable or _expected(exc)))
            self.metrics.failed.labels(claim.source, "-").inc()
        if delay is None:
            self._dead(claim, error)
        self._record(lambda: self.inbox.fail(claim, error, retry_in=delay))

    def _hold(self, claim: Claim, exc: Held | Unreachable) -> None:
        """Put an event that met an outage back without spending its attempt; dead-letter it once it has
        been held past the bound (``Retry.outage_max``; the outage alerts once for all of them)."""
        systems = [exc.system] if isinstance(exc, Held) else exc.systems
        if any(self.outages.expired(system, claim.id) for system in systems):
            error = f"{exc.__class__.__name__}: {exc}"
            log.error("inbox event %s (%s) dead-lettered: held past the outage bound: %s", claim.id,
                      claim.ticket_key, error)
            self.metrics.dead_lettered.labels(claim.source).inc()
            self.outages.done(claim.id)
            self._record(lambda: self.inbox.fail(claim, error, retry_in=None))
            return
        for system in systems:
            self.metrics.held.labels(claim.source, system).inc()
        if isinstance(exc, Held):
            delay = exc.seconds
            log.debug("inbox event %s (%s) held %.1fs: %s", claim.id, claim.ticket_key, delay, exc)
        else:
            delay = max(self.outages.failed(s, claim.id, retry_after=exc.retry_after) for s in systems)
            if exc.retry_after is not None:  # a throttled vendor said when to come back: not sooner
                delay = max(delay, exc.retry_after)
            log.warning("inbox event %s (%s) failed on attempt %d, held: next try in %.0fs, the attempt given back "
                        "(an outage): %s", claim.id, claim.ticket_key, claim.attempts, delay, exc)
        self._record(lambda: self.inbox.fail(claim, str(exc), retry_in=delay, spent=False))

    def _dead(self, claim: Claim, error: str) -> None:
        """Log, count and tell the admin channel that an event is set aside, and how to retry it."""
        log.error("inbox event %s (%s) dead-lettered after %d attempt(s): %s", claim.id, claim.ticket_key,
                  claim.attempts, error)
        self.metrics.dead_lettered.labels(claim.source).inc()
        self.outages.done(claim.id)
        if self.alert is not None:
            self.alert(f"Inbox event {claim.id} ({claim.source}, ticket {claim.ticket_key or '-'}) was "
                       f"dead-lettered after {claim.attempts} attempt(s): {error[:1500]}\n"
                       f"Once the cause is fixed, retry it with `ticketbot dead-letters --retry {claim.id}`.")

    def _record(self, write: Callable[[], object]) -> None:
        """Write an event's outcome to the inbox; while the database is unreachable, keep trying.

        The claim stays in flight meanwhile, so the heartbeat renews its lease as soon as the
        database is back and the outcome lands then, instead of the event waiting out its lease.
        Gives up (raises) when the pool stops, or once the lease has run out for sure.
        """
        deadline = time.monotonic() + self.lease_seconds
        pause = 0.05
        while True:
            try:
                write()
                return
            except SQLAlchemyError as exc:
                if time.monotonic() + pause > deadline or self._stop.wait(pause):
                    raise
                log.warning("could not record an inbox event's outcome (%s); retrying in %.2fs",
                            exc.__class__.__name__, pause)
                pause = min(2.0, pause * 2)

    def _heartbeat(self) -> None:
        """Renew our leases every third of a lease; every ``orphan_check`` seconds, reclaim dead processes' claims.

        Reclaiming here, in every replica, is what makes a SIGKILLed neighbour's events
        claimable within seconds: the leader's sweep runs only every ``SWEEP_SECONDS`` (and a new
        leader's first one that long after its election), and a lease lasts a minute.
        """
        renew_every = max(0.05, self.lease_seconds / 3)
        tick = min(renew_every, self.orphan_check)
        next_renew = next_reclaim = time.monotonic()
        while not self._stop.wait(tick):
            now = time.monotonic()
            if now >= next_renew:
                next_renew = now + renew_every
                self._renew_leases()
            if now >= next_reclaim:
                next_reclaim = now + self.orphan_check
                self._reclaim_orphans()

    def _renew_leases(self) -> None:
        with self._mutex:
            claims = list(self._in_flight.values())
        try:
            self.inbox.renew(claims, self.lease_seconds)
        except Exception:
            log.exception("could not renew inbox leases")

    def _reclaim_orphans(self) -> None:
        try:
            self.inbox.reclaim_orphans()  # wakes the workers when it hands something back
        except Exception:  # a database hiccup: the next tick tries again
            log.warning("could not look for orphaned inbox claims", exc_info=True)


def _expected(exc: Exception) -> bool:
    """Tracker errors are the normal kind of failure: no traceback in the log for them."""
    from bot.trackers.base import TrackerError

    return isinstance(exc, TrackerError)


