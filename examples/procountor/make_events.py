"""Writes events.jsonl: the recorded webhooks of the Procountor consumer e-invoicing demo (seed 003).

    python examples/procountor/make_events.py

- Mon 1 Feb PC-1, the activation; steps 1-3 ticked that week, each answered with the next step.
- Mon 8 Feb e-invoice order PC-2 arrives unallocated -> task PC-3 (adopted from its issue_created);
  reminders to the bookkeeper Tue 9 and Wed 10 Feb; allocated Wed 10 -> reminders stop, PC-3 Done.
- Thu 11 Feb order PC-4 arrives already allocated -> no task; step 4 ticked.
- Step 5 waits 10 business days -> the owner is reminded Thu 25 Feb; steps 5-8 done by Wed 3 Mar
  -> the activation is closed.
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
from tests.rules.webhooks import Issue, JiraWebhooks

site = Site.load(HERE / "site.yaml")
hooks = JiraWebhooks(site, site.base_url, issue_ids=50100)
steps = Config().steps
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
liisa, aino, procountor, bot = ("liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example",
                                "procountor@kotileipomo.example", "ticketbot@kotileipomo.example")
act = Issue(hooks, "PC-1", summary="Consumer e-invoicing activation: Kotileipomo Oy", issue_type="Activation",
            status="In Progress", created=at("2027-02-01T08:00:00"))
order = Issue(hooks, "PC-2", summary="E-invoice order: Matti Meikäläinen", issue_type="E-invoice order",
              status="To Do", created=at("2027-02-08T09:00:00"))
task = Issue(hooks, "PC-3", summary="Allocate e-invoice order PC-2 to a customer", issue_type="Task",
             status="To Do", created=at("2027-02-08T09:00:02"))
order2 = Issue(hooks, "PC-4", summary="E-invoice order: Maija Virtanen", issue_type="E-invoice order",
               status="To Do", created=at("2027-02-11T10:00:00"))
def tick(when, n_before, n_after):
    return act.change(at(when), liisa, {"Activation steps": (steps[:n_before] or None, steps[:n_after])})
records = [
    act.create(liisa, description="Activate consumer e-invoicing (and direct payments) in Procountor.",
               fields={"Activation owner": liisa}),
    tick("2027-02-03T10:00:00", 0, 1),
    tick("2027-02-04T11:00:00", 1, 2),
    tick("2027-02-05T09:00:00", 2, 3),
    order.create(procountor, description="Recipient info received from the bank: Matti Meikäläinen."),
    task.create(bot, fields={"E-invoice order": "PC-2"}),
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
