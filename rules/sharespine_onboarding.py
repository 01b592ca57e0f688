"""The Sharespine onboarding project (seed 001): four steps as child tasks with checklists.

The runbook, as Sharespine describes it to customers: every new customer gets an onboarding
project. Step 1, *customer preparation*: login details, API data, contacts, the questionnaire
("the sooner and more structured we get all your answers, the sooner we can get started"), the
plugin, product-data requirements, which system is master, order status and invoices, settlement
accounts. Step 2, *product data, orders & logistics*, ending with a test order and invoice. Step 3,
*transaction data & settlement*: it needs the payment provider's transaction data and payment
files and the API keys of every payment provider, plus the bookkeeping account, so "it may take a
few days for us to start". Step 4, *log files & reports*, ends with the handover to Support &
Service.

In the tracker: one parent ticket (``issue_type``) per onboarding project. ticketbot creates the
step tasks one after the other, each carrying the parent's key in ``parent_field`` and its step in
``step_field``, with the step's checklist in its description and as the options of the checkbox
field ``checklist_field``. A step is complete when its task is in ``done_statuses`` *and* every
item is ticked; a task closed with open items gets an internal comment listing them and the
project waits. What ticketbot does:

* project created ⇒ step 1's task; until ``questionnaire_item`` is ticked on it, the project
  manager is reminded (``questionnaire``: first after 3 business days, then every 3, at most 3
  times, escalation to ``onboarding_lead`` after 15);
* step 1 complete ⇒ step 2's task; step 2 complete ⇒ step 3's task, and the project manager is
  asked to get the settlement data from the customer; reminders (``settlement_data``) until the
  ``step3_gate`` items are ticked on step 3's task — then the task is started and the project
  manager told that step 3 can begin;
* step 3 complete ⇒ step 4's task; step 4 complete ⇒ the handover: the project is moved to
  ``handover_status``, Support (``support_channel``) is told, and an internal comment says so.

Customers are never written to (every comment is internal): reminders go to the project manager,
who owns the conversation. Every text is a named template (``TEXTS`` below) in English and in Swedish
(Sharespine is a Swedish company; its process is "Sharespine leveransprocess"): the shipped block says
``language: en``, ``language: sv`` writes the comments, tasks and Slack messages in Swedish (delays as
"3 arbetsdagar"), and ``templates:`` rewords any of them. The step titles and checklist items are the
block's own (``steps``), in whatever language it writes them. Names, people and delays come from
``rules.sharespine_onboarding``.
"""

from __future__ import annotations

import hashlib

from pydantic import Field, field_validator, model_validator

from bot.calendar import BusinessCalendar
from bot.effects import Effect, InternalComment
from bot.engine import Evaluation, RuleContext, Verdict
from bot.model import Event, Ticket
from bot.text import untrusted
from bot.trackers.base import TrackerError
from rules.runbook.acts import Acts
from rules.runbook.checks import (
    Always,
    Checklist,
    Child,
    Facts,
    StatusIn,
    all_of,
    email_of,
    normalize_text,
    ticket_kind,
)
from rules.runbook.config import Alarms, Block, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Alarm, Children, Deadline, Runbook, Stage, one_line, per_config
from rules.runbook.rule import RunbookRule
from rules.runbook.words import Catalogue, template


class Step(Block):
    title: str
    option: str  # the step's value in ``step_field``
    checklist: list[str]

    @field_validator("checklist")
    @classmethod
    def _no_commas(cls, items: list[str]) -> list[str]:
        for item in items:
            if "," in item:  # a changelog lists ticked checkboxes separated by commas
                raise ValueError(f"checklist item {item!r} must not contain a comma")
        return items


class Steps(Block):
    step1: Step = Step(title="Customer preparation", option="Step 1", checklist=[
        "Login details to the integration platform", "API data to connect the systems",
        "Contact details of those involved", "Questionnaire answered", "Plugin installed (open-source platforms)",
        "Product data requirements met", "Master systems decided (products; prices; stock)",
        "Order status and customer invoices decided", "Settlement accounts", "System requirements checked"])
    step2: Step = Step(title="Product data, orders & logistics", option="Step 2", checklist=[
        "Product data downloaded", "Order retrieval configured", "Logistics and tracking configured",
        "Test order and invoice approved"])
    step3: Step = Step(title="Transaction data & settlement", option="Step 3", checklist=[
        "Transaction data received", "Payment files received", "API keys of all payment providers",
        "Bookkeeping account", "Settlement tested with the customer (VAT and bookkeeping)"])
    step4: Step = Step(title="Log files & reports", option="Step 4", checklist=[
        "Where to find further information", "Log files and error notifications", "Adding more users",
        "Handover to Support & Service"])

    def by_role(self) -> dict[str, Step]:
        return {"step1": self.step1, "step2": self.step2, "step3": self.step3, "step4": self.step4}


class Config(RunbookConfig):
    project: str = "SP"
    issue_type: str = "Onboarding project"
    task_issue_type: str = "Task"
    parent_field: str = "Onboarding project"  # on a step task: its project's key
    step_field: str = "Onboarding step"
    checklist_field: str = "Checklist"
    customer_field: str = "Customer"
    project_manager_field: str = "Project manager"  # a person field (or an e-mail) on the project
    done_statuses: list[str] = Field(default_factory=lambda: ["Done"])
    started_status: str = "In Progress"  # step 3's task, once the settlement data is in
    handover_status: str = "Done"
    handover_resolution: str = "Done"
    link_type: str = "Relates"
    steps: Steps = Steps()
    step3_gate: list[str] = Field(default_factory=lambda: [
        "Transaction data received", "Payment files received", "API keys of all payment providers",
        "Bookkeeping account"])
    questionnaire_item: str = "Questionnaire answered"
    questionnaire: Alarms = Alarms(due="3 business days", remind_every="3 business days", max_reminders=3,
                                   escalate_after="15 business days")
    settlement_data: Alarms = Alarms(due="3 business days", remind_every="3 business days", max_reminders=3,
                                     escalate_after="15 business days")
    onboarding_lead: Person | None = None  # escalations; the admin channel when empty
    support_channel: str = "#support"
    calendar: BusinessCalendar = BusinessCalendar(time_zone="Europe/Stockholm", country="SE", start="08:00",
                                                  end="17:00")

    @model_validator(mode="after")
    def _items_exist(self) -> Config:
        for item in self.step3_gate:
            if item not in self.steps.step3.checklist:
                raise ValueError(f"step3_gate item {item!r} is not in steps.step3.checklist")
        if self.questionnaire_item not in self.steps.step1.checklist:
            raise ValueError(f"questionnaire_item {self.questionnaire_item!r} is not in steps.step1.checklist")
        return self


class SharespineOnboarding(RunbookRule[Config]):
    id = "sharespine_onboarding"
    title = "Sharespine onboarding project (seed 001)"
    #: The step tasks are created by the bot; it adopts each one from its own ``issue_created`` event.
    #: The stage record and effect keys keep it from acting twice on its own writes.
    handles_own_events = True

    def proceed(self, cfg: Config, event: Event, ticket: Ticket, ctx: RuleContext,
                checks: list[Verdict]) -> Evaluation:
        children = Children(cfg.parent_field, cfg.link_type)
        if normalize_text(ticket_kind(ticket)) == normalize_text(cfg.issue_type):
            parent, known = ticket, {}
        else:
            role = _role(cfg, ticket)
            is_task = Verdict(
                "a step task of an onboarding project",
                bool(role and children.parent_key(ticket)),
                {cfg.parent_field: children.parent_key(ticket), cfg.step_field: ticket.field(cfg.step_field)},
                "a project key and a step",
            )
            if role is None or not is_task.passed:
                return Evaluation.skip([*checks, is_task])
            try:
                parent = ctx.reader.get_ticket(children.parent_key(ticket))
            except TrackerError as exc:
                return Evaluation.skip([*checks, is_task, Verdict("project readable", False, str(exc), "readable")])
            checks.append(is_task)
            known = {role: ticket}
        state = ctx.state.get(parent.key)
        extra: list[Effect] = []
        for role, child in known.items():
            extra += children.adopt(self.id, parent.key, role, child, state)
            extra += _open_items(cfg, self.id, role, child)
        facts = Facts(ticket=parent, event=event, now=ctx.clock.now(), state=state,
                      children=children.load(ctx.reader, state, known=known))
        return runbook(cfg, self.id).evaluate(facts, checks, extra)

    def declarations(self, config: Config) -> Declarations:
        c = config
        return Declarations(
            self.id,
            c,
            [runbook(c, self.id)],
            guard=(
                "acts only when the project enters a later stage (its stage is recorded), on a task it has not "
                "adopted yet, on a task closed with open items not yet commented on, or on its own timer"
            ),
            kinds={"issue_type": c.issue_type},
            creates={"task_issue_type": (c.project, c.task_issue_type)},
            fields={
                k: getattr(c, k) for k in ("parent_field", "step_field", "customer_field", "project_manager_field")
            },
            options={f"steps.{role}.option": (c.step_field, s.option) for role, s in c.steps.by_role().items()},
            moves={"started_status": c.started_status, "handover_status": c.handover_status},
            link_types={"link_type": c.link_type},
            people={"onboarding_lead": c.onboarding_lead},
        )


# the runbook -----------------------------------------------------------------------------------------
@per_config
def runbook(cfg: Config, rule_id: str) -> Runbook:
    steps = cfg.steps.by_role()

    def complete(role: str) -> Child:
        return Child(role, all_of(StatusIn(tuple(cfg.done_statuses)), Checklist(cfg.checklist_field,
                                                                              tuple(steps[role].checklist))))

    def create(role: str):
        return lambda facts, acts: [_create_task(cfg, facts, acts, role)]

    stages = (
        Stage("step1", Always("onboarding project"), create("step1"), title=f"step 1: {cfg.steps.step1.title}"),
        Stage("step2", complete("step1"), create("step2"), title=f"step 2: {cfg.steps.step2.title}"),
        Stage("step3_waiting", complete("step2"), lambda facts, acts: settlement_data_asked(cfg, facts, acts),
              title="step 3: waiting for the settlement data"),
        Stage("step3", Child("step3", Checklist(cfg.checklist_field, tuple(cfg.step3_gate))),
              lambda facts, acts: settlement_data_in(cfg, facts, acts), title=f"step 3: {cfg.steps.step3.title}"),
        Stage("step4", complete("step3"), create("step4"), title=f"step 4: {cfg.steps.step4.title}"),
        Stage("handover", complete("step4"), lambda facts, acts: handover(cfg, facts, acts),
              title="handed over to Support & Service"),
    )
    deadlines = (
        Deadline("questionnaire", starts="step1", stops=("step2",), alarms=cfg.questionnaire,
                 until=Child("step1", Checklist(cfg.checklist_field, (cfg.questionnaire_item,))),
                 ring=lambda facts, acts, alarm: chase(cfg, facts, acts, alarm, cfg.words("questionnaire"),
                                                       cfg.questionnaire),
                 on_met=lambda facts, acts: [acts.comment("note", cfg.words("questionnaire_answered_note"))]),
        Deadline("settlement_data", starts="step3_waiting", stops=("step3",), alarms=cfg.settlement_data,
                 ring=lambda facts, acts, alarm: chase(cfg, facts, acts, alarm,
                                                       cfg.words("settlement_data", items=", ".join(cfg.step3_gate)),
                                                       cfg.settlement_data)),
    )
    return Runbook(rule_id, stages, deadlines, cfg.calendar, customer=lambda ticket: _customer(cfg, ticket))


def _role(cfg: Config, ticket: Ticket) -> str | None:
    value = " ".join(str(ticket.field(cfg.step_field) or "").split()).casefold()
    return next((role for role, s in cfg.steps.by_role().items() if s.option.casefold() == value), None)


def _customer(cfg: Config, ticket: Ticket) -> str:
    return one_line(ticket.field(cfg.customer_field) or ticket.summary)


def _manager(cfg: Config, ticket: Ticket) -> Person | None:
    email = email_of(ticket.field(cfg.project_manager_field))
    return Person(email=email) if email else cfg.onboarding_lead


def _create_task(cfg: Config, facts: Facts, acts: Acts, role: str) -> Effect:
    step, parent, say = cfg.steps.by_role()[role], facts.ticket, cfg.words
    items = "\n".join(f"* {item}" for item in step.checklist)
    return acts.create("task", project=cfg.project, issue_type=cfg.task_issue_type,
                       summary=say("task_summary", customer=_customer(cfg, parent), step=step.option,
                                   title=step.title),
                       description=say("task_description", step=step.option, key=parent.key, title=step.title,
                                       field=cfg.checklist_field, items=items, done=cfg.done_statuses[0]),
                       fields={cfg.parent_field: parent.key, cfg.step_field: step.option})


def _open_items(cfg: Config, rule_id: str, role: str, task: Ticket) -> list[Effect]:
    """A step task closed with unticked items: say which, once per set of open items."""
    if normalize_text(task.status) not in [normalize_text(s) for s in cfg.done_statuses]:
        return []
    missing = Checklist(cfg.checklist_field, tuple(cfg.steps.by_role()[role].checklist)).missing(task)
    if not missing:
        return []
    digest = hashlib.sha256("\n".join(missing).encode()).hexdigest()[:10]
    items = "\n".join(f"* {item}" for item in missing)
    return [InternalComment(rule_id=rule_id, ticket_key=task.key, step=f"open-items:{digest}",
                            body=cfg.words("open_items_note", items=items))]


def settlement_data_asked(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    parent, manager, say = facts.ticket, _manager(cfg, facts.ticket), cfg.words
    data = ", ".join(cfg.step3_gate)
    return [_create_task(cfg, facts, acts, "step3"),
            acts.comment("note", say("settlement_data_asked_note", data=data)),
            acts.slack("manager", say("settlement_data_asked_slack", customer=_customer(cfg, parent), key=parent.key,
                                      data=data), to=manager)]


def settlement_data_in(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    parent, manager, task, say = facts.ticket, _manager(cfg, facts.ticket), facts.children.get("step3"), cfg.words
    out = [acts.comment("note", say("settlement_data_in_note")),
           acts.slack("manager", say("settlement_data_in_slack", customer=_customer(cfg, parent), key=parent.key,
                                     title=cfg.steps.step3.title), to=manager)]
    if task is not None and task.status.casefold() != cfg.started_status.casefold() and \
            task.status not in cfg.done_statuses:
        out.append(acts.on(task.key).transition("start", cfg.started_status))
    return out


def chase(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm, what: str, alarms: Alarms) -> list[Effect]:
    """A reminder to the project manager that the customer owes ``what`` (a text of the block's language,
    naming config items only); the escalation to the lead."""
    parent, manager, say = facts.ticket, _manager(cfg, facts.ticket), cfg.words
    customer = _customer(cfg, parent)
    if alarm.kind == "escalate":
        lead = cfg.onboarding_lead
        waited = alarms.escalate_after or alarms.due
        return [acts.slack("lead", say("escalation_slack", customer=customer, key=parent.key, what=what,
                                       waited=waited), to=lead, alert=lead is None),
                acts.comment("note", say("escalation_note", what=untrusted(what),
                                         told=lead.email if lead else say("admin_channel")))]
    number = 1 if alarm.kind == "due" else alarm.n + 1
    return [acts.slack("manager", say("reminder_slack", customer=customer, key=parent.key, number=number, what=what),
                       to=manager),
            acts.comment("note", say("reminder_note", number=number, what=untrusted(what),
                                     told=manager.email if manager else say("admin_channel")))]


def handover(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    parent, say = facts.ticket, cfg.words
    started = facts.started() or parent.created or facts.now
    days = (facts.now - started).days
    return [acts.comment("note", say("handover_note", days=days)),
            acts.slack("support", say("handover_slack", customer=_customer(cfg, parent), key=parent.key, days=days),
                       channel=cfg.support_channel),
            acts.transition("close", cfg.handover_status, cfg.handover_resolution)]


# the words -------------------------------------------------------------------------------------------
#: English, and Swedish (``language: sv``): Sharespine is a Swedish company ("Sharespine leveransprocess").
#: The steps' titles and checklist items are the block's own (``steps``), in the language it writes them in.
TEXTS = Catalogue(
    template("task_summary", "customer step title", "{customer}: {step} – {title}",
             sv="{customer}: {step} – {title}"),
    template("task_description", "step key title field items done",
             "{step} of onboarding project {key}: {title}.\n\nChecklist (tick each item in '{field}'):\n{items}\n\n"
             "The step is complete when this task is '{done}' and every item is ticked.",
             sv="{step} i onboardingprojektet {key}: {title}.\n\nChecklista (bocka av varje punkt i '{field}'):\n"
                "{items}\n\nSteget är klart när den här uppgiften är '{done}' och alla punkter är avbockade."),
    template("open_items_note", "items",
             "ticketbot: this step is marked done but these checklist items are open:\n{items}\n"
             "The onboarding moves on when they are ticked.",
             sv="ticketbot: steget är markerat som klart men de här punkterna i checklistan är inte avbockade:\n"
                "{items}\nOnboardingen går vidare när de är avbockade."),
    template("questionnaire", "", "the questionnaire", sv="frågeformuläret"),
    template("settlement_data", "items", "the settlement data ({items})", sv="underlaget för avstämningen ({items})"),
    template("questionnaire_answered_note", "", "ticketbot: questionnaire answered; reminders stopped.",
             sv="ticketbot: frågeformuläret är besvarat; påminnelserna har stoppats."),
    template("settlement_data_asked_note", "data",
             "ticketbot: step 2 is complete. Step 3 starts when the customer has provided: {data}. Tick them on the "
             "step 3 task as they arrive.",
             sv="ticketbot: steg 2 är klart. Steg 3 börjar när kunden har lämnat: {data}. Bocka av dem på "
                "uppgiften för steg 3 när de kommer in."),
    template("settlement_data_asked_slack", "customer key data",
             "{customer} ({key}): step 2 is complete. Please ask the customer for {data} so step 3 (settlement) can "
             "start.",
             sv="{customer} ({key}): steg 2 är klart. Be kunden om {data} så att steg 3 (avstämning) kan börja."),
    template("settlement_data_in_note", "", "ticketbot: the settlement data is in; step 3 can start.",
             sv="ticketbot: underlaget för avstämningen har kommit in; steg 3 kan börja."),
    template("settlement_data_in_slack", "customer key title",
             "{customer} ({key}): the settlement data is in; step 3 ({title}) can start.",
             sv="{customer} ({key}): underlaget för avstämningen har kommit in; steg 3 ({title}) kan börja."),
    template("reminder_slack", "customer key number what",
             "{customer} ({key}): reminder {number}: the customer has not sent {what} yet. Please ask them: the "
             "sooner we have it, the sooner we can start.",
             sv="{customer} ({key}): påminnelse {number}: kunden har inte skickat {what} än. Påminn kunden: ju "
                "snabbare vi får det, desto snabbare kan vi börja."),
    template("reminder_note", "number told what",
             "ticketbot: reminder {number} sent to {told}: waiting for {what}.",
             sv="ticketbot: påminnelse {number} skickad till {told}: väntar på {what}."),
    template("escalation_slack", "customer key what waited",
             "{customer} ({key}): still waiting for {what} after {waited}.",
             sv="{customer} ({key}): väntar fortfarande på {what} efter {waited}."),
    template("escalation_note", "what told",
             "ticketbot: still waiting for {what}; escalated to {told}.",
             sv="ticketbot: väntar fortfarande på {what}; eskalerat till {told}."),
    template("admin_channel", "", "the admin channel", sv="adminkanalen"),
    template("handover_note", "days",
             "ticketbot: all four steps are complete after {days} days; the customer is handed over to Support & "
             "Service.",
             sv="ticketbot: alla fyra stegen är klara efter {days} dagar; kunden lämnas över till Support & Service."),
    template("handover_slack", "customer key days",
             "Handover: {customer} ({key}) finished onboarding after {days} days and is now supported by Support & "
             "Service.",
             sv="Överlämning: {customer} ({key}) har slutfört onboardingen efter {days} dagar och får nu stöd av "
                "Support & Service."),
)
Config.texts = TEXTS
