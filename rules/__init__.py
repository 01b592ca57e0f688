"""The rules ticketbot knows (every installed package's ``ticketbot.rules`` entry points: :mod:`rules.registry`),
and the ones a rules YAML enables.

A rule runs when its id has a block under ``rules:`` in the rules YAML (an empty block
takes the seed runbook's defaults) and that block does not say ``enabled: false``. Each item of its
``automations:`` list (and of the files it names under ``include:``) is a rule too, ``automation:<name>``
(:mod:`rules.automations`), after the known rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import load_raw, raw_automations, validate_block
from bot.engine import BoundRule, Rule
from bot.settings import ConfigurationError
from rules.automations import load_automations
from rules.registry import registered


def known_rules() -> dict[str, Rule]:
    """Every known rule, by id, in evaluation order."""
    return {rule_id: found.rule for rule_id, found in registered().items()}


def load_rules(path: Path) -> list[BoundRule]:
    """The rules configured in ``path``, each with its validated block, then its automations; unknown ids are
    errors."""
    raw = load_raw(path)
    rules = known_rules()
    unknown = sorted(set(raw.rules) - set(rules))
    if unknown:
        raise ConfigurationError(f"{path}: rules.{unknown[0]}: unknown rule id (known: {', '.join(rules)}; a rule "
                                 "from a plugin package is known once that package is installed)")
    bound = [BoundRule(rule, validate_block(rule_id, type(rule).Config, raw.rules[rule_id], path))
             for rule_id, rule in rules.items() if rule_id in raw.rules]
    return bound + load_automations(raw_automations(path, raw))


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":  # every known rule by id (discovered on first use)
        return known_rules()
    raise AttributeError(name)
