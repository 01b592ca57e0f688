"""Writes events.jsonl and zendesk/events.jsonl: the recorded webhooks of the YAML automations demo.

    python examples/automations/make_events.py

Jira (examples/automations/site.yaml, Acme's desk SUP; Oslo business days, 08:00-16:00):

- Mon 2 Nov SUP-1 (Fjord Foods, enterprise) enters "Waiting for customer": the reminder is armed for Wed.
- Tue 3 Nov 08:30 the customer answers (a public comment): back to "Waiting for support". At 10:00 the agent's
  note shows the ticket moved on: the pending reminder is cancelled; the enterprise ticket now waits for
  support, so its morning nudge ticks at 09:00 Oslo on Wed and Thu, until it is resolved on Thu.
- Thu 5 Nov SUP-2 enters "Waiting for customer" at 13:00 Oslo; nobody answers: Mon 9 Nov at 13:00 (2 business
  days, over the weekend) the assignee is reminded in Slack and a note is left. The customer answers at 16:00,
  after working hours: the ticket goes back to the queue at once, the agent's Slack message waits for 08:00 on
  Tuesday (quiet hours); SUP-2 is resolved at 10:00.
- Fri 6 Nov SUP-4, an incident, gets Impact "Outage": Priority Highest, the lead watches, #support is told;
  its "Problem ticket" field names SUP-3: the two are linked.

Zendesk (examples/automations/zendesk/site.yaml): at 03:10 on Saturday a ticket "Checkout is down" arrives in
the Support group: tagged (Escalation: Urgent), noted, followed and told to on-call at once; a Billing question
is left alone; on Monday a ticket tagged urgent gets the same treatment.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/

from bot.testing import Issue, JiraWebhooks, ZendeskTicket, ZendeskWebhooks, load_site  # noqa: E402


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def jira_events() -> list[dict[str, Any]]:
    site = load_site(HERE / "site.yaml")
    hooks = JiraWebhooks(site, site.base_url, issue_ids=50100)
    karl, ana = "karl@fjordfoods.example", "ana@solbakery.example"
    nina, omar = "nina.berg@acme.example", "omar.haddad@acme.example"

    def created(issue: Issue, by: str, assignee: str, **kw: Any) -> dict[str, Any]:
        body = issue.create(by, **kw)
        body["issue"]["fields"]["assignee"] = hooks.user(assignee)  # assigned on arrival (the desk's queue rule)
        return body

    sup1 = Issue(hooks, "SUP-1", summary="Invoice export fails", issue_type="Service Request", status="Open",
                 created=at("2026-11-02T09:10:00"))
    sup2 = Issue(hooks, "SUP-2", summary="Receipts print blank", issue_type="Incident", status="Open",
                 created=at("2026-11-05T10:00:00"))
    sup3 = Issue(hooks, "SUP-3", summary="Print service crashes on long receipts", issue_type="Problem",
                 status="Open", created=at("2026-11-06T07:40:00"))
    sup4 = Issue(hooks, "SUP-4", summary="All tills down at Sol Bakery", issue_type="Incident", status="Open",
                 created=at("2026-11-06T07:45:00"))
    events = [
        created(sup1, karl, nina, fields={"Customer tier": "Enterprise"}),
        sup1.move(at("2026-11-02T13:00:00"), nina, "Waiting for customer"),
        sup1.comment(at("2026-11-03T08:30:00"), karl, "The export log is attached.", internal=False),
    ]
    sup1.status = "Waiting for support"  # ticketbot moved it (customer-replied)
    events += [
        sup1.comment(at("2026-11-03T10:00:00"), nina, "Found it: a date format. Fixing."),
        created(sup2, ana, omar, fields={"Customer tier": "Pro"}),
        sup1.move(at("2026-11-05T11:00:00"), nina, "Done"),
        sup2.move(at("2026-11-05T12:00:00"), omar, "Waiting for customer"),
        sup3.create(nina),
        created(sup4, ana, nina),
        sup4.change(at("2026-11-06T07:50:00"), nina, {"Impact": (None, "Outage")}),
        sup4.change(at("2026-11-06T08:05:00"), nina, {"Problem ticket": (None, "SUP-3")}),
        sup2.comment(at("2026-11-09T15:00:00"), ana, "Sorry for the wait: the printer model is TM-30.",
                     internal=False),
    ]
    sup2.status = "Waiting for support"  # ticketbot moved it (customer-replied)
    events.append(sup2.move(at("2026-11-10T09:00:00"), omar, "Done"))
    return events


def zendesk_events() -> list[dict[str, Any]]:
    site = load_site(HERE / "zendesk" / "site.yaml")
    hooks = ZendeskWebhooks(site)
    down = ZendeskTicket(hooks, "5001", subject="Checkout is down for all stores", group="Support",
                         form="Support request", created=at("2026-11-07T02:10:00"))
    billing = ZendeskTicket(hooks, "5002", subject="Question about my invoice", group="Billing",
                            form="Support request", created=at("2026-11-07T09:00:00"))
    tagged = ZendeskTicket(hooks, "5003", subject="Receipts missing VAT", group="Support", form="Support request",
                           created=at("2026-11-09T10:00:00"), tags=("urgent",))
    return [
        down.create("karl@fjordfoods.example", description="No store can take payments since 02:00."),
        billing.create("ana@solbakery.example", description="Why was I billed twice?"),
        tagged.create("ana@solbakery.example", description="Our accountant needs them today."),
    ]


def write(path: Path, events: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")


if __name__ == "__main__":
    write(HERE / "events.jsonl", jira_events())
    write(HERE / "zendesk" / "events.jsonl", zendesk_events())
