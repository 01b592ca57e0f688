"""The timer sweep: due durable timers become ``timer.fired`` events in the inbox.

The daemon's leader runs :meth:`TimerSweep.run_once` every ``TICKETBOT_WORKER__TIMER_SWEEP_SECONDS``.
For each due timer it first commits the fired event to the inbox, then marks the timer fired.
The event's id is derived from the timer id and its due time, so if the process dies between
the two steps, the next sweep adds the same event again, the inbox's dedup makes that a no-op,
and the timer is marked fired then: a timer fires once. A timer that came due while no
replica was running (downtime, a failover) fires once on the first sweep after.

A backlog (``PARALLEL`` or more timers due in one batch: many armed for the same moment, or a
downtime ending) is queued together: the batch's events go to the inbox's group commit at once
(a few multi-row INSERTs instead of one commit each), then the batch is marked fired in one
transaction. Same order of the two steps, so the same guarantee, and a large backlog fires in
seconds rather than minutes (figures: benchmarks/README.md, scale).
"""

from __future__ import annotations

import asyncio
import logging

from bot.clock import Clock
from bot.inbox.queue import Inbox
from bot.sources.internal import TIMER, envelope
from bot.state import StateStore, Timer
from bot.store import LIVE

log = logging.getLogger(__name__)

BATCH = 500
#: From this many due timers in one batch on, their events are queued together (see above).
PARALLEL = 16


class TimerSweep:
    def __init__(self, states: StateStore, inbox: Inbox, clock: Clock, *, scope: str = LIVE,
                 batch: int = BATCH) -> None:
        self.states = states
        self.inbox = inbox
        self.clock = clock
        self.scope = scope
        self.batch = batch

    def run_once(self) -> int:
        """Queue every timer due now; returns how many fired (were marked fired by this sweep)."""
        now = self.clock.now()
        fired = 0
        while True:
            due = self.states.due(self.scope, now, limit=self.batch)
            if len(due) >= PARALLEL:
                queued = asyncio.run(self._queue_all(due))
                flags = self.states.mark_fired_many(self.scope, due, self.clock.now())
            else:
                queued, flags = [], []
                for timer in due:
                    queued.append(self._queue(timer))
                    flags.append(self.states.mark_fired(self.scope, timer, self.clock.now()))
            marked = 0
            for timer, was_queued, was_marked in zip(due, queued, flags, strict=True):
                if was_marked:
                    marked += 1
                    log.info("timer %s due %s fired%s", timer.timer_id, timer.due_at.isoformat(),
                             "" if was_queued else " (its event was already queued)")
            fired += marked
            if len(due) < self.batch or not marked:  # a full batch nobody could mark: next sweep
                return fired

    def _queue(self, timer: Timer) -> bool:
        event = timer.fired_event()
        return self.inbox.add(key=event.id, source=TIMER, event=event, envelope=envelope(TIMER, event))

    async def _queue_all(self, timers: list[Timer]) -> list[bool]:
        """Every event committed (or already there) before this returns; a failure raises, nothing is marked.
        Waits for every write, failed or not, before returning: the inbox's writer answers each on this loop."""
        events = [t.fired_event() for t in timers]
        results = await asyncio.gather(*[
            self.inbox.add_async(key=e.id, source=TIMER, event=e, envelope=envelope(TIMER, e)) for e in events],
            return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [bool(r) for r in results]
