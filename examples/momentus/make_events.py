"""Writes events.jsonl: the recorded webhooks of the Momentus E-Invoicing demo (seed 000).

    python examples/momentus/make_events.py

Jira Cloud webhook bodies (built by tests/rules/webhooks.py with this site's field ids). The story:

- Mon 09 Nov 15:00 UTC (09:00 in Chicago) Support Ops opens EINV-1 for Harbor Hall Events (Enterprise,
  first Connect app).
- Tue 14:00 UTC the sale is approved (status Approved) -> internal note; the account manager's Slack message
  is held until 09:00 in Chicago (quiet hours: 08:00 there), then delivered.
- Wed 16:30 Connect: setup form submitted -> #support-ops told, task EINV-2 "Set up the Connect API user".
- Thu 15:00 the legal entity exists in Storecove (validation Pending) -> a check once a business day.
- Fri 15:00: still pending -> #support-ops asked to check. Sat 15:00 (Storecove's 48 h): the escalation to the
  lead falls on a Saturday and is held until Monday 09:00 in Chicago (15:00 UTC).
- Mon 16 Nov 17:00 validated; 20:00 configuration complete -> ready: the account manager asked to tell the
  customer.
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
agent, connect = "priya.natarajan@momentus.example", "connect@momentus.example"
req = Issue(hooks, "EINV-1", summary="E-Invoicing: Harbor Hall Events", issue_type="E-Invoicing request",
            status="Awaiting sale", created=at("2026-11-09T15:00:00"))
task = Issue(hooks, "EINV-2", summary="Set up the Connect API user for Harbor Hall Events", issue_type="Task",
             status="To Do", created=at("2026-11-11T16:30:00"))
records = [
    req.create(agent, description="Sales announcement: Harbor Hall Events bought E-Invoicing (Enterprise).",
               fields={"Customer": "Harbor Hall Events", "Edition": "Enterprise",
                       "Account manager": "marcus.hale@momentus.example",
                       "Requester email": "events@harborhall.example", "First Connect app": "Yes"}),
    req.move(at("2026-11-10T14:00:00"), agent, "Approved"),
    req.change(at("2026-11-11T16:30:00"), connect, {"Setup form": (None, "Submitted")}),
    req.move(at("2026-11-12T14:45:00"), agent, "Configuring"),
    req.change(at("2026-11-12T15:00:00"), agent, {"Storecove validation": (None, "Pending")}),
    task.move(at("2026-11-13T10:00:00"), agent, "Done"),
    req.change(at("2026-11-16T17:00:00"), agent, {"Storecove validation": ("Pending", "Validated")}),
    req.change(at("2026-11-16T20:00:00"), agent, {"Connect configuration": ("In progress", "Complete")}),
]
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r) + "\n" for r in records)
