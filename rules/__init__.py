"""The runbook rules ticketbot knows, registered explicitly under stable ids.

A rule runs when its id has a block under ``rules:`` in the rules YAML (an empty block
takes the seed runbook's defaults) and that block does not say ``enabled: false``.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import load_raw, validate_block
from bot.engine import BoundRule, Rule
from bot.settings import ConfigurationError
from rules.everbright_onboarding import EverBrightOnboarding
from rules.momentus_einvoicing import MomentusEInvoicing
from rules.nfe_onboarding import NfeOnboarding
from rules.procountor_einvoicing import ProcountorEInvoicing
from rules.sharespine_onboarding import SharespineOnboarding

#: Every rule, by id. Order is evaluation order.
REGISTRY: dict[str, Rule] = {rule.id: rule for rule in (
    EverBrightOnboarding(),
    MomentusEInvoicing(),
    NfeOnboarding(),
    SharespineOnboarding(),
    ProcountorEInvoicing(),
)}


def load_rules(path: Path) -> list[BoundRule]:
    """The rules configured in ``path``, each with its validated block; unknown ids are errors."""
    raw = load_raw(path)
    unknown = sorted(set(raw.rules) - set(REGISTRY))
    if unknown:
        raise ConfigurationError(f"{path}: rules.{unknown[0]}: unknown rule id (known: {', '.join(REGISTRY)})")
    return [BoundRule(rule, validate_block(rule_id, type(rule).Config, raw.rules[rule_id], path))
            for rule_id, rule in REGISTRY.items() if rule_id in raw.rules]
