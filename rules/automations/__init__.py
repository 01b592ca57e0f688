"""YAML automations: the simple rules an admin would otherwise build in Jira Automation or a Zendesk trigger.

An ``automations:`` list in the rules YAML (or in a file it names under ``include:``), each item a trigger,
conditions and actions::

    automations:
      - name: waiting-for-customer-reminder
        project: SUP
        calendar: {time_zone: Europe/Stockholm, country: SE}
        trigger: {status_changed: {to: Waiting for customer}}
        conditions:
          - field: Assignee
            empty: false
        actions:
          - slack: {to: assignee, text: "{key} ({summary}) has waited 2 business days for the customer."}
            delay: 2 business days
            while: [{status: Waiting for customer}]

Each automation becomes a rule of the engine (:mod:`rules.automations.rule`, id ``automation:<name>``), bound
to its validated block (:mod:`rules.automations.schema`): it is traced, dry-run, replayed, backtested, checked
and guarded as every runbook is. :func:`load_automations` validates the list; a mistake is one line naming
the file and the key.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from bot.config import RawAutomation, key_path
from bot.engine import BoundRule
from bot.settings import ConfigurationError
from rules.automations.rule import AutomationRule, automation_rule
from rules.automations.schema import Automation, Problem

__all__ = ["Automation", "AutomationRule", "automation_rule", "load_automations"]


def load_automations(raw: Sequence[RawAutomation]) -> list[BoundRule]:
    """Every automation of ``raw``, validated and bound to its rule, in order; a ConfigurationError of one line
    (``FILE: automations[1].actions[0].set.Priority: …``) for the first mistake, or a name used twice."""
    bound: list[BoundRule] = []
    seen: dict[str, RawAutomation] = {}
    for item in raw:
        automation = validate(item)
        first = seen.get(automation.name)
        if first is not None:
            where = first.where if first.path == item.path else f"{first.where} of {first.path}"
            raise ConfigurationError(f"{item.path}: {item.where}.name: {automation.name!r} is the name of "
                                     f"{where} too; names are unique (the rule id is automation:NAME)")
        seen[automation.name] = item
        bound.append(BoundRule(automation_rule(automation), automation))
    return bound


def validate(item: RawAutomation) -> Automation:
    """One automation, or a ConfigurationError naming its file and the key of its first mistake."""
    if not isinstance(item.data, dict):
        raise ConfigurationError(f"{item.path}: {item.where}: an automation is a mapping (name, project, trigger, "
                                 f"conditions, actions), not {type(item.data).__name__}")
    try:
        return Automation.model_validate(item.data)
    except ValidationError as exc:
        raise ConfigurationError(f"{item.path}: {error_line(item.where, exc)}") from None


def error_line(where: str, exc: ValidationError) -> str:
    """``automations[1].actions[0].set.Priority: message`` for a validation error's first problem."""
    first = exc.errors()[0]
    loc = list(first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, Problem):
        loc += list(cause.key)
        message = cause.message
    if first["type"] == "extra_forbidden" and loc:
        message = f"unknown key {loc[-1]!r}"
    elif first["type"] == "missing" and loc:
        message = f"{loc[-1]!r} is missing"
    path = key_path([part for part in loc if not _is_union_branch(part)])
    return f"{where}.{path}: {message}" if path else f"{where}: {message}"


def _is_union_branch(part: int | str) -> bool:
    """pydantic names the branch of a union in a location (``tuple[...]``, ``function-before[...]``): not a key."""
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool", "none"))
