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
  Connect app this is, a task to set up the Connect API user is created.
* ``validating`` (``Storecove validation`` = Pending: the legal entity exists) — Support Ops is
  asked every ``storecove_check.remind_every`` (1 business day, on the Chicago calendar) to check the
  Validation column, and after ``storecove_check.escalate_after`` (Storecove's 48 hours, on the clock)
  the Support Ops lead (or the admin channel) is told, in working hours (quiet hours hold a message
  that falls at night or at the weekend until the next working morning).
* ``ready`` (validated and configuration complete) — the second gap ("no notification to the
  customer that the integration is ready"): see below.

Telling the customer. ticketbot's comments are internal; the one customer-visible write is a public
reply, which the engine lets through only for a block that says ``customer_replies: true`` itself. With
it (as shipped in config/ticketbot.yaml), ``ready`` replies to the requester on the ticket with the
``customer_ready`` template and tells the account manager it was done; without it, the account manager is
asked on Slack to pass the same message on, and an internal comment holds it.

Every name, person and delay comes from ``rules.momentus_einvoicing``; the defaults are the seed's.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.calendar import BusinessCalendar
from bot.effects import Effect
from bot.engine import Verdict
from bot.model import Ticket
from bot.text import untrusted
from rules.runbook.acts import Acts
from rules.runbook.checks import Always, Facts, FieldIs, StatusIn, all_of, email_of, kind_is
from rules.runbook.config import Alarms, Block, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Alarm, Deadline, Runbook, Stage, one_line, per_config
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


class ApiUserTask(Block):
    project: str = "EINV"
    issue_type: str = "Task"
    summary: str = "Set up the Connect API user for {customer}"


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
    #: are Storecove's, on the clock, and the escalation they bring waits for Support Ops' working hours.
    storecove_check: Alarms = Alarms(due="1 business day", remind_every="1 business day",
                                     escalate_after=timedelta(hours=48))
    calendar: BusinessCalendar = BusinessCalendar(time_zone="America/Chicago", country="US")

    def article(self, edition: str) -> Article | None:
        return next((a for name, a in self.articles.items() if name.casefold() == edition.strip().casefold()), None)


class MomentusEInvoicing(RunbookRule[Config]):
    id = "momentus_einvoicing"
    title = "Momentus E-Invoicing onboarding (seed 000)"

    def checks(self, cfg: Config, ticket: Ticket) -> list[Verdict]:
        return [*super().checks(cfg, ticket), kind_is(ticket, cfg.issue_type)]

    def runbook(self, cfg: Config) -> Runbook:
        return runbook(cfg, self.id)

    def declarations(self, config: Config) -> Declarations:
        c, task = config, config.api_user_task
        return Declarations(
            self.id, c, [runbook(c, self.id)],
            guard="acts only when the request enters a later stage (its stage is recorded) or its own timer rings",
            kinds={"issue_type": c.issue_type}, creates={"api_user_task": (task.project, task.issue_type)},
            fields={f"fields.{key}": name for key, name in c.fields.model_dump().items()},
            people={"support_ops_lead": c.support_ops_lead})


# the runbook -----------------------------------------------------------------------------------------
@per_config
def runbook(cfg: Config, rule_id: str) -> Runbook:
    f, v = cfg.fields, cfg.values
    validated = FieldIs(f.storecove_validation, (v.validated,))
    stages = (
        Stage("requested", Always("E-Invoicing request")),
        Stage("approved", StatusIn(tuple(cfg.approved_statuses)), lambda facts, acts: approved(cfg, facts, acts)),
        Stage("form_submitted", FieldIs(f.setup_form, (v.form_submitted,)),
              lambda facts, acts: form_submitted(cfg, facts, acts), title="setup form submitted"),
        Stage("validating", FieldIs(f.storecove_validation, (v.validation_pending,)),
              title="Storecove validation awaited"),
        Stage("validated", validated, title="legal entity validated"),
        Stage("ready", all_of(validated, FieldIs(f.connect_configuration, (v.configuration_complete,))),
              lambda facts, acts: ready(cfg, facts, acts), title="ready to use"),
    )
    check = Deadline("storecove", starts="validating", stops=("validated",), alarms=cfg.storecove_check,
                     ring=lambda facts, acts, alarm: storecove_check(cfg, facts, acts, alarm))
    return Runbook(rule_id, stages, (check,), cfg.calendar)


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


def _tell_account_manager(cfg: Config, facts: Facts, acts: Acts, text: str) -> list[Effect]:
    """Slack to the request's account manager; without one, Support Ops' channel hears it and why."""
    manager = _account_manager(cfg, facts.ticket)
    if manager is not None:
        return [acts.slack("account-manager", text, to=manager)]
    return [acts.slack("account-manager-missing", f"{text}\n(No account manager on {facts.ticket.key}: "
                       f"please set {cfg.fields.account_manager!r} and pass this on.)",
                       channel=cfg.support_ops_channel)]


def approved(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t = facts.ticket
    customer, requester, article = _customer(cfg, t), _requester(cfg, t) or "unknown", _article(cfg, t)
    body = (f"ticketbot: E-Invoicing approved for {untrusted(customer)}. Connect e-mails the requester "
            f"({untrusted(requester)}) that the integration is ready to configure, with the article "
            f"{article}. Next: the customer completes the setup form in Connect.")
    text = (f"E-Invoicing for {customer} ({t.key}) is approved. The requester ({requester}) has been sent "
            f"{article}; they will now complete the setup form in Connect.")
    return [acts.comment("note", body), *_tell_account_manager(cfg, facts, acts, text)]


def form_submitted(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t, f, v = facts.ticket, cfg.fields, cfg.values
    customer = _customer(cfg, t)
    out = [acts.slack("support-ops", f"Setup form submitted for {customer} ({t.key}): configure E-Invoicing "
                      "(Storecove legal entity and API user, Connect configuration, webhooks).",
                      channel=cfg.support_ops_channel)]
    enterprise = str(t.field(f.edition) or "").casefold() == v.enterprise.casefold()
    first_app = str(t.field(f.first_connect_app) or "").casefold() == v.first_app.casefold()
    if enterprise and first_app:
        task = cfg.api_user_task
        out.append(acts.create("api-user-task", project=task.project, issue_type=task.issue_type,
                               summary=task.summary.format(customer=customer),
                               description=(f"{untrusted(customer)}'s first Connect app ({t.key}): set up the "
                                            "Connect API user (see Enterprise Apps and API Users in Momentus "
                                            "Connect).")))
    elif not enterprise:
        out.append(acts.comment("no-api-user", "ticketbot: not Enterprise, so the E-Invoicing feature flag is "
                                "enabled automatically when the app is activated in Connect; no API user needed."))
    return out


def storecove_check(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    t = facts.ticket
    customer = _customer(cfg, t)
    since = (facts.state.entered("validating") if facts.state else None) or facts.now
    hours = int((facts.now - since) / timedelta(hours=1))
    if alarm.kind == "escalate":
        text = (f"Storecove has not validated the legal entity of {customer} ({t.key}) after {hours} h. "
                "Please follow up with Storecove.")
        lead = cfg.support_ops_lead
        return [acts.slack("lead", text, to=lead, alert=lead is None),
                acts.comment("note", f"ticketbot: legal entity still not validated after {hours} h; escalated to "
                             f"{lead.email if lead else 'the admin channel'}.")]
    return [acts.slack("support-ops", f"{customer} ({t.key}): Storecove validation still pending after {hours} h. "
                       f"Check the Validation column in Storecove and set {cfg.fields.storecove_validation!r} to "
                       f"{cfg.values.validated!r} when it turns green.", channel=cfg.support_ops_channel)]


def ready(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    t = facts.ticket
    customer, requester, article = _customer(cfg, t), _requester(cfg, t) or "the requester", _article(cfg, t)
    message = cfg.words("customer_ready", article=article)
    if cfg.customer_replies:  # the site closed the seed's second gap: the customer hears it from the ticket
        body = (f"ticketbot: E-Invoicing for {untrusted(customer)} is ready to use (legal entity validated, "
                f"configuration complete); the requester was told in a public reply.")
        text = f"E-Invoicing for {customer} ({t.key}) is ready to use; {requester} was told on the ticket."
        return [acts.reply("customer", message), acts.comment("note", body),
                *_tell_account_manager(cfg, facts, acts, text)]
    body = (f"ticketbot: E-Invoicing for {untrusted(customer)} is ready to use (legal entity validated, "
            f"configuration complete). Connect does not tell the customer, so the account manager was asked to "
            f"send {untrusted(requester)} this message: \"{message}\"")
    text = f"E-Invoicing for {customer} ({t.key}) is ready to use. Please tell {requester}: \"{message}\""
    return [acts.comment("note", body), *_tell_account_manager(cfg, facts, acts, text)]


# the words -------------------------------------------------------------------------------------------
Config.texts = Catalogue(
    template("customer_ready", "article",
             "Your E-Invoicing integration is ready to use: the legal entity is validated and the integration is "
             "configured. Instructions: {article}."),
)
