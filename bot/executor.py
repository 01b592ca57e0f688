"""The executor: makes a plan's effects true through a Tracker, or (dry-run) only says what it would do.

Before any write it checks two things, so repeated deliveries and re-runs write nothing:
its own record of applied effect keys, and the ticket's current state (a watcher already
watching, a field already set, labels already on (and those to remove already off), an identical
internal comment, or public reply, already there; for a ticket to create, a ticket already carrying
the effect's marker label).
All field changes of one plan for one ticket go out in a single edit.

Local effects (rule state, timers) are the plan's commit point: they are applied last, and only
when no tracker or Slack write of the plan *failed*. A plan that failed half-way (the system was
down, throttled us, or failed in a way not known to be permanent) therefore leaves the runbook's
stage where it was, and the retried event plans the rest again.

A write the system *rejected* (a 4xx: a field, option, transition, user… missing or refused;
:class:`~bot.trackers.base.Rejected`, or a Slack code that names a missing person or channel) is
another matter: the same call would be refused again, so waiting for it would stall the runbook
for good. It is recorded as ``rejected`` (durably, under ``<effect key>#rejected``: a retried or
later plan does not send it again and its trace says so), and the plan goes on: the other writes,
the rule state and the timers are applied as if it were not there. The pipeline reports it once to
the admin channel. So is a value over a vendor's bound (:data:`bot.effects.BOUNDS`): it is not
sent, and one internal comment on the ticket says which value was not used and why.

Independent effects: every effect of a plan is independent of a rejected one except a write to a
ticket the plan failed to create. No plan can name such a ticket (its key is known only once it
exists, and the next step runs on the created ticket's own event), so a rejection never holds
another effect back. The runbook records its stage and arms its timers; what could not be written
is in the trace and the alert, for a person to do by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bot import effects as fx
from bot.calendar import BusinessCalendar
from bot.clock import Clock
from bot.model import Ticket, User
from bot.slack.notifier import NotifyError, Posted, posted
from bot.state import StateStore
from bot.store import SENDING, Store
from bot.trackers.base import Tracker, TrackerError, is_permanent

if TYPE_CHECKING:
    from bot.slack.notifier import Notifier

log = logging.getLogger(__name__)

APPLIED = "applied"
ALREADY = "already-true"
FAILED = "failed"
#: Refused for good (a 4xx, a missing name, a value over a vendor's bound): not retried, the plan goes on.
REJECTED = "rejected"
WOULD_APPLY = "would-apply"
SKIPPED = "skipped"  # not attempted: Slack not configured, or deferred because an earlier write failed
#: A message held for the recipient's working hours (quiet hours): a durable timer delivers it then.
HELD = "held"
#: The name prefix of the timer that delivers a held message: ``deliver:<the message's step>``.
DELIVER = "deliver:"
#: Slack error codes that name a person or a conversation that is not there: a retry gets the same answer.
SLACK_PERMANENT = frozenset({"users_not_found", "user_not_found", "channel_not_found", "is_archived",
                             "not_in_channel", "cannot_dm_bot", "user_disabled"})


@dataclass(frozen=True)
class Outcome:
    effect: fx.Effect
    status: str  # applied | already-true | failed | rejected | would-apply | skipped | held
    detail: str = ""
    #: A failure because the system throttled us: the seconds it asked us to wait (the worker's next
    #: attempt waits at least that long).
    retry_after: float | None = None
    #: A rejection: the exact name the system said is missing or invalid, when it said one.
    name: str = ""
    #: A rejection made now (False: one recorded earlier, or a value over a vendor's bound), for the report.
    fresh: bool = False
    #: Where people can see what was made (a Slack message's permalink), when known.
    url: str = ""

    def as_dict(self) -> dict:
        """What the trace keeps of the outcome (the pipeline stores it in the trace's ``effects``)."""
        return {**self.effect.as_dict(), "outcome": self.status, "detail": self.detail,
                **({"url": self.url} if self.url else {})}


class Executor:
    def __init__(self, tracker: Tracker, store: Store, clock: Clock, *, scope: str, dry_run: bool = False,
                 notifier: Notifier | None = None, states: StateStore | None = None) -> None:
        self.tracker = tracker
        self.store = store
        self.states = states if states is not None else StateStore(store)
        self.clock = clock
        self.scope = scope
        self.dry_run = dry_run
        self.notifier = notifier

    # public ----------------------------------------------------------------------------
    def apply(self, plan: Sequence[fx.Effect], *, known: dict[str, Ticket] | None = None) -> list[Outcome]:
        """Make ``plan`` true; ``known`` holds tickets the caller has just read (with people)."""
        outcomes: list[Outcome | None] = [None] * len(plan)
        edits: dict[str, list[int]] = {}  # ticket -> its field changes: one edit each, in order of appearance
        others: list[int] = []  # other writes and Slack messages, in plan order
        local: list[int] = []  # rule state and timers: last, and only when no write failed
        tickets: dict[str, Ticket | None] = dict(known) if known else {}
        keys = [e.key for e in plan]
        recorded = self.store.applied_keys(self.scope, keys + [rejected_key(k) for k in keys])
        for index, effect in enumerate(plan):
            if keys[index] in recorded:
                outcomes[index] = Outcome(effect, ALREADY, "recorded as applied earlier")
            elif rejected_key(keys[index]) in recorded:
                outcomes[index] = Outcome(effect, REJECTED, "rejected earlier for good; not sent again")
            elif effect.is_local:
                if self._local_already_true(effect):
                    outcomes[index] = Outcome(effect, ALREADY, "already true in the bot's records")
                    self._record(effect, ALREADY)
                else:
                    local.append(index)
            elif isinstance(effect, fx.SlackMessage):
                others.append(index)
            elif (problem := fx.out_of_bounds(effect, _system(self.tracker))) is not None:
                outcomes[index] = self._refuse(effect, problem)
            elif isinstance(effect, fx.CreateTicket):
                outcome = self._created_earlier(effect)
                if outcome is None:
                    others.append(index)
                else:
                    outcomes[index] = outcome
            elif (current := self._current(effect.ticket_key, tickets)) is not None \
                    and self._already_true(effect, current):
                outcomes[index] = Outcome(effect, ALREADY, "already true on the ticket")
                self._record(effect, ALREADY)
            elif effect.is_field_change:
                edits.setdefault(effect.ticket_key, []).append(index)
            else:
                others.append(index)

        for key, indexes in edits.items():
            for index, outcome in zip(indexes, self._apply_fields(key, [plan[i] for i in indexes]), strict=True):
                outcomes[index] = outcome
        for index in others:
            outcomes[index] = self._apply_one(plan[index])
        failed = any(o is not None and o.status == FAILED for o in outcomes)  # a rejection does not defer them
        for index in local:
            if failed:
                outcomes[index] = Outcome(plan[index], SKIPPED, "deferred: an earlier write of this plan failed")
            else:
                outcomes[index] = self._apply_local(plan[index])
        return outcomes  # type: ignore[return-value]  # every place is filled above

    # state checks ----------------------------------------------------------------------
    def _current(self, key: str, cache: dict[str, Ticket | None]) -> Ticket | None:
        if key not in cache:
            try:
                cache[key] = self.tracker.get_ticket(key, with_people=True)
            except TrackerError as exc:
                log.warning("could not read %s before writing: %s", key, exc)
                cache[key] = None
        return cache[key]

    def _user(self, email: str) -> User:
        return self.tracker.find_user(email) or User(email=email)

    def _is_person(self, person: User | None, email: str) -> bool:
        if person is None:
            return False
        return person.is_email(email) or person.same_person(self._user(email))

    def _already_true(self, effect: fx.Effect, ticket: Ticket) -> bool:
        match effect:
            case fx.SetField(field=name, value=value):
                return ticket.fields.get(name) == value
            case fx.SetReporter(email=email):
                return self._is_person(ticket.reporter, email)
            case fx.SetOrganization(name=name):
                return [o.casefold() for o in ticket.organizations] == [name.casefold()]
            case fx.SetRequestType(name=name):
                return (ticket.request_type or "").casefold() == name.casefold()
            case fx.AddWatcher(email=email):
                return any(self._is_person(w, email) for w in ticket.watchers or ())
            case fx.RemoveParticipant(email=email):
                return not any(self._is_person(p, email) for p in ticket.participants or ())
            case fx.ChangeLabels(add=add, remove=remove):
                # Zendesk keeps tags lower-case (and the tracker writes them so): compare them so.
                fold = str.lower if _system(self.tracker) == "zendesk" else str
                labels = {fold(label) for label in ticket.labels}
                return all(fold(a) in labels for a in add) and not any(fold(r) in labels for r in remove)
            case fx.InternalComment(body=body):
                # Mentions are rendered ahead of the body, so a posted comment ends with it.
                text = body.strip()
                return any(c.body.strip().endswith(text) for c in ticket.comments)
            case fx.PublicReply(body=body):
                # Only a public comment counts: an internal note with the same text told the customer nothing.
                text = body.strip()
                return any(not c.internal and c.body.strip().endswith(text) for c in ticket.comments)
            case fx.Transition(status=status):
                return ticket.status.casefold() == status.casefold()
            case fx.LinkTickets(link_type=lt, inward_key=a, outward_key=b):
                return any(link.type.casefold() == lt.casefold() and {link.inward_key, link.outward_key} == {a, b}
                           for link in ticket.links)
            case _:
                return False

    def _created_earlier(self, effect: fx.CreateTicket) -> Outcome | None:
        """The ticket this effect created before a crash kept its record, found by its marker; None: create it.
        When the tracker cannot be asked, nothing is created (the retry asks again)."""
        try:
            found = self.tracker.find_marked(effect.project, effect.marker)
        except TrackerError as exc:
            return self._failure(effect, exc, f"could not look for an earlier {effect.marker}: ")
        if found is None:
            return None
        detail = f"created {found}"
        self._record(effect, ALREADY, detail)
        return Outcome(effect, ALREADY, f"{found} was created earlier (label {effect.marker})")

    def _local_already_true(self, effect: fx.Effect) -> bool:
        match effect:
            case fx.SetState(stage=stage, data=data):
                state = self.states.get(self.scope, effect.rule_id, effect.ticket_key)
                return (state is not None and (not stage or state.stage == stage)
                        and all(state.data.get(k) == v for k, v in data.items()))
            case fx.StartTimer(due_at=due_at):
                timer = self.states.timer(self.scope, effect.timer_id)
                return timer is not None and timer.due_at == due_at
            case fx.CancelTimer():
                timer = self.states.timer(self.scope, effect.timer_id)
                return timer is None or timer.status != "pending"
        return False

    def _apply_local(self, effect: fx.Effect) -> Outcome:
        if self.dry_run:
            return Outcome(effect, WOULD_APPLY, "dry-run")
        now = self.clock.now()
        match effect:
            case fx.SetState(stage=stage, data=data):
                state = self.states.put(self.scope, effect.rule_id, effect.ticket_key, stage=stage, data=data, at=now)
                detail = f"stage {state.stage}"
            case fx.StartTimer(name=name, due_at=due_at, data=data):
                self.states.start_timer(self.scope, rule_id=effect.rule_id, ticket_key=effect.ticket_key, name=name,
                                        due_at=due_at, data=data, at=now)
                detail = f"timer {effect.timer_id} due {due_at.isoformat()}"
            case fx.CancelTimer(name=name):
                cancelled = self.states.cancel_timer(self.scope, effect.rule_id, effect.ticket_key, name)
                detail = "cancelled" if cancelled else "no pending timer"
            case _:
                return Outcome(effect, FAILED, f"executor cannot apply {effect.kind}")
        self._record(effect, APPLIED, detail)
        return Outcome(effect, APPLIED, detail)

    # writes ------------------------------------------------------------------------------
    def _apply_fields(self, key: str, batch: list[fx.Effect]) -> list[Outcome]:
        """One edit for the batch. An edit refused for good is tried again change by change (the rare
        path: one update event each), so the change that is refused is named and the others are made."""
        if self.dry_run:
            return [Outcome(e, WOULD_APPLY, "dry-run: part of one edit") for e in batch]
        try:
            self.tracker.update_fields(key, batch)
        except TrackerError as exc:
            if is_permanent(exc) and len(batch) > 1:
                return [self._apply_fields(key, [e])[0] for e in batch]
            return [self._failure(e, exc) for e in batch]
        for effect in batch:
            self._record(effect, APPLIED, durable=False)
        self.store.flush()  # the edit's records together, at once (see _record)
        return [Outcome(e, APPLIED, f"one edit of {len(batch)} field(s)") for e in batch]

    def _apply_one(self, effect: fx.Effect) -> Outcome:
        if isinstance(effect, fx.SlackMessage) and effect.hours is not None and not effect.alert:
            held = self._hold(effect)
            if held is not None:
                return held
        if self.dry_run:
            return Outcome(effect, WOULD_APPLY, "dry-run")
        if isinstance(effect, fx.SlackMessage):
            return self._send(effect)
        try:
            detail = self._write(effect)
        except TrackerError as exc:
            return self._failure(effect, exc)
        self._record(effect, APPLIED, detail)
        return Outcome(effect, APPLIED, detail)

    def _write(self, effect: fx.Effect) -> str:
        t = self.tracker
        match effect:
            case fx.AddWatcher(ticket_key=key, email=email):
                t.add_watcher(key, email)
            case fx.RemoveParticipant(ticket_key=key, email=email):
                t.remove_participant(key, email)
            case fx.ChangeLabels(ticket_key=key, add=add, remove=remove):
                t.change_labels(key, add, remove)
                return "labels " + " ".join([*(f"+{a}" for a in add), *(f"-{r}" for r in remove)])
            case fx.InternalComment(ticket_key=key, body=body, mentions=mentions):
                return f"comment {t.add_internal_comment(key, body, mentions)}"
            case fx.PublicReply(ticket_key=key, body=body):
                return f"public reply {t.add_public_reply(key, body)}"
            case fx.Transition(ticket_key=key, status=status, resolution=resolution):
                t.transition(key, status, resolution)
            case fx.LinkTickets(link_type=lt, inward_key=a, outward_key=b):
                t.link(lt, a, b)
            case fx.CreateTicket(project=p, issue_type=it, summary=s, description=d, field_values=fv):
                return f"created {t.create_ticket(p, it, s, d, dict(fv), marker=effect.marker)}"
            case _:
                raise TrackerError(f"executor cannot apply {effect.kind}")
        return ""

    def _send(self, message: fx.SlackMessage) -> Outcome:
        if self.notifier is None:
            return Outcome(message, SKIPPED, "Slack is not configured (TICKETBOT_SLACK__BOT_TOKEN)")
        original = message
        if message.alert:
            admin = getattr(self.notifier, "admin_channel", None)
            if not admin:  # no admin channel (or a notifier that records): the notifier logs it, never raises
                self.notifier.alert(message.text)
                self._record(message, APPLIED, "alert")
                return Outcome(message, APPLIED, "alert to the admin channel")
            # A rule's alert is a message like the others, to the admin channel: found again after a crash
            # between Slack's answer and the record, so it is posted once (the key, hence the marker, is the same).
            message = replace(message, channel=admin, alert=False)
        intent = f"{message.key}#{SENDING}"
        find_sent = getattr(self.notifier, "find_sent", None)
        try:
            if self.store.is_applied(self.scope, intent) and find_sent is not None:
                found = find_sent(message)  # a send began before and left no record: did it reach Slack?
                if found is not None:
                    sent = posted(found)
                    self._record(message, ALREADY, _sent_detail(sent))
                    return Outcome(original, ALREADY, f"sent before its record was written ({_sent_detail(sent)})",
                                   url=sent.permalink)
            else:  # written before the send, so a crash after it leaves a trace to look for
                self.store.record_applied(scope=self.scope, effect_key=intent, ticket_key=message.ticket_key,
                                          rule_id=message.rule_id, kind=message.kind, outcome=SENDING,
                                          detail="", at=self.clock.now(), durable=True)
            sent = posted(self.notifier.send(fx.clip_slack_text(message)))
        except NotifyError as exc:
            return self._failure(original, exc)
        self._record(message, APPLIED, _sent_detail(sent))
        return Outcome(original, APPLIED, _sent_detail(sent) + (" (the admin channel)" if original.alert else ""),
                       url=sent.permalink)

    # quiet hours -------------------------------------------------------------------------------
    def _hold(self, message: fx.SlackMessage) -> Outcome | None:
        """None when the message may go now; else it is held in the durable timer ``deliver:<step>`` until
        the next working moment of its recipient (see :class:`bot.effects.SlackMessage`)."""
        now = self.clock.now()
        try:
            hours, who, basis = self._hours(message)
        except NotifyError as exc:  # Slack unavailable: the send would fail too; retried like it
            return self._failure(message, exc, "could not read the recipient's time zone: ")
        if hours.is_business_time(now):
            return None
        when = hours.next_business_moment(now)
        local = now.astimezone(hours.zone)
        holiday = hours.holiday_name(local.date())
        summary = hours.summary
        detail = (f"held: {local:%a %H:%M %Z}{f' ({holiday})' if holiday else ''} is outside the working hours "
                  f"of {who} ({basis}: {summary}); delivered {when.astimezone(hours.zone):%a %Y-%m-%d %H:%M %Z}")
        if self.dry_run:
            return Outcome(message, WOULD_APPLY, f"dry-run: would be {detail}")
        self.states.start_timer(self.scope, rule_id=message.rule_id, ticket_key=message.ticket_key,
                                name=DELIVER + message.step, due_at=when, at=now,
                                data={"message": held_data(message), "whose": f"{who} ({basis})", "hours": summary})
        return Outcome(message, HELD, detail)

    def _hours(self, message: fx.SlackMessage) -> tuple[BusinessCalendar, str, str]:
        """The working hours a message waits for, whose they are and on what basis: a person's own time zone
        in Slack when Slack knows it, else the runbook's calendar."""
        assert message.hours is not None
        who = message.channel or message.slack_user or message.user_email
        zone_of = getattr(self.notifier, "time_zone_of", None)
        if message.to_person and zone_of is not None:
            try:
                zone = zone_of(message)
            except NotifyError as exc:
                if exc.transient:  # Slack is in trouble: not a moment to knock again for the send
                    raise
                # Nobody by that address: the send will say so; the calendar decides meanwhile.
                log.info("time zone of %s unknown (%s); the runbook's calendar decides", who, exc)
                zone = None
            if zone:
                try:
                    return message.hours.in_zone(zone), who, "their Slack time zone"
                except ValueError:
                    log.info("Slack time zone %r of %s is not an IANA zone; the runbook's calendar decides",
                             zone, who)
        return message.hours, who, "the runbook's calendar"

    # failures ----------------------------------------------------------------------------------
    def _failure(self, effect: fx.Effect, exc: Exception, prefix: str = "") -> Outcome:
        """A rejection when ``exc`` says the call can never succeed (recorded at once, so no retry sends it
        again), else a failure the event is retried for."""
        if not _is_permanent(exc):
            return _failed(effect, exc, prefix)
        detail = f"{prefix}{exc}"
        self._record_rejected(effect, detail)
        return Outcome(effect, REJECTED, detail, name=str(getattr(exc, "name", "") or ""), fresh=True)

    def _refuse(self, effect: fx.Effect, problem: str) -> Outcome:
        """A value over a vendor's bound: not sent; one internal comment on the ticket says why."""
        detail = f"not sent: {problem}"
        if self.dry_run:
            return Outcome(effect, REJECTED, detail)
        self._record_rejected(effect, detail)
        note = fx.InternalComment(rule_id=effect.rule_id, ticket_key=effect.ticket_key, step=f"{effect.step}#bounds",
                               body=(f"ticketbot did not {effect.describe()[:120]}…: {problem}. "
                                     "Please make this change by hand."))
        if not self.store.is_applied(self.scope, note.key):
            explained = self._apply_one(note)
            if explained.status != APPLIED:
                log.warning("could not explain on %s why a value was not used: %s", effect.ticket_key,
                            explained.detail)
        return Outcome(effect, REJECTED, detail)

    def _record_rejected(self, effect: fx.Effect, detail: str) -> None:
        if self.dry_run:
            return
        self.store.record_applied(scope=self.scope, effect_key=rejected_key(effect.key), ticket_key=effect.ticket_key,
                                  rule_id=effect.rule_id, kind=effect.kind, outcome=REJECTED, detail=detail[:2000],
                                  at=self.clock.now(), durable=True)

    def _record(self, effect: fx.Effect, outcome: str, detail: str = "", *, durable: bool | None = None) -> None:
        """Record an effect as made true. A write whose state check cannot tell the bot's change from a
        person's reaction to it is recorded at once (``durable``): a status ("CS back to To Do", then
        Config sets it Done: the soak benchmark's SIGKILLed retry moved it back again), a field value,
        labels (a label a person took off again must stay off), a Slack message, a public reply (the
        customer must never get the same reply twice, even if the ticket cannot be read back) or a
        created ticket (nothing to read back). A watcher, a participant, an internal comment or a link
        is found again on the ticket; their records, the findings (already true) and the bot's own
        bookkeeping wait for the event's one commit."""
        if self.dry_run:
            return
        if durable is None:
            durable = outcome == APPLIED and (effect.is_field_change or isinstance(effect, DURABLE_AT_ONCE))
        self.store.record_applied(scope=self.scope, effect_key=effect.key, ticket_key=effect.ticket_key,
                                  rule_id=effect.rule_id, kind=effect.kind, outcome=outcome, detail=detail,
                                  at=self.clock.now(), durable=durable)


#: Writes recorded the moment they are made (with the field edits), see Executor._record. Labels too: a
#: person who takes off a label ticketbot added must not see it come back with a retried event.
DURABLE_AT_ONCE = (fx.Transition, fx.SlackMessage, fx.CreateTicket, fx.PublicReply, fx.ChangeLabels)


def _sent_detail(sent: Posted) -> str:
    """``ts <ts> in <conversation>``: which message it was (a ``ts`` is unique only within its conversation);
    ``ts <ts>`` from a notifier that does not say where it posted."""
    return f"ts {sent.ts} in {sent.channel}" if sent.channel else f"ts {sent.ts}"


def _failed(effect: fx.Effect, exc: Exception, prefix: str = "") -> Outcome:
    """A failed outcome; a throttled one keeps the wait the system asked for."""
    return Outcome(effect, FAILED, f"{prefix}{exc}", retry_after=getattr(exc, "retry_after", None))


def _is_permanent(exc: Exception) -> bool:
    """A tracker's :class:`~bot.trackers.base.Rejected`, or Slack naming someone or somewhere not there."""
    return is_permanent(exc) or (isinstance(exc, NotifyError) and exc.code in SLACK_PERMANENT)


def _system(tracker: Tracker) -> str:
    """Whose bounds apply: ``zendesk`` for Zendesk (and the in-memory site standing in for it), else the name."""
    return "zendesk" if getattr(tracker, "zendesk", False) is True else tracker.name


_HELD_FIELDS = ("rule_id", "ticket_key", "step", "text", "user_email", "slack_user", "channel", "alert",
                "unless_recorded")


def held_data(message: fx.SlackMessage) -> dict[str, Any]:
    """A held message as the data of its delivery timer (JSON)."""
    return {**{name: getattr(message, name) for name in _HELD_FIELDS}, "actions": list(message.actions),
            "only_at_stages": list(message.only_at_stages)}


def held_message(data: Mapping[str, Any]) -> fx.SlackMessage | None:
    """The message a delivery timer holds, to be sent now (no quiet hours again); None when the data is not one."""
    try:
        fields = {name: data[name] for name in _HELD_FIELDS if name in data}
        return fx.SlackMessage(**fields, actions=tuple(data.get("actions") or ()),
                               only_at_stages=tuple(data.get("only_at_stages") or ()))
    except TypeError:
        return None


def rejected_key(effect_key: str) -> str:
    """Where a rejection is recorded, beside the effect's own key (which means "made true")."""
    return f"{effect_key}#{REJECTED}"
