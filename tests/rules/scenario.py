"""Run a runbook scenario as ``ticketbot replay`` does: the real rules from config/ticketbot.yaml, an
in-memory site, a SQLite store and a virtual clock on which the rules' timers fire.

The NF-e and Procountor demos run on Zendesk accounts; their Jira-hosted variants (``JIRA_SITES``) run
with :func:`jira_config`, the shipped config with those two runbooks bound back to Jira projects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.effects import SlackMessage
from bot.executor import APPLIED
from bot.model import Ticket
from bot.replay import Replay, Step, read_records
from bot.state import RuleState, Timer
from bot.store import Store
from bot.trackers.site import Site
from rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONFIG = ROOT / "config" / "ticketbot.yaml"
SCOPE = "scenario"
#: Jira-hosted variants of the demos that ship on Zendesk (site.yaml and events.jsonl each).
JIRA_SITES = Path(__file__).resolve().parent / "jira_sites"
#: The keys that bind a runbook block to its Zendesk account; without them the block is the seed's Jira defaults.
ZENDESK_BINDING = ("tracker", "project", "done_status", "done_resolution")


def jira_config(tmp_path: Path) -> Path:
    """config/ticketbot.yaml with every Zendesk-bound runbook moved back to its Jira project (the defaults)."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for block in data["rules"].values():
        if (block or {}).get("tracker") == "zendesk":
            for key in ZENDESK_BINDING:
                block.pop(key, None)
    path = tmp_path / "jira-ticketbot.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Run:
    player: Replay
    steps: list[Step]

    def ticket(self, key: str) -> Ticket:
        return self.player.tracker.get_ticket(key, with_people=True)

    def state(self, rule_id: str, key: str) -> RuleState | None:
        return self.player.states.get(SCOPE, rule_id, key)

    def stages(self, rule_id: str, key: str) -> list[str]:
        state = self.state(rule_id, key)
        return [h["stage"] for h in state.history] if state else []

    def timers(self, key: str) -> list[Timer]:
        return self.player.states.timers(SCOPE, key)

    @property
    def slack(self) -> list[SlackMessage]:
        """Slack messages sent to people and channels (not admin alerts), in order."""
        return list(self.player.notifier.sent)

    @property
    def alerts(self) -> list[str]:
        return list(self.player.notifier.alerts)

    def slack_to(self, recipient: str) -> list[str]:
        return [m.text for m in self.slack if recipient in (m.user_email, m.channel, m.slack_user)]

    def comments(self, key: str) -> list[str]:
        """The internal comments; a public one only from a block with ``customer_replies: true``."""
        ticket = self.ticket(key)
        if not any(getattr(b.config, "customer_replies", False) for b in self.player.processor.bound.values()):
            assert all(c.internal for c in ticket.comments), f"{key} has a public comment"
        return [c.body for c in ticket.comments if c.internal]

    def public_comments(self, key: str) -> list[str]:
        return [c.body for c in self.ticket(key).comments if not c.internal]

    def applied(self, rule_id: str) -> list[str]:
        return [o.effect.describe() for s in self.steps for r in s.report.rules if r.rule_id == rule_id
                for o in r.outcomes if o.status == APPLIED]

    def errors(self) -> list[str]:
        return [f"{r.rule_id}: {r.result.error}" for s in self.steps for r in s.report.rules if r.result.error] + [
            f"{o.effect.describe()}: {o.detail}" for s in self.steps for o in s.report.outcomes
            if o.status == "failed"]


def run(example: str, tmp_path: Path, records: Iterable[dict[str, Any]] | None = None, *,
        until: datetime | None = None, config: Path = CONFIG, root: Path = EXAMPLES) -> Run:
    """Replay ``records`` (default: the example's events.jsonl) on the example's site (under ``root``)."""
    site = Site.load(root / example / "site.yaml")
    store = Store(f"sqlite:///{tmp_path / f'{example}.sqlite3'}")
    player = Replay(load_rules(config), site, store, scope=SCOPE)
    if records is None:
        records = read_records(root / example / "events.jsonl")
    steps = list(player.run(records, until=until))
    return Run(player, steps)
