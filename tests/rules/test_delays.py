"""Every delay in every runbook block takes business time ("1 business day", "4 business hours") as well as
clock time, and a bad one is a configuration error that names the key and the accepted spellings."""

from __future__ import annotations

import typing
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from bot.calendar import BusinessDuration
from rules import load_rules
from rules.runbook.config import Alarms
from tests.rules.scenario import CONFIG

#: Not a delay people wait for: how often EverBright looks again for a CS ticket that was not linked yet.
INTERNAL = {("everbright_onboarding", "find_config_ticket_every")}


def _delays(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel] | None]]:
    """Dotted names of the timedelta-like fields (and of Alarms blocks) of a config model."""
    out: list[tuple[str, type[BaseModel] | None]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = {a for a in typing.get_args(annotation)} | {annotation}
        if Alarms in args:
            out.append((prefix + name, Alarms))
        elif timedelta in args or BusinessDuration in args:
            out.append((prefix + name, None))
        else:
            nested = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            for sub in nested:
                out += _delays(sub, f"{prefix}{name}.")
    return out


BOUND = {b.id: b for b in load_rules(CONFIG)}
CASES = [(rule_id, path, alarms) for rule_id, b in BOUND.items() for path, alarms in _delays(type(b.config))
         if (rule_id, path) not in INTERNAL]


def test_every_runbook_has_delays_to_check() -> None:
    assert {rule_id for rule_id, _, _ in CASES} == set(BOUND)


def _with(block: dict, path: str, value: object) -> dict:
    head, _, rest = path.partition(".")
    return {**block, head: _with(block.get(head) or {}, rest, value) if rest else value}


@pytest.mark.parametrize(("rule_id", "path", "alarms"), CASES, ids=[f"{r}.{p}" for r, p, _ in CASES])
def test_a_delay_takes_business_time_and_clock_time(rule_id: str, path: str, alarms: object) -> None:
    bound = BOUND[rule_id]
    model = type(bound.config)
    block = bound.config.model_dump(mode="json", exclude_defaults=False)
    for value, expected in (("2 business days", BusinessDuration(days=2)), ("4 business hours",
                            BusinessDuration(time=timedelta(hours=4))), ("36h", timedelta(hours=36))):
        given = {"due": value, "remind_every": value, "warn_before": [value]} if alarms else value
        config = model.model_validate(_with(block, path, given))
        got = config
        for part in path.split("."):
            got = getattr(got, part)
        if alarms:
            assert (got.due, got.remind_every, got.warn_before) == (expected, expected, [expected])
        else:
            assert got == expected


@pytest.mark.parametrize(("rule_id", "path", "alarms"), CASES, ids=[f"{r}.{p}" for r, p, _ in CASES])
def test_a_bad_delay_is_a_clear_error(rule_id: str, path: str, alarms: object) -> None:
    bound = BOUND[rule_id]
    block = bound.config.model_dump(mode="json")
    given = {"due": "2 buisness days"} if alarms else "2 buisness days"
    with pytest.raises(ValidationError) as caught:
        type(bound.config).model_validate(_with(block, path, given))
    text = str(caught.value)
    assert path.split(".")[0] in text and "not a delay: '2 buisness days'" in text and "business days" in text
