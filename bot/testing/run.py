"""Play a scenario through the real pipeline on an in-memory site and a virtual clock; look at what came of it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.effects import SlackMessage
from bot.engine import BoundRule
from bot.executor import APPLIED, FAILED
from bot.model import Ticket
from bot.replay import Replay, Step, read_records
from bot.state import RuleState, Timer
from bot.store import Store
from bot.trackers.site import Site

SCOPE = "scenario"


def load_site(path: str | Path) -> Site:
    """A site description (``site.yaml``)."""
    return Site.load(path)


@dataclass
class Run:
    """What a replayed scenario left: on the site, in the rules' records, in Slack."""

    player: Replay
    steps: list[Step]

    @property
    def scope(self) -> str:
        return self.player.scope

    def ticket(self, key: str) -> Ticket:
        return self.player.tracker.get_ticket(key, with_people=True)

    def state(self, rule_id: str, key: str) -> RuleState | None:
        return self.player.states.get(self.scope, rule_id, key)

    def stages(self, rule_id: str, key: str) -> list[str]:
        """The stages the rule's record of ``key`` went through, in order."""
        state = self.state(rule_id, key)
        return [h["stage"] for h in state.history] if state else []

    def timers(self, key: str) -> list[Timer]:
        return self.player.states.timers(self.scope, key)

    @property
    def slack(self) -> list[SlackMessage]:
        """Slack messages sent to people and channels (not admin alerts), in order."""
        return list(self.player.notifier.sent)

    @property
    def alerts(self) -> list[str]:
        """What went to the admin channel."""
        return list(self.player.notifier.alerts)

    def slack_to(self, recipient: str) -> list[str]:
        """The texts sent to ``recipient`` (an e-mail, a Slack id or a channel)."""
        return [m.text for m in self.slack if recipient in (m.user_email, m.channel, m.slack_user)]

    def comments(self, key: str) -> list[str]:
        """The internal comments on ``key``; fails if a public one was written by rules none of whose blocks allow
        customer replies (``customer_replies: true``)."""
        ticket = self.ticket(key)
        if not any(getattr(b.config, "customer_replies", False) for b in self.player.processor.bound.values()):
            assert all(c.internal for c in ticket.comments), f"{key} has a public comment"
        return [c.body for c in ticket.comments if c.internal]

    def public_comments(self, key: str) -> list[str]:
        return [c.body for c in self.ticket(key).comments if not c.internal]

    @property
    def changes(self) -> list[str]:
        """Every change on the site and every Slack message, as ``ticketbot replay`` prints them."""
        return list(self.player.log)

    def applied(self, rule_id: str) -> list[str]:
        """The effects the rule made true, described."""
        return [o.effect.describe() for s in self.steps for r in s.report.rules if r.rule_id == rule_id
                for o in r.outcomes if o.status == APPLIED]

    def errors(self) -> list[str]:
        """Rule errors and failed effects (a scenario that should run clean asserts this is empty)."""
        return [f"{r.rule_id}: {r.result.error}" for s in self.steps for r in s.report.rules if r.result.error] + [
            f"{o.effect.describe()}: {o.detail}" for s in self.steps for o in s.report.outcomes if o.status == FAILED]


def replay(events: Iterable[Mapping[str, Any]] | str | Path, *, site: Site | str | Path,
           config: Mapping[str, Any] | str | Path, until: datetime | None = None,
           database: str | None = None, rules: list[BoundRule] | None = None) -> Run:
    """Play ``events`` (webhook bodies, or a recorded ``events.jsonl``) on ``site`` through the rules ``config``
    enables (a rules YAML path, or its ``rules:`` mapping: ``{"acme_onboarding": {...}}``), then let virtual time
    run to ``until``. ``database``: a SQLAlchemy URL (default: a SQLite file in a temporary directory)."""
    if not isinstance(site, Site):
        site = load_site(site)
    if rules is None:
        from rules import load_rules  # the rules of the installed packages

        rules = load_rules(_config_path(config))
    store = Store(database or f"sqlite:///{Path(tempfile.mkdtemp(prefix='ticketbot-test-')) / 'scenario.sqlite3'}")
    player = Replay(rules, site, store, scope=SCOPE)
    records = read_records(Path(events)) if isinstance(events, str | Path) else (dict(e) for e in events)
    return Run(player, list(player.run(records, until=until)))


def _config_path(config: Mapping[str, Any] | str | Path) -> Path:
    if isinstance(config, str | Path):
        return Path(config)
    path = Path(tempfile.mkdtemp(prefix="ticketbot-test-")) / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": {k: dict(v or {}) for k, v in config.items()}}, allow_unicode=True),
                    encoding="utf-8")
    return path
