"""The timer sweep: due durable timers become ``timer.fired`` events in the inbox.

The daemon's leader runs :meth:`TimerSweep.run_once` every ``TICKETBOT_WORKER__TIMER_SWEEP_SECONDS``.
For each due timer it first commits the fired event to the inbox, then marks the timer fired.
The event's id is derived from the timer id and its due time, so if the process dies between
the two steps, the next sweep adds the same event again, the inbox's dedup makes that a no-op,
and the timer is marked fired then: a timer fires once. A timer that came due while no
replica was running (downtime, a failover) fires once on the first sweep after.
"""

from __future__ import annotations

import logging

from bot.clock import Clock
from bot.inbox import Inbox
from bot.internal_sources import TIMER, envelope
from bot.state import StateStore
from bot.store import LIVE

log = logging.getLogger(__name__)

BATCH = 200


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
            marked = 0
            for timer in due:
                event = timer.fired_event()
                queued = self.inbox.add(key=event.id, source=TIMER, event=event, envelope=envelope(TIMER, event))
                if self.states.mark_fired(self.scope, timer, self.clock.now()):
                    marked += 1
                    log.info("timer %s due %s fired%s", timer.timer_id, timer.due_at.isoformat(),
                             "" if queued else " (its event was already queued)")
            fired += marked
            if len(due) < self.batch or not marked:  # a full batch nobody could mark: next sweep
                return fired
