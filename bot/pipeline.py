"""One path for every event: read the ticket, evaluate every rule, apply (or report) each plan, trace it.

The webhook daemon, the poller, ``ticketbot replay`` and ``ticketbot dry-run`` all call
:meth:`Processor.process`; only the tracker behind it and the executor's ``dry_run`` differ.

A write a system rejected for good (see :mod:`bot.executor`) is reported to the admin channel once
per (rule, effect kind, missing name), across events and restarts: the report is recorded beside
the effect records (``report#<rule>:<kind>:<name>``), and only the live scope reports.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.check import explain_rejection, rejection_alert, rejection_identity
from bot.clock import Clock
from bot.engine import BoundRule, Engine, Evaluation, RuleResult, Verdict
from bot.executor import APPLIED, DELIVER, FAILED, REJECTED, SKIPPED, Executor, Outcome, held_message
from bot.model import TICKET_DELETED, TIMER_FIRED, UNKNOWN, Event, Ticket
from bot.settings import log_context
from bot.state import StateStore
from bot.store import LIVE, Store
from bot.trackers.base import NotFound, Tracker

if TYPE_CHECKING:
    from bot.slack.notifier import Notifier

log = logging.getLogger(__name__)


@dataclass
class RuleReport:
    """One rule's verdicts, plan and what became of each effect, for one event."""

    result: RuleResult
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def rule_id(self) -> str:
        return self.result.rule_id

    def as_dict(self) -> dict[str, Any]:
        ev = self.result.evaluation
        return {"rule": self.rule_id, "matched": ev.matched and not self.result.error,
                "verdicts": [v.as_dict() for v in ev.verdicts], "notes": list(ev.notes),
                "error": self.result.error, "effects": [o.as_dict() for o in self.outcomes]}


@dataclass
class ProcessReport:
    event: Event
    rules: list[RuleReport] = field(default_factory=list)
    skipped: str = ""  # why the event was not evaluated at all

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for r in self.rules for o in r.outcomes]

    @property
    def failed(self) -> bool:
        """Something a retry may mend failed (a rejected write is not one: it is reported, not retried)."""
        return any(o.status == FAILED for o in self.outcomes) or any(r.result.error for r in self.rules)

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == REJECTED]

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {"event": {"id": e.id, "source": e.source, "kind": e.kind, "ticket": e.ticket_key,
                          "at": e.occurred_at.isoformat()},
                "skipped": self.skipped, "rules": [r.as_dict() for r in self.rules]}


class Processor:
    """Evaluates events against the bound rules and applies their plans through one tracker."""

    def __init__(self, rules: Sequence[BoundRule], tracker: Tracker, store: Store, clock: Clock, *,
                 scope: str = LIVE, dry_run: bool = False, record_traces: bool = True,
                 notifier: Notifier | None = None, states: StateStore | None = None,
                 alert: Callable[[str], None] | None = None) -> None:
        self.tracker = tracker
        self.store = store
        self.clock = clock
        self.scope = scope
        self.record_traces = record_traces
        self.executor = Executor(tracker, store, clock, scope=scope, dry_run=dry_run, notifier=notifier,
                                 states=states)
        self.engine = Engine(rules, tracker, clock, states=self.executor.states, scope=scope, people=notifier)
        self.bound = {b.id: b for b in rules}
        #: The admin channel (the guards' alert in the daemon); else the notifier's, else the log.
        self.alert = alert or (notifier.alert if notifier is not None else _log_alert)

    def process(self, event: Event) -> ProcessReport:
        with self.store.deferred():  # the event's traces and effect records: one transaction
            return self._process(event)

    def _process(self, event: Event) -> ProcessReport:
        report = ProcessReport(event)
        if event.kind in (UNKNOWN, TICKET_DELETED):
            report.skipped = f"{event.kind} events are not evaluated"
            return report
        if event.kind == TIMER_FIRED and str((event.payload or {}).get("timer", "")).startswith(DELIVER):
            return self._deliver(event, report)
        try:
            ticket = self.tracker.get_ticket(event.ticket_key, with_people=True)
        except NotFound:
            report.skipped = f"{event.ticket_key} no longer exists"
            return report
        fresh: dict[str, Ticket] = {ticket.key: ticket}
        for result in self.engine.evaluate(event, ticket):
            rule_report = RuleReport(result)
            if result.evaluation.effects:
                with log_context(rule_id=result.rule_id):
                    rule_report.outcomes = self.executor.apply(result.evaluation.effects, known=fresh)
                if any(o.status == APPLIED for o in rule_report.outcomes):
                    fresh = {}  # the next rule must see the ticket as it is now
                for outcome in rule_report.outcomes:
                    if outcome.fresh:
                        self._report_rejection(result.rule_id, outcome)
            report.rules.append(rule_report)
            self._trace(event, rule_report)
        return report

    def _deliver(self, event: Event, report: ProcessReport) -> ProcessReport:
        """A message held for working hours (see :meth:`bot.executor.Executor._hold`): send it now, unless it
        was a reminder for a stage the runbook has left while it waited."""
        payload = event.payload or {}
        data = payload.get("data") or {}
        message = held_message(data.get("message") or {})
        if message is None:
            report.skipped = f"timer {payload.get('timer_id')!r} holds no message"
            return report
        reached = Verdict("working hours of the recipient", True, event.occurred_at.isoformat(), data.get("hours"),
                          str(data.get("whose") or ""))
        verdicts, notes = [reached], [f"held message delivered: {message.step}"]
        outcomes: list[Outcome]
        if message.only_at_stages or message.unless_recorded:
            state = self.executor.states.get(self.scope, message.rule_id, message.ticket_key)
            now = state.stage if state is not None else None
            if message.only_at_stages:
                verdicts.append(Verdict("runbook still at a stage the message is about",
                                        now in message.only_at_stages, now, list(message.only_at_stages)))
            if message.unless_recorded and state is not None and message.unless_recorded in state.data:
                verdicts.append(Verdict("runbook has not recorded what makes the message moot", False,
                                        message.unless_recorded, None))
                now = message.unless_recorded
        if all(v.passed for v in verdicts):
            outcomes = self.executor.apply([message])
        else:
            notes = [f"held message dropped: the runbook moved on ({verdicts[-1].observed}) while it waited "
                     "for working hours"]
            outcomes = [Outcome(message, SKIPPED, notes[0])]
        rule_report = RuleReport(RuleResult(message.rule_id, Evaluation(verdicts, [message], notes)), outcomes)
        for outcome in outcomes:
            if outcome.fresh:
                self._report_rejection(message.rule_id, outcome)
        report.rules.append(rule_report)
        self._trace(event, rule_report)
        return report

    def _report_rejection(self, rule_id: str, outcome: Outcome) -> None:
        """Tell the admin channel, once per (rule, effect kind, missing name), what was refused and what to do."""
        if self.scope != LIVE or self.executor.dry_run:
            return
        identity = rejection_identity(rule_id, outcome.effect, outcome.detail, outcome.name)
        key = f"report#{identity}"
        if len(key) > 300:  # the record's key column; a long name is known by its digest
            key = "report#" + hashlib.sha256(identity.encode()).hexdigest()
        if self.store.is_applied(self.scope, key):
            log.info("%s rejected again (reported before): %s", outcome.effect.key, outcome.detail)
            return
        try:
            rejection = explain_rejection(self.bound.get(rule_id), outcome.effect, outcome.detail, self.tracker,
                                          outcome.name)
        except Exception:  # naming the miss must not fail the event: say what was refused, plainly
            log.warning("could not explain the rejection of %s", outcome.effect.key, exc_info=True)
            rejection = explain_rejection(None, outcome.effect, outcome.detail, None, outcome.name)
        self.store.record_applied(scope=self.scope, effect_key=key, ticket_key=outcome.effect.ticket_key,
                                  rule_id=rule_id, kind="alert", outcome="reported", detail=rejection.name,
                                  at=self.clock.now(), durable=True)
        self.alert(rejection_alert(rejection, outcome.detail))

    def _trace(self, event: Event, rule_report: RuleReport) -> None:
        if not self.record_traces:
            return
        ev = rule_report.result.evaluation
        self.store.add_trace(
            scope=self.scope, event_id=event.id, event_kind=event.kind, ticket_key=event.ticket_key,
            rule_id=rule_report.rule_id, at=self.clock.now(), matched=ev.matched and not rule_report.result.error,
            verdicts=[v.as_dict() for v in ev.verdicts], effects=[o.as_dict() for o in rule_report.outcomes],
            notes=list(ev.notes), error=rule_report.result.error)


def _log_alert(text: str) -> None:
    log.warning("ALERT: %s", text)
