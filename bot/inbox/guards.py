"""Loop and blast-radius guards: which rules may run on an event, and pausing those that ran away.

Checked before an event is evaluated, per rule:

1. an event caused by the bot's own account (on Jira or on Zendesk) is ignored, unless the rule
   opts in (``handles_own_events = True`` on the rule class, or on its config block);
2. a paused rule (entirely, or for this ticket) does not run;
3. caps, counted from the executor's own record of applied writes:
   * the rule's writes on this ticket in the last 10 minutes >= ``max_writes_per_ticket_10min``
     pauses the rule *for this ticket* (a loop on one ticket stops there; the other rules on
     that ticket go on, since their writes are counted each for itself);
   * tickets this rule changed in the last hour >= ``max_tickets_per_rule_hour`` pauses the
     rule *entirely* (a rule gone wrong stops before it touches the whole project).

Caps are checked between events, not between the writes of one plan: one event's plan
may overshoot a cap by its own size, and the next event finds the rule paused. A pause
lasts until ``ticketbot rules resume ID``; writes made before the resume no longer count.
Everything the guards need for one event (pauses, resumes, writes on the ticket, tickets each
rule changed) is read in one connection, whatever the number of rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import DateTime, Index, Integer, String, Text, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.engine import BoundRule
from bot.executor import APPLIED
from bot.model import Event, User
from bot.settings import GuardSettings
from bot.store import LIVE, AppliedEffectRow, Base, Store

log = logging.getLogger(__name__)

TICKET_WINDOW = timedelta(minutes=10)
RULE_WINDOW = timedelta(hours=1)
WHOLE_RULE = ""  # ticket_key of a pause that covers every ticket

#: Effect kinds that write only the bot's own database: never counted against the write caps.
BOOKKEEPING = ("set_state", "start_timer", "cancel_timer")


class RulePauseRow(Base):
    """A rule stopped, for one ticket or (``ticket_key == ""``) entirely, until resumed."""

    __tablename__ = "rule_pauses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    ticket_key: Mapped[str] = mapped_column(String(64), default=WHOLE_RULE)
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(32))  # "cap" | "admin"
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass
class Admission:
    """The rules that may evaluate an event, and why each of the others may not."""

    rules: list[BoundRule] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # rule id -> reason
    own_event: bool = False


def opts_into_own_events(bound: BoundRule) -> bool:
    return bool(getattr(bound.rule, "handles_own_events", False) or getattr(bound.config, "handles_own_events", False))


class Guards:
    def __init__(self, store: Store, settings: GuardSettings, clock: Clock, *,
                 bot_user: Callable[[], User | None] = lambda: None,
                 bot_users: Sequence[Callable[[], User | None]] = (),
                 alert: Callable[[str], None] | None = None) -> None:
        """``bot_user`` (Jira) and ``bot_users`` (other systems, e.g. Zendesk) name the bot's own
        accounts; each is asked on every event and should cache its lookup."""
        self.store = store
        self.settings = settings
        self.clock = clock
        self.bot_users = [bot_user, *bot_users]
        self.alert = alert or (lambda text: log.warning("ALERT: %s", text))

    # admission ------------------------------------------------------------------------------
    def admit(self, event: Event, rules: Sequence[BoundRule]) -> Admission:
        """Decide, rule by rule, whether it may run on ``event``; pausing rules that hit a cap."""
        admission = Admission(own_event=self.is_own_event(event))
        enabled = [r for r in rules if r.config.enabled]
        facts = self._facts(event, [r.id for r in enabled])
        for bound in enabled:
            reason = self._refusal(event, bound, admission.own_event, facts)
            if reason:
                admission.refused[bound.id] = reason
            else:
                admission.rules.append(bound)
        return admission

    def is_own_event(self, event: Event) -> bool:
        if event.actor is None:
            return False
        return any(event.actor.same_person(bot) for bot in (lookup() for lookup in self.bot_users) if bot)

    def _refusal(self, event: Event, bound: BoundRule, own: bool, facts: _Facts) -> str:
        if own and not opts_into_own_events(bound):
            return "event caused by ticketbot's own account"
        for scope in (WHOLE_RULE, event.ticket_key):
            pause = facts.pauses.get((bound.id, scope))
            if pause is not None:
                where = f" for {scope}" if scope else ""
                return f"rule paused{where} since {pause.paused_at:%Y-%m-%d %H:%M} UTC: {pause.reason}"
        return self._check_caps(event, bound, facts)

    def _check_caps(self, event: Event, bound: BoundRule, facts: _Facts) -> str:
        now = self.clock.now()
        resumed = facts.resumed.get(bound.id)
        per_ticket = self.settings.max_writes_per_ticket_10min
        if per_ticket and event.ticket_key:
            writes = facts.writes_since(bound.id, _later(now - TICKET_WINDOW, resumed))
            if writes >= per_ticket:
                reason = (f"cap reached: {writes} bot writes by this rule on {event.ticket_key} in 10 minutes "
                          f"(max {per_ticket}); paused for this ticket")
                self.pause(bound.id, reason, ticket_key=event.ticket_key, by="cap")
                return reason
        per_rule = self.settings.max_tickets_per_rule_hour
        if per_rule:
            changed = facts.tickets_changed(bound.id, _later(now - RULE_WINDOW, resumed))
            if len(changed) >= per_rule and event.ticket_key not in changed:
                reason = (f"cap reached: rule changed {len(changed)} tickets in the last hour "
                          f"(max {per_rule}); paused entirely")
                self.pause(bound.id, reason, by="cap")
                return reason
        return ""

    # pausing --------------------------------------------------------------------------------
    def pause(self, rule_id: str, reason: str, *, ticket_key: str = WHOLE_RULE, by: str = "admin") -> None:
        """Stop a rule (for one ticket, or entirely) and tell the admins."""
        with self.store.session() as s, s.begin():
            s.add(RulePauseRow(rule_id=rule_id, ticket_key=ticket_key, reason=reason, by=by,
                               paused_at=self.clock.now()))
        where = f" on {ticket_key}" if ticket_key else ""
        log.warning("rule %s paused%s: %s", rule_id, where, reason)
        self.alert(f"ticketbot paused rule {rule_id}{where}: {reason}. "
                   f"Resume with `ticketbot rules resume {rule_id}`.")

    def resume(self, rule_id: str) -> int:
        """Lift every pause of a rule (whole and per ticket); its caps count afresh from now."""
        now = self.clock.now()
        with self.store.session() as s, s.begin():
            result = s.execute(update(RulePauseRow).where(
                RulePauseRow.rule_id == rule_id, RulePauseRow.resumed_at.is_(None)).values(resumed_at=now))
            lifted = cast(CursorResult[Any], result).rowcount
            if not lifted:  # still record the moment: caps count from here
                s.add(RulePauseRow(rule_id=rule_id, ticket_key=WHOLE_RULE, reason="resumed while not paused",
                                   by="admin", paused_at=now, resumed_at=now))
        if lifted:
            log.info("rule %s resumed (%d pause(s) lifted)", rule_id, lifted)
        return lifted

    def active_pauses(self, rule_id: str | None = None) -> list[RulePauseRow]:
        query = select(RulePauseRow).where(RulePauseRow.resumed_at.is_(None)).order_by(RulePauseRow.id)
        if rule_id:
            query = query.where(RulePauseRow.rule_id == rule_id)
        with self.store.session() as s:
            return list(s.scalars(query).all())

    # traces -----------------------------------------------------------------------------------
    def trace_refusals(self, event: Event, admission: Admission) -> None:
        """A trace per refused rule (except on the bot's own events), so ``why`` can tell."""
        if admission.own_event:
            return
        for rule_id, reason in admission.refused.items():
            verdict = {"name": "rule allowed to run", "passed": False, "observed": reason,
                       "expected": "not paused, under its caps", "note": ""}
            self.store.add_trace(scope=LIVE, event_id=event.id, event_kind=event.kind, ticket_key=event.ticket_key,
                                 rule_id=rule_id, at=self.clock.now(), matched=False, verdicts=[verdict],
                                 effects=[], notes=[reason], error=None)

    # queries ----------------------------------------------------------------------------------
    def _facts(self, event: Event, rule_ids: list[str]) -> _Facts:
        """What every rule's admission needs for ``event``, read in one connection (not per rule).

        Rule state and timers are the bot's own bookkeeping, not writes to anyone's tickets: the
        caps do not count them."""
        if not rule_ids:
            return _Facts({}, {}, [], [])
        s, row, now = self.settings, AppliedEffectRow, self.clock.now()
        with self.store.engine.connect() as conn:
            pauses: dict[tuple[str, str], Any] = {}
            resumed: dict[str, datetime | None] = {}
            for p in conn.execute(select(RulePauseRow.rule_id, RulePauseRow.ticket_key, RulePauseRow.reason,
                                         RulePauseRow.paused_at, RulePauseRow.resumed_at)
                                  .where(RulePauseRow.rule_id.in_(rule_ids)).order_by(RulePauseRow.id)):
                if p.resumed_at is None:
                    pauses[(p.rule_id, p.ticket_key)] = p
                else:
                    last = resumed.get(p.rule_id)
                    resumed[p.rule_id] = p.resumed_at if last is None else max(last, p.resumed_at)
            if not (s.max_writes_per_ticket_10min or s.max_tickets_per_rule_hour):
                return _Facts(pauses, {}, [], [])
            writes: list = []
            if s.max_writes_per_ticket_10min and event.ticket_key:
                writes = list(conn.execute(select(row.rule_id, row.at).where(
                    row.ticket_key == event.ticket_key, row.scope == LIVE, row.outcome == APPLIED,
                    row.kind.not_in(BOOKKEEPING), row.at >= now - TICKET_WINDOW)))
            changed: list = []
            if s.max_tickets_per_rule_hour:
                changed = list(conn.execute(
                    select(row.rule_id, row.ticket_key, func.max(row.at))
                    .where(row.rule_id.in_(rule_ids), row.at >= now - RULE_WINDOW, row.scope == LIVE,
                           row.outcome == APPLIED, row.kind.not_in(BOOKKEEPING))
                    .group_by(row.rule_id, row.ticket_key)))
        return _Facts(pauses, resumed, writes, changed)


#: The per-rule cap reads the executor's record by rule and time on every event; the engine
#: spine indexes it by ticket only. Declared here, created by the migrations.
Index("ix_applied_effects_rule_at", AppliedEffectRow.rule_id, AppliedEffectRow.at)


@dataclass(frozen=True)
class _Facts:
    """Read once per event for all its rules: active pauses, when each rule was last resumed,
    which rule wrote to the event's ticket when (last ten minutes), and the tickets each rule
    changed with its last write there (last hour)."""

    pauses: dict[tuple[str, str], Any]  # (rule id, ticket key or "") -> pause row
    resumed: dict[str, datetime | None]
    ticket_writes: list[Any]  # (rule_id, at)
    changed: list[Any]  # (rule_id, ticket_key, last write)

    def writes_since(self, rule_id: str, since: datetime) -> int:
        return sum(1 for rule, at in self.ticket_writes if rule == rule_id and _aware(at, since) >= since)

    def tickets_changed(self, rule_id: str, since: datetime) -> set[str]:
        return {ticket for rule, ticket, last in self.changed if rule == rule_id and _aware(last, since) >= since}


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def _later(a: datetime, b: datetime | None) -> datetime:
    """The later of two moments; ``b`` may come back naive from SQLite (stored as UTC)."""
    return a if b is None else max(a, _aware(b, a))
