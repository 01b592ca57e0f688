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
  ``customer_field`` is empty it is not allocated ⇒ a task for the bookkeeper (``task_issue_type``,
  carrying the order's key in ``order_field``) and a reminder (``allocation``: after 1 business day,
  then every business day, escalation to ``finance_lead`` after 5). Allocated ⇒ the reminders stop,
  the task is closed and the order's comment names step 5.

An order that arrives already allocated gets no task. On Zendesk the task is created as a ticket of
type ``task`` in the group, ``done_status`` is a Zendesk status (``solved``; there is no resolution),
the link between order and task is recorded as a tag and an internal note on both. Every name,
person and delay comes from ``rules.procountor_einvoicing``.
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
from rules.runbook.checks import Always, Checklist, Facts, FieldFilled, email_of, kind_is, normalize_text, ticket_kind
from rules.runbook.config import Alarms, Person, RunbookConfig
from rules.runbook.declarations import Declarations
from rules.runbook.machine import Alarm, Children, Deadline, Runbook, Stage, delay_text, one_line, per_config
from rules.runbook.rule import RunbookRule

#: What each step asks for (the seed's instructions, shortened), by step number - 1.
GUIDANCE = (
    ("make an agreement with the bank to send e-invoices and consumer e-invoices, and save the e-invoice "
    "addresses in Procountor (Administration > Company details > E-invoice and scanning addresses)"),
    ("send the biller notice (Fakturerarmeddelande) from Procountor: your bank tells the other banks you send "
    "consumer e-invoices"),
    "consumers can now order e-invoices from you in their online bank; wait for the first e-invoice order",
    "allocate each e-invoice order that reaches Procountor to a customer in the customer register",
    "update the order's invoicing channel and its details in the CRM/ERP customer register",
    "create the invoice data in the CRM/ERP with the right invoicing channel and transfer it to Procountor",
    "send the consumer e-invoice from Procountor through the bank",
    "the consumer pays in the online bank; check that the payment is matched and the invoice is Paid",
)


class Config(RunbookConfig):
    project: str = "PC"
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
    bookkeeper: Person | None = None  # allocates orders; the admin channel when empty
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
            known = {"task": ticket}
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
                   "it has not adopted yet, or on its own timer"),
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
    return Runbook(rule_id, tuple(stages), stalls, cfg.calendar)


def _owner(cfg: Config, ticket: Ticket) -> Person | None:
    email = email_of(ticket.field(cfg.owner_field))
    return Person(email=email) if email else cfg.bookkeeper


def step_done(cfg: Config, facts: Facts, acts: Acts, done: int) -> list[Effect]:
    """Steps 1..``done`` are ticked (0: the activation was just opened)."""
    t = facts.ticket
    if done < 8:
        head = f"step {done} ({cfg.steps[done - 1]}) is done" if done else "consumer e-invoicing activation started"
        return [acts.comment("note", f"ticketbot: {head}. Next, step {done + 1}: {GUIDANCE[done]}. Tick it in "
                             f"{cfg.steps_field!r} when done.")]
    owner = _owner(cfg, t)
    return [acts.comment("note", "ticketbot: all eight steps are done: consumer e-invoicing is active."),
            acts.slack("owner", f"{one_line(t.summary)} ({t.key}): all eight activation steps are done; consumer "
                       "e-invoicing is active.", to=owner),
            acts.transition("close", cfg.done_status, cfg.done_resolution)]


def stalled(cfg: Config, facts: Facts, acts: Acts, done: int) -> list[Effect]:
    t, owner = facts.ticket, _owner(cfg, facts.ticket)
    return [acts.slack("owner", f"{one_line(t.summary)} ({t.key}) has been waiting {delay_text(cfg.stall.due)} or "
                       f"more for step {done + 1} ({cfg.steps[done]}): {GUIDANCE[done]}.", to=owner)]


# e-invoice orders: allocate each to a customer ----------------------------------------------------------
@per_config
def allocation(cfg: Config, rule_id: str) -> Runbook:
    stages = (
        # catch_up=False: an order that arrives already allocated needs no allocation task.
        Stage("received", Always("e-invoice order"), lambda facts, acts: received(cfg, facts, acts), catch_up=False),
        Stage("allocated", FieldFilled(cfg.customer_field), lambda facts, acts: allocated(cfg, facts, acts)),
    )
    chase = Deadline("allocation", starts="received", stops=("allocated",), alarms=cfg.allocation,
                     ring=lambda facts, acts, alarm: unallocated(cfg, facts, acts, alarm))
    return Runbook(rule_id, stages, (chase,), cfg.calendar)


def received(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    order = facts.ticket
    return [acts.create("task", project=cfg.project, issue_type=cfg.task_issue_type,
                        summary=f"Allocate e-invoice order {order.key} to a customer",
                        description=(f"The e-invoice order {order.key} ({untrusted(order.summary)}) reached "
                                     "Procountor. Allocate its recipient information to a customer in the customer "
                                     f"register (step 4), then fill {cfg.customer_field!r} on {order.key}."),
                        fields={cfg.order_field: order.key}),
            acts.comment("note", f"ticketbot: not allocated to a customer yet; a task was created and reminders run "
                         f"until {cfg.customer_field!r} is filled.")]


def unallocated(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    order = facts.ticket
    if alarm.kind == "escalate":
        lead = cfg.finance_lead
        after = delay_text(cfg.allocation.escalate_after) if cfg.allocation.escalate_after else ""
        return [acts.slack("lead", f"E-invoice order {order.key} ({one_line(order.summary)}) is still not allocated to "
                           f"a customer after {after}: the consumer gets no e-invoice until it is.", to=lead,
                           alert=lead is None),
                acts.comment("note", f"ticketbot: still not allocated after {after}; escalated to "
                             f"{lead.email if lead else 'the admin channel'}.")]
    number = 1 if alarm.kind == "due" else alarm.n + 1
    keeper = cfg.bookkeeper
    return [acts.slack("bookkeeper", f"Reminder {number}: e-invoice order {order.key} ({one_line(order.summary)}) is "
                       f"not allocated to a customer yet. Allocate it in Procountor and fill {cfg.customer_field!r}.",
                       to=keeper),
            acts.comment("note", f"ticketbot: reminder {number}: still not allocated to a customer.",
                         mentions=[keeper.email] if keeper else [])]


def allocated(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    order, task = facts.ticket, facts.children.get("task")
    customer = untrusted(str(order.field(cfg.customer_field) or ""))
    note = (f"ticketbot: allocated to customer {customer}. Next (step 5): update the order's invoicing channel "
            "in the CRM/ERP customer register.")
    if facts.state is None or facts.state.stage != "received":
        return [acts.comment("note", note)]  # arrived allocated: there is no task
    if task is None:
        return [acts.comment("note", f"{note} The allocation task could not be identified; please close it.")]
    out = [acts.comment("note", note)]
    if normalize_text(task.status) != normalize_text(cfg.done_status):
        out.append(acts.on(task.key).transition("close-task", cfg.done_status, cfg.done_resolution))
    return out
