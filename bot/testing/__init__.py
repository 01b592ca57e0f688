"""The test kit: test a rule package the way ticketbot's own runbooks are tested.

A scenario is what people did on a site, played through the real pipeline on an in-memory copy of the site and a
virtual clock (timers fire at their due times; nothing sleeps), then asserted on the resulting tickets and Slack::

    from datetime import UTC, datetime, timedelta
    from bot.testing import Issue, JiraWebhooks, load_site, replay

    site = load_site("tests/site.yaml")
    hooks = JiraWebhooks(site, "https://acme.atlassian.net")
    ticket = Issue(hooks, "ONB-1", summary="Onboarding Acme", issue_type="Task", status="Open",
                   created=datetime(2027, 1, 4, 9, tzinfo=UTC))
    run = replay([ticket.create("lead@acme.example"), ticket.move(ticket.created + timedelta(hours=2),
                  "lead@acme.example", "In Progress")], site=site, config={"acme_onboarding": {}},
                 until=datetime(2027, 1, 20, tzinfo=UTC))
    assert run.stages("acme_onboarding", "ONB-1") == ["opened", "working"]
    assert run.slack_to("lead@acme.example")

* :func:`load_site` — a site description (``site.yaml``: people, fields, workflow; see examples/*/site.yaml);
* :class:`JiraWebhooks` / :class:`Issue` and :class:`ZendeskWebhooks` / :class:`ZendeskTicket` — webhook bodies as
  Jira Cloud and Zendesk send them, with the site's ids, for what a person did (create, change, move, comment);
* :func:`replay` — play webhook bodies (or a recorded ``events.jsonl``) through the rules a config enables;
* :class:`Run` — what came of it: tickets, rule records and stages, timers, Slack messages, alerts, comments
  (asserting no public comment was written unless a block allows customer replies), applied effects, errors;
* :class:`VirtualClock` — the clock the replay runs on.

Part of the public API as :mod:`bot.api` is (same :data:`bot.api.API_VERSION`).
"""

from __future__ import annotations

from bot.clock import VirtualClock
from bot.testing.jira import Issue, JiraWebhooks
from bot.testing.run import Run, load_site, replay
from bot.testing.zendesk import ZendeskTicket, ZendeskWebhooks

__all__ = ["Issue", "JiraWebhooks", "Run", "VirtualClock", "ZendeskTicket", "ZendeskWebhooks", "load_site", "replay"]
