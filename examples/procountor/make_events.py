"""Writes events.jsonl: the recorded Zendesk webhooks of the Procountor consumer e-invoicing demo (seed 003).

    python examples/procountor/make_events.py

The company's support desk is a Zendesk account (site.yaml, ``kind: zendesk``). New tickets arrive as the
trigger body ticketbot documents (``ticket.created``, custom fields in its ``fields`` section), including
the allocation task ticketbot creates itself (Zendesk's trigger fires for it too: the rule adopts it);
ticked steps and the customer number arrive as event-webhook envelopes
(``zen:event-type:ticket.custom_field_changed``; the multiselect gives its option tags). Built by
tests/rules/zendesk_webhooks.py with this site's ids.

- Mon 1 Feb #201, the activation; steps 1-3 ticked that week, each answered with the next step.
- Mon 8 Feb e-invoice order #202 arrives unallocated -> task #203 (adopted from its ticket.created);
  reminders to the bookkeeper Tue 9 and Wed 10 Feb; allocated Wed 10 -> reminders stop, #203 solved.
- Thu 11 Feb order #204 arrives already allocated -> no task; step 4 ticked.
- Step 5 waits 10 business days -> the owner is reminded Thu 25 Feb; steps 5-8 done by Wed 3 Mar
  -> the activation is solved.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/, tests/

from bot.trackers.site import Site
from rules.procountor_einvoicing import Config
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks

site = Site.load(HERE / "site.yaml")
hooks = ZendeskWebhooks(site)
steps = Config().steps
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
liisa, aino, procountor, bot = ("liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example",
                                "procountor@kotileipomo.example", "ticketbot@kotileipomo.example")
act = ZendeskTicket(hooks, "201", subject="Consumer e-invoicing activation: Kotileipomo Oy", form="Activation",
                    group="Bookkeeping", status="open", created=at("2027-02-01T08:00:00"))
order = ZendeskTicket(hooks, "202", subject="E-invoice order: Matti Meikäläinen", form="E-invoice order",
                      group="Bookkeeping", created=at("2027-02-08T09:00:00"))
task = ZendeskTicket(hooks, "203", subject="Allocate e-invoice order 202 to a customer", group="Bookkeeping",
                     ticket_type="task", created=at("2027-02-08T09:00:02"))
order2 = ZendeskTicket(hooks, "204", subject="E-invoice order: Maija Virtanen", form="E-invoice order",
                       group="Bookkeeping", created=at("2027-02-11T10:00:00"))
def tick(when, n_before, n_after):
    return act.change(at(when), liisa, {"Activation steps": (steps[:n_before] or None, steps[:n_after])})
records = [
    act.create(liisa, description="Activate consumer e-invoicing (and direct payments) in Procountor.",
               fields={"Activation owner": liisa}),
    tick("2027-02-03T10:00:00", 0, 1),
    tick("2027-02-04T11:00:00", 1, 2),
    tick("2027-02-05T09:00:00", 2, 3),
    order.create(procountor, description="Recipient info received from the bank: Matti Meikäläinen."),
    task.create(bot, fields={"E-invoice order": "202"}),
    # not allocated: reminders Feb 9 and Feb 10, then the bookkeeper allocates it
    order.change(at("2027-02-10T12:00:00"), aino, {"Customer number": (None, "10042")}),
    order2.create(procountor, description="Recipient info received from the bank: Maija Virtanen.",
                  fields={"Customer number": "10043"}),
    tick("2027-02-11T13:00:00", 3, 4),
    # step 5 waits: the owner is reminded after 10 business days (Feb 25)
    tick("2027-02-26T09:00:00", 4, 6),
    tick("2027-03-01T14:00:00", 6, 7),
    tick("2027-03-03T10:00:00", 7, 8),
]
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
