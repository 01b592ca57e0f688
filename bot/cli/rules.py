"""``ticketbot rules``: every known rule and whether it is enabled; ``rules pause|resume RULE``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import ConfigOption, escape, load_cli_settings, out
from bot.cli.replay import _rules
from bot.config import RuleBlock
from bot.settings import ConfigurationError, Settings

_settings = load_cli_settings
ReasonOption = Annotated[str, typer.Option(help="Why, for the trace and the alert.")]


def rules_list(ctx: typer.Context, config: ConfigOption = None) -> None:
    """List every known rule (built in or from a plugin package), whether it is enabled, the projects it watches."""
    if ctx.invoked_subcommand:
        return
    from rules.registry import registered

    settings = _settings(config)
    known = registered()
    bound = {b.id: b for b in _rules(settings)}
    table = Table("rule", "title", "package", "enabled", "watches")
    for rule_id, found in known.items():
        b = bound.get(rule_id)
        cfg: RuleBlock | None = b.config if b else None
        enabled = "yes" if cfg and cfg.enabled else ("disabled" if cfg else "not configured")
        watches = ", ".join(sorted(found.rule.watched_projects(cfg))) if cfg else ""
        table.add_row(escape(rule_id), escape(found.rule.title), escape(f"{found.package} {found.version}"), enabled,
                      escape(watches))
    for b in bound.values():  # the rules YAML's automations (automation:NAME), after the known rules
        if b.id not in known:
            table.add_row(escape(b.id), escape(b.rule.title), "rules YAML", "yes" if b.config.enabled else "disabled",
                          escape(", ".join(sorted(b.rule.watched_projects(b.config)))))
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
    from rules import known_rules

    known = list(known_rules())
    if rule_id not in known and rule_id.startswith("automation:"):  # the rules YAML's automations
        known += [b.id for b in _rules(settings) if b.id not in known]
    if rule_id not in known:
        raise ConfigurationError(f"unknown rule id {shown(rule_id)} (known: {', '.join(known)})")
    upgrade(settings.database_url)
    return Guards(Store(settings.database_url), settings.guards, SystemClock())


def register(rules_app: typer.Typer) -> None:
    """``ticketbot rules`` lists the rules; ``rules pause|resume RULE``."""
    rules_app.callback()(rules_list)
    rules_app.command("pause")(rules_pause)
    rules_app.command("resume")(rules_resume)
