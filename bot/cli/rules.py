"""``ticketbot rules``: every known rule and whether it is enabled; ``rules pause|resume RULE``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import ConfigOption, load_cli_settings, out
from bot.cli.replay import _rules
from bot.config import RuleBlock
from bot.settings import ConfigurationError, Settings

_settings = load_cli_settings
ReasonOption = Annotated[str, typer.Option(help="Why, for the trace and the alert.")]


def rules_list(ctx: typer.Context, config: ConfigOption = None) -> None:
    """List every known rule, whether it is enabled, and the projects it watches."""
    if ctx.invoked_subcommand:
        return
    from rules import REGISTRY

    settings = _settings(config)
    bound = {b.id: b for b in _rules(settings)}
    table = Table("rule", "title", "enabled", "watches")
    for rule_id, rule in REGISTRY.items():
        b = bound.get(rule_id)
        cfg: RuleBlock | None = b.config if b else None
        enabled = "yes" if cfg and cfg.enabled else ("disabled" if cfg else "not configured")
        table.add_row(rule_id, rule.title, enabled, ", ".join(sorted(rule.watched_projects(cfg))) if cfg else "")
    out.print(table)


def rules_pause(rule_id: str, reason: ReasonOption = "paused by an admin") -> None:
    """Pause a rule entirely until `ticketbot rules resume ID`."""
    guards = _guards(_settings(), rule_id)
    guards.pause(rule_id, reason, by="admin")
    out.print(f"rule {rule_id} paused.", markup=False)


def rules_resume(rule_id: str) -> None:
    """Resume a rule paused by an admin or by a cap (entirely and on every ticket)."""
    guards = _guards(_settings(), rule_id)
    lifted = guards.resume(rule_id)
    out.print(f"rule {rule_id} resumed ({lifted} pause(s) lifted); its caps count afresh from now.", markup=False)


def _guards(settings: Settings, rule_id: str):  # noqa: ANN202 - bot.inbox.guards.Guards, imported lazily
    from bot.clock import SystemClock
    from bot.inbox.guards import Guards
    from bot.migrations import upgrade
    from bot.store import Store
    from bot.trackers.keys import shown
    from rules import REGISTRY

    if rule_id not in REGISTRY:
        raise ConfigurationError(f"unknown rule id {shown(rule_id)} (known: {', '.join(REGISTRY)})")
    upgrade(settings.database_url)
    return Guards(Store(settings.database_url), settings.guards, SystemClock())


def register(rules_app: typer.Typer) -> None:
    """``ticketbot rules`` lists the rules; ``rules pause|resume RULE``."""
    rules_app.callback()(rules_list)
    rules_app.command("pause")(rules_pause)
    rules_app.command("resume")(rules_resume)
