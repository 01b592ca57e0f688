"""Writes events.jsonl: the recorded Zendesk webhooks of the Procountor consumer e-invoicing demo (seed 003).

    python examples/procountor/make_events.py

The company's support desk is a Zendesk account (site.yaml, ``kind: zendesk``). New tickets arrive as the
trigger body ticketbot documents (``ticket.created``, custom fields in its ``fields`` section), including
the allocation tasks ticketbot creates itself (Zendesk's trigger fires for them too: the rule adopts them);
ticked steps and customer numbers arrive as event-webhook envelopes (``zen:event-type:ticket.custom_field_changed``;
the multiselect gives its option tags), an agent assigning a task as ``zen:event-type:ticket.agent_assignment_changed``
and a task solved by hand as the trigger body ``ticket.updated``. Built by tests/rules/zendesk_webhooks.py with this
site's ids; the same input always gives the same file.

The team works in Swedish (the block's ``language: sv``), on the Helsinki calendar (08:00-16:00, Finnish holidays):

- Mon 1 Feb #201, the activation; steps 1-3 ticked that week, each answered with the next step.
- Mon 8 Feb e-invoice order #202 arrives unallocated -> task #203 (adopted from its ticket.created); Aino (the
  bookkeeper) assigns it to Jussi -> Jussi is reminded Tue 9 and Wed 10 Feb; he allocates it Wed 10 -> the
  reminders stop, #203 is solved by ticketbot.
- Thu 11 Feb order #204 arrives already allocated -> no task; step 4 ticked.
- Fri 12 Feb 15:00 order #205 arrives unallocated -> task #206, nobody assigned: the first reminder goes to the
  bookkeeper Mon 15 Feb 15:00 (the weekend skipped), saying the task is unassigned; Aino assigns it to Jussi ->
  the second reminder is his (Tue 16). Tue 16:30 Jussi solves #206 without filling the customer number ->
  the reminders stop, #205 and #206 say what is missing, Jussi's Slack message waits for Wed 08:00; he fills it
  Wed 10:30 -> #205 is allocated.
- Step 5 waits 10 business days -> the owner is reminded Thu 25 Feb; steps 5-8 done by Wed 3 Mar
  -> the activation is solved.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/, tests/

from bot.trackers.site import Site
from rules import load_rules
from tests.rules.zendesk_webhooks import ACCOUNT_ID, EVENT_VERSION, ZendeskTicket, ZendeskWebhooks, zendesk_time

CONFIG = HERE.parents[1] / "config" / "ticketbot.yaml"
LIISA, AINO, JUSSI = ("liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example",
                      "jussi.makinen@kotileipomo.example")
PROCOUNTOR, BOT = "procountor@kotileipomo.example", "ticketbot@kotileipomo.example"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def assign(ticket: ZendeskTicket, when: datetime, by: str, to: str) -> dict[str, Any]:
    """An agent assigns ``ticket`` to ``to``: the event webhook ``ticket.agent_assignment_changed``."""
    hooks = ticket.hooks
    ticket.updated = when
    assignee = hooks.user(to)[0]
    return {"type": "zen:event-type:ticket.agent_assignment_changed", "account_id": ACCOUNT_ID, "id": hooks.next_id(),
            "time": zendesk_time(when), "zendesk_event_version": EVENT_VERSION, "subject": f"zen:ticket:{ticket.key}",
            "detail": {"actor_id": hooks.user(by)[0], "assignee_id": assignee, "id": ticket.key,
                       "subject": ticket.subject, "status": ticket.status.upper(), "type": ticket.type.upper() or None,
                       "group_id": next(g.id for g in hooks.site.groups if g.name == ticket.group), "form_id": None,
                       "requester_id": hooks.user(BOT)[0], "tags": list(ticket.tags), "is_public": True,
                       "created_at": zendesk_time(ticket.created), "updated_at": zendesk_time(when),
                       "via": {"channel": "web"}},
            "event": {"current": assignee, "previous": None}}


def records() -> list[dict[str, Any]]:
    site = Site.load(HERE / "site.yaml")
    block = next(b for b in load_rules(CONFIG) if b.id == "procountor_einvoicing").config
    hooks = ZendeskWebhooks(site)
    steps = block.steps

    def order(key: str, consumer: str, created: datetime) -> ZendeskTicket:
        return ZendeskTicket(hooks, key, subject=f"E-fakturabeställning: {consumer}", form="E-invoice order",
                             group="Bookkeeping", created=created)

    def task(key: str, order_key: str, created: datetime) -> ZendeskTicket:
        """ticketbot's allocation task as Zendesk's trigger reports it (its subject the block's own words)."""
        return ZendeskTicket(hooks, key, subject=block.words("task_summary", order=order_key), group="Bookkeeping",
                             ticket_type="task", created=created)

    act = ZendeskTicket(hooks, "201", subject="Aktivering av konsumentnätfakturering: Kotileipomo Oy",
                        form="Activation", group="Bookkeeping", status="open", created=at("2027-02-01T08:00:00"))
    order202, task203 = order("202", "Matti Meikäläinen", at("2027-02-08T09:00:00")), \
        task("203", "202", at("2027-02-08T09:00:02"))
    order204 = order("204", "Maija Virtanen", at("2027-02-11T10:00:00"))
    order205, task206 = order("205", "Pekka Korhonen", at("2027-02-12T13:00:00")), \
        task("206", "205", at("2027-02-12T13:00:02"))

    def tick(when: str, n_before: int, n_after: int) -> dict[str, Any]:
        return act.change(at(when), LIISA, {"Activation steps": (steps[:n_before] or None, steps[:n_after])})

    def from_bank(consumer: str) -> str:
        return f"Mottagarinfo från banken: {consumer}."

    return [
        act.create(LIISA, description="Ta i bruk konsumentnätfakturering (och direktbetalningar) i Procountor.",
                   fields={"Activation owner": LIISA}),
        tick("2027-02-03T10:00:00", 0, 1),
        tick("2027-02-04T11:00:00", 1, 2),
        tick("2027-02-05T09:00:00", 2, 3),
        # 202: the bookkeeper hands the task to Jussi, who is reminded Feb 9 and 10, then allocates it
        order202.create(PROCOUNTOR, description=from_bank("Matti Meikäläinen")),
        task203.create(BOT, fields={"E-invoice order": "202"}),
        assign(task203, at("2027-02-08T10:00:00"), AINO, JUSSI),
        order202.change(at("2027-02-10T12:00:00"), JUSSI, {"Customer number": (None, "10042")}),
        # 204 arrives allocated: no task
        order204.create(PROCOUNTOR, description=from_bank("Maija Virtanen"), fields={"Customer number": "10043"}),
        tick("2027-02-11T13:00:00", 3, 4),
        # 205 on Friday afternoon: unassigned over the weekend (Monday's reminder to the bookkeeper), then Jussi's;
        # he solves the task without the customer number (Tue 16:30 in Helsinki), and fills it the next morning
        order205.create(PROCOUNTOR, description=from_bank("Pekka Korhonen")),
        task206.create(BOT, fields={"E-invoice order": "205"}),
        assign(task206, at("2027-02-15T13:30:00"), AINO, JUSSI),
        task206.move(at("2027-02-16T14:30:00"), JUSSI, "solved"),
        order205.change(at("2027-02-17T08:30:00"), JUSSI, {"Customer number": (None, "10045")}),
        # step 5 waits: the owner is reminded after 10 business days (Feb 25)
        tick("2027-02-26T09:00:00", 4, 6),
        tick("2027-03-01T14:00:00", 6, 7),
        tick("2027-03-03T10:00:00", 7, 8),
    ]


if __name__ == "__main__":
    with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records())
