"""Momentus E-Invoicing onboarding (seed 000), on the Support Ops project in Jira.

The runbook, as Support Ops wrote it: the customer asks for the integration in Momentus Connect;
after the sale the account manager announces it and Support Ops approves it in Connect, which
e-mails the requester that it is ready to configure, with the knowledge-base article ("About
E-Invoicing in Enterprise" / "… in Elite"). The customer submits the setup form in Connect and
Support Ops is notified; for an Enterprise customer's first Connect app Support Ops sets up a
Connect API user (Elite turns the feature flag on by itself). Support Ops creates the legal
entity in Storecove, which validates it (up to 48 hours), configures the integration, and once
the entity is validated and the configuration complete, the integration is ready to use.

Each request is one ticket in ``project``; people move it along as they work: the status
(``approved_statuses``) when the sale is approved, and the fields ``Setup form``, ``Storecove
validation`` and ``Connect configuration``. Stages and what ticketbot does on entering them:

* ``approved`` — an internal comment naming the article the requester was sent (by edition), and
  a Slack message to the account manager: the first gap the seed names ("the AM will not be
  notified").
* ``form submitted`` — Support Ops' Slack channel is told; for an Enterprise customer whose first
  Connect app this is, a task to set up the Connect API user is created (see below).
* ``validating`` (``Storecove validation`` = Pending: the legal entity exists) — Support Ops is
  asked every ``storecove_check.remind_every`` (1 business day, on the Chicago calendar) to check the
  Validation column, and after ``storecove_check.escalate_after`` (Storecove's 48 hours, on the clock)
  the Support Ops lead (or the admin channel) is told, in working hours (quiet hours hold a message
  that falls at night or at the weekend until the next working morning).
* ``ready`` (validated, configuration complete, and the API-user task done when there is one) — the
  second gap ("no notification to the customer that the integration is ready"): see below.

The API-user task. ticketbot creates it (``api_user_task``: project, kind) carrying the request's key in
``api_user_task.parent_field``, adopts it from the task's first event (Jira's ``issue_created`` of its own
creation: it records the task in the request's record and links the two with ``api_user_task.link_type``),
so every later event on the task (assigned, done) reaches the request's runbook. The request is not ready
until the task is in ``api_user_task.done_statuses``; ``ticketbot why`` says so while it waits, and a task
done after everything else makes the request ready then. The task is due ``api_user_task.due`` after it is
created (2 business days on the Chicago calendar); past it, its assignee is reminded on Slack (in their own
working hours), or Support Ops' channel when nobody is assigned, every ``remind_every`` up to
``max_reminders`` times (and ``escalate_after``, when set, tells the Support Ops lead). The reminders stop
when the task is done. Requests that need no API user (Elite, or not the customer's first Connect app) get
no task and are not held.

Telling the customer. ticketbot's comments are internal; the one customer-visible write is a public
reply, which the engine lets through only for a block that says ``customer_replies: true`` itself. With
it (as shipped in config/ticketbot.yaml), ``ready`` replies to the requester on the ticket with the
``customer_ready`` template and tells the account manager it was done; without it, the account manager is
asked on Slack to pass the same message on, and an internal comment holds it.

Every text is a named template (``TEXTS`` below, in English: Momentus' Support Ops team is in the US);
a block may reword any of them under ``templates:``. Every name, person and delay comes from
``rules.momentus_einvoicing``; the defaults are the seed's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import Field, model_validator

from bot.calendar import BusinessCalendar, BusinessDuration, Delay
from bot.check import Requirement, Touch
from bot.effects import Effect, SetState
from bot.engine import Evaluation, RuleContext, Verdict
from bot.model import Event, Ticket
from bot.text import untrusted
from bot.trackers.base import TrackerError
from rules.runbook.acts import Acts
from rules.runbook.checks import (
    Always,
    Check,
    Facts,
    FieldIs,
    StatusIn,
    all_of,
    email_of,
    kind_is,
    normalize_text,
    text_matches,
)
from rules.runbook.config import Alarms, Block, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import CHILD, Alarm, Children, Deadline, Runbook, Stage, one_line, per_config
from rules.runbook.rule import RunbookRule
from rules.runbook.words import Catalogue, template


class Fields(Block):
    """Field names on the request ticket."""

    customer: str = "Customer"
    edition: str = "Edition"  # Enterprise | Elite
    account_manager: str = "Account manager"  # a person field (or an e-mail)
    requester: str = "Requester email"
    setup_form: str = "Setup form"
    first_connect_app: str = "First Connect app"
    storecove_validation: str = "Storecove validation"
    connect_configuration: str = "Connect configuration"


class Values(Block):
    """The field values that move the request along."""

    enterprise: str = "Enterprise"
    form_submitted: str = "Submitted"
    first_app: str = "Yes"
    validation_pending: str = "Pending"
    validated: str = "Validated"
    configuration_complete: str = "Complete"


class Article(Block):
    title: str
    url: str = ""

    def __str__(self) -> str:
        return f"{self.title} ({self.url})" if self.url else self.title


class ApiUserTask(Alarms):
    """The task to set up the Connect API user (an Enterprise customer's first Connect app).

    Where ticketbot creates it (``project``, ``issue_type``), how it is tied to its request (the request's
    key in the text field ``parent_field``, a link of ``link_type``), when it is done (``done_statuses``) and
    when it is due: the delays of :class:`Alarms` (``due``, ``remind_every``, ``max_reminders``,
    ``warn_before``, ``escalate_after``), counted from its creation. Its summary and description are the
    templates ``api_user_task_summary`` and ``api_user_task_description``.
    """

    project: str = "EINV"
    issue_type: str = "Task"
    parent_field: str = "E-Invoicing request"
    link_type: str = "Relates"
    done_statuses: list[str] = Field(default_factory=lambda: ["Done"], min_length=1)
    due: Delay = BusinessDuration(days=2)
    remind_every: Delay | None = BusinessDuration(days=1)
    max_reminders: int | None = Field(default=3, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _summary_moved(cls, data: object) -> object:
        if isinstance(data, dict) and "summary" in data:
            raise ValueError("summary: the task's summary is the template api_user_task_summary now "
                             "(templates: {api_user_task_summary: \"… {customer} …\"})")
        return data


class Config(RunbookConfig):
    project: str = "EINV"
    issue_type: str = "E-Invoicing request"
    approved_statuses: list[str] = Field(default_factory=lambda: ["Approved"])
    fields: Fields = Fields()
    values: Values = Values()
    #: The customer-facing article by edition (the seed: "About E-Invoicing in Enterprise / in Elite").
    articles: dict[str, Article] = Field(default_factory=lambda: {
        "Enterprise": Article(title="About E-Invoicing in Enterprise"),
        "Elite": Article(title="About E-Invoicing in Elite")})
    support_ops_channel: str = "#support-ops"
    support_ops_lead: Person | None = None  # escalations; the admin channel when empty
    api_user_task: ApiUserTask = ApiUserTask()
    #: "Storecove then validates (can take 48 hours)": Support Ops checks once a business day; the 48 hours
    #: are Storecove's, on the clock, and the escalation they bring waits for Support Ops' working hours. The
    #: console's chart measures each validation against those 48 hours (the target).
    storecove_check: Alarms = Alarms(due="1 business day", remind_every="1 business day",
                                     escalate_after=timedelta(hours=48), target=timedelta(hours=48))
    calendar: BusinessCalendar = BusinessCalendar(time_zone="America/Chicago", country="US")

    def article(self, edition: str) -> Article | None:
        return next((a for name, a in self.articles.items() if name.casefold() == edition.strip().casefold()), None)


#: The API-user task's role among the request's children, and the request's record that one was created.
API_USER = "api_user"
REQUESTED = "api_user:requested"


class MomentusEInvoicing(RunbookRule[Config]):
    id = "momentus_einvoicing"
    title = "Momentus E-Invoicing onboarding (seed 000)"
    #: The API-user task is created by the bot; it adopts it from its own ``issue_created`` event.
    #: The stage record and effect keys keep it from acting twice on its own writes.
    handles_own_events = True

    def checks(self, cfg: Config, ticket: Ticket) -> list[Verdict]:
        task = cfg.api_user_task
        parent = _children(cfg).parent_key(ticket)
        if parent and kind_is(ticket, task.issue_type).passed:
            return [text_matches("project", ticket.project, task.project),
                    Verdict("an API-user task of an E-Invoicing request", True, {task.parent_field: parent},
                            "a request's key")]
        return [*super().checks(cfg, ticket), kind_is(ticket, cfg.issue_type)]

    def runbook(self, cfg: Config) -> Runbook:
        return runbook(cfg, self.id)

    def proceed(self, cfg: Config, event: Event, ticket: Ticket, ctx: RuleContext,
                checks: list[Verdict]) -> Evaluation:
        children = _children(cfg)
        request, known = ticket, {}
        if not kind_is(ticket, cfg.issue_type).passed:  # the API-user task (checks() let only that through)
            try:
                request = ctx.reader.get_ticket(children.parent_key(ticket))
            except TrackerError as exc:
                return Evaluation.skip([*checks, Verdict("request readable", False, str(exc), "readable")])
            is_request = kind_is(request, cfg.issue_type)
            if not is_request.passed or not text_matches("project", request.project, cfg.project).passed:
                return Evaluation.skip([*checks, Verdict(f"{request.key} is an E-Invoicing request", False,
                                                         (request.project, request.issue_type),
                                                         (cfg.project, cfg.issue_type))])
            state = ctx.state.get(request.key)
            adopted = state.get(CHILD + API_USER) if state else None
            ours = Verdict(f"{request.key}'s API-user task", ticket.key == adopted or (
                adopted is None and state is not None and state.get(REQUESTED) is not None),
                adopted or ("requested" if state and state.get(REQUESTED) else "none requested"),
                ticket.key)
            if not ours.passed:
                return Evaluation.skip([*checks, ours])
            checks = [*checks, ours]
            known = {API_USER: ticket}
        state = ctx.state.get(request.key)
        extra = [e for role, child in known.items() for e in children.adopt(self.id, request.key, role, child, state)]
        facts = Facts(ticket=request, event=event, now=ctx.clock.now(), state=state,
                      children=children.load(ctx.reader, state, known=known))
        return runbook(cfg, self.id).evaluate(facts, checks, extra)

    def declarations(self, config: Config) -> Declarations:
        c, task = config, config.api_user_task
        return Declarations(
            self.id, c, [runbook(c, self.id)],
            guard=("acts only when the request enters a later stage (its stage is recorded), on an API-user task "
                   "it has not adopted yet, or on its own timer"),
            kinds={"issue_type": c.issue_type, "api_user_task.issue_type": task.issue_type},
            creates={"api_user_task": (task.project, task.issue_type)},
            fields={**{f"fields.{key}": name for key, name in c.fields.model_dump().items()},
                    "api_user_task.parent_field": task.parent_field},
            link_types={"api_user_task.link_type": task.link_type},
            people={"support_ops_lead": c.support_ops_lead})


def _children(cfg: Config) -> Children:
    return Children(cfg.api_user_task.parent_field, cfg.api_user_task.link_type)


# the runbook -----------------------------------------------------------------------------------------
@per_config
def runbook(cfg: Config, rule_id: str) -> Runbook:
    f, v = cfg.fields, cfg.values
    validated = FieldIs(f.storecove_validation, (v.validated,))
    api_user = ApiUserTaskDone(cfg, before=("requested", "approved"))
    stages = (
        Stage("requested", Always("E-Invoicing request")),
        Stage("approved", StatusIn(tuple(cfg.approved_statuses)), lambda facts, acts: approved(cfg, facts, acts)),
        Stage("form_submitted", FieldIs(f.setup_form, (v.form_submitted,)),
              lambda facts, acts: form_submitted(cfg, facts, acts), title="setup form submitted"),
        Stage("validating", FieldIs(f.storecove_validation, (v.validation_pending,)),
              title="Storecove validation awaited"),
        Stage("validated", validated, title="legal entity validated"),
        Stage("ready", all_of(validated, FieldIs(f.connect_configuration, (v.configuration_complete,)), api_user),
              lambda facts, acts: ready(cfg, facts, acts), title="ready to use"),
    )
    deadlines = (
        Deadline("storecove", starts="validating", stops=("validated",), alarms=cfg.storecove_check,
                 ring=lambda facts, acts, alarm: storecove_check(cfg, facts, acts, alarm)),
        # From the setup form (when the task is created) until the task is done; a request that needs no
        # task meets it at once. No stop stage: "ready" itself waits for the task.
        Deadline("api_user", starts="form_submitted", stops=(), alarms=cfg.api_user_task, until=api_user,
                 ring=lambda facts, acts, alarm: api_user_overdue(cfg, facts, acts, alarm),
                 on_met=lambda facts, acts: api_user_done(cfg, facts, acts)),
    )
    return Runbook(rule_id, stages, deadlines, cfg.calendar, customer=lambda ticket: _customer(cfg, ticket))


@dataclass(frozen=True, eq=False)
class ApiUserTaskDone(Check):
    """The request's API-user task is done (in ``api_user_task.done_statuses``), or the request needs none.

    A request needs one when its record says the task was created (:data:`REQUESTED`), or, before the setup
    form is recorded (stages ``before``: the task is created in the same event), when it is an Enterprise
    customer's first Connect app. A request further along without that record (from before ticketbot
    tracked the task) is not held.
    """

    cfg: Config
    before: tuple[str, ...]

    def __call__(self, facts: Facts) -> Verdict:
        task, statuses = facts.children.get(API_USER), self.cfg.api_user_task.done_statuses
        if task is not None:
            done = normalize_text(task.status) in {normalize_text(s) for s in statuses}
            return Verdict(f"API-user task {task.key} status", done, task.status, list(statuses))
        state = facts.state
        if state is not None and state.get(CHILD + API_USER):  # linked, but it could not be read just now
            return Verdict(f"API-user task {state.get(CHILD + API_USER)} status", False, "could not be read",
                           list(statuses))
        if state is not None and state.get(REQUESTED):
            return Verdict("API-user task", False, f"created {state.get(REQUESTED)}, not linked yet",
                           f"linked, and {' or '.join(statuses)}")
        needs = _needs_api_user(self.cfg, facts.ticket)
        if (state is None or state.stage in self.before) and needs:
            return Verdict("API-user task", False, "to be created (Enterprise, first Connect app)",
                           f"created, linked, and {' or '.join(statuses)}")
        f = self.cfg.fields
        return Verdict("no API-user task needed", True,
                       {f.edition: facts.ticket.field(f.edition),
                        f.first_connect_app: facts.ticket.field(f.first_connect_app)},
                       "only an Enterprise customer's first Connect app needs one (and none was created)")

    def requirements(self, project: str, system: str = "jira") -> list[Requirement]:
        task = self.cfg.api_user_task
        return [Requirement("status", s, task.project, system) for s in task.done_statuses]

    def touches(self, project: str, system: str = "jira") -> list[Touch]:
        return [Touch("status", None, self.cfg.api_user_task.project, system)]


def _needs_api_user(cfg: Config, ticket: Ticket) -> bool:
    f, v = cfg.fields, cfg.values
    return (normalize_text(str(ticket.field(f.edition) or "")) == normalize_text(v.enterprise)
            and normalize_text(str(ticket.field(f.first_connect_app) or "")) == normalize_text(v.first_app))


def _customer(cfg: Config, ticket: Ticket) -> str:
    """The customer's name as typed on the ticket (escape it: :func:`untrusted` in comments)."""
    return one_line(ticket.field(cfg.fields.customer) or ticket.summary)


def _requester(cfg: Config, ticket: Ticket) -> str:
    return email_of(ticket.field(cfg.fields.requester)) or (ticket.reporter.email if ticket.reporter else "")


def _account_manager(cfg: Config, ticket: Ticket) -> Person | None:
    email = email_of(ticket.field(cfg.fields.account_manager))
    return Person(email=email) if email else None


def _article(cfg: Config, ticket: Ticket) -> str:
    article = cfg.article(str(ticket.field(cfg.fields.edition) or ""))
    return str(article) if article else " / ".join(str(a) for a in cfg.articles.values())


def _day(cfg: Config, moment: datetime) -> date:
    """The day of ``moment`` on the runbook's calendar (a due date people read)."""
    return moment.astimezone(cfg.calendar.zone).date()


def _tell_account_manager(cfg: Config, facts: Facts, acts: Acts, text: str) -> list[Effect]:
    """Slack to the request's account manager; without one, Support Ops' channel hears it and why."""
    manager = _account_manager(cfg, facts.ticket)
    if manager is not None:
        return [acts.slack("account-manager", text, to=manager)]
    missing = cfg.words("account_manager_missing", message=text, key=facts.ticket.key,
                        field=cfg.fields.account_manager)
    return [acts.slack("account-manager-missing", missing, channel=cfg.support_ops_channel)]


def approved(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, say = facts.ticket, cfg.words
    customer, requester, article = _customer(cfg, t), _requester(cfg, t) or say("requester_unknown"), _article(cfg, t)
    body = say("approved_note", customer=untrusted(customer), requester=untrusted(requester), article=article)
    text = say("approved_slack", customer=customer, key=t.key, requester=requester, article=article)
    return [acts.comment("note", body), *_tell_account_manager(cfg, facts, acts, text)]


def form_submitted(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, f, v, say = facts.ticket, cfg.fields, cfg.values, cfg.words
    customer = _customer(cfg, t)
    out = [acts.slack("support-ops", say("form_submitted_slack", customer=customer, key=t.key),
                      channel=cfg.support_ops_channel)]
    enterprise = normalize_text(str(t.field(f.edition) or "")) == normalize_text(v.enterprise)
    if _needs_api_user(cfg, t):
        task = cfg.api_user_task
        due = _day(cfg, cfg.calendar.due(facts.now, task.due))
        out.append(acts.create("api-user-task", project=task.project, issue_type=task.issue_type,
                               summary=say("api_user_task_summary", customer=customer),
                               description=say("api_user_task_description", customer=untrusted(customer),
                                               key=t.key, due=due, done=task.done_statuses[0]),
                               fields={task.parent_field: t.key}))
        # The request waits for this task from now on, even before its creation event links it.
        out.append(SetState(rule_id=acts.rule_id, ticket_key=t.key, step=f"{acts.prefix}:api-user-requested",
                            data={REQUESTED: facts.now.isoformat()}))
    elif not enterprise:
        out.append(acts.comment("no-api-user", say("no_api_user_note")))
    else:
        out.append(acts.comment("no-api-user", say("existing_api_user_note", customer=untrusted(customer))))
    return out


def storecove_check(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    t, say = facts.ticket, cfg.words
    customer = _customer(cfg, t)
    since = (facts.state.entered("validating") if facts.state else None) or facts.now
    waited = timedelta(hours=int((facts.now - since) / timedelta(hours=1)))
    if alarm.kind == "escalate":
        lead = cfg.support_ops_lead
        return [acts.slack("lead", say("storecove_escalation_slack", customer=customer, key=t.key, waited=waited),
                           to=lead, alert=lead is None),
                acts.comment("note", say("storecove_escalation_note", waited=waited,
                                         told=lead.email if lead else say("admin_channel")))]
    return [acts.slack("support-ops", say("storecove_check_slack", customer=customer, key=t.key, waited=waited,
                                          field=cfg.fields.storecove_validation, value=cfg.values.validated),
                       channel=cfg.support_ops_channel)]


def api_user_overdue(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    """The API-user task is (nearly) due and not done: its assignee, else Support Ops' channel, hears it."""
    t, say, task = facts.ticket, cfg.words, facts.children.get(API_USER)
    values = {"customer": _customer(cfg, t), "key": t.key, "due": _day(cfg, alarm.due),
              "task": task.key if task else say("api_user_task_unlinked")}
    if alarm.kind == "escalate":
        lead, waited = cfg.support_ops_lead, cfg.api_user_task.escalate_after
        return [acts.slack("lead", say("api_user_escalation_slack", waited=waited, **values), to=lead,
                           alert=lead is None),
                acts.comment("note", say("api_user_escalation_note", task=values["task"], waited=waited,
                                         told=lead.email if lead else say("admin_channel")))]
    assignee = task.assignee if task is not None else None
    name = "api_user_warning" if alarm.kind == "warn" else "api_user_overdue"
    values["number"] = 1 if alarm.kind in ("warn", "due") else alarm.n + 1
    if assignee is not None and assignee.email:
        return [acts.slack("assignee", say(name, **values), email=assignee.email)]
    if assignee is not None:  # Jira did not share their e-mail: Slack cannot find them, the channel passes it on
        text = say(f"{name}_unreachable", assignee=one_line(assignee.display_name or assignee.account_id), **values)
    else:
        text = say(f"{name}_unassigned", **values)
    return [acts.slack("support-ops", text, channel=cfg.support_ops_channel)]


def api_user_done(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    task = facts.children.get(API_USER)
    if task is None:  # the request needs no task: met at once, nothing to say
        return []
    return [acts.comment("note", cfg.words("api_user_done_note", task=task.key, status=untrusted(task.status)))]


def ready(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, say = facts.ticket, cfg.words
    customer, requester, article = _customer(cfg, t), _requester(cfg, t) or say("the_requester"), _article(cfg, t)
    message = say("customer_ready", article=article)
    if cfg.customer_replies:  # the site closed the seed's second gap: the customer hears it from the ticket
        return [acts.reply("customer", message),
                acts.comment("note", say("ready_note", customer=untrusted(customer))),
                *_tell_account_manager(cfg, facts, acts, say("ready_slack", customer=customer, key=t.key,
                                                             requester=requester))]
    body = say("ready_note_pass_on", customer=untrusted(customer), requester=untrusted(requester), message=message)
    text = say("ready_slack_pass_on", customer=customer, key=t.key, requester=requester, message=message)
    return [acts.comment("note", body), *_tell_account_manager(cfg, facts, acts, text)]


# the words -------------------------------------------------------------------------------------------
#: English: Momentus' Support Ops team is in the US. Values from the ticket arrive escaped (comments) or on
#: one line (Slack); dates and delays are rendered by Words.
TEXTS = Catalogue(
    template("approved_note", "customer requester article",
             "ticketbot: E-Invoicing approved for {customer}. Connect e-mails the requester ({requester}) that the "
             "integration is ready to configure, with the article {article}. Next: the customer completes the "
             "setup form in Connect."),
    template("approved_slack", "customer key requester article",
             "E-Invoicing for {customer} ({key}) is approved. The requester ({requester}) has been sent {article}; "
             "they will now complete the setup form in Connect."),
    template("requester_unknown", "", "unknown"),
    template("account_manager_missing", "message key field",
             "{message}\n(No account manager on {key}: please set '{field}' and pass this on.)"),
    template("form_submitted_slack", "customer key",
             "Setup form submitted for {customer} ({key}): configure E-Invoicing (Storecove legal entity and API "
             "user, Connect configuration, webhooks)."),
    template("no_api_user_note", "",
             "ticketbot: not Enterprise, so the E-Invoicing feature flag is enabled automatically when the app is "
             "activated in Connect; no API user needed."),
    template("existing_api_user_note", "customer",
             "ticketbot: not {customer}'s first Connect app, so its Connect API user exists already; no API-user "
             "task needed."),
    template("api_user_task_summary", "customer", "Set up the Connect API user for {customer}"),
    template("api_user_task_description", "customer key due done",
             "{customer}'s first Connect app ({key}): set up the Connect API user (see Enterprise Apps and API "
             "Users in Momentus Connect). Due on {due}.\n\nticketbot tracks this task for {key}: the integration is "
             "ready to use only once it is {done}."),
    template("api_user_task_unlinked", "", "the API-user task"),
    template("api_user_warning", "task customer key due number",
             "{task} (set up the Connect API user for {customer}, {key}) is due on {due}."),
    template("api_user_warning_unassigned", "task customer key due number",
             "{task} (set up the Connect API user for {customer}, {key}) is due on {due} and nobody is assigned "
             "to it: please assign it."),
    template("api_user_warning_unreachable", "task customer key due number assignee",
             "{task} (set up the Connect API user for {customer}, {key}) is due on {due}. It is assigned to "
             "{assignee}, whom ticketbot cannot reach on Slack: please pass this on."),
    template("api_user_overdue", "task customer key due number",
             "Reminder {number}: {task} (set up the Connect API user for {customer}, {key}) was due on {due} and "
             "is not done yet. E-Invoicing cannot be ready until it is."),
    template("api_user_overdue_unassigned", "task customer key due number",
             "Reminder {number}: {task} (set up the Connect API user for {customer}, {key}) was due on {due}, is "
             "not done yet and nobody is assigned to it: please assign it. E-Invoicing cannot be ready until it is "
             "done."),
    template("api_user_overdue_unreachable", "task customer key due number assignee",
             "Reminder {number}: {task} (set up the Connect API user for {customer}, {key}) was due on {due} and is "
             "not done yet. It is assigned to {assignee}, whom ticketbot cannot reach on Slack: please pass this on. "
             "E-Invoicing cannot be ready until it is done."),
    template("api_user_escalation_slack", "task customer key due waited",
             "{task} (the Connect API user for {customer}, {key}) is still not done {waited} after it was "
             "created (due {due}). Please follow up."),
    template("api_user_escalation_note", "task waited told",
             "ticketbot: {task} still not done after {waited}; escalated to {told}."),
    template("api_user_done_note", "task status",
             "ticketbot: the Connect API user is set up ({task} is {status})."),
    template("storecove_check_slack", "customer key waited field value",
             "{customer} ({key}): Storecove validation still pending after {waited}. Check the Validation column "
             "in Storecove and set '{field}' to '{value}' when it turns green."),
    template("storecove_escalation_slack", "customer key waited",
             "Storecove has not validated the legal entity of {customer} ({key}) after {waited}. Please follow up "
             "with Storecove."),
    template("storecove_escalation_note", "waited told",
             "ticketbot: legal entity still not validated after {waited}; escalated to {told}."),
    template("admin_channel", "", "the admin channel"),
    template("the_requester", "", "the requester"),
    template("customer_ready", "article",
             "Your E-Invoicing integration is ready to use: the legal entity is validated and the integration is "
             "configured. Instructions: {article}."),
    template("ready_note", "customer",
             "ticketbot: E-Invoicing for {customer} is ready to use (legal entity validated, configuration "
             "complete); the requester was told in a public reply."),
    template("ready_slack", "customer key requester",
             "E-Invoicing for {customer} ({key}) is ready to use; {requester} was told on the ticket."),
    template("ready_note_pass_on", "customer requester message",
             "ticketbot: E-Invoicing for {customer} is ready to use (legal entity validated, configuration "
             "complete). Connect does not tell the customer, so the account manager was asked to send {requester} "
             "this message: \"{message}\""),
    template("ready_slack_pass_on", "customer key requester message",
             "E-Invoicing for {customer} ({key}) is ready to use. Please tell {requester}: \"{message}\""),
)
Config.texts = TEXTS
