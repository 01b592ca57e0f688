"""Writes events.jsonl: the recorded webhooks of the Momentus E-Invoicing demo (seed 000).

    python examples/momentus/make_events.py

Jira Cloud webhook bodies (built by tests/rules/webhooks.py with this site's field ids). The story:

- Mon 09 Nov 15:00 UTC (09:00 in Chicago) Support Ops opens EINV-1 for Harbor Hall Events (Enterprise,
  first Connect app).
- Tue 14:00 UTC the sale is approved (status Approved) -> internal note; the account manager's Slack message
  is held until 09:00 in Chicago (quiet hours: 08:00 there), then delivered.
- Wed 16:30 Connect: setup form submitted (on Veterans Day) -> #support-ops told (held until Thursday 09:00
  in Chicago), task EINV-2 "Set up the Connect API user" created, due 2 business days later (Mon 16 Nov
  09:00 in Chicago: the holiday does not count); Jira's issue_created for it (by ticketbot) -> adopted and
  linked to EINV-1.
- Thu 15:00 the legal entity exists in Storecove (validation Pending) -> a check once a business day; 15:30
  the Support Ops lead assigns EINV-2 to Priya.
- Fri 15:00: still pending -> #support-ops asked to check. Sat 15:00 (Storecove's 48 h): the escalation to the
  lead falls on a Saturday and is held until Monday 09:00 in Chicago (15:00 UTC).
- Mon 16 Nov 15:00 (09:00 in Chicago) EINV-2 is due and not done -> Priya is reminded on Slack.
- Mon 17:00 validated; 20:00 configuration complete -> not ready yet: it waits for EINV-2 (`ticketbot why`).
- Mon 21:00 (15:00 in Chicago) Priya closes EINV-2 -> reminders stop, EINV-1 ready: a public reply to the
  requester, and the account manager told.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/, tests/

from bot.trackers.site import Site
from tests.rules.webhooks import Issue, JiraWebhooks

site = Site.load(HERE / "site.yaml")
hooks = JiraWebhooks(site, site.base_url, issue_ids=20100)
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
agent, connect, lead = "priya.natarajan@momentus.example", "connect@momentus.example", "olivia.grant@momentus.example"
bot = "ticketbot@momentus.example"
req = Issue(hooks, "EINV-1", summary="E-Invoicing: Harbor Hall Events", issue_type="E-Invoicing request",
            status="Awaiting sale", created=at("2026-11-09T15:00:00"))
task = Issue(hooks, "EINV-2", summary="Set up the Connect API user for Harbor Hall Events", issue_type="Task",
             status="To Do", created=at("2026-11-11T16:30:02"))
def assign(issue, when, by, email):
    """Jira's issue_assigned: the changelog names the assignee (replay reads the e-mail), the issue carries them."""
    record = issue.change(when, by, {"summary": (issue.summary, issue.summary)})
    record["issue_event_type_name"] = "issue_assigned"
    record["issue"]["fields"]["assignee"] = hooks.user(email)
    record["changelog"]["items"] = [{"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": None,
                                     "fromString": None, "to": hooks.user(email)["accountId"], "toString": email}]
    return record


records = [
    req.create(agent, description="Sales announcement: Harbor Hall Events bought E-Invoicing (Enterprise).",
               fields={"Customer": "Harbor Hall Events", "Edition": "Enterprise",
                       "Account manager": "marcus.hale@momentus.example",
                       "Requester email": "events@harborhall.example", "First Connect app": "Yes"}),
    req.move(at("2026-11-10T14:00:00"), agent, "Approved"),
    req.change(at("2026-11-11T16:30:00"), connect, {"Setup form": (None, "Submitted")}),
    task.create(bot, fields={"E-Invoicing request": "EINV-1"}),
    req.move(at("2026-11-12T14:45:00"), agent, "Configuring"),
    req.change(at("2026-11-12T15:00:00"), agent, {"Storecove validation": (None, "Pending")}),
    assign(task, at("2026-11-12T15:30:00"), lead, agent),
    req.change(at("2026-11-16T17:00:00"), agent, {"Storecove validation": ("Pending", "Validated")}),
    req.change(at("2026-11-16T20:00:00"), agent, {"Connect configuration": ("In progress", "Complete")}),
    task.move(at("2026-11-16T21:00:00"), agent, "Done"),
]
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r) + "\n" for r in records)
