"""What the automation tests share: the demo's sites, a rules YAML written from a list, a replay on the test kit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.engine import BoundRule
from bot.testing import Issue, JiraWebhooks, Run, ZendeskTicket, ZendeskWebhooks, load_site, replay
from bot.trackers.site import Site
from rules import load_rules
from tests.support.paths import EXAMPLES, ROOT

DEMO = EXAMPLES / "automations"
JIRA_SITE = DEMO / "site.yaml"
ZENDESK_SITE = DEMO / "zendesk" / "site.yaml"
CONFIG_DIR = ROOT / "config"

KARL, ANA = "karl@fjordfoods.example", "ana@solbakery.example"  # customers
NINA, OMAR, LEAD, ONCALL = "nina.berg@acme.example", "omar.haddad@acme.example", "lead@acme.example", \
    "oncall@acme.example"
BOT = "ticketbot@acme.example"


def at(text: str) -> datetime:
    """A moment in UTC: ``at("2026-11-06T14:00")`` (Friday 6 November 2026)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def jira_site() -> Site:
    return load_site(JIRA_SITE)


def zendesk_site() -> Site:
    return load_site(ZENDESK_SITE)


def write_config(path: Path, automations: Iterable[Any], **top: Any) -> Path:
    """A rules YAML holding ``automations`` (and ``top``-level keys: ``rules``, ``include``)."""
    items = [dict(a) if isinstance(a, Mapping) else a for a in automations]
    path.write_text(yaml.safe_dump({**top, "automations": items}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    return path


def rules_of(tmp_path: Path, *automations: Mapping[str, Any], name: str = "rules.yaml") -> list[BoundRule]:
    return load_rules(write_config(tmp_path / name, automations))


def automation(name: str, trigger: Any, actions: list[Any], *, conditions: list[Any] | None = None,
               project: str | list[str] = "SUP", **more: Any) -> dict[str, Any]:
    return {"name": name, "project": project, "trigger": trigger, "conditions": conditions or [], "actions": actions,
            **more}


class Desk:
    """Acme's Jira desk SUP (the demo site): tickets as people create, move, change and comment on them."""

    def __init__(self) -> None:
        self.site = jira_site()
        self.hooks = JiraWebhooks(self.site, self.site.base_url)

    def issue(self, key: str, created: str, *, summary: str = "Invoice export fails", kind: str = "Service Request",
              status: str = "Open") -> Issue:
        return Issue(self.hooks, key, summary=summary, issue_type=kind, status=status, created=at(created))

    def create(self, issue: Issue, by: str = KARL, *, assignee: str | None = NINA, **kw: Any) -> dict[str, Any]:
        body = issue.create(by, **kw)
        body["issue"]["fields"]["assignee"] = self.hooks.user(assignee) if assignee else None
        return body


class Helpdesk:
    """Acme's Zendesk account (the demo's Zendesk site)."""

    def __init__(self) -> None:
        self.site = zendesk_site()
        self.hooks = ZendeskWebhooks(self.site)

    def ticket(self, key: str, created: str, *, subject: str = "Checkout is down", group: str = "Support",
               tags: tuple[str, ...] = ()) -> ZendeskTicket:
        return ZendeskTicket(self.hooks, key, subject=subject, group=group, form="Support request",
                             created=at(created), tags=tags)


def play(tmp_path: Path, events: list[dict[str, Any]], *automations: Mapping[str, Any], site: Site | None = None,
         until: str | None = None) -> Run:
    """``events`` replayed on the test kit through ``automations`` alone, on the Jira demo site unless ``site``."""
    config = write_config(tmp_path / "rules.yaml", automations)
    return replay(events, site=site or jira_site(), config=config, until=at(until) if until else None,
                  database=f"sqlite:///{tmp_path / 'run.sqlite3'}")


def effects(run: Run, rule_id: str | None = None, *, outcome: str = "applied") -> list[str]:
    """The effects (described) of every step, for one rule or all, that ended as ``outcome``."""
    return [o.effect.describe() for s in run.steps for r in s.report.rules
            if rule_id is None or r.rule_id == rule_id for o in r.outcomes if o.status == outcome]


def verdicts(run: Run, step: int, rule_id: str) -> list[tuple[str, bool, Any, Any]]:
    """(name, passed, observed, expected) of each verdict a rule gave on step ``step``."""
    report = next(r for r in run.steps[step].report.rules if r.rule_id == rule_id)
    return [(v.name, v.passed, v.observed, v.expected) for v in report.result.evaluation.verdicts]


def notes(run: Run, step: int, rule_id: str) -> list[str]:
    report = next(r for r in run.steps[step].report.rules if r.rule_id == rule_id)
    return list(report.result.evaluation.notes)
