"""Procountor consumer e-invoicing (seed 003): the activation's eight steps, and unallocated orders.

The runbook (Procountor's, in Swedish): before consumer e-invoicing starts, Procountor's customer
register must exist for consumer customers. 1. an agreement with the bank to send e-invoices (the
e-invoice addresses saved in Procountor); 2. the biller notice sent from Procountor to the bank;
3. consumers can then order e-invoices in their online bank; 4. each e-invoice order reaches
Procountor, where the company must allocate the recipient information to a customer in the
register; 5. the order's invoicing channel is updated in the CRM/ERP register; 6. invoice data
is created there and transferred to Procountor; 7. the e-invoice is sent through the bank;
8. the consumer pays and the payment is matched to the invoice.

Two kinds of ticket in ``project`` (a Jira project, or a Zendesk group with ``tracker: zendesk``; the
kind is Jira's issue type, or on Zendesk the ticket form, see :func:`rules.runbook.ticket_kind`):

* an *activation* (``activation_issue_type``): the eight steps are the options of the checkbox
  field ``steps_field`` (labels from the seed, ``steps``). The stage is the last step ticked with
  all before it; entering it posts an internal comment saying what the next step is. A step left
  waiting for ``stall.due`` (10 business days on the Finnish calendar) reminds the activation's
  owner. All eight ticked ⇒ the activation is closed (``done_status``) and the owner told.
* an *e-invoice order* (``order_issue_type``, one per order that reached Procountor, step 4): while
  ``customer_field`` is empty it is not allocated ⇒ an allocation task (``task_issue_type``, carrying
  the order's key in ``order_field``, linked to the order) and reminders (``allocation``: after 1
  business day, then every business day, escalation to ``finance_lead`` after 5).

  The reminders go to whoever the task is **assigned to** (read fresh from the tracker at each ring,
  so a reassignment counts from the next one); while it is unassigned, its assignee has no e-mail the
  tracker shows, or the task cannot be read, they go to ``bookkeeper`` and say why. The order's note
  mentions whoever was reminded. Messages wait for working hours: the assignee's own (their Slack time
  zone), else the Helsinki calendar's (08:00-16:00, Finnish public holidays).

  Allocated ⇒ the reminders stop, the task is closed (``done_status``) and the order's comment names
  step 5. The task closed (``done_status``; on Zendesk also ``closed``) while the order is still not
  allocated ⇒ the reminders stop too, and the order, the task and (on Slack) the task's assignee are
  told what is missing: ``customer_field`` is empty and the consumer gets no e-invoice until it is filled.

An order that arrives already allocated gets no task. On Zendesk the task is created as a ticket of
type ``task`` in the group, ``done_status`` is a Zendesk status (``solved``; there is no resolution),
the link between order and task is recorded as a tag and an internal note on both.

Every text is a named template (``TEXTS`` below) in English, in the seed's Swedish (the shipped block
says ``language: sv``) and in Finnish (``fi``); every name, person and delay comes from
``rules.procountor_einvoicing``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from bot.calendar import BusinessCalendar
from bot.effects import Effect
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
    FieldFilled,
    StatusIn,
    email_of,
    kind_is,
    normalize_text,
    ticket_kind,
)
from rules.runbook.config import Alarms, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import CHILD, Alarm, Children, Deadline, Runbook, Stage, one_line, per_config
from rules.runbook.rule import RunbookRule
from rules.runbook.words import Catalogue, template

TASK = "task"  # the allocation task's role among the order's children


class Config(RunbookConfig):
    project: str = "PC"
    language: str = "sv"  # the seed's (Procountor's Swedish runbook); "fi" Finnish, "en" English
    activation_issue_type: str = "Activation"
    order_issue_type: str = "E-invoice order"
    task_issue_type: str = "Task"
    steps_field: str = "Activation steps"
    #: The eight steps as checkbox options (the seed's steps, in its language).
    steps: list[str] = Field(min_length=8, max_length=8, default_factory=lambda: [
        "1. Avtal med banken", "2. Fakturerarmeddelande skickat", "3. E-fakturabeställning möjlig",
        "4. Mottagarinfo allokerad", "5. CRM/ERP uppdaterat", "6. Fakturainformation överförd",
        "7. Konsumentnätfaktura skickad", "8. Betalning riktad"])
    customer_field: str = "Customer number"  # on an order: the customer it is allocated to
    order_field: str = "E-invoice order"  # on an allocation task: the order's key
    owner_field: str = "Activation owner"  # a person field (or an e-mail) on the activation
    done_status: str = "Done"
    done_resolution: str = "Done"
    link_type: str = "Relates"
    bookkeeper: Person | None = None  # reminded while the task is unassigned; the admin channel when empty
    finance_lead: Person | None = None  # escalations; the admin channel when empty
    stall: Alarms = Alarms(due="10 business days", remind_every="5 business days", max_reminders=2)
    allocation: Alarms = Alarms(due="1 business day", remind_every="1 business day",
                                escalate_after="5 business days")
    calendar: BusinessCalendar = BusinessCalendar(time_zone="Europe/Helsinki", country="FI", start="08:00",
                                                  end="16:00")


class ProcountorEInvoicing(RunbookRule[Config]):
    id = "procountor_einvoicing"
    title = "Procountor consumer e-invoicing (seed 003)"
    #: The allocation task is created by the bot; it adopts it from its own ``issue_created`` event.
    handles_own_events = True

    def proceed(self, cfg: Config, event: Event, ticket: Ticket, ctx: RuleContext,
                checks: list[Verdict]) -> Evaluation:
        kind = normalize_text(ticket_kind(ticket))
        children = Children(cfg.order_field, cfg.link_type)
        if kind == normalize_text(cfg.activation_issue_type):
            facts = Facts(ticket=ticket, event=event, now=ctx.clock.now(), state=ctx.state.get(ticket.key))
            return activation(cfg, self.id).evaluate(facts, checks)
        known: dict[str, Ticket] = {}
        order = ticket
        if kind == normalize_text(cfg.task_issue_type) and children.parent_key(ticket):
            try:
                order = ctx.reader.get_ticket(children.parent_key(ticket))
            except TrackerError as exc:
                return Evaluation.skip([*checks, Verdict("order readable", False, str(exc), "readable")])
            known = {TASK: ticket}
        is_order = kind_is(order, cfg.order_issue_type)
        if not is_order.passed:
            return Evaluation.skip([*checks, is_order])
        state = ctx.state.get(order.key)
        extra = [e for role, child in known.items() for e in children.adopt(self.id, order.key, role, child, state)]
        facts = Facts(ticket=order, event=event, now=ctx.clock.now(), state=state,
                      children=children.load(ctx.reader, state, known=known))
        return allocation(cfg, self.id).evaluate(facts, [*checks, is_order], extra)

    def declarations(self, config: Config) -> Declarations:
        c = config
        return Declarations(
            self.id, c, [activation(c, self.id), allocation(c, self.id)],
            guard=("acts only when an activation or order enters a later stage (its stage is recorded), on a task "
                   "it has not adopted yet, when the task is first seen closed (recorded), or on its own timer"),
            kinds={k: getattr(c, k) for k in ("activation_issue_type", "order_issue_type")},
            creates={"task_issue_type": (c.project, c.task_issue_type)},
            fields={k: getattr(c, k) for k in ("order_field", "owner_field")},
            moves={"done_status": c.done_status}, link_types={"link_type": c.link_type},
            people={"bookkeeper": c.bookkeeper, "finance_lead": c.finance_lead})


# the activation: steps 1-8 ---------------------------------------------------------------------------
@per_config
def activation(cfg: Config, rule_id: str) -> Runbook:
    names = ["started", *(f"step{n}" for n in range(1, 9))]

    def done(n: int) -> Callable[[Facts, Acts], list[Effect]]:
        return lambda facts, acts: step_done(cfg, facts, acts, n)

    def stall(n: int) -> Callable[[Facts, Acts, Alarm], list[Effect]]:
        return lambda facts, acts, alarm: stalled(cfg, facts, acts, n)

    stages = [Stage("started", Always("activation"), done(0))]
    stages += [Stage(f"step{n}", Checklist(cfg.steps_field, tuple(cfg.steps[:n])), done(n), title=cfg.steps[n - 1])
               for n in range(1, 9)]
    stalls = tuple(Deadline(f"stall{n}", starts=names[n], stops=(names[n + 1],), alarms=cfg.stall, ring=stall(n))
                   for n in range(8))
    return Runbook(rule_id, tuple(stages), stalls, cfg.calendar, customer=lambda ticket: ticket.summary)


def _owner(cfg: Config, ticket: Ticket) -> Person | None:
    email = email_of(ticket.field(cfg.owner_field))
    return Person(email=email) if email else cfg.bookkeeper


def _guidance(cfg: Config, step: int) -> str:
    """What step ``step`` (1-8) asks for, in the block's words."""
    return cfg.words(f"guidance_{step}")


def step_done(cfg: Config, facts: Facts, acts: Acts, done: int) -> list[Effect]:
    """Steps 1..``done`` are ticked (0: the activation was just opened)."""
    t, say = facts.ticket, cfg.words
    if done == 0:
        return [acts.comment("note", say("activation_started_note", guidance=_guidance(cfg, 1),
                                         field=cfg.steps_field))]
    if done < 8:
        return [acts.comment("note", say("step_done_note", step=done, label=cfg.steps[done - 1], next=done + 1,
                                         guidance=_guidance(cfg, done + 1), field=cfg.steps_field))]
    return [acts.comment("note", say("all_done_note")),
            acts.slack("owner", say("all_done_slack", summary=one_line(t.summary), key=t.key), to=_owner(cfg, t)),
            acts.transition("close", cfg.done_status, cfg.done_resolution)]


def stalled(cfg: Config, facts: Facts, acts: Acts, done: int) -> list[Effect]:
    t = facts.ticket
    text = cfg.words("stalled_slack", summary=one_line(t.summary), key=t.key, after=cfg.stall.due, step=done + 1,
                     label=cfg.steps[done], guidance=_guidance(cfg, done + 1))
    return [acts.slack("owner", text, to=_owner(cfg, t))]


# e-invoice orders: allocate each to a customer ----------------------------------------------------------
def _task_closed_statuses(cfg: Config) -> tuple[str, ...]:
    """The statuses that mean someone finished the allocation task: ``done_status``; on Zendesk also
    ``closed`` (a solved ticket closes by itself some days later)."""
    closed = ("closed",) if cfg.tracker == "zendesk" and normalize_text(cfg.done_status) != "closed" else ()
    return (cfg.done_status, *closed)


@per_config
def allocation(cfg: Config, rule_id: str) -> Runbook:
    stages = (
        # catch_up=False: an order that arrives already allocated needs no allocation task.
        Stage("received", Always("e-invoice order"), lambda facts, acts: received(cfg, facts, acts), catch_up=False),
        Stage("allocated", FieldFilled(cfg.customer_field), lambda facts, acts: allocated(cfg, facts, acts)),
    )
    chase = Deadline("allocation", starts="received", stops=("allocated",), alarms=cfg.allocation,
                     ring=lambda facts, acts, alarm: unallocated(cfg, facts, acts, alarm),
                     # the task closed while the order is still not allocated: stop, and say what is missing
                     until=Child(TASK, StatusIn(_task_closed_statuses(cfg))),
                     on_met=lambda facts, acts: task_closed(cfg, facts, acts))
    return Runbook(rule_id, stages, (chase,), cfg.calendar, customer=lambda ticket: ticket.summary)


def received(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    order, say = facts.ticket, cfg.words
    return [acts.create(TASK, project=cfg.project, issue_type=cfg.task_issue_type,
                        summary=say("task_summary", order=order.key),
                        description=say("task_description", order=order.key, summary=untrusted(order.summary),
                                        field=cfg.customer_field),
                        fields={cfg.order_field: order.key}),
            acts.comment("note", say("received_note", field=cfg.customer_field))]


def _holder(cfg: Config, facts: Facts) -> tuple[Person | None, str]:
    """Who is reminded about an unallocated order: the allocation task's assignee, read fresh (reason "");
    else the bookkeeper (None: the admin channel), with the reason in the block's words."""
    say, task = cfg.words, facts.children.get(TASK)
    if task is None:
        recorded = facts.state.get(CHILD + TASK) if facts.state is not None else None
        return cfg.bookkeeper, (say("reason_unreadable", task=recorded) if recorded else say("reason_unknown"))
    if task.assignee is None:
        return cfg.bookkeeper, say("reason_unassigned", task=task.key)
    if not task.assignee.email:  # a tracker that hides people's e-mail addresses: no Slack user to find
        return cfg.bookkeeper, say("reason_hidden", task=task.key)
    return Person(email=task.assignee.email), ""


def _fallback(cfg: Config) -> str:
    """Who a reminder goes to when the task's assignee cannot have it."""
    return cfg.words("the_bookkeeper" if cfg.bookkeeper else "admin_channel")


def unallocated(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    order, say, task = facts.ticket, cfg.words, facts.children.get(TASK)
    holder, reason = _holder(cfg, facts)
    values = {"order": order.key, "summary": one_line(order.summary), "field": cfg.customer_field}
    if alarm.kind == "escalate":
        lead, after = cfg.finance_lead, cfg.allocation.escalate_after
        who = (say("holder_assignee", task=task.key, person=one_line(holder.email)) if task and holder and not reason
               else say("holder_reason", reason=reason))
        return [acts.slack("lead", say("escalation_slack", after=after, holder=who, **values), to=lead,
                           alert=lead is None),
                acts.comment("note", say("escalation_note", after=after,
                                         told=lead.email if lead else say("admin_channel")))]
    number = 1 if alarm.kind == "due" else alarm.n + 1
    if reason:
        text = say("reminder_slack_fallback", number=number, reason=reason, **values)
        note = say("reminder_note_fallback", number=number, reason=reason, who=_fallback(cfg))
    else:
        assert task is not None  # an assignee was found on it
        text = say("reminder_slack", number=number, task=task.key, **values)
        note = say("reminder_note", number=number, task=task.key)
    return [acts.slack("reminder", text, to=holder),
            acts.comment("note", note, mentions=[holder.email] if holder else [])]


def allocated(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    order, task, say = facts.ticket, facts.children.get(TASK), cfg.words
    note = say("allocated_note", customer=untrusted(str(order.field(cfg.customer_field) or "")))
    if facts.state is None or facts.state.stage != "received":
        return [acts.comment("note", note)]  # arrived allocated: there is no task
    if task is None:
        return [acts.comment("note", f"{note} {say('close_task_by_hand')}")]
    out = [acts.comment("note", note)]
    if normalize_text(task.status) not in {normalize_text(s) for s in _task_closed_statuses(cfg)}:
        out.append(acts.on(task.key).transition("close-task", cfg.done_status, cfg.done_resolution))
    return out


def task_closed(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    """The allocation task was closed while its order is still not allocated: the reminders stop (the
    deadline is met), and the order, the task and the task's assignee (else the bookkeeper) are told what
    is missing. The Slack message, if it waits for working hours, is dropped should the order be
    allocated meanwhile (it is only true at stage ``received``)."""
    order, task, say = facts.ticket, facts.children[TASK], cfg.words
    holder, _ = _holder(cfg, facts)
    while_unallocated = Acts(acts.rule_id, acts.ticket_key, acts.prefix, hours=acts.hours, stages=("received",))
    return [acts.comment("note", say("task_closed_note", task=task.key, field=cfg.customer_field),
                         mentions=[holder.email] if holder else []),
            acts.on(task.key).comment("task-note", say("task_closed_task_note", order=order.key,
                                                       field=cfg.customer_field)),
            while_unallocated.slack("task-closed", say("task_closed_slack", task=task.key, order=order.key,
                                                       summary=one_line(order.summary), field=cfg.customer_field),
                                    to=holder)]


# the words -------------------------------------------------------------------------------------------
#: English, the seed's Swedish (its own terms: Fakturerarmeddelande, konsumentnätfaktura, e-fakturabeställning,
#: mottagarinfo, kundregister, fakturakanal) and Finnish (e-laskutus, kuluttajan e-lasku, laskuttajailmoitus,
#: e-laskutilaus, vastaanottajatiedot, asiakasrekisteri, laskutuskanava). Values from tickets are escaped by
#: the code above: ``untrusted`` in comments and descriptions, ``one_line`` for Slack (the notifier escapes).
TEXTS = Catalogue(
    # what each step asks for (the seed's instructions, shortened), step 1-8
    template("guidance_1", "",
             "make an agreement with the bank to send e-invoices and consumer e-invoices, and save the e-invoice "
             "addresses in Procountor (Administration > Company details > E-invoice and scanning addresses)",
             sv="avtala med banken om att skicka nätfakturor och konsumentnätfakturor (e-faktura) och spara "
                "nätfakturaadresserna i Procountor (Administration > Uppgifter om företaget > Adresser för "
                "nätfaktura och skanningstjänst)",
             fi="tee pankin kanssa sopimus verkkolaskujen ja kuluttajan e-laskujen lähettämisestä ja tallenna "
                "verkkolaskuosoitteet Procountoriin (Hallinta > Yrityksen tiedot > Verkkolasku- ja "
                "skannauspalveluosoitteet)"),
    template("guidance_2", "",
             "send the biller notice (Fakturerarmeddelande) from Procountor: your bank tells the other banks that "
             "you send consumer e-invoices",
             sv="skicka ett Fakturerarmeddelande från Procountor: din bank meddelar de andra bankerna att ni "
                "skickar konsumentnätfakturor",
             fi="lähetä laskuttajailmoitus Procountorista: pankkisi välittää muille pankeille tiedon, että "
                "lähetätte kuluttajan e-laskuja"),
    template("guidance_3", "",
             "consumers can now order e-invoices from you in their online bank; wait for the first e-invoice order",
             sv="konsumenterna kan nu beställa e-faktura från er i sin nätbank; vänta på den första "
                "e-fakturabeställningen",
             fi="kuluttajat voivat nyt tilata teiltä e-laskun verkkopankissaan; odota ensimmäistä e-laskutilausta"),
    template("guidance_4", "",
             "allocate each e-invoice order that reaches Procountor to a customer in the customer register",
             sv="allokera mottagarinfon i varje e-fakturabeställning som når Procountor till kunden i kundregistret",
             fi="kohdista jokaisen Procountoriin saapuvan e-laskutilauksen vastaanottajatiedot asiakasrekisterin "
                "asiakkaalle"),
    template("guidance_5", "",
             "update the order's invoicing channel and its details in the CRM/ERP customer register",
             sv="uppdatera e-fakturabeställningens fakturakanal och dess uppgifter i CRM/ERP-programmets kundregister",
             fi="päivitä e-laskutilauksen laskutuskanava ja sen tiedot CRM/ERP-järjestelmän asiakasrekisteriin"),
    template("guidance_6", "",
             "create the invoice data in the CRM/ERP with the right invoicing channel and transfer it to Procountor",
             sv="skapa fakturainformationen i CRM/ERP-programmet med rätt fakturakanal och överför den till Procountor",
             fi="luo laskutiedot CRM/ERP-järjestelmässä oikealla laskutuskanavalla ja siirrä ne Procountoriin"),
    template("guidance_7", "",
             "send the consumer e-invoice from Procountor through the bank",
             sv="skicka konsumentnätfakturan från Procountor via banken",
             fi="lähetä kuluttajan e-lasku Procountorista pankin kautta"),
    template("guidance_8", "",
             "the consumer pays in the online bank; check that the payment is matched to the invoice and its status "
             "is Paid",
             sv="konsumenten betalar i nätbanken; kontrollera att betalningen riktas mot fakturan och att dess status "
                "är Betald",
             fi="kuluttaja maksaa verkkopankissa; tarkista, että maksu kohdistuu laskulle ja laskun tila on Maksettu"),
    # the activation
    template("activation_started_note", "guidance field",
             'ticketbot: consumer e-invoicing activation started. Next, step 1: {guidance}. Tick it in "{field}" '
             "when done.",
             sv="ticketbot: aktiveringen av konsumentnätfakturering har startat. Härnäst, steg 1: {guidance}. Bocka "
                "av det i ”{field}” när det är klart.",
             fi="ticketbot: kuluttajan e-laskutuksen käyttöönotto on aloitettu. Seuraavaksi vaihe 1: {guidance}. "
                "Merkitse se kenttään ”{field}”, kun se on tehty."),
    template("step_done_note", "step label next guidance field",
             'ticketbot: step {step} ({label}) is done. Next, step {next}: {guidance}. Tick it in "{field}" when done.',
             sv="ticketbot: steg {step} ({label}) är klart. Härnäst, steg {next}: {guidance}. Bocka av det i "
                "”{field}” när det är klart.",
             fi="ticketbot: vaihe {step} ({label}) on tehty. Seuraavaksi vaihe {next}: {guidance}. Merkitse se "
                "kenttään ”{field}”, kun se on tehty."),
    template("all_done_note", "",
             "ticketbot: all eight steps are done: consumer e-invoicing is active.",
             sv="ticketbot: alla åtta steg är klara: konsumentnätfaktureringen är i bruk.",
             fi="ticketbot: kaikki kahdeksan vaihetta on tehty: kuluttajan e-laskutus on käytössä."),
    template("all_done_slack", "summary key",
             "{summary} ({key}): all eight activation steps are done; consumer e-invoicing is active.",
             sv="{summary} ({key}): alla åtta aktiveringssteg är klara; konsumentnätfaktureringen är i bruk.",
             fi="{summary} ({key}): kaikki kahdeksan käyttöönoton vaihetta on tehty; kuluttajan e-laskutus on "
                "käytössä."),
    template("stalled_slack", "summary key after step label guidance",
             "{summary} ({key}) has been waiting {after} or more for step {step} ({label}): {guidance}.",
             sv="{summary} ({key}) har väntat {after} eller mer på steg {step} ({label}): {guidance}.",
             fi="{summary} ({key}) on odottanut vaihetta {step} ({label}) vähintään {after}: {guidance}."),
    # the allocation task
    template("task_summary", "order",
             "Allocate e-invoice order {order} to a customer",
             sv="Allokera e-fakturabeställning {order} till en kund",
             fi="Kohdista e-laskutilaus {order} asiakkaalle"),
    template("task_description", "order summary field",
             'The e-invoice order {order} ({summary}) reached Procountor. Allocate its recipient information to a '
             'customer in the customer register (step 4), then fill "{field}" on {order}. The reminders go to '
             "whoever this task is assigned to.",
             sv="E-fakturabeställningen {order} ({summary}) har kommit till Procountor. Allokera mottagarinfon till "
                "kunden i kundregistret (steg 4) och fyll sedan i ”{field}” på {order}. Påminnelserna går till den "
                "som uppgiften är tilldelad.",
             fi="E-laskutilaus {order} ({summary}) saapui Procountoriin. Kohdista sen vastaanottajatiedot "
                "asiakasrekisterin asiakkaalle (vaihe 4) ja täytä sitten kenttä ”{field}” tiketissä {order}. "
                "Muistutukset menevät tämän tehtävän vastuuhenkilölle."),
    template("received_note", "field",
             'ticketbot: not allocated to a customer yet; an allocation task was created. Reminders go to its '
             'assignee (to the bookkeeper while it is unassigned) until "{field}" is filled.',
             sv="ticketbot: ännu inte allokerad till en kund; en allokeringsuppgift har skapats. Påminnelserna går "
                "till den som uppgiften är tilldelad (till bokföraren så länge den inte är tilldelad någon) tills "
                "”{field}” är ifyllt.",
             fi="ticketbot: ei vielä kohdistettu asiakkaalle; kohdistustehtävä luotiin. Muistutukset menevät "
                "tehtävän vastuuhenkilölle (kirjanpitäjälle, kun vastuuhenkilöä ei ole), kunnes kenttä ”{field}” "
                "on täytetty."),
    # reminders and the escalation
    template("reminder_slack", "number order summary field task",
             'Reminder {number}: e-invoice order {order} ({summary}) is not allocated to a customer yet (your task '
             '{task}). Allocate its recipient information in Procountor to a customer in the customer register and '
             'fill "{field}" on {order}.',
             sv="Påminnelse {number}: e-fakturabeställningen {order} ({summary}) är ännu inte allokerad till en kund "
                "(din uppgift {task}). Allokera mottagarinfon i Procountor till kunden i kundregistret och fyll i "
                "”{field}” på {order}.",
             fi="Muistutus {number}: e-laskutilausta {order} ({summary}) ei ole vielä kohdistettu asiakkaalle "
                "(tehtäväsi {task}). Kohdista vastaanottajatiedot Procountorissa asiakasrekisterin asiakkaalle ja "
                "täytä kenttä ”{field}” tiketissä {order}."),
    template("reminder_slack_fallback", "number order summary field reason",
             'Reminder {number}: e-invoice order {order} ({summary}) is not allocated to a customer yet; {reason}. '
             'Allocate its recipient information in Procountor to a customer in the customer register and fill '
             '"{field}" on {order}.',
             sv="Påminnelse {number}: e-fakturabeställningen {order} ({summary}) är ännu inte allokerad till en "
                "kund; {reason}. Allokera mottagarinfon i Procountor till kunden i kundregistret och fyll i "
                "”{field}” på {order}.",
             fi="Muistutus {number}: e-laskutilausta {order} ({summary}) ei ole vielä kohdistettu asiakkaalle; "
                "{reason}. Kohdista vastaanottajatiedot Procountorissa asiakasrekisterin asiakkaalle ja täytä kenttä "
                "”{field}” tiketissä {order}."),
    template("reminder_note", "number task",
             "ticketbot: reminder {number}: still not allocated to a customer; the assignee of {task} was reminded.",
             sv="ticketbot: påminnelse {number}: fortfarande inte allokerad till en kund; den som uppgiften {task} "
                "är tilldelad har påmints.",
             fi="ticketbot: muistutus {number}: ei vieläkään kohdistettu asiakkaalle; tehtävän {task} "
                "vastuuhenkilöä muistutettiin."),
    template("reminder_note_fallback", "number reason who",
             "ticketbot: reminder {number}: still not allocated to a customer; {reason}, so the reminder went to "
             "{who}.",
             sv="ticketbot: påminnelse {number}: fortfarande inte allokerad till en kund; {reason}, så påminnelsen "
                "gick till {who}.",
             fi="ticketbot: muistutus {number}: ei vieläkään kohdistettu asiakkaalle; {reason}, joten muistutuksen "
                "sai {who}."),
    template("reason_unassigned", "task",
             "the allocation task {task} is not assigned to anyone",
             sv="allokeringsuppgiften {task} är inte tilldelad någon",
             fi="kohdistustehtävällä {task} ei ole vastuuhenkilöä"),
    template("reason_hidden", "task",
             "the assignee of the allocation task {task} has no e-mail address ticketbot can see",
             sv="den som allokeringsuppgiften {task} är tilldelad har ingen e-postadress som ticketbot kan se",
             fi="kohdistustehtävän {task} vastuuhenkilön sähköpostiosoite ei näy ticketbotille"),
    template("reason_unreadable", "task",
             "the allocation task {task} could not be read",
             sv="allokeringsuppgiften {task} kunde inte läsas",
             fi="kohdistustehtävää {task} ei voitu lukea"),
    template("reason_unknown", "",
             "the allocation task is not known",
             sv="allokeringsuppgiften är okänd",
             fi="kohdistustehtävä ei ole tiedossa"),
    template("the_bookkeeper", "", "the bookkeeper", sv="bokföraren", fi="kirjanpitäjä"),
    template("admin_channel", "", "the admin channel", sv="adminkanalen", fi="ylläpitokanava"),
    template("escalation_slack", "order summary field after holder",
             "E-invoice order {order} ({summary}) is still not allocated to a customer after {after}: the consumer "
             'gets no e-invoice until it is and "{field}" is filled. {holder}',
             sv="E-fakturabeställningen {order} ({summary}) är fortfarande inte allokerad till en kund efter "
                "{after}: konsumenten får ingen e-faktura förrän den är det och ”{field}” är ifyllt. {holder}",
             fi="E-laskutilaus {order} ({summary}) on odottanut kohdistusta asiakkaalle jo {after}: kuluttaja ei "
                "saa e-laskua ennen kuin se on kohdistettu ja kenttä ”{field}” täytetty. {holder}"),
    template("holder_assignee", "task person",
             "The allocation task {task} is assigned to {person}.",
             sv="Allokeringsuppgiften {task} är tilldelad {person}.",
             fi="Kohdistustehtävän {task} vastuuhenkilö on {person}."),
    template("holder_reason", "reason", "Note: {reason}.", sv="Obs: {reason}.", fi="Huom: {reason}."),
    template("escalation_note", "after told",
             "ticketbot: still not allocated after {after}; escalated to {told}.",
             sv="ticketbot: fortfarande inte allokerad efter {after}; eskalerat till {told}.",
             fi="ticketbot: ei vieläkään kohdistettu, odottanut jo {after}; eskaloitu, tiedon sai {told}."),
    # allocated, or the task closed without it
    template("allocated_note", "customer",
             "ticketbot: allocated to customer {customer}. Next (step 5): update the order's invoicing channel in "
             "the CRM/ERP customer register.",
             sv="ticketbot: allokerad till kund {customer}. Härnäst (steg 5): uppdatera e-fakturabeställningens "
                "fakturakanal i CRM/ERP-programmets kundregister.",
             fi="ticketbot: kohdistettu asiakkaalle {customer}. Seuraavaksi (vaihe 5): päivitä e-laskutilauksen "
                "laskutuskanava CRM/ERP-järjestelmän asiakasrekisteriin."),
    template("close_task_by_hand", "",
             "The allocation task could not be identified; please close it.",
             sv="Allokeringsuppgiften kunde inte identifieras; stäng den för hand.",
             fi="Kohdistustehtävää ei voitu tunnistaa; sulje se käsin."),
    template("task_closed_note", "task field",
             'ticketbot: the allocation task {task} was closed, but this order is still not allocated to a '
             'customer: "{field}" is empty. The consumer gets no e-invoice until its recipient information is '
             'allocated in Procountor and "{field}" is filled here. The reminders have stopped.',
             sv="ticketbot: allokeringsuppgiften {task} har stängts, men beställningen är fortfarande inte allokerad "
                "till en kund: ”{field}” är tomt. Konsumenten får ingen e-faktura förrän mottagarinfon är allokerad "
                "i Procountor och ”{field}” är ifyllt här. Påminnelserna har upphört.",
             fi="ticketbot: kohdistustehtävä {task} suljettiin, mutta tätä tilausta ei ole vieläkään kohdistettu "
                "asiakkaalle: kenttä ”{field}” on tyhjä. Kuluttaja ei saa e-laskua ennen kuin vastaanottajatiedot "
                "on kohdistettu Procountorissa ja kenttä ”{field}” on täytetty tähän. Muistutukset on lopetettu."),
    template("task_closed_task_note", "order field",
             'ticketbot: closed while the e-invoice order {order} is still not allocated: "{field}" is empty there. '
             'Allocate it in Procountor and fill "{field}" on {order}.',
             sv="ticketbot: stängd medan e-fakturabeställningen {order} fortfarande inte är allokerad: ”{field}” är "
                "tomt där. Allokera den i Procountor och fyll i ”{field}” på {order}.",
             fi="ticketbot: suljettu, vaikka e-laskutilausta {order} ei ole vieläkään kohdistettu: kenttä ”{field}” "
                "on siellä tyhjä. Kohdista se Procountorissa ja täytä kenttä ”{field}” tiketissä {order}."),
    template("task_closed_slack", "task order summary field",
             'Task {task} was closed, but e-invoice order {order} ({summary}) is still not allocated to a customer: '
             '"{field}" is empty. Allocate its recipient information in Procountor and fill "{field}" on {order}; '
             "the consumer gets no e-invoice until then.",
             sv="Uppgiften {task} har stängts, men e-fakturabeställningen {order} ({summary}) är fortfarande inte "
                "allokerad till en kund: ”{field}” är tomt. Allokera mottagarinfon i Procountor och fyll i ”{field}” "
                "på {order}; konsumenten får ingen e-faktura innan dess.",
             fi="Tehtävä {task} suljettiin, mutta e-laskutilausta {order} ({summary}) ei ole vieläkään kohdistettu "
                "asiakkaalle: kenttä ”{field}” on tyhjä. Kohdista vastaanottajatiedot Procountorissa ja täytä kenttä "
                "”{field}” tiketissä {order}; kuluttaja ei saa e-laskua sitä ennen."),
)
Config.texts = TEXTS
