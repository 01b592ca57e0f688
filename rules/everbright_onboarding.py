"""EverBright partner onboarding on Jira Service Management (seed 002), steps 2–6.

The runbook, as Support wrote it, and what ticketbot does at each step:

1. An onboarding form arrives in the service desk (SS) as a ticket whose subject is always
   "EverBright Partner Onboarding"; it carries the installer name and contact e-mail.
2. Support updates the SS ticket: Organizations = installer name; the organization's account
   manager and the approver (David Ellis) as watchers; Reporter = onboarding@goeverbright.com;
   Request Type = "Company-specific Data Change"; "Needs Configuration?" = "Integrated
   Finance". The customer must not be reporter or request participant. → :func:`intake`
3. The CS ticket (created by Jira's automation once "Needs Configuration?" is set, or by
   ticketbot when ``create_config_ticket``) is found, linked to SS and given the installer's
   name and contact. → :func:`find_config_ticket`
4. Config configures the account and puts CS on hold (SS goes back to waiting for support).
5. Support asks the approver in an internal comment whether the products may go live, and
   chases them in Slack after 24 h. The answer comes as a comment by the approver, the Slack
   Approve button, ``/ticketbot approve SS-1``, or a separate new ticket from the approver,
   which is linked to SS and closed as a duplicate. On approval CS goes back to To Do and
   Config is asked to push live. → :func:`ask_approval`, :func:`remind`, :func:`decide`,
   :func:`duplicate_approval_ticket`
6. When CS is done, the approver is told the products are live and SS is closed. → :func:`close`
   (The inbox processes an onboarding's events in order: SS, its CS ticket and a separate approval ticket
   are one instance, see :func:`bot.state.member`. A CS Done while an approval from a separate ticket is
   still being recorded, which that order cannot cover, makes ticketbot look at CS again.)

Any time: customer communication needed (label, or ``/ticketbot comms``) ⇒ an internal comment
tagging the account manager and the approver. → :func:`comms`

People (issue 15 §3): the account manager is looked up in ``account_manager_sources`` in order (the
block's map, CSV files read at load, the JSM organization's property read at intake:
:func:`find_account_manager`). ``approvers`` may be several, any of whom decides; one away (a date range
of theirs, or their Slack status) is replaced by their stand-in in the question, the reminders and the
decisions (:class:`Stand`, :meth:`Flow.stands`). ``config_team`` hears that Config is asked to push live.

Customers are never copied: every comment is internal (the effect vocabulary has no public
comment), and the installer is removed from the request participants.

Every text the rule writes (its comments, Slack messages and alerts, the CS ticket it may create) is a named
template (``TEXTS`` at the bottom) in English, EverBright's team being in the US; a block rewords any of them under
``templates:`` and may set ``language`` (:class:`rules.runbook.config.Worded`). Moments, days and delays are
written by Words in the calendar's time zone; values from tickets are escaped as they always were.

The runbook's progress per SS ticket is the rule state: stage ``intake`` → ``configuring`` →
``awaiting-approval`` → ``approved`` (or ``rejected``) → ``closed``, with the CS key, the
installer, who decided when and how. Every name, address and delay comes from the
``rules.everbright_onboarding`` block; the defaults are the values the seed names.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import string
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from bot import effects as fx
from bot.calendar import BusinessCalendar, Delay
from bot.check import Requirement, Touch
from bot.config import Duration, RuleBlock
from bot.engine import Evaluation, Rule, RuleContext, Verdict
from bot.model import (
    APPROVAL_GIVEN,
    APPROVAL_REJECTED,
    COMMENT_CREATED,
    COMMS_REQUESTED,
    MANUAL,
    TICKET_CREATED,
    TICKET_UPDATED,
    TIMER_FIRED,
    Event,
    Ticket,
    User,
)
from bot.slack.notifier import StatusReader
from bot.state import RuleState, member
from bot.text import untrusted, visible
from bot.trackers.base import OrganizationProperties, Rejected
from rules.runbook.checks import labelled_value, normalize_text, one_of, text_matches
from rules.runbook.config import Block, Person, Worded
from rules.runbook.words import Catalogue, Words, template

# stages of an onboarding (the rule state of its SS ticket)
INTAKE = "intake"
CONFIGURING = "configuring"
AWAITING = "awaiting-approval"
APPROVED = "approved"
REJECTED = "rejected"
#: Where a decision is taken. At ``configuring`` the approver has not been asked yet, but an approval given
#: then (a comment, a separate ticket, Slack) is taken in advance: Config is asked to push live as soon as
#: it has configured, instead of putting CS on hold to wait for a question already answered.
DECISION_STAGES = (CONFIGURING, AWAITING, REJECTED)
CLOSED = "closed"
DUPLICATE = "duplicate"  # the state of a separate approval ticket closed as a duplicate
OPEN_STAGES = (INTAKE, CONFIGURING, AWAITING, APPROVED, REJECTED)

REMINDER = "approval-reminder"  # timer on SS
FIND_ONBOARDING = "find-onboarding"  # timer on CS: look again for its SS ticket
CS_DONE_AGAIN = "cs-done-look-again"  # timer on CS: Done before the approval was recorded; look again
DECIDING = (CONFIGURING, AWAITING, REJECTED)  # stages a decision can still come in
#: How Slack says a decision came (the event's ``via``); each is a text of its own (``via_button`` …).
SLACK_VIAS = ("button", "command", "slack")


class Statuses(Block):
    """Workflow status names on the two projects."""

    cs_on_hold: str = "On Hold"
    cs_to_do: str = "To Do"
    cs_done: str = "Done"
    ss_waiting_for_support: str = "Waiting for support"
    ss_closed: str = "Closed"


class LinkTypes(Block):
    config_ticket: str = "Relates"
    duplicate: str = "Duplicate"


def _person(value: Any) -> Any:
    """A person as an e-mail string, or as ``{email: …, slack_user: …}``."""
    return {"email": value} if isinstance(value, str) else value


class StandIn(Person):
    """Who decides for an approver while they are away."""

    @model_validator(mode="before")
    @classmethod
    def _from_email(cls, value: Any) -> Any:
        return _person(value)


class Away(Block):
    """A stretch of days an approver is away (inclusive, in the calendar's time zone), and who stands in then
    (the approver's own ``stand_in`` when this names none)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: date = Field(alias="from")
    to: date
    stand_in: StandIn | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Away:
        if self.to < self.start:
            raise ValueError(f"'to' ({self.to}) is before 'from' ({self.start})")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.to


class Approver(Person):
    """One of the people any of whom may approve: their stand-in while away (by ``away`` dates, or by their
    Slack status saying so: ``away_statuses``), and the dates they are away."""

    stand_in: StandIn | None = None
    away: list[Away] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_email(cls, value: Any) -> Any:
        return _person(value)


class ConfigTeam(Block):
    """Who hears that Config is asked to push live (seed step 5): ``mention`` (an e-mail) is @-mentioned in the
    internal comment on CS, ``channel`` (``#config`` or an id) gets a Slack message, in working hours."""

    mention: str | None = None
    channel: str | None = None


#: Where an account manager can be found, in the order the block lists them (:class:`ManagerSource`).
MAP, CSV, ORGANIZATION_PROPERTY = "map", "csv", "organization_property"


class ManagerSource(Block):
    """One place account managers are looked up: ``map`` (the block's ``account_managers``), ``{csv: PATH}``
    (columns organization,email; read when the rules load) or ``{organization_property: KEY}`` (the JSM
    organization's property KEY, an e-mail or ``{"email": …}``, read at each intake)."""

    kind: Literal["map", "csv", "organization_property"]
    value: str = ""
    #: csv: organization (normalized) -> (e-mail, line), read when the rules load.
    entries: dict[str, tuple[str, int]] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if data == MAP:
            return {"kind": MAP}
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in (CSV, ORGANIZATION_PROPERTY):
            kind, value = next(iter(data.items()))
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{kind}: give a {'file path' if kind == CSV else 'property key'}")
            return {"kind": kind, "value": value.strip()}
        if isinstance(data, dict) and "kind" in data:
            return data
        raise ValueError("a source is map, {csv: PATH} or {organization_property: KEY}")

    @model_validator(mode="after")
    def _load(self) -> ManagerSource:
        if self.kind == CSV and not self.entries:
            self.entries = read_managers_csv(Path(self.value))
        return self

    def label(self) -> str:
        return {MAP: "the account_managers map", CSV: f"{self.value}",
                ORGANIZATION_PROPERTY: f"the organization's property {self.value!r}"}[self.kind]


def _org_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def read_managers_csv(path: Path) -> dict[str, tuple[str, int]]:
    """organization -> (e-mail, line) from a CSV file with the columns organization and email (a header row;
    blank lines and lines starting with # are skipped). A problem is a ValueError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(c.strip() for c in row) and not row[0].lstrip().startswith("#")]
    if not rows:
        raise ValueError(f"{path}: empty; the first line must name the columns organization,email")
    line, header = rows[0]
    columns = [c.strip().casefold() for c in header]
    if "organization" not in columns or "email" not in columns:
        raise ValueError(f"{path} line {line}: the header must name the columns organization and email "
                         f"(found {', '.join(header) or 'nothing'})")
    org_at, email_at = columns.index("organization"), columns.index("email")
    found: dict[str, tuple[str, int]] = {}
    for line, row in rows[1:]:
        cells = [c.strip() for c in row]
        if len(cells) <= max(org_at, email_at):
            raise ValueError(f"{path} line {line}: expected the columns organization and email, "
                             f"found {len(cells)} value(s)")
        organization, email = cells[org_at], cells[email_at]
        if not organization:
            raise ValueError(f"{path} line {line}: the organization is empty")
        if not _EMAIL.fullmatch(email):
            raise ValueError(f"{path} line {line}: {email!r} is not an e-mail address")
        key = _org_key(organization)
        if key in found and found[key][0].casefold() != email.casefold():
            raise ValueError(f"{path} line {line}: {organization!r} already has {found[key][0]} "
                             f"(line {found[key][1]})")
        found.setdefault(key, (email, line))
    return found


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DEFAULT_APPROVER = Approver(email="david.ellis@goeverbright.com")


class Config(RuleBlock, Worded):
    """The ``rules.everbright_onboarding`` block. Its words (``language``, ``templates``: :class:`Worded`) are the
    module's ``TEXTS``, in English (EverBright's team is in the US), dates in the calendar's time zone."""

    service_desk_project: str = "SS"
    config_project: str = "CS"
    subject: str = "EverBright Partner Onboarding"
    installer_name_label: str = "Installer name"
    installer_email_label: str = "Installer contact email"
    reporter_email: str = "onboarding@goeverbright.com"
    request_type: str = "Company-specific Data Change"
    needs_configuration_field: str = "Needs Configuration?"
    needs_configuration_value: str = "Integrated Finance"
    #: Any of them may decide; each may have a stand-in while away. ``approver:`` (one) is read as a list of one.
    approvers: list[Approver] = Field(default_factory=lambda: [DEFAULT_APPROVER], min_length=1)
    #: A Slack status (text or emoji) saying the approver is away, matched case-insensitively on whole words.
    away_statuses: list[str] = Field(default_factory=lambda: ["out of office", "vacation", ":palm_tree:", "OOO"])
    account_managers: dict[str, str] = Field(default_factory=dict)  # organization name -> e-mail
    #: Where account managers are looked up, in order (the first that knows the organization wins).
    account_manager_sources: list[ManagerSource] = Field(default_factory=lambda: [ManagerSource(kind=MAP)],
                                                         min_length=1)
    config_team: ConfigTeam = ConfigTeam()
    # step 3: the CS ticket
    create_config_ticket: bool = False  # False: Jira's automation creates it
    # With create_config_ticket, the CS ticket the bot creates must reach step 3: set this true too
    # (every write of the rule is guarded by its state, so its own events cannot loop).
    handles_own_events: bool = False
    config_ticket_issue_type: str = "Task"
    config_ticket_fields: dict[str, str] = Field(default_factory=lambda: {
        "installer_name": "Installer name", "installer_email": "Installer contact email"})
    # (also how often, and how many times, a CS ticket done before its approval is recorded is looked at again)
    find_config_ticket_every: Duration = timedelta(minutes=10)
    find_config_ticket_attempts: int = Field(default=6, ge=1, le=100)
    # step 5: approval. The reminder delays are clock time ("24h") or business time ("1 business day",
    # "8 business hours") through ``calendar``: the working week of the people reminded.
    approval_reminder_after: Delay = timedelta(hours=24)
    approval_reminder_every: Delay = timedelta(hours=24)
    calendar: BusinessCalendar = BusinessCalendar(time_zone="America/New_York", country="US")
    approval_reminder_max: int = Field(default=3, ge=1, le=20)
    approval_phrases: list[str] = Field(default_factory=lambda: [
        "approved", "approve", "go ahead", "ok to push", "okay to push", "good to go", "push live", "push it live"])
    rejection_phrases: list[str] = Field(default_factory=lambda: [
        "not approved", "reject", "rejected", "do not push", "don't push", "dont push", "hold off", "not yet"])
    # step 6 and the rest
    close_resolution: str = "Done"
    duplicate_resolution: str = "Duplicate"
    comms_label: str = "needs-customer-comms"
    statuses: Statuses = Statuses()
    link_types: LinkTypes = LinkTypes()

    @model_validator(mode="before")
    @classmethod
    def _one_approver(cls, data: Any) -> Any:
        """``approver: {email: …}`` (the block before several approvers) is ``approvers: [{email: …}]``."""
        if isinstance(data, dict) and "approver" in data:
            if "approvers" in data:
                raise ValueError("approver and approvers are both set: list every approver under approvers")
            data = {k: v for k, v in data.items() if k != "approver"} | {"approvers": [data["approver"]]}
        return data

    @field_validator("account_managers")
    @classmethod
    def _casefold_orgs(cls, value: dict[str, str]) -> dict[str, str]:
        return {_org_key(k): v.strip() for k, v in value.items()}

    @field_validator("config_ticket_fields")
    @classmethod
    def _known_values(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"installer_name", "installer_email"}
        if unknown:
            raise ValueError(f"unknown value {min(unknown)!r}: use installer_name, installer_email")
        return value

    @model_validator(mode="after")
    def _sources(self) -> Config:
        if self.account_managers and not any(s.kind == MAP for s in self.account_manager_sources):
            raise ValueError("account_managers is set, but account_manager_sources does not list map: "
                             "add map to the sources, or remove the map")
        emails = [a.email.casefold() for a in self.approvers]
        if len(set(emails)) != len(emails):
            raise ValueError("approvers: an approver is listed twice")
        return self

    @property
    def approver(self) -> Approver:
        """The first approver (the one the texts name when they name one)."""
        return self.approvers[0]

    def account_manager(self, organization: str) -> str | None:
        """The account manager the sources read when the rules load know (the map, CSV files), in order."""
        return next((found for found, _ in self.static_managers(organization) if found), None)

    def static_managers(self, organization: str) -> list[tuple[str | None, ManagerSource]]:
        key = _org_key(organization)
        out: list[tuple[str | None, ManagerSource]] = []
        for source in self.account_manager_sources:
            if source.kind == MAP:
                out.append((self.account_managers.get(key), source))
            elif source.kind == CSV:
                out.append((source.entries[key][0] if key in source.entries else None, source))
        return out


#: Events on which the intake looks at a ticket: a new ticket, an edit (the form may be
#: completed later), or an admin asking (dry-run).
INTAKE_EVENTS = (TICKET_CREATED, TICKET_UPDATED, MANUAL)
_NO_STATE_YET = Verdict("intake not yet applied", True, None, "no onboarding state for this ticket")


class EverBrightOnboarding(Rule[Config]):
    id = "everbright_onboarding"
    title = "EverBright partner onboarding (seed 002)"
    #: Stages at which a decision is taken, whichever way it comes (comment, separate ticket, Slack);
    #: at the others Slack says why not (bot/ops/services.py).
    decision_stages = DECISION_STAGES
    decision_waits = {INTAKE: "the Config (CS) ticket to be created"}

    def watched_projects(self, config: Config) -> set[str]:
        return {config.service_desk_project, config.config_project}

    def approvers(self, config: Config) -> list[tuple[str, str | None]]:
        """Every approver and every stand-in: Slack lets them decide, and the rule takes a stand-in's decision
        only while they stand in (else it tells them why not)."""
        people: dict[str, tuple[str, str | None]] = {}
        for person in _everyone(config):
            people.setdefault(person.email.casefold(), (person.email, person.slack_user))
        return list(people.values())

    def evaluate(self, event: Event, ticket: Ticket, ctx: RuleContext) -> Evaluation:
        flow = Flow(event, ticket, ctx, self.config(ctx), self.id)
        return flow.route()

    # declarations for `ticketbot check` -------------------------------------------------------------
    def requirements(self, config: Config) -> list[Requirement]:
        """Every name the block uses on the sites, with the key that holds it."""
        cfg, block = config, f"rules.{self.id}"
        desk, config_project = cfg.service_desk_project, cfg.config_project
        reqs = [
            Requirement("request_type", cfg.request_type, desk, source=f"{block}.request_type"),
            Requirement("field", cfg.needs_configuration_field, source=f"{block}.needs_configuration_field"),
            Requirement("option", cfg.needs_configuration_value, desk, parent=cfg.needs_configuration_field,
                        source=f"{block}.needs_configuration_value"),
            Requirement("user", cfg.reporter_email, source=f"{block}.reporter_email"),
        ]
        for i, approver in enumerate(cfg.approvers):
            where = f"{block}.approvers[{i}]"
            reqs += _person_requirements(approver, where, "reminded on Slack when approval is late; "
                                                          "its Slack status says when they are away")
            if approver.stand_in:
                reqs += _person_requirements(approver.stand_in, f"{where}.stand_in", "decides while the approver "
                                                                                       "is away")
            for j, span in enumerate(approver.away):
                if span.stand_in:
                    reqs += _person_requirements(span.stand_in, f"{where}.away[{j}].stand_in",
                                                 f"decides from {span.start} to {span.to}")
        if cfg.config_team.mention:
            reqs.append(Requirement("user", cfg.config_team.mention, source=f"{block}.config_team.mention",
                                    note="mentioned on CS when Config is asked to push live"))
        for label_key in ("installer_name_label", "installer_email_label"):
            reqs.append(Requirement("field", getattr(cfg, label_key), required=False, source=f"{block}.{label_key}",
                                    note="optional: read from the description; a field of that name is the fallback"))
        for key, name in cfg.config_ticket_fields.items():  # step 3 fills them on CS
            reqs.append(Requirement("field", name, source=f"{block}.config_ticket_fields.{key}"))
        if cfg.create_config_ticket:
            reqs.append(Requirement("issue_type", cfg.config_ticket_issue_type, config_project,
                                    source=f"{block}.config_ticket_issue_type"))
        for i, source in enumerate(cfg.account_manager_sources):
            reqs += _manager_requirements(cfg, source, f"{block}.account_manager_sources[{i}]", block)
        # Statuses the rule watches, and the two it moves tickets to (CS back to To Do, SS closed).
        for key, project, moved_there in (("cs_on_hold", config_project, False), ("cs_to_do", config_project, True),
                                          ("cs_done", config_project, False), ("ss_waiting_for_support", desk, False),
                                          ("ss_closed", desk, True)):
            name = getattr(cfg.statuses, key)
            reqs.append(Requirement("status", name, project, source=f"{block}.statuses.{key}"))
            if moved_there:
                reqs.append(Requirement("transition", name, project, source=f"{block}.statuses.{key}"))
        for key in ("config_ticket", "duplicate"):
            reqs.append(Requirement("link_type", getattr(cfg.link_types, key), source=f"{block}.link_types.{key}"))
        return reqs

    def writes(self, config: Config) -> list[Touch]:
        """Steps 2 (the SS edit, watchers, participants, comments), 3 (CS fields, link), 5 and 6 (statuses)."""
        cfg = config
        desk, config_project = cfg.service_desk_project, cfg.config_project
        fields = ("Organizations", "Reporter", "Request Type", cfg.needs_configuration_field)
        writes = [*(Touch("field", name, desk) for name in fields),
                  Touch("watcher", None, desk), Touch("participant", None, desk), Touch("comment", None, desk),
                  Touch("link", None, desk), Touch("status", cfg.statuses.ss_closed, desk),
                  *(Touch("field", name, config_project) for name in cfg.config_ticket_fields.values()),
                  Touch("link", None, config_project), Touch("comment", None, config_project),
                  Touch("status", cfg.statuses.cs_to_do, config_project)]
        if cfg.create_config_ticket:
            writes.append(Touch("ticket", None, config_project))
        return writes

    def triggers(self, config: Config) -> list[Touch]:
        cfg = config
        desk, config_project = cfg.service_desk_project, cfg.config_project
        guard = ("acts only on the next step of an onboarding (its stage is recorded per SS ticket): the intake "
                 f"only while Organizations, Request Type and {cfg.needs_configuration_field!r} are not yet as the "
                 "runbook says; only the approvers' (and active stand-ins') comments are read as a decision; an "
                 "effect already applied is "
                 "skipped by its key")
        return [Touch("ticket", None, desk, guard=guard), Touch("any", None, desk, guard=guard),
                Touch("comment", None, desk, guard=guard), Touch("ticket", None, config_project, guard=guard),
                Touch("status", cfg.statuses.cs_on_hold, config_project, guard=guard),
                Touch("status", cfg.statuses.cs_done, config_project, guard=guard)]


def _everyone(cfg: Config) -> list[Person]:
    """The approvers, then every stand-in they name."""
    people: list[Person] = list(cfg.approvers)
    for approver in cfg.approvers:
        people += [p for p in (approver.stand_in, *(a.stand_in for a in approver.away)) if p is not None]
    return people


def _person_requirements(person: Person, where: str, note: str) -> list[Requirement]:
    return [Requirement("user", person.email, source=f"{where}.email"),
            Requirement("slack_user", person.slack_user or person.email, system="slack",
                        source=f"{where}.{'slack_user' if person.slack_user else 'email'}", note=note)]


def _manager_requirements(cfg: Config, source: ManagerSource, where: str, block: str) -> list[Requirement]:
    """What ``ticketbot check`` resolves of one account-manager source: the people and organizations the map
    and CSV files name (each row naming its source). An organization property is read at each intake."""
    if source.kind == MAP:
        rows = [(org, email, f"{block}.account_managers[{org!r}]") for org, email in cfg.account_managers.items()]
    elif source.kind == CSV:
        rows = [(org, email, f"{where} ({source.value} line {line})") for org, (email, line) in source.entries.items()]
    else:
        return []
    reqs = []
    for organization, email, origin in rows:
        reqs.append(Requirement("user", email, source=origin, note=f"account manager of {organization!r}"))
        reqs.append(Requirement("organization", organization, required=False, source=origin,
                                note="optional: created on the first onboarding of this installer"))
    return reqs


@dataclass(frozen=True)
class Stand:
    """Who answers for one approver now: the approver, or their stand-in while they are away (``away``: why)."""

    approver: Approver
    person: Person
    away: str = ""

    @property
    def standing_in(self) -> bool:
        return self.person.email.casefold() != self.approver.email.casefold()


class Flow:
    """One evaluation: the event, the ticket it concerns, and the helpers every step shares."""

    def __init__(self, event: Event, ticket: Ticket, ctx: RuleContext, cfg: Config, rule_id: str) -> None:
        self.event, self.ticket, self.ctx, self.cfg, self.rule_id = event, ticket, ctx, cfg, rule_id
        self.now = ctx.clock.now()
        #: The block's texts (:data:`TEXTS`, reworded by its ``templates``), dates in the calendar's time zone.
        self.say: Words = cfg.words
        #: What was learnt about who is away (for the trace): a Slack status that could not be read …
        self.presence_notes: list[str] = []

    # who decides -------------------------------------------------------------------------
    @functools.cached_property
    def stands(self) -> list[Stand]:
        """Who answers for each approver now: those present, and the stand-in of each one away. An approver
        away without a stand-in is left out while someone else answers; when nobody would, all are asked."""
        present, absent = [], []
        for approver in self.cfg.approvers:
            why, stand_in = self.away(approver)
            if not why:
                present.append(Stand(approver, approver))
            elif stand_in is not None:
                present.append(Stand(approver, stand_in, why))
            else:
                absent.append(Stand(approver, approver, why))
        if present:
            self.presence_notes += [f"{s.approver.email} is {s.away} and has no stand-in: not asked" for s in absent]
            return present
        self.presence_notes.append("every approver is away and none has a stand-in: all are asked")
        return absent

    def away(self, approver: Approver) -> tuple[str, Person | None]:
        """Why ``approver`` is away now ("" when not) and who stands in: a date range of theirs covering today
        in the calendar's time zone, else their Slack status."""
        today = self.now.astimezone(self.cfg.calendar.zone).date()
        for span in approver.away:
            if span.covers(today):
                why = self.say("away_dates", start=self.shown(span.start), to=self.shown(span.to))
                return why, span.stand_in or approver.stand_in
        if approver.stand_in is None and len(self.cfg.approvers) == 1:
            return "", None  # the only approver, nobody to stand in: whatever Slack says, they are asked
        status = self.slack_status(approver)
        return (self.say("away_status", status=repr(status)), approver.stand_in) if status else ("", None)

    def slack_status(self, approver: Approver) -> str:
        """The approver's Slack status when it says they are away (and has not expired), else ""."""
        people = self.ctx.people
        if not isinstance(people, StatusReader):
            return ""
        try:
            status = people.status_of(approver.email, approver.slack_user or "")
        except Exception as exc:  # noqa: BLE001 - Slack failing means "not known to be away", never a stall
            self.presence_notes.append(f"the Slack status of {approver.email} is unknown ({exc}): taken as present")
            return ""
        if status is None or (status.expiration and status.expiration <= self.now.timestamp()):
            return ""
        if not _says_away(status.text, status.emoji, tuple(self.cfg.away_statuses)):
            return ""
        return " ".join(filter(None, (status.emoji, status.text)))

    def decider(self, person: User | None) -> Stand | None:
        """``person`` as someone who may decide now: an approver (always), or the stand-in of an approver who is
        away now; None for anyone else."""
        if person is None:
            return None
        for approver in self.cfg.approvers:
            if self.is_person(person, approver):
                return Stand(approver, approver)
        if not any(self.is_person(person, p) for p in _everyone(self.cfg)[len(self.cfg.approvers):]):
            return None  # not a stand-in either: nothing to look up
        return next((s for s in self.stands if s.standing_in and self.is_person(person, s.person)), None)

    def idle_stand_in(self, person: User | None) -> list[Approver]:
        """The approvers ``person`` stands in for, when none of them is away now (their decision is not taken)."""
        if person is None or self.decider(person) is not None:
            return []
        return [a for a in self.cfg.approvers
                if any(p is not None and self.is_person(person, p)
                       for p in (a.stand_in, *(span.stand_in for span in a.away)))]

    def is_person(self, user: User, person: Person) -> bool:
        if user.is_email(person.email) or (person.slack_user and user.display_name == person.slack_user):
            return True
        if not user.account_id:
            return False
        known = self.ctx.reader.find_user(person.email)
        return known is not None and user.same_person(known)

    def name_of(self, email: str) -> str:
        """A person's name as the site has it (their e-mail when it has none)."""
        try:
            known = self.ctx.reader.find_user(email)
        except Exception:  # noqa: BLE001 - only a nicer name in a text
            known = None
        return (known.display_name if known and known.display_name else email)

    def shown(self, value: datetime | date | str) -> str:
        """A moment or a day as Words writes it (the block's language, the calendar's time zone), with plain spaces:
        CLDR writes a narrow no-break space before "AM", a character that does not print, and what ticketbot writes
        has none (tests/hostile). A text (a moment the state recorded oddly) is shown as it is."""
        return " ".join(self.say.value(value).split())

    def effect(self, cls: type[fx.Effect], key: str, step: str, **kw: object) -> fx.Effect:
        return cls(rule_id=self.rule_id, ticket_key=key, step=step, **kw)

    # routing ---------------------------------------------------------------------------
    def route(self) -> Evaluation:
        cfg, ticket, event = self.cfg, self.ticket, self.event
        project = _project_is(ticket.project, cfg.service_desk_project, cfg.config_project)
        if not project.passed:
            return Evaluation.skip([project])
        if ticket.project == cfg.config_project:
            return self.on_config_ticket(project)
        state = self.ctx.state.get(ticket.key)
        if event.kind == TIMER_FIRED:
            return self.on_timer(state)
        if state is None:
            if event.kind in (TICKET_CREATED, MANUAL) and self.decider(ticket.reporter) is not None:
                return duplicate_approval_ticket(self)
            return intake(self)
        return self.on_onboarding(state)

    def on_onboarding(self, state: RuleState) -> Evaluation:
        """An event on an SS ticket that is already an onboarding."""
        event, cfg = self.event, self.cfg
        stage = _stage_is_open(state.stage)
        if not stage.passed:
            return Evaluation.skip([stage], f"onboarding is {state.stage}; nothing more to do")
        if event.kind in (APPROVAL_GIVEN, APPROVAL_REJECTED):
            return self.on_slack_decision(state)
        if event.kind == COMMS_REQUESTED:
            return comms(self, state, str((event.payload or {}).get("reason") or ""), source=f"request {event.id}")
        if event.kind == COMMENT_CREATED:
            return self.on_comment(state, stage)
        if event.kind == TICKET_UPDATED and cfg.comms_label in self.ticket.labels and not state.get("comms_label"):
            return comms(self, state, self.say("comms_label_reason", label=repr(cfg.comms_label), key=self.ticket.key),
                         source="label")
        entered = self.status_entered(cfg.statuses.ss_waiting_for_support)
        signal = Verdict(f"SS moved to {cfg.statuses.ss_waiting_for_support!r}", entered,
                         [c.to_value for c in self.event.changes if c.field.casefold() == "status"],
                         cfg.statuses.ss_waiting_for_support)
        if entered and state.stage == CONFIGURING:
            return ask_approval(self, state, [stage, signal], f"{self.ticket.key} back to waiting for support")
        if entered and state.stage == APPROVED:
            return close(self, state, [stage, signal])
        return Evaluation.skip([stage, signal], f"onboarding at stage {state.stage}; this event changes nothing")

    def on_slack_decision(self, state: RuleState) -> Evaluation:
        """Approve / Reject in Slack or ``/ticketbot approve|reject``: Slack let through the approvers, their
        stand-ins and the admins. A stand-in's decision counts only while the approver is away; else they are
        told why in Slack, and nothing else happens."""
        payload = self.event.payload or {}
        via, reason = str(payload.get("via") or "slack"), str(payload.get("reason") or "")
        approve = self.event.kind == APPROVAL_GIVEN
        actor = self.event.actor
        stand = self.decider(actor) if payload.get("role") != "admin" else None
        idle = self.idle_stand_in(actor) if stand is None and payload.get("role") != "admin" else []
        if not idle:  # an approver, an active stand-in, an admin (or someone Slack authorized, unknown here)
            return decide(self, state, approve=approve, via=via, reason=reason, stand=stand,
                          via_text=self.say(f"via_{via}") if via in SLACK_VIAS else untrusted(via))
        verdicts = [Verdict("decided by an approver or an active stand-in", False, _who(actor),
                            [p.email for p in self.cfg.approvers])]
        if state.stage not in DECISION_STAGES:
            return Evaluation.skip(verdicts, f"already {state.stage}; a decision now changes nothing")
        text = self.say("stand_in_approval_refused_slack" if approve else "stand_in_rejection_refused_slack",
                        key=state.ticket_key, approvers=_names(self, idle))
        refusal = self.effect(fx.SlackMessage, state.ticket_key, f"refused:{_digest(self.event.id)}", text=text,
                              user_email=actor.email if actor else "", slack_user=str(payload.get("slack_user") or ""))
        return Evaluation(verdicts=[Verdict("decision from a stand-in while the approver is present", True,
                                            _who(actor), "told why in Slack")],
                          effects=[refusal], notes=[f"{_who(actor)} is not standing in now: decision not taken",
                                                    *self.presence_notes])

    def on_comment(self, state: RuleState, stage: Verdict) -> Evaluation:
        comment = self.event.comment
        author = comment.author if comment else None
        stand = self.decider(author)
        by_approver = Verdict("comment by an approver or an active stand-in", stand is not None, _who(author),
                              [p.email for p in self.cfg.approvers])
        waiting = Verdict("awaiting a decision", state.stage in DECISION_STAGES, state.stage,
                          list(DECISION_STAGES))
        if comment is None or not waiting.passed:
            return Evaluation.skip([stage, by_approver, waiting])
        verdict = self.decision_in(comment.body)
        found = Verdict("approval or rejection phrase", verdict is not None, _excerpt(comment.body),
                        {"approve": self.cfg.approval_phrases, "reject": self.cfg.rejection_phrases})
        if not by_approver.passed:
            idle = self.idle_stand_in(author) if verdict is not None else []
            if not idle:
                return Evaluation.skip([stage, by_approver, waiting], *self.presence_notes)
            # A stand-in decided while the approver is here: say so on the ticket, once per comment.
            return Evaluation(verdicts=[stage, waiting, found, Verdict(
                "decision from a stand-in while the approver is present", True, _who(author), "told why")],
                effects=[self.effect(fx.InternalComment, self.ticket.key, f"not-standing-in:{comment.id}",
                                     body=self.say("stand_in_comment_refused_note", who=untrusted(_who(author)),
                                                   approvers=untrusted(_names(self, idle))))],
                notes=[f"{_who(author)} is not standing in now: comment not taken as a decision",
                       *self.presence_notes])
        if verdict is None:
            return Evaluation.skip([stage, by_approver, waiting, found], "the approver's comment is not a decision")
        return decide(self, state, approve=verdict, via=f"comment {comment.id} on {self.ticket.key}",
                      via_text=self.say("via_comment", comment=untrusted(comment.id), key=untrusted(self.ticket.key)),
                      reason=_excerpt(comment.body) if not verdict else "", verdicts=[stage, by_approver, found],
                      stand=stand)

    def on_timer(self, state: RuleState | None) -> Evaluation:
        name = str((self.event.payload or {}).get("timer") or "")
        if name == REMINDER and state is not None:
            return remind(self, state)
        return Evaluation.skip([Verdict("known timer", False, name, [REMINDER])])

    def on_config_ticket(self, project: Verdict) -> Evaluation:
        ticket, cfg = self.ticket, self.cfg
        owners = self.ctx.state.find(cs_key=ticket.key)
        timer = (self.event.payload or {}).get("timer") if self.event.kind == TIMER_FIRED else None
        if self.event.kind == TIMER_FIRED and timer not in (FIND_ONBOARDING, CS_DONE_AGAIN):
            return Evaluation.skip([project, Verdict("known timer", False, timer, [FIND_ONBOARDING, CS_DONE_AGAIN])])
        if not owners:
            if timer == CS_DONE_AGAIN:
                return Evaluation.skip([project, Verdict("onboarding of this CS ticket", False, None,
                                                         "an SS ticket in the rule state")])
            return find_config_ticket(self, project)
        state = owners[0]
        owner = Verdict("onboarding of this CS ticket", True, state.ticket_key, "an SS ticket in the rule state")
        status = ticket.status.casefold()
        if status == cfg.statuses.cs_on_hold.casefold() and state.stage == CONFIGURING:
            return ask_approval(self, state, [project, owner, Verdict("CS status", True, ticket.status,
                                                                      cfg.statuses.cs_on_hold)],
                                f"{ticket.key} put on hold by Config")
        if status == cfg.statuses.cs_done.casefold() and state.stage == APPROVED:
            return close(self, state, [project, owner, Verdict("CS status", True, ticket.status, cfg.statuses.cs_done)])
        if status == cfg.statuses.cs_done.casefold() and state.stage in DECIDING:
            return self.done_before_approval(project, owner, state)
        return Evaluation.skip([project, owner, Verdict(
            "CS status is a signal at this stage", False, {"status": ticket.status, "stage": state.stage},
            {CONFIGURING: cfg.statuses.cs_on_hold, APPROVED: cfg.statuses.cs_done})])

    def done_before_approval(self, project: Verdict, owner: Verdict, state: RuleState) -> Evaluation:
        """CS is Done, but the onboarding has no approval recorded: look again later, a bounded number of times,
        when CS shows that an approval is being recorded.

        The inbox processes the events of one onboarding in order (SS, CS and every ticket recorded as a member),
        so an approval given on SS, in Slack or by command is recorded before Config's Done is looked at. An
        approval from a separate ticket is not: that ticket joins the onboarding only when its own event is done,
        after its plan wrote CS (To Do, "please push live"), so Config's Done can be processed in between (and
        while that event waits for a retry after a crash, or after it was dead-lettered and until it is retried).
        Such a Done is recognised by the approval's request on CS; a Done with none is Config being early,
        which no look helps: the approval, when it comes, moves CS back to To Do.
        """
        cfg, ticket = self.cfg, self.ticket
        payload = self.event.payload or {}
        looking = self.event.kind == TIMER_FIRED and payload.get("timer") == CS_DONE_AGAIN
        data = (payload.get("data") or {}) if looking else {}
        attempt = int(data.get("attempt", 0)) + 1
        round_ = str(data.get("round") or _digest(self.event.id))  # a later Done (another event) looks anew
        requested = looking or _asks_to_push_live(self, ticket, state.ticket_key)
        asked = Verdict("an approval is being recorded", requested,
                        "looking again" if looking else ("request to push live on CS" if requested else "none"),
                        f"the approval's request on {ticket.key} to push {state.ticket_key} live")
        verdicts = [project, owner, Verdict("CS status", True, ticket.status, cfg.statuses.cs_done),
                    Verdict("CS done before the approval is recorded", True, state.stage, list(DECIDING)), asked]
        if not asked.passed:
            return Evaluation.skip(verdicts, (
                f"{ticket.key} is {ticket.status} before any approval of {state.ticket_key}: nothing to look at "
                f"again; an approval moves {ticket.key} back to {cfg.statuses.cs_to_do}"))
        if attempt > cfg.find_config_ticket_attempts:
            return Evaluation.skip(verdicts, (
                f"{ticket.key} is {ticket.status} but {state.ticket_key} is still {state.stage} after "
                f"{cfg.find_config_ticket_attempts} more look(s), {self.say.value(cfg.find_config_ticket_every)} "
                f"apart: given up; an approval now moves {ticket.key} back to {cfg.statuses.cs_to_do}"))
        due = self.now + cfg.find_config_ticket_every
        return Evaluation(verdicts=verdicts, effects=[self.effect(
            fx.StartTimer, ticket.key, f"cs-done-again:{round_}:{attempt}", name=CS_DONE_AGAIN, due_at=due,
            data={"attempt": attempt, "round": round_})], notes=[(
                f"{ticket.key} is {ticket.status} but {state.ticket_key} is {state.stage} (an approval may not be "
                f"recorded yet): looking again at {_when(due)} (attempt {attempt} of "
                f"{cfg.find_config_ticket_attempts})")])

    # shared helpers ----------------------------------------------------------------------
    def is_from_approver(self, person: User | None) -> bool:
        return person is not None and any(self.is_person(person, a) for a in self.cfg.approvers)

    def status_entered(self, status: str) -> bool:
        return any(c.field.casefold() == "status" and (c.to_value or "").casefold() == status.casefold()
                   for c in self.event.changes)

    def decision_in(self, text: str) -> bool | None:
        """True for approval, False for rejection (checked first: 'not approved'), None for neither.

        Only statements count: a phrase in a question ("approved?", "Is it OK to push live?") asks for a
        decision rather than giving one.
        """
        words = _words(" ".join(_statements(text)))
        if any(p in words for p in _phrases(tuple(self.cfg.rejection_phrases))):
            return False
        if any(p in words for p in _phrases(tuple(self.cfg.approval_phrases))):
            return True
        return None

    def ticket_ref(self, key: str) -> str:
        """``KEY (link)``: the link of the ticket at hand, or of another ticket of the same site (Jira's
        ``…/browse/KEY``); the bare key when neither is known."""
        url, own = self.ticket.url, f"/browse/{self.ticket.key}"
        if self.ticket.key != key:
            url = url[: -len(own)] + f"/browse/{key}" if url.endswith(own) else ""
        return f"{key} ({url})" if url else key


# The verdicts every event on a project, or on an onboarding at a stage, starts with: built once each.
@functools.lru_cache(maxsize=256)
def _project_is(project: str, service_desk_project: str, config_project: str) -> Verdict:
    return one_of("project", project, [service_desk_project, config_project])


@functools.lru_cache(maxsize=64)
def _stage_is_open(stage: str) -> Verdict:
    return Verdict("onboarding stage", stage in OPEN_STAGES, stage, list(OPEN_STAGES))


@functools.lru_cache(maxsize=64)
def _intake_event(kind: str) -> Verdict:
    return one_of("event kind", kind, INTAKE_EVENTS)


_WORD = re.compile(r"[\w']+")
#: Where a sentence ends: after . ! ? (and the quotes or brackets closing it), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def _who(person: User | None) -> str:
    return (person.display_name or person.email or person.account_id) if person else ""


def _names(flow: Flow, people: Collection[Person]) -> str:
    return _and(flow.say, [flow.name_of(p.email) for p in people])


def _says_away(text: str, emoji: str, markers: tuple[str, ...]) -> bool:
    """Whether a Slack status says its owner is away: one of ``markers`` as whole words of the text, or as its
    emoji (``:palm_tree:``)."""
    words = _words(text)
    for marker in markers:
        marker = marker.strip()
        if marker.startswith(":") and marker.endswith(":") and len(marker) > 2:
            if emoji.casefold() == marker.casefold() or marker.casefold() in text.casefold():
                return True
        elif marker and _words(marker) in words:
            return True
    return False


def _statements(text: str) -> list[str]:
    """The sentences of ``text`` that are not questions (a sentence with a question mark is one)."""
    return [s for s in _SENTENCE_END.split(text) if s.strip() and "?" not in s]



def _words(text: str) -> str:
    """Lower-cased words between single spaces, padded, so phrases match on word boundaries."""
    return " " + " ".join(_WORD.findall(text.casefold())) + " "


@functools.lru_cache(maxsize=64)
def _phrases(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """The configured phrases as :func:`_words` (the same few lists on every comment)."""
    return tuple(_words(p) for p in phrases)


def _excerpt(text: str | None, limit: int = 200) -> str:
    """One line of at most ``limit`` characters of untrusted text, *not* escaped: it is data (a rejection
    reason, a trace's observation), and whatever writes it into a comment escapes it there, once."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Every ticket key in normalized (casefolded) text: a word, a hyphen, a word, with a word boundary at each
#: end, tried at every word start so that "a-1-2" yields both "a-1" and "1-2" (as ``\ba-1\b`` and ``\b1-2\b``
#: both match there).
_KEY_IN_TEXT = re.compile(r"\b(?=(\w+-\w+)\b)")
_KEY_SHAPE = re.compile(r"\w+-\w+")


def _named_in(text: str, states: list[RuleState], linked: Collection[str] = ()) -> list[RuleState]:
    """The onboardings that ``text`` (normalized) names: linked to it, its SS key as a whole word (any case),
    or its installer's name.

    The keys are found in the text once, then looked up: one ``\\b<key>\\b`` regex per open onboarding
    (thousands of them) overflowed ``re``'s cache, so every event compiled them all again. The same matches:
    a key of the usual shape is named exactly when it is one of the text's key tokens.
    """
    keys = set(_KEY_IN_TEXT.findall(text))
    named = []
    for st in states:
        folded, usual, name = _match_forms(st.ticket_key, st.data.get("installer"))
        if (st.ticket_key in linked
                or (folded in keys if usual else re.search(rf"\b{re.escape(folded)}\b", text) is not None)
                or (name is not None and name in text)):
            named.append(st)
    return named


# Asked of every open onboarding on every approver ticket: the same keys and names again and again.
@functools.lru_cache(maxsize=1 << 15)
def _match_forms(key: str, installer: str | None) -> tuple[str, bool, str | None]:
    """What :func:`_named_in` looks for of one onboarding: its key casefolded, whether that has the usual
    ``word-word`` shape, and its installer's name normalized (None without an installer)."""
    folded = key.casefold()
    return folded, _KEY_SHAPE.fullmatch(folded) is not None, normalize_text(installer) if installer else None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# step 2: update the SS ticket ------------------------------------------------------------
def _is_onboarding_request(flow: Flow) -> list[Verdict]:
    event, ticket, cfg = flow.event, flow.ticket, flow.cfg
    return [
        _intake_event(event.kind),
        text_matches("project", ticket.project, cfg.service_desk_project),
        text_matches("summary", ticket.summary, cfg.subject),
        Verdict("reporter is not the approver", not flow.is_from_approver(ticket.reporter),
                ticket.reporter.email or ticket.reporter.account_id if ticket.reporter else None,
                f"not {cfg.approver.email} (their tickets are approvals, not onboardings)"),
    ]


def _form_value(ticket: Ticket, label: str, other: str) -> str | None:
    """A form value from the description, else from a custom field of the same name."""
    value = labelled_value(ticket.description, label, other_labels=[other])
    if value is None and ticket.field(label):
        value = " ".join(str(ticket.field(label)).split())
    return value


def intake(flow: Flow) -> Evaluation:
    ticket, cfg = flow.ticket, flow.cfg
    verdicts = _is_onboarding_request(flow)
    if not all(v.passed for v in verdicts):
        return Evaluation.skip(verdicts)
    installer = _form_value(ticket, cfg.installer_name_label, cfg.installer_email_label)
    contact = _form_value(ticket, cfg.installer_email_label, cfg.installer_name_label)
    verdicts.append(_NO_STATE_YET)

    def effect(cls: type[fx.Effect], step: str, **kw: object) -> fx.Effect:
        return flow.effect(cls, ticket.key, f"intake:{step}", **kw)

    values = {cfg.installer_name_label: installer, cfg.installer_email_label: contact}
    missing = [label for label, value in values.items() if not value]
    # Informational verdict: what the form gave. A gap does not stop the rule, it changes its plan.
    verdicts.append(Verdict("form values", True, values, "both present",
                            f"missing: {', '.join(missing)}" if missing else ""))
    if missing:
        # No partial change: the organization, watchers and the rest all hang on these values.
        body = flow.say("missing_values_note", subject=repr(cfg.subject),
                        missing=_and(flow.say, [repr(m) for m in missing]))
        return Evaluation(verdicts=verdicts, effects=[effect(fx.InternalComment, "missing-values", body=body)],
                          notes=[(f"form incomplete, missing {', '.join(missing)}: internal comment only, "
                                  "no field changed")])
    assert installer and contact
    effects: list[fx.Effect] = [
        effect(fx.SetOrganization, "organization", name=installer),
        effect(fx.SetReporter, "reporter", email=cfg.reporter_email),
        effect(fx.SetRequestType, "request-type", name=cfg.request_type),
        effect(fx.SetField, "needs-configuration", field=cfg.needs_configuration_field,
               value=cfg.needs_configuration_value),
        *(effect(fx.AddWatcher, "watcher-approver" if i == 0 else f"watcher-approver:{a.email.casefold()}",
                 email=a.email) for i, a in enumerate(cfg.approvers)),
        effect(fx.RemoveParticipant, "installer-not-participant", email=contact),
    ]
    notes = [f"installer {installer!r}, contact {contact}"]
    manager, found_in, problems = find_account_manager(flow, installer)
    notes += problems
    if manager:
        effects.insert(4, effect(fx.AddWatcher, "watcher-account-manager", email=manager))
        notes.append(f"account manager {manager} (from {found_in})")
    else:
        notes.append(f"no account manager known for {installer!r}")
        looked = "; ".join(_source_text(flow.say, s) for s in cfg.account_manager_sources)
        if problems:
            body = flow.say("account_manager_missing_problems_note", installer=untrusted(installer), looked=looked,
                            problems=untrusted(" ".join(f"{p[0].upper()}{p[1:]}." for p in problems), limit=1500))
        else:
            body = flow.say("account_manager_missing_note", installer=untrusted(installer), looked=looked)
        effects.append(effect(fx.InternalComment, "account-manager-missing", body=body))
        # And the admins hear it once per onboarding (the step is the ticket's): a source to fix, not a ticket.
        effects.append(effect(fx.SlackMessage, "account-manager-missing:alert", alert=True, text=flow.say(
            "account_manager_missing_alert", ticket=flow.ticket_ref(ticket.key), installer=visible(installer),
            looked=looked)))
    if cfg.create_config_ticket:
        effects.append(effect(fx.CreateTicket, "config-ticket", project=cfg.config_project,
                              issue_type=cfg.config_ticket_issue_type,
                              summary=flow.say("config_ticket_summary", subject=cfg.subject, installer=installer,
                                               key=ticket.key)[:250],
                              description=flow.say("config_ticket_description", installer=untrusted(installer),
                                                   key=ticket.key),
                              field_values=_config_ticket_values(cfg, installer, contact)))
        notes.append("the CS ticket is created by ticketbot (create_config_ticket)")
    # The commit point: only once every write above went through is the onboarding recorded.
    effects.append(effect(fx.SetState, "state", stage=INTAKE, data={
        "installer": installer, "contact": contact, "account_manager": manager,
        **({"account_manager_source": found_in} if manager else {})}))
    return Evaluation(verdicts=verdicts, effects=effects, notes=notes)


def find_account_manager(flow: Flow, organization: str) -> tuple[str | None, str, list[str]]:
    """(e-mail, the source that had it, problems met on the way) from the block's sources, in order.

    A source that cannot answer (an organization property Jira refuses to show, or one that is not an e-mail)
    is a problem said in the trace and, when no source has a manager, in the comment on SS; the next source
    is asked. An outage is not a problem of the source: it fails the event, which waits for Jira."""
    problems: list[str] = []
    say = flow.say
    for source in flow.cfg.account_manager_sources:
        if source.kind != ORGANIZATION_PROPERTY:
            found = next((m for m, s in flow.cfg.static_managers(organization) if s is source), None)
            if found:
                return found, source.label(), problems
            continue
        reader = flow.ctx.reader
        if not isinstance(reader, OrganizationProperties):
            problems.append(say("source_unsupported", tracker=reader.name, source=_source_text(say, source)))
            continue
        try:
            value = reader.organization_property(organization, source.value)
        except Rejected as exc:
            problems.append(say("source_refused", source=_source_text(say, source), error=str(exc)))
            continue
        email = value.get("email") if isinstance(value, dict) else value
        if value is not None and (not isinstance(email, str) or not _EMAIL.fullmatch(email.strip())):
            problems.append(say("source_not_email", source=_source_text(say, source), organization=repr(organization),
                                value=_excerpt(json.dumps(value), 80)))
            continue
        if email:
            return email.strip(), f"{source.label()} of {organization!r}", problems
    return None, "", problems


def _config_ticket_values(cfg: Config, installer: str, contact: str) -> dict[str, str]:
    values = {"installer_name": installer, "installer_email": contact}
    return {field_name: values[what] for what, field_name in cfg.config_ticket_fields.items()}


# step 3: the CS ticket ----------------------------------------------------------------------
def find_config_ticket(flow: Flow, project: Verdict) -> Evaluation:
    """A CS ticket not yet tied to an onboarding: find its SS ticket, link them, carry the values."""
    ticket, cfg = flow.ticket, flow.cfg
    text = normalize_text(f"{ticket.summary} {ticket.description}")
    linked = {link.inward_key for link in ticket.links} | {link.outward_key for link in ticket.links}
    matches = _named_in(text, flow.ctx.state.find(stages=[INTAKE]), linked)
    verdicts = [project, Verdict("onboarding in intake naming this CS ticket", len(matches) == 1,
                                 [m.ticket_key for m in matches], "exactly one (by link, SS key or installer name)")]
    if len(matches) != 1:
        attempt = int((flow.event.payload or {}).get("data", {}).get("attempt", 0)) + 1 \
            if flow.event.kind == TIMER_FIRED else 1
        if not matches and flow.event.kind in (TICKET_CREATED, TIMER_FIRED):
            # Jira's automation creates CS as soon as the intake sets "Needs Configuration?" (its first
            # write), before the intake is recorded (its last): look again later, whether or not another
            # onboarding is in intake now. Bounded: a CS ticket no onboarding ever claims gives up quietly.
            if attempt <= cfg.find_config_ticket_attempts:
                due = flow.now + cfg.find_config_ticket_every
                return Evaluation(verdicts=[project], effects=[flow.effect(
                    fx.StartTimer, ticket.key, f"find-onboarding:{attempt}", name=FIND_ONBOARDING, due_at=due,
                    data={"attempt": attempt})], notes=[(f"no onboarding matches {ticket.key} yet; looking again "
                                                         f"at {_when(due)} (attempt {attempt} of "
                                                         f"{cfg.find_config_ticket_attempts})")])
            return Evaluation.skip(verdicts, (
                f"no onboarding matches {ticket.key} after {cfg.find_config_ticket_attempts} more look(s), "
                f"{flow.say.value(cfg.find_config_ticket_every)} apart: given up (not an onboarding's CS ticket, "
                "or its SS ticket never reached the intake); a later edit of it looks again"))
        note = "ambiguous: several onboardings match" if matches else "no onboarding matches this CS ticket"
        return Evaluation.skip(verdicts, note)
    state = matches[0]
    ss = state.ticket_key
    installer, contact = state.get("installer") or "", state.get("contact") or ""
    effects: list[fx.Effect] = [flow.effect(fx.LinkTickets, ss, f"config-ticket-link:{ticket.key}",
                                         link_type=cfg.link_types.config_ticket, inward_key=ss, outward_key=ticket.key)]
    for name, value in _config_ticket_values(cfg, installer, contact).items():
        if value and ticket.field(name) != value:
            effects.append(flow.effect(fx.SetField, ticket.key, f"config-ticket-field:{name}", field=name, value=value))
    effects.append(flow.effect(fx.SetState, ss, f"state:{CONFIGURING}", stage=CONFIGURING,
                               data={"cs_key": ticket.key, **member(ticket.key, "config ticket")}))
    if flow.event.kind == TIMER_FIRED or ticket.status.casefold() != cfg.statuses.cs_on_hold.casefold():
        return Evaluation(verdicts=verdicts, effects=effects, notes=[f"{ticket.key} is the config ticket of {ss}"])
    # Already on hold when found: configuration is done, so step 5 starts at once.
    asked = ask_approval(flow, _advanced(state, CONFIGURING, cs_key=ticket.key), [], f"{ticket.key} is on hold")
    return Evaluation(verdicts=verdicts, effects=effects + asked.effects, notes=asked.notes)


def _advanced(state: RuleState, stage: str, **data: object) -> RuleState:
    return RuleState(rule_id=state.rule_id, ticket_key=state.ticket_key, stage=stage,
                     data={**state.data, **data}, history=state.history)


# steps 4→5: ask for approval, remind, decide -------------------------------------------------
def ask_approval(flow: Flow, state: RuleState, verdicts: list[Verdict], why: str) -> Evaluation:
    cfg, ss, say = flow.cfg, state.ticket_key, flow.say
    installer, cs = untrusted(state.get("installer")), state.get("cs_key") or say("the_cs_ticket")
    stands = flow.stands
    standing_in = [say("stand_in_for", stand_in=flow.name_of(s.person.email), approver=flow.name_of(s.approver.email),
                       away=s.away) for s in stands if s.standing_in]
    body = say("ask_approval_note", installer=installer, cs=cs, after=cfg.approval_reminder_after,
               any_one=say("ask_approval_any_one") if len(stands) > 1 else "",
               stand_ins=say("ask_approval_stand_ins", stand_ins=untrusted("; ".join(standing_in)))
               if standing_in else "")
    due = cfg.calendar.due(flow.now, cfg.approval_reminder_after)
    asked = [s.person.email for s in stands]
    effects = [
        flow.effect(fx.InternalComment, ss, "ask-approval", body=body, mentions=tuple(asked)),
        flow.effect(fx.StartTimer, ss, f"timer:{REMINDER}:1", name=REMINDER, due_at=due, data={"n": 1}),
        flow.effect(fx.SetState, ss, f"state:{AWAITING}", stage=AWAITING,
                    data={"asked_at": flow.now.isoformat(), "reminders": 0, "asked": asked}),
    ]
    return Evaluation(verdicts=verdicts, effects=effects, notes=[
        f"{why}: approval asked of {', '.join(asked)}, reminder at {_when(due)}", *flow.presence_notes])


def remind(flow: Flow, state: RuleState) -> Evaluation:
    """A Slack DM to whoever answers for each approver now (the approver, or their stand-in, saying for whom)."""
    cfg, ss, say = flow.cfg, state.ticket_key, flow.say
    n = int((flow.event.payload or {}).get("data", {}).get("n", 1))
    waiting = Verdict("still awaiting approval", state.stage == AWAITING, state.stage, AWAITING)
    if not waiting.passed:
        return Evaluation.skip([waiting], "the decision came; the reminder is moot")
    asked = flow.shown(_moment(state.get("asked_at", "")))
    effects: list[fx.Effect] = []
    stands = flow.stands
    for stand in stands:
        person = stand.person
        # Slack text: the notifier escapes Slack's markup; Jira's escaping would show as backslashes.
        values = {"installer": visible(state.get("installer")), "ticket": flow.ticket_ref(ss), "asked": asked}
        text = (say("reminder_stand_in_slack", approver=visible(flow.name_of(stand.approver.email)), away=stand.away,
                    **values) if stand.standing_in else say("reminder_slack", **values))
        first = person.email.casefold() == cfg.approver.email.casefold()
        effects.append(flow.effect(fx.SlackMessage, ss, f"reminder:{n}" if first else
                                   f"reminder:{n}:{person.email.casefold()}", text=text, user_email=person.email,
                                   slack_user=person.slack_user or "", actions=("approve", "reject"),
                                   hours=cfg.calendar, only_at_stages=(AWAITING,)))
    reminded = ", ".join(say("reminded_for", person=s.person.email, approver=s.approver.email) if s.standing_in
                         else s.person.email for s in stands)
    notes = [f"reminder {n} of {cfg.approval_reminder_max} to {reminded}", *flow.presence_notes]
    if n < cfg.approval_reminder_max:
        due = cfg.calendar.due(flow.now, cfg.approval_reminder_every)
        effects.append(flow.effect(fx.StartTimer, ss, f"timer:{REMINDER}:{n + 1}", name=REMINDER, due_at=due,
                                   data={"n": n + 1}))
        notes.append(f"next reminder at {_when(due)}")
    else:
        effects.append(flow.effect(fx.SlackMessage, ss, "escalation", alert=True, text=say(
            "escalation_alert", ticket=flow.ticket_ref(ss), installer=visible(state.get("installer")), reminders=n,
            reminded=reminded)))
        notes.append("last reminder: the admin channel is alerted")
    effects.append(flow.effect(fx.SetState, ss, f"state:reminders:{n}", data={"reminders": n}))
    return Evaluation(verdicts=[waiting], effects=effects, notes=notes)


def decide(flow: Flow, state: RuleState, *, approve: bool, via: str, via_text: str = "", reason: str = "",
           verdicts: list[Verdict] | None = None, stand: Stand | None = None) -> Evaluation:
    """Take a decision; ``stand``: the approver (or active stand-in) who gave it, when known (an admin's
    decision in Slack has none). ``via``: how it came, as recorded (``comment 1 on SS-1``, ``button``);
    ``via_text``: the same in the block's words, escaped for a comment (``via`` escaped when not given)."""
    cfg, ss, say = flow.cfg, state.ticket_key, flow.say
    verdicts = list(verdicts or [])
    open_ = Verdict("awaiting a decision", state.stage in DECISION_STAGES, state.stage, list(DECISION_STAGES))
    verdicts.append(open_)
    if not open_.passed:
        return Evaluation.skip(verdicts, f"already {state.stage}; a decision now changes nothing")
    actor = flow.event.actor
    who = (actor.display_name or actor.email) if actor and flow.event.kind != COMMENT_CREATED else ""
    if flow.event.kind == COMMENT_CREATED and flow.event.comment and flow.event.comment.author:
        who = flow.event.comment.author.display_name or flow.event.comment.author.email
    who = who or (stand.person.email if stand else cfg.approver.email)
    # Stored as given; escaped once, where a comment shows it (as are the installer, via and reason).
    decision: dict[str, object] = {"approved": approve, "by": who, "at": flow.now.isoformat(), "via": via}
    if stand is not None and stand.standing_in:
        decision["for"] = stand.approver.email
        who = say("decided_by_stand_in", who=who, approver=flow.name_of(stand.approver.email), away=stand.away)
    who = untrusted(who)
    installer = untrusted(state.get("installer"))
    via_text = via_text or untrusted(via)
    cs, when = state.get("cs_key"), flow.shown(flow.now)
    effects: list[fx.Effect] = [flow.effect(fx.CancelTimer, ss, f"cancel:{REMINDER}:{_digest(via)}", name=REMINDER)]
    if approve:
        if cs:
            team = cfg.config_team
            effects += [
                flow.effect(fx.Transition, cs, "approved:cs-to-do", status=cfg.statuses.cs_to_do),
                flow.effect(fx.InternalComment, cs, "approved:ask-config", body=say(
                    "ask_config_note", who=who, when=when, installer=installer, ss=ss,
                    done=cfg.statuses.cs_done), mentions=(team.mention,) if team.mention else ()),
            ]
            if team.channel:  # a team channel: working hours apply, and it is moot once the onboarding moved on
                effects.append(flow.effect(fx.SlackMessage, ss, "approved:config-channel", channel=team.channel,
                                           hours=cfg.calendar, only_at_stages=(APPROVED,), text=say(
                    "ask_config_slack", installer=visible(state.get("installer")), ss=ss,
                    who=visible(str(decision["by"])), ticket=flow.ticket_ref(cs), done=cfg.statuses.cs_done)))
            body = say("approved_note", who=who, when=when, via=via_text, cs=cs, to_do=cfg.statuses.cs_to_do)
        else:
            body = say("approved_note_no_cs", who=who, when=when, via=via_text)
        effects.append(flow.effect(fx.InternalComment, ss, "approved:note", body=body))
        effects.append(flow.effect(fx.SetState, ss, f"state:{APPROVED}", stage=APPROVED, data={"decision": decision}))
        return Evaluation(verdicts=verdicts, effects=effects, notes=[f"approved by {who} via {via}",
                                                                     *flow.presence_notes])
    rejections = int(state.get("rejections", 0)) + 1
    manager = state.get("account_manager") or cfg.account_manager(state.get("installer") or "")
    people = _unique((manager, *(s.person.email for s in flow.stands)))
    values = {"who": who, "installer": installer, "when": when, "via": via_text}
    body = (say("rejected_reason_note", reason=untrusted(reason), **values) if reason
            else say("rejected_note", **values))
    effects.append(flow.effect(fx.InternalComment, ss, f"rejected:{rejections}", mentions=people, body=body))
    effects.append(flow.effect(fx.SetState, ss, f"state:{REJECTED}:{rejections}", stage=REJECTED,
                               data={"decision": {**decision, "reason": reason}, "rejections": rejections}))
    return Evaluation(verdicts=verdicts, effects=effects, notes=[f"rejected by {who} via {via}", *flow.presence_notes])


def _asks_to_push_live(flow: Flow, cs: Ticket, ss: str) -> bool:
    """Whether CS carries the approval's request to push the onboarding ``ss`` live: a comment with the text of
    ``ask_config_note`` (as the block words it, or as the module ships it) naming ``ss``, whatever its other values
    (who, when, the installer) and whatever comes before it (the mention of the config team)."""
    wordings = dict.fromkeys([flow.cfg.templates.get("ask_config_note", ""), *TEXTS["ask_config_note"].texts.values()])
    return any(_written(_pieces(text, "ss", ss), c.body) for text in wordings if text for c in cs.comments)


@functools.lru_cache(maxsize=256)
def _pieces(text: str, name: str, value: str) -> tuple[str, ...]:
    """A template's text as the pieces written around the values it does not know: ``{name}`` is ``value``,
    any other value could be anything."""
    pieces, piece = [], ""
    for literal, field_name, _, _ in string.Formatter().parse(text):
        piece += literal
        if field_name == name:
            piece += value
        elif field_name is not None:
            pieces.append(piece)
            piece = ""
    return tuple(p for p in (*pieces, piece) if p)


def _written(pieces: tuple[str, ...], body: str) -> bool:
    """Whether ``body`` has ``pieces`` in this order (anything between them): each found after the one before."""
    at = 0
    for piece in pieces:
        found = body.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def duplicate_approval_ticket(flow: Flow) -> Evaluation:
    """A new SS ticket from an approver (or an active stand-in) about an onboarding: link, close as duplicate,
    maybe approve."""
    ticket, cfg, say = flow.ticket, flow.cfg, flow.say
    text = normalize_text(f"{ticket.summary} {ticket.description}")
    matches = _named_in(text, flow.ctx.state.find(stages=list(OPEN_STAGES)))
    stand = flow.decider(ticket.reporter)
    verdicts = [Verdict("new ticket from an approver or an active stand-in", True,
                        ticket.reporter.email if ticket.reporter else None, [p.email for p in cfg.approvers]),
                Verdict("names one open onboarding", len(matches) == 1, [m.ticket_key for m in matches],
                        "exactly one (by SS key or installer name)")]
    if len(matches) != 1:
        return Evaluation.skip(verdicts, "not about exactly one open onboarding: left for a person")
    state = matches[0]
    ss = state.ticket_key
    effects: list[fx.Effect] = [
        flow.effect(fx.LinkTickets, ticket.key, "duplicate:link", link_type=cfg.link_types.duplicate,
                    inward_key=ticket.key, outward_key=ss),
        flow.effect(fx.InternalComment, ticket.key, "duplicate:note", body=say(
            "duplicate_stand_in_note" if stand and stand.standing_in else "duplicate_note", ss=ss,
            installer=untrusted(state.get("installer")))),
        flow.effect(fx.Transition, ticket.key, "duplicate:close", status=cfg.statuses.ss_closed,
                    resolution=cfg.duplicate_resolution),
    ]
    notes = [f"{ticket.key} is a separate approval ticket for {ss}"]
    verdict = flow.decision_in(f"{ticket.summary}\n{ticket.description}")
    if verdict is not None and state.stage in DECISION_STAGES:
        decided = decide(flow, state, approve=verdict, via=f"separate ticket {ticket.key}",
                         via_text=say("via_ticket", key=untrusted(ticket.key)),
                         reason="" if verdict else _excerpt(ticket.description), stand=stand)
        effects += decided.effects
        notes += decided.notes
    else:
        notes.append("no approval phrase in it (or no decision pending): linked and closed only")
    effects.append(flow.effect(fx.SetState, ss, f"approval-ticket:{ticket.key}",
                               data=member(ticket.key, "approval ticket")))
    # Recorded last: the executor commits a plan's local effects one at a time, in plan order, and a retry
    # skips a ticket already marked duplicate. Were this before the decision's, a crash between the two
    # would lose the approval; after it, the retry finds SS-… decided and only links and closes again.
    effects.append(flow.effect(fx.SetState, ticket.key, "duplicate:state", stage=DUPLICATE, data={"of": ss}))
    return Evaluation(verdicts=verdicts, effects=effects, notes=notes)


# step 6 and customer communication ------------------------------------------------------------
def close(flow: Flow, state: RuleState, verdicts: list[Verdict]) -> Evaluation:
    cfg, ss, cs = flow.cfg, state.ticket_key, state.get("cs_key")
    installer = untrusted(state.get("installer"))
    body = flow.say("live_note", cs=cs, installer=installer) if cs else flow.say("live_note_no_cs", installer=installer)
    effects = [
        flow.effect(fx.InternalComment, ss, "live:note", mentions=_unique(s.person.email for s in flow.stands),
                    body=body),
        flow.effect(fx.Transition, ss, "live:close", status=cfg.statuses.ss_closed, resolution=cfg.close_resolution),
        flow.effect(fx.SetState, ss, f"state:{CLOSED}", stage=CLOSED, data={"live_at": flow.now.isoformat()}),
    ]
    return Evaluation(verdicts=verdicts, effects=effects, notes=[f"products live for {installer}: {ss} closed"])


def comms(flow: Flow, state: RuleState, reason: str, *, source: str) -> Evaluation:
    cfg, ss, say = flow.cfg, state.ticket_key, flow.say
    manager = state.get("account_manager") or cfg.account_manager(state.get("installer") or "")
    people = _unique((manager, *(s.person.email for s in flow.stands)))
    installer = untrusted(state.get("installer"))
    body = (say("comms_reason_note", installer=installer, reason=untrusted(reason, limit=500)) if reason
            else say("comms_note", installer=installer))
    if not manager:
        body += " " + say("comms_no_manager")
    data: dict[str, object] = {"comms_label": True} if source == "label" else {}
    data["last_comms"] = {"at": flow.now.isoformat(), "reason": reason}
    key = _digest(source, reason)
    return Evaluation(verdicts=[Verdict("customer communication needed", True, reason, "a reason")], effects=[
        flow.effect(fx.InternalComment, ss, f"comms:{key}", body=body, mentions=people),
        flow.effect(fx.SetState, ss, f"state:comms:{key}", data=data),
    ], notes=[f"comms requested ({source})"])


def _unique(emails: Iterable[str | None]) -> tuple[str, ...]:
    """The e-mails given, once each (any case), in order."""
    seen: dict[str, str] = {}
    for email in emails:
        if email:
            seen.setdefault(email.casefold(), email)
    return tuple(seen.values())


def _and(say: Words, items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: in the block's words (``list_and``)."""
    return items[0] if len(items) == 1 else say("list_and", rest=", ".join(items[:-1]), last=items[-1])


def _source_text(say: Words, source: ManagerSource) -> str:
    """Where account managers were looked for, as the texts say it."""
    if source.kind == MAP:
        return say("source_map")
    if source.kind == CSV:
        return say("source_csv", path=source.value)
    return say("source_property", key=repr(source.value))


def _moment(value: object) -> datetime | str:
    """A moment recorded in the state (ISO 8601) as a datetime, for Words; the text as it is when it is none."""
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)


# the words -------------------------------------------------------------------------------------------
#: Every text the rule writes: comments (all internal), Slack messages, the CS ticket it may create. English:
#: EverBright's team is in the US. A block rewords any of them under ``templates:``. Values from tickets arrive
#: escaped for a comment (:func:`bot.text.untrusted`) or on one line for Slack (:func:`bot.text.visible`; the
#: notifier escapes Slack's markup); moments, dates and delays are rendered by Words, in the calendar's time zone.
#: A few texts are parts of others (``ask_approval_any_one`` …, ``via_*``, ``source_*``, ``list_and``).
TEXTS = Catalogue(
    # step 2: the intake
    template("missing_values_note", "subject missing",
             "ticketbot could not process this {subject} request: the form is missing {missing}. Please add it to the "
             "description; the ticket will be processed when it is edited."),
    template("account_manager_missing_note", "installer looked",
             "ticketbot: no account manager is configured for organization {installer} (looked in: {looked}), so none "
             "was added as a watcher. Please add them by hand, and add the organization to one of those sources "
             "(rules.everbright_onboarding.account_manager_sources)."),
    template("account_manager_missing_problems_note", "installer looked problems",
             "ticketbot: no account manager is configured for organization {installer} (looked in: {looked}), so none "
             "was added as a watcher. {problems} Please add them by hand, and add the organization to one of those "
             "sources (rules.everbright_onboarding.account_manager_sources)."),
    template("account_manager_missing_alert", "ticket installer looked",
             "ticketbot: the EverBright onboarding {ticket} ({installer}) has no account manager (looked in: "
             "{looked}); none was added as a watcher. Add the organization to one of "
             "rules.everbright_onboarding.account_manager_sources."),
    template("source_map", "", "the account_managers map"),
    template("source_csv", "path", "{path}"),
    template("source_property", "key", "the organization's property {key}"),
    template("source_unsupported", "tracker source",
             "the {tracker} tracker has no organization properties, so {source} could not be read"),
    template("source_refused", "source error",
             "{source} could not be read ({error}); check that the bot's Jira account may see the organization's "
             "properties"),
    template("source_not_email", "source organization value",
             '{source} of {organization} is not an e-mail address or {{"email": …}} ({value})'),
    # step 3: the CS ticket, when ticketbot creates it (create_config_ticket)
    template("config_ticket_summary", "subject installer key", "{subject}: configure {installer} ({key})"),
    template("config_ticket_description", "installer key",
             "Configure the EverBright integrated products for {installer} ({key}). Put this ticket on hold when "
             "configured, before pushing anything live."),
    # steps 4-5: the question, the reminders
    template("ask_approval_note", "installer cs after any_one stand_ins",
             "Config has finished configuring {installer} ({cs}, now on hold). Are we approved to push the EverBright "
             'products live for this installer? Please reply in this ticket with "approved", or "not approved" and '
             "the reason{any_one}.{stand_ins} ticketbot will follow up in Slack after {after}."),
    template("ask_approval_any_one", "", " (any one of you may decide)"),
    template("ask_approval_stand_ins", "stand_ins", " {stand_ins}."),
    template("stand_in_for", "stand_in approver away", "{stand_in} stands in for {approver} ({away})"),
    template("the_cs_ticket", "", "the CS ticket"),
    template("away_dates", "start to", "away {start} to {to}"),
    template("away_status", "status", "away (Slack status {status})"),
    template("reminder_slack", "installer ticket asked",
             "Hi! The EverBright onboarding of {installer} is waiting for your approval to push the products live: "
             "{ticket} (asked {asked}). Approve or reject here, or reply in the ticket."),
    template("reminder_stand_in_slack", "approver away installer ticket asked",
             "Hi! You are standing in for {approver} ({away}). The EverBright onboarding of {installer} is waiting "
             "for your approval to push the products live: {ticket} (asked {asked}). Approve or reject here, or reply "
             "in the ticket."),
    template("reminded_for", "person approver", "{person} (for {approver})"),
    template("escalation_alert", "ticket installer reminders reminded",
             "ticketbot: no approval for the EverBright onboarding {ticket} ({installer}) after {reminders} Slack "
             "reminder(s) to {reminded}. Please follow up in person."),
    # the decision
    template("decided_by_stand_in", "who approver away", "{who} (standing in for {approver}, {away})"),
    template("via_comment", "comment key", "comment {comment} on {key}"),
    template("via_ticket", "key", "separate ticket {key}"),
    template("via_button", "", "button"),
    template("via_command", "", "command"),
    template("via_slack", "", "slack"),
    template("ask_config_note", "who when installer ss done",
             "Approved by {who} on {when}: please push the EverBright products live for {installer} ({ss}) and move "
             "this ticket to {done} when they are live."),
    template("ask_config_slack", "installer ss who ticket done",
             "EverBright onboarding of {installer} ({ss}) approved by {who}: please push the products live and move "
             "{ticket} to {done} when they are live."),
    template("approved_note", "who when via cs to_do",
             "ticketbot: approval to push live received from {who} on {when} via {via}. {cs} moved back to {to_do} "
             "and Config asked to push the products live."),
    template("approved_note_no_cs", "who when via",
             "ticketbot: approval to push live received from {who} on {when} via {via}. No CS ticket is linked yet: "
             "Config must be asked by hand."),
    template("rejected_note", "who installer when via",
             "ticketbot: {who} did not approve pushing the EverBright products live for {installer} ({when}, via "
             "{via}). Nothing was transitioned; please agree the next steps here."),
    template("rejected_reason_note", "who installer when via reason",
             "ticketbot: {who} did not approve pushing the EverBright products live for {installer} ({when}, via "
             '{via}): "{reason}". Nothing was transitioned; please agree the next steps here.'),
    template("stand_in_approval_refused_slack", "key approvers",
             "Your approval of {key} was not taken: you stand in for {approvers} only while they are away, and they "
             "are not away now. Please ask them, or a ticketbot admin, to decide."),
    template("stand_in_rejection_refused_slack", "key approvers",
             "Your rejection of {key} was not taken: you stand in for {approvers} only while they are away, and they "
             "are not away now. Please ask them, or a ticketbot admin, to decide."),
    template("stand_in_comment_refused_note", "who approvers",
             "ticketbot: the comment of {who} was not taken as a decision: they stand in for {approvers} only while "
             "away, and nobody they stand in for is away now. The approvers have been asked; any of them may decide "
             "here."),
    template("list_and", "rest last", "{rest} and {last}"),
    template("duplicate_note", "ss installer",
             "ticketbot: this is the approver's reply about the EverBright onboarding {ss} ({installer}); linked to "
             "it and closed as a duplicate. Follow up on {ss}."),
    template("duplicate_stand_in_note", "ss installer",
             "ticketbot: this is a stand-in's reply about the EverBright onboarding {ss} ({installer}); linked to it "
             "and closed as a duplicate. Follow up on {ss}."),
    # step 6 and customer communication
    template("live_note", "cs installer",
             "{cs} is complete: the EverBright products are live for {installer}. Closing this onboarding."),
    template("live_note_no_cs", "installer",
             "The CS ticket is complete: the EverBright products are live for {installer}. Closing this onboarding."),
    template("comms_note", "installer",
             "Customer communication is needed for the EverBright onboarding of {installer}. Customers are not copied "
             "on onboarding tickets, so please contact them directly."),
    template("comms_reason_note", "installer reason",
             "Customer communication is needed for the EverBright onboarding of {installer}: {reason}. Customers are "
             "not copied on onboarding tickets, so please contact them directly."),
    template("comms_no_manager", "", "(No account manager is configured for this organization.)"),
    template("comms_label_reason", "label key", "label {label} added to {key}"),
)
Config.texts = TEXTS
