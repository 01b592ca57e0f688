"""Writes events.jsonl: the recorded webhooks of the Sharespine onboarding demo (seed 001).

    python examples/sharespine/make_events.py

- Mon 2 Nov SP-1 "Onboarding: Nordic Outdoor AB" -> ticketbot creates SP-2 (step 1); Jira's
  issue_created for it (by ticketbot) -> adopted and linked.
- The questionnaire is late: reminders Thu 5 and Tue 10 Nov; ticked Wed 11 -> reminders stop.
- Mon 16 Nov step 1 done -> SP-3 (step 2). Fri 20 Nov SP-3 closed with an item open -> comment;
  Mon 23 Nov the item is ticked -> SP-4 (step 3), the project manager asked for the settlement data.
- The data is late: reminders Thu 26 Nov and Tue 1 Dec; Wed 2 Dec all in -> SP-4 started.
- Wed 9 Dec step 3 done -> SP-5 (step 4); Mon 14 Dec done -> handover to Support, SP-1 Done.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/, tests/

from bot.trackers.site import Site
from rules.sharespine_onboarding import Config
from tests.rules.webhooks import Issue, JiraWebhooks

site = Site.load(HERE / "site.yaml")
hooks = JiraWebhooks(site, site.base_url, issue_ids=40100)
cfg = Config()
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
sales, erik, sara, bot = ("sales@sharespine.example", "erik.lind@sharespine.example", "sara.holm@sharespine.example",
                          "ticketbot@sharespine.example")
customer = "Nordic Outdoor AB"
project = Issue(hooks, "SP-1", summary="Onboarding: Nordic Outdoor AB", issue_type="Onboarding project",
                status="To Do", created=at("2026-11-02T09:00:00"))
def task(n, created):
    step = getattr(cfg.steps, f"step{n}")
    return Issue(hooks, f"SP-{n + 1}", summary=f"{customer}: {step.option} – {step.title}", issue_type="Task",
                 status="To Do", created=at(created)), step
def bot_created(issue, step):
    return issue.create(bot, fields={"Onboarding project": "SP-1", "Onboarding step": step.option})
def tick(issue, when, who, before, after):
    return issue.change(at(when), who, {"Checklist": (before or None, after)})

t1, s1 = task(1, "2026-11-02T09:00:02")
t2, s2 = task(2, "2026-11-16T14:00:02")
t3, s3 = task(3, "2026-11-23T10:00:02")
t4, s4 = task(4, "2026-12-09T15:00:02")
c1 = s1.checklist
q = [c1[0], c1[1], c1[2]]
records = [
    project.create(sales, description="New customer: webshop (WooCommerce) + Fortnox + Klarna.",
                   fields={"Customer": customer, "Project manager": erik}),
    bot_created(t1, s1),
    tick(t1, "2026-11-03T10:00:00", erik, [], q),
    # no questionnaire yet: reminders on Nov 5 and Nov 10 (3 business days apart)
    tick(t1, "2026-11-11T13:00:00", erik, q, q + ["Questionnaire answered"]),
    tick(t1, "2026-11-16T13:30:00", sara, q + ["Questionnaire answered"], c1),
    t1.move(at("2026-11-16T14:00:00"), sara, "Done"),
    bot_created(t2, s2),
    # step 2 closed with its test order not yet approved: ticketbot lists the open item
    tick(t2, "2026-11-20T15:00:00", sara, [], s2.checklist[:3]),
    t2.move(at("2026-11-20T15:05:00"), sara, "Done"),
    tick(t2, "2026-11-23T10:00:00", sara, s2.checklist[:3], s2.checklist),
    bot_created(t3, s3),
    # settlement data arrives late: reminders Nov 26 and Dec 1
    tick(t3, "2026-12-02T09:30:00", erik, [], cfg.step3_gate),
    tick(t3, "2026-12-09T14:00:00", sara, cfg.step3_gate, s3.checklist),
    t3.move(at("2026-12-09T15:00:00"), sara, "Done"),
    bot_created(t4, s4),
    tick(t4, "2026-12-14T11:00:00", sara, [], s4.checklist),
    t4.move(at("2026-12-14T11:30:00"), sara, "Done"),
]
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
