"""Outages: a vendor that is down holds events back; it does not use up their attempts.

A failure that says the system is unavailable (a tracker's :class:`~bot.trackers.base.Unavailable`:
5xx, 408/429, unreachable, timed out; a Slack :class:`~bot.slack.notifier.NotifyError` marked
``transient``) is nothing wrong with the event. :class:`Outages` is each worker pool's breaker,
one outage per system (``jira``, ``zendesk``, ``slack``):

* the first such failure opens an outage; the event is held (back in the inbox, its attempt given
  back, due again after a backoff doubling from ``base`` to ``cap`` seconds). Held events keep
  blocking their ticket's later events, so order is kept;
* while an outage is open, one event at a time may call the system (a *probe*, every ``interval``
  seconds, the interval doubling up to ``cap``); the others are held without calling it, so a dead
  system is not hammered with every queued event;
* the first event that reaches the system again closes the outage, and the held events are made
  due at once;
* an outage open longer than ``alert_after`` seconds is reported to the admin channel (which
  system, since when, how many events held), and then its end (how long, how many events now
  being processed). Slack being the system down: the first alert is only logged, the second says so;
* an event held for longer than ``max_seconds`` is given up on (dead-lettered, one alert per outage).

The state is per process and in memory: a restarted process starts counting again (the bound then
runs from the restart), and each replica probes on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.clock import Clock
from bot.slack.notifier import NotifyError
from bot.trackers.base import is_unavailable

log = logging.getLogger(__name__)

#: The system a transient Slack failure puts in an outage.
SLACK = "slack"
#: Seconds a failed probe's next try comes after the next probe time (see Outages.failed).
LAST = 0.001


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the system is unavailable, not that the request is wrong."""
    return is_unavailable(exc) or (isinstance(exc, NotifyError) and exc.transient)


@dataclass
class Outage:
    """One system being down, as this process sees it."""

    system: str
    since: float  # epoch seconds of the first failure
    interval: float  # seconds between probes, now
    next_probe: float
    held: set[int] = field(default_factory=set)  # inbox ids held back during it
    alerted: bool = False
    gave_up: bool = False


class Outages:
    """The per-system breaker the workers consult (thread-safe). See the module docstring."""

    def __init__(self, clock: Clock, *, alert: Callable[[str], None] | None = None, base: float = 2.0,
                 cap: float = 60.0, alert_after: float = 180.0, max_seconds: float = 24 * 3600.0) -> None:
        self.clock = clock
        self.alert = alert
        self.base = base
        self.cap = cap
        self.alert_after = alert_after
        self.max_seconds = max_seconds
        #: Called with the ids of the events an outage held when it ends (the inbox makes them due now).
        self.on_back: Callable[[list[int]], object] | None = None
        self._lock = threading.Lock()
        self._down: dict[str, Outage] = {}
        self._held_since: dict[int, float] = {}  # event id -> when this process first held it
        self._holds: dict[int, int] = {}  # event id -> how many times a call for it met the outage

    # asked before an event calls a system ---------------------------------------------------------------
    def wait(self, system: str, event_id: int) -> float | None:
        """Seconds the event must wait before calling ``system`` (it is held meanwhile); None: go ahead
        (the system is up, or this event is the outage's next probe)."""
        with self._lock:
            outage = self._down.get(system)
            if outage is None:
                return None
            now = self._now()
            if now >= outage.next_probe:
                outage.next_probe = now + outage.interval  # this event probes; the others wait for its result
                return None
            outage.held.add(event_id)
            self._held_since.setdefault(event_id, now)
            return outage.next_probe - now

    # told after an event ------------------------------------------------------------------------------
    def failed(self, system: str, event_id: int, *, retry_after: float | None = None) -> float:
        """An event met ``system`` unavailable: opens (or prolongs) its outage; seconds until the event's next try.
        ``retry_after``: the wait the system asked for (a throttled one); no probe comes sooner."""
        with self._lock:
            now = self._now()
            outage = self._down.get(system)
            if outage is None:
                outage = self._down[system] = Outage(system, since=now, interval=self.base,
                                                     next_probe=now + self.base)
                log.warning("%s is unavailable: holding its events (a probe every %g s at first, at most %g s)",
                            system, self.base, self.cap)
            else:
                outage.interval = min(self.cap, outage.interval * 2)
                outage.next_probe = max(outage.next_probe, now + outage.interval)
            if retry_after is not None:
                outage.next_probe = max(outage.next_probe, now + retry_after)
            outage.held.add(event_id)
            self._held_since.setdefault(event_id, now)
            holds = self._holds[event_id] = self._holds.get(event_id, 0) + 1
            # After the next probe time, by a hair: the events waiting for it go first (one of them probes),
            # so a failed probe goes to the back of the line instead of probing for ever.
            delay = max(min(self.cap, self.base * 2 ** min(holds - 1, 32)), outage.next_probe - now + LAST)
            text = self._down_alert(outage, now)
        self._send(text)
        return delay

    def expired(self, system: str, event_id: int) -> bool:
        """True when the event has been held for longer than the bound: it is to be dead-lettered.
        The first one of an outage alerts (once), naming the command that retries them all."""
        with self._lock:
            now = self._now()
            since = self._held_since.get(event_id)
            if since is None or now - since <= self.max_seconds:
                return False
            outage = self._down.get(system)
            text = ""
            if outage is not None and not outage.gave_up:
                outage.gave_up = True
                text = (f"{system} has been unavailable for {_duration(now - outage.since)} (since "
                        f"{_moment(outage.since)}): its held events are being dead-lettered, past the "
                        f"bound of {_duration(self.max_seconds)} (TICKETBOT_WORKER__OUTAGE_MAX_HOURS). Once "
                        f"{system} is back, retry them with `ticketbot dead-letters --all`.")
        if text:
            log.error("%s", text)
        self._send(text)
        return True

    def reached(self, systems: Iterable[str]) -> None:
        """Calls to ``systems`` succeeded: their outages are over (their held events are made due now)."""
        for system in systems:
            with self._lock:
                outage = self._down.pop(system, None)
                if outage is None:
                    continue
                lasted = self._now() - outage.since
            self._back(outage, lasted)

    def done(self, event_id: int) -> None:
        """The event is finished (done or dead): forget it. An outage given up on (past the bound) with no
        event left held is forgotten too: nobody probes it any more, and the next failure opens a new one."""
        with self._lock:
            self._held_since.pop(event_id, None)
            self._holds.pop(event_id, None)
            for system, outage in list(self._down.items()):
                outage.held.discard(event_id)
                if outage.gave_up and not outage.held:
                    del self._down[system]
                    log.warning("%s: no event held any more after giving up; its outage is closed", system)

    # reading -------------------------------------------------------------------------------------------
    def down(self) -> dict[str, float]:
        """The systems in an outage now, with its start (epoch seconds)."""
        with self._lock:
            return {system: outage.since for system, outage in self._down.items()}

    # internals -----------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _down_alert(self, outage: Outage, now: float) -> str:
        """The "still down" alert text, once per outage, when it has lasted past ``alert_after``; else ""."""
        if outage.alerted or now - outage.since < self.alert_after:
            return ""
        outage.alerted = True
        text = (f"{outage.system} has been unavailable for {_duration(now - outage.since)} (since "
                f"{_moment(outage.since)}): {len(outage.held)} event(s) held, retried as soon as it answers "
                f"again (for at most {_duration(self.max_seconds)}).")
        log.error("%s", text)
        return text

    def _back(self, outage: Outage, lasted: float) -> None:
        held = sorted(outage.held)
        log.warning("%s is back after %s: %d held event(s) now being processed", outage.system, _duration(lasted),
                    len(held))
        if held and self.on_back is not None:
            self.on_back(held)
        if outage.alerted:
            told = " (the earlier alert could not reach Slack)" if outage.system == SLACK else ""
            self._send(f"{outage.system} is back after {_duration(lasted)} unavailable (since "
                       f"{_moment(outage.since)}){told}: {len(held)} held event(s) now being processed.")

    def _send(self, text: str) -> None:
        if text and self.alert is not None:
            self.alert(text)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _moment(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
