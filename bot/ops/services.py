"""The bot as Slack and the operators' CLI see it: :class:`BotServices`, the real :class:`~bot.slack.Services`.

Reads come from the bot's own records (traces, rule state, timers, applied effects, the inbox);
nothing here writes to a tracker. What people decide in Slack (approve, reject, ask for
customer communication) becomes an Event in the inbox, processed by the workers like a
webhook; its id is derived from the ticket, the person, the decision and the ticket's current
stage, so a double click or a retried request queues one event. Pausing and resuming rules goes
through :class:`~bot.inbox.guards.Guards`. Every decision, pause, resume and refusal is written to the
audit log (:mod:`bot.ops.audit`).

``ticketbot status`` / ``ticketbot timers`` print the same text as ``/ticketbot status`` /
``/ticketbot timers``; their ``--json`` prints :meth:`BotServices.status_report` /
:meth:`BotServices.timers_report`.

Replies are plain text (the Slack listener escapes them); ``*bold*`` and `` `code` `` only.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import select

from bot.clock import Clock
from bot.engine import BoundRule
from bot.executor import DELIVER
from bot.inbox.guards import Guards, RulePauseRow
from bot.inbox.queue import DEAD, PENDING, PROCESSING, Inbox, InboxRow, dedup_key
from bot.model import APPROVAL_GIVEN, APPROVAL_REJECTED, COMMS_REQUESTED, MANUAL, Event, User
from bot.ops.audit import DONE, DUPLICATE, REFUSED, AuditLog
from bot.ops.report import from_report, from_trace, rule_lines, value_text
from bot.pipeline import Processor, ProcessReport
from bot.slack.services import ServiceError, Via
from bot.sources.internal import SLACK, envelope, system_for_key
from bot.state import PENDING as TIMER_PENDING
from bot.state import RuleState, StateStore, Timer
from bot.store import LIVE, Store
from bot.trackers.base import Tracker, TrackerError

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

APPLIED_SHOWN = 10  # last applied effects in a status
WHY_EVENTS = 3  # events whose traces ``why`` shows
WHY_TRACES = 60


class SignInLink(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class LinkIssuer(Protocol):
    """Makes console sign-in links (:class:`bot.console.sessions.SignIn`)."""

    def issue(self, email: str, via: str) -> SignInLink: ...


@runtime_checkable
class People(Protocol):
    """Slack ids and e-mail addresses of people (the SlackNotifier does this, with a cache)."""

    def slack_id_for(self, email: str) -> str | None: ...

    def email_for(self, slack_user_id: str) -> str | None: ...


class BotServices:
    """Implements :class:`bot.slack.services.Services` against the store, the inbox, the rules and the guards."""

    def __init__(self, *, store: Store, inbox: Inbox, rules: Sequence[BoundRule], clock: Clock, guards: Guards,
                 trackers: Mapping[str, Tracker] | None = None, people: People | None = None,
                 admins: Collection[str] = (), scope: str = LIVE, sign_in: LinkIssuer | None = None,
                 console_admins: Collection[str] = ()) -> None:
        self.store = store
        self.inbox = inbox
        self.bound = list(rules)
        self.clock = clock
        self.guards = guards
        self.trackers = dict(trackers or {})
        self.people = people
        self.admins = frozenset(admins)
        self.scope = scope
        #: The console's sign-in links (``/ticketbot console``), and the e-mails allowed in.
        self.sign_in = sign_in
        self.console_admins = frozenset(e.casefold() for e in console_admins)
        self.states = StateStore(store)
        self.audit = AuditLog(store, clock)
        self._slack_ids: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> BotServices:
        """Read-mostly services for the CLI: the configured database and rules, no tracker, no Slack."""
        from bot.clock import SystemClock
        from rules import load_rules  # rules import bot; keep bot importable without them

        clock = clock or SystemClock()
        store = Store(settings.database_url)
        return cls(store=store, inbox=Inbox(store.engine, clock), rules=load_rules(settings.config), clock=clock,
                   guards=Guards(store, settings.guards, clock))

    # status --------------------------------------------------------------------------------------
    def status_report(self, key: str) -> dict[str, Any]:
        """Everything the bot's records say about one ticket (JSON-ready)."""
        states = self.states.all(self.scope, key)
        timers = self.states.timers(self.scope, key, status=TIMER_PENDING)
        applied = self.store.applied(key, scope=self.scope)[-APPLIED_SHOWN:]
        last = self.store.traces(key, scope=self.scope, limit=1)
        queued = self._queued(key)
        pauses = self._pauses(key)
        return {
            "ticket": key,
            "known": bool(states or timers or applied or last or queued),
            "rules": [self._rule_status(state, pauses) for state in states],
            "timers": [self._timer_dict(t) for t in timers],
            "applied": [{"at": _iso(a.at), "rule": a.rule_id, "kind": a.kind, "outcome": a.outcome,
                         "step": _step(a.effect_key, a.rule_id, key), "detail": a.detail} for a in applied],
            "queued": queued,
            "last_event": {"at": _iso(last[0].at), "kind": last[0].event_kind, "id": last[0].event_id}
            if last else None,
        }

    def status(self, key: str) -> str:
        return format_status(self.status_report(key))

    def _rule_status(self, state: RuleState, pauses: dict[str, str]) -> dict[str, Any]:
        bound = self._bound_or_none(state.rule_id)
        return {
            "rule": state.rule_id, "title": bound.rule.title if bound else "",
            "stage": state.stage, "since": _iso(state.entered(state.stage) or state.updated_at),
            "history": [dict(h) for h in state.history], "data": dict(state.data),
            "approvers": [email for email, _ in self._approvers_of(bound)] if bound else [],
            "paused": pauses.get(state.rule_id, ""),
        }

    def _queued(self, key: str) -> list[dict[str, Any]]:
        """Events of the ticket still waiting in the inbox, or given up (dead letters)."""
        query = (select(InboxRow).where(InboxRow.ticket_key == key, InboxRow.status.in_((PENDING, PROCESSING, DEAD)))
                 .order_by(InboxRow.id))
        with self.store.session() as s:
            rows = s.scalars(query).all()
        return [{"kind": r.kind, "source": r.source, "status": r.status, "received_at": _iso(r.received_at),
                 "attempts": r.attempts} for r in rows]

    def _pauses(self, key: str) -> dict[str, str]:
        """rule id -> why it is paused (entirely, or for this ticket)."""
        found: dict[str, str] = {}
        for pause in self.guards.active_pauses():
            if pause.ticket_key in ("", key):
                found.setdefault(pause.rule_id, _pause_text(pause))
        return found

    # why -------------------------------------------------------------------------------------------
    def why(self, key: str) -> str:
        traces = self.store.traces(key, scope=self.scope, limit=WHY_TRACES)
        if not traces:
            return f"No trace for {key}: no event for it has been evaluated."
        events = list(dict.fromkeys(t.event_id for t in traces))[-WHY_EVENTS:]
        lines = [f"*{key}*: the last {len(events)} evaluated event(s), oldest first"]
        for event_id in events:
            group = [t for t in traces if t.event_id == event_id]
            lines.append(f"*{_when(group[0].at)}* {group[0].event_kind}")
            for t in group:
                lines += rule_lines(from_trace(t))
        return "\n".join(lines)

    # dry-run ----------------------------------------------------------------------------------------
    def dry_run(self, key: str) -> str:
        system = system_for_key(key)
        tracker = self.trackers.get(system)
        if tracker is None:
            raise ServiceError(f"No {system} connection is configured here, so I cannot read {key}.")
        paused = self._pauses(key)
        runnable = [b for b in self.bound if b.config.enabled and b.id not in paused]
        processor = Processor(runnable, tracker, self.store, self.clock, scope=self.scope, dry_run=True,
                              record_traces=False)
        event = Event(id=f"dry-run:{uuid.uuid4()}", source=SLACK, kind=MANUAL, ticket_key=key,
                      occurred_at=self.clock.now())
        try:
            report = processor.process(event)
        except TrackerError as exc:
            raise ServiceError(f"Could not read {key} from {system}: {exc}") from None
        return format_dry_run(key, report, paused)

    # decisions ---------------------------------------------------------------------------------------
    def approve(self, key: str, slack_user: str, via: Via) -> str:
        self._ensure_awaiting_decision(key, "approval", APPROVAL_REJECTED)
        queued = self._decide(APPROVAL_GIVEN, "approve", key, slack_user, {"via": via})
        if not queued:
            return f"Your approval of {key} was already recorded; nothing new was queued."
        return f"Recorded your approval of {key}; ticketbot acts on it in a moment."

    def reject(self, key: str, slack_user: str, reason: str, via: Via) -> str:
        self._ensure_awaiting_decision(key, "rejection", APPROVAL_GIVEN)
        queued = self._decide(APPROVAL_REJECTED, "reject", key, slack_user, {"via": via, "reason": reason})
        if not queued:
            return f"Your rejection of {key} was already recorded; nothing new was queued."
        return f"Recorded your rejection of {key}" + (f" (reason: {reason})." if reason else ".")

    def comms(self, key: str, slack_user: str, reason: str) -> str:
        digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
        queued = self._decide(COMMS_REQUESTED, "comms", key, slack_user, {"via": "command", "reason": reason},
                              require_known=False, discriminator=digest)
        if not queued:
            return f"That request for customer communication on {key} was already recorded."
        return f"Recorded a request for customer communication on {key}."

    def _ensure_awaiting_decision(self, key: str, noun: str, opposite: str) -> None:
        """Raise a ServiceError saying why, when no runbook on ``key`` waits for a decision now.

        A rule says at which stages it takes a decision (``decision_stages``) and, optionally, what the
        ticket waits for at the others (``decision_waits``); a rule without ``decision_stages`` takes
        one at any stage. An opposite decision already queued (an Approve, then a Reject clicked
        before ticketbot acted on it) also refuses this one: the first decision stands.
        """
        gated = [(state, stages) for state in self.states.all(self.scope, key)
                 if (stages := self._decision_stages(state.rule_id)) is not None]
        if gated and not any(state.stage in stages for state, stages in gated):
            raise ServiceError(self._not_awaiting(key, noun, gated[0][0]))
        pending = self._pending_decision(key, opposite)
        if pending is not None:
            raise ServiceError(f"{pending} of {key} is already queued; ticketbot acts on it in a moment, "
                               f"so your {noun} was not recorded.")

    def _decision_stages(self, rule_id: str) -> tuple[str, ...] | None:
        bound = self._bound_or_none(rule_id)
        stages = getattr(bound.rule, "decision_stages", None) if bound else None
        return tuple(stages) if stages is not None else None

    def _not_awaiting(self, key: str, noun: str, state: RuleState) -> str:
        """Why a decision is not taken at this stage: decided already (by whom, when), or what the ticket waits for."""
        decision = state.get("decision") if isinstance(state.get("decision"), dict) else {}
        by = decision.get("by") or state.get("decided_by")
        at = decision.get("at") or _iso(state.entered(state.stage))
        if by:
            approved = decision.get("approved")
            verb = "approved" if approved is True else "rejected" if approved is False else state.stage
            return f"{key} was already {verb} by {by} on {_when(at)}; your {noun} was not recorded."
        bound = self._bound_or_none(state.rule_id)
        waits = (getattr(bound.rule, "decision_waits", None) or {}).get(state.stage) if bound else None
        return (f"{key} is not awaiting a decision: it is at stage *{state.stage}* since {_when(at)}"
                + (f" and waits for {waits}" if waits else "") + f". Your {noun} was not recorded.")

    def _pending_decision(self, key: str, kind: str) -> str | None:
        """"An approval by U…" when a decision of ``kind`` on ``key`` waits in the inbox, else None."""
        query = (select(InboxRow).where(InboxRow.ticket_key == key, InboxRow.kind == kind,
                                        InboxRow.status.in_((PENDING, PROCESSING))).order_by(InboxRow.id).limit(1))
        with self.store.session() as s:
            row = s.scalars(query).first()
        if row is None:
            return None
        who = ((row.envelope.get("event") or {}).get("payload") or {}).get("slack_user") if isinstance(
            row.envelope, dict) else None
        noun = "An approval" if kind == APPROVAL_GIVEN else "A rejection"
        return f"{noun} by {who}" if who else noun

    def _decide(self, kind: str, verb: str, key: str, slack_user: str, payload: dict[str, Any], *,
                require_known: bool = True, discriminator: str = "") -> bool:
        """Queue the decision as an event; False when the same one is queued already (a double click)."""
        states = self.states.all(self.scope, key)
        if require_known and not states and not self.store.traces(key, scope=self.scope, limit=1):
            raise ServiceError(f"ticketbot has no record of {key}, so there is nothing to {verb}. Check the key.")
        # The same person's same decision at the same stage of the ticket is one event.
        stage_round = sum(len(s.history) for s in states)
        event_id = ":".join(filter(None, (kind, key, slack_user, str(stage_round), discriminator)))
        email = self._email_of(slack_user)
        role = "approver" if kind == COMMS_REQUESTED or slack_user in self.approver_for(key) else "admin"
        event = Event(id=event_id, source=SLACK, kind=kind, ticket_key=key, occurred_at=self.clock.now(),
                      actor=User(email=email or "", display_name=slack_user), raw_type=f"slack:{verb}",
                      payload={**payload, "slack_user": slack_user, "email": email, "role": role})
        queued = self.inbox.add(key=dedup_key(SLACK, event), source=SLACK, event=event, envelope=envelope(SLACK, event))
        self.audit.record(actor=slack_user, via=SLACK, command=f"{verb} {key}", outcome=DONE if queued else DUPLICATE,
                          detail=f"{kind} queued as {event_id}" if queued else "already queued")
        return queued

    # timers ---------------------------------------------------------------------------------------------
    def timers_report(self, key: str | None) -> list[dict[str, Any]]:
        return [self._timer_dict(t) for t in self.states.timers(self.scope, key, status=TIMER_PENDING)]

    def timers(self, key: str | None) -> str:
        return format_timers(key, self.timers_report(key))

    def _timer_dict(self, timer: Timer) -> dict[str, Any]:
        return {**timer.as_dict(), "due_in": _relative(timer.due_at - self.clock.now())}

    # rules -------------------------------------------------------------------------------------------
    def rules(self) -> str:
        if not self.bound:
            return "No rule is configured on this site."
        pauses = self.guards.active_pauses()
        lines = ["Rules on this site:"]
        for bound in self.bound:
            whole = [p for p in pauses if p.rule_id == bound.id and not p.ticket_key]
            tickets = sorted({p.ticket_key for p in pauses if p.rule_id == bound.id and p.ticket_key})
            if not bound.config.enabled:
                state = "disabled in the config"
            elif whole:
                state = f"*paused* {_pause_text(whole[0])}"
            else:
                state = "enabled"
            line = f"• `{bound.id}` – {bound.rule.title}: {state}"
            if tickets and bound.config.enabled:
                line += f" (paused on {', '.join(tickets)})"
            lines.append(line)
        return "\n".join(lines)

    def pause(self, rule_id: str, slack_user: str, *, via: str = SLACK) -> str:
        """Pause a rule entirely; ``slack_user`` is whoever asked (a Slack id, or the console's e-mail with
        ``via="console"``), named in the pause's reason and the audit log."""
        self._bound(rule_id)
        if any(not p.ticket_key for p in self.guards.active_pauses(rule_id)):
            raise ServiceError(f"Rule {rule_id} is already paused.")
        where = "Slack" if via == SLACK else f"the {via}"
        self.guards.pause(rule_id, f"paused from {where} by {slack_user}", by="admin")
        self.audit.record(actor=slack_user, via=via, command=f"pause {rule_id}", outcome=DONE)
        return f"Rule {rule_id} paused: it plans nothing until it is resumed (`/ticketbot resume {rule_id}`)."

    def resume(self, rule_id: str, slack_user: str, *, via: str = SLACK) -> str:
        self._bound(rule_id)
        if not self.guards.active_pauses(rule_id):
            raise ServiceError(f"Rule {rule_id} is not paused.")
        lifted = self.guards.resume(rule_id)
        self.audit.record(actor=slack_user, via=via, command=f"resume {rule_id}", outcome=DONE,
                          detail=f"{lifted} pause(s) lifted")
        return f"Rule {rule_id} resumed ({lifted} pause(s) lifted); its caps count afresh from now."

    def _bound(self, rule_id: str) -> BoundRule:
        bound = self._bound_or_none(rule_id)
        if bound is None:
            known = ", ".join(b.id for b in self.bound) or "none"
            raise ServiceError(f"There is no rule {rule_id} on this site (rules: {known}).")
        return bound

    def _bound_or_none(self, rule_id: str) -> BoundRule | None:
        return next((b for b in self.bound if b.id == rule_id), None)

    # the console ---------------------------------------------------------------------------------------
    def console_link(self, slack_user: str) -> str:
        """A personal sign-in link to the console for ``slack_user``, bound to their e-mail in Slack; audited."""
        command = "console"
        if self.sign_in is None:
            self.record_refusal(slack_user, command, "the console takes no sign-in links here")
            raise ServiceError("The operations console takes no sign-in links here (TICKETBOT_CONSOLE__PUBLIC_URL "
                               "and TICKETBOT_CONSOLE__ADMINS must be set).")
        email = self._email_of(slack_user)
        if not email:
            self.record_refusal(slack_user, command, "Slack did not say the person's e-mail address")
            raise ServiceError("Slack does not tell me your e-mail address, and a sign-in link is bound to it. "
                               "Nothing was made.")
        if email.casefold() not in self.console_admins:
            self.record_refusal(slack_user, command, f"{email} is not a console admin")
            raise ServiceError(f"{email} is not one of the console's admins (TICKETBOT_CONSOLE__ADMINS), so no "
                               "link was made. Ask whoever runs ticketbot to add you.")
        link = self.sign_in.issue(email, via=f"Slack {slack_user}")
        until = f"{_aware(link.expires_at):%H:%M} UTC"
        self.audit.record(actor=slack_user, via=SLACK, command=command, outcome=DONE,
                          detail=f"sign-in link for {email.casefold()}, valid until {until}")
        return (f"Your sign-in link to the ticketbot console, for {email.casefold()} alone: {link.url}\n"
                f"It works once, until {until}. Don't share it: whoever opens it first is signed in as you.")

    # who may do what ------------------------------------------------------------------------------------
    def approver_for(self, key: str) -> set[str]:
        """Slack ids of the approvers of the rules that hold state on ``key`` (every enabled rule when none)."""
        with_state = {s.rule_id for s in self.states.all(self.scope, key)}
        bounds = [b for b in self.bound if b.id in with_state] or [b for b in self.bound if b.config.enabled]
        found: set[str] = set()
        for bound in bounds:
            for email, slack_id in self._approvers_of(bound):
                resolved = slack_id or self._slack_id(email)
                if resolved:
                    found.add(resolved)
        return found

    def is_admin(self, slack_user: str) -> bool:
        return slack_user in self.admins

    def record_refusal(self, slack_user: str, command: str, reason: str) -> None:
        log.warning("refused %s from Slack user %s: %s", command, slack_user, reason)
        self.audit.record(actor=slack_user, via=SLACK, command=command, outcome=REFUSED, detail=reason)

    def _approvers_of(self, bound: BoundRule) -> list[tuple[str, str | None]]:
        try:
            return list(bound.rule.approvers(bound.config))
        except Exception:  # one rule's bug must not break authorization for the others
            log.exception("rule %s: approvers() failed", bound.id)
            return []

    def _slack_id(self, email: str) -> str | None:
        """The Slack id of an e-mail address (cached, misses too); None without Slack or on a failure."""
        key = email.strip().lower()
        if key in self._slack_ids:
            return self._slack_ids[key]
        if self.people is None or not key:
            return None
        try:
            found = self.people.slack_id_for(key)
        except Exception as exc:  # noqa: BLE001 - Slack down: nobody resolved now, asked again next time
            log.warning("could not look up the Slack user of an approver: %s", exc)
            return None
        self._slack_ids[key] = found
        return found

    def _email_of(self, slack_user: str) -> str | None:
        if self.people is None:
            return None
        try:
            return self.people.email_for(slack_user)
        except Exception as exc:  # noqa: BLE001 - the decision still counts; the e-mail is only context
            log.warning("could not look up the e-mail of Slack user %s: %s", slack_user, exc)
            return None


# text -------------------------------------------------------------------------------------------------
def format_status(report: Mapping[str, Any]) -> str:
    """The status of a ticket as ``/ticketbot status`` and ``ticketbot status`` print it."""
    key = report["ticket"]
    if not report["known"]:
        return f"ticketbot has no record of {key}: no event for it has been processed."
    lines = [f"*{key}*"]
    if not report["rules"]:
        lines.append("No runbook has recorded a stage for it.")
    for rule in report["rules"]:
        lines.append(f"• `{rule['rule']}`: stage *{rule['stage']}* since {_when(rule['since'])}")
        history = " → ".join(f"{h.get('stage')} ({_when(h.get('at'))})" for h in rule["history"])
        if history:
            lines.append(f"    stages: {history}")
        if rule["data"]:
            lines.append("    record: " + "; ".join(f"{k} = {value_text(v)}" for k, v in sorted(rule["data"].items())))
        if rule["approvers"]:
            lines.append(f"    approvers: {', '.join(rule['approvers'])}")
        if rule["paused"]:
            lines.append(f"    *paused* {rule['paused']}")
    lines.append("Pending timers: " + ("none" if not report["timers"] else ""))
    lines += [f"• {_timer_line(t)}" for t in report["timers"]]
    lines.append("Last actions: " + ("none" if not report["applied"] else ""))
    lines += [f"• {_when(a['at'])} `{a['rule']}` {a['kind']} {a['step']}: {a['outcome']}"
              + (f" — {a['detail']}" if a["detail"] else "") for a in report["applied"]]
    if report["queued"]:
        lines.append("In the inbox:")
        lines += [
            f"• {q['kind']} from {q['source']}: "
            + (
                "given up (dead letter)"
                if q["status"] == DEAD
                else f"{q['status']}, received {_when(q['received_at'])}"
            )
            for q in report["queued"]
        ]
    if report["last_event"]:
        last = report["last_event"]
        lines.append(f"Last evaluated: {last['kind']} at {_when(last['at'])}")
    return "\n".join(line.rstrip() for line in lines)


def format_timers(key: str | None, timers: Sequence[Mapping[str, Any]]) -> str:
    where = f" for {key}" if key else ""
    if not timers:
        return f"No pending timers{where}."
    return "\n".join([f"Pending timers{where} ({len(timers)}):", *(f"• {_timer_line(t, with_ticket=not key)}"
                                                                  for t in timers)])


def format_dry_run(key: str, report: ProcessReport, paused: Mapping[str, str]) -> str:
    lines = [f"*Dry run of {key}* (nothing was written):"]
    if report.skipped:
        lines.append(f"Nothing evaluated: {report.skipped}.")
    for account in from_report(report, dry_run=True):
        lines += rule_lines(account)
    lines += [f"• `{rule_id}`: not evaluated, {why}" for rule_id, why in paused.items()]
    return "\n".join(lines)


def _timer_line(timer: Mapping[str, Any], *, with_ticket: bool = False) -> str:
    ticket = f"{timer['ticket']} " if with_ticket else ""
    data = timer.get("data") or {}
    if str(timer["name"]).startswith(DELIVER) and isinstance(data.get("message"), Mapping):
        held = data["message"]
        to = held.get("channel") or held.get("slack_user") or held.get("user_email") or "?"
        return (f"{ticket}`{timer['rule']}` message to {to} held for working hours "
                f"({data.get('hours', '')}): delivered {_when(timer['due_at'])} ({timer['due_in']})")
    return f"{ticket}`{timer['rule']}` {timer['name']}: due {_when(timer['due_at'])} ({timer['due_in']})"


def _pause_text(pause: RulePauseRow) -> str:
    return f"since {_when(pause.paused_at)} ({pause.by}): {pause.reason}"


def _step(effect_key: str, rule_id: str, key: str) -> str:
    return effect_key.removeprefix(f"{rule_id}:{key}:")


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return _aware(value).isoformat() if value is not None else None


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "?"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{_aware(moment):%Y-%m-%d %H:%M} UTC"


def _relative(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    span = abs(seconds)
    days, rest = divmod(span, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours or days else []
    parts.append(f"{minutes}m")
    text = " ".join(parts)
    return f"in {text}" if seconds >= 0 else f"overdue by {text}"
