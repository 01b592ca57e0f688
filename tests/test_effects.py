"""Effect.as_dict: what a trace stores for each effect."""

from __future__ import annotations

import typing
from dataclasses import fields
from datetime import UTC, datetime

import pytest

from bot import effects
from bot.calendar import BusinessCalendar
from bot.effects import Effect, SetField, StartTimer

SAMPLES: dict[str, typing.Any] = {
    "str": "text", "bool": True, "datetime": datetime(2026, 11, 2, 8, 30, 15, 123456, tzinfo=UTC),
    "tuple[str, ...]": ("a@example.com", "b@example.com"), "dict[str, Any]": {"cs_key": "CS-1", "n": 2},
    "Any": {"id": "10001", "value": "Yes"},
    "BusinessCalendar | None": BusinessCalendar(time_zone="Europe/Helsinki", country="FI"),
}


def _concrete(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        if not sub.__name__.startswith("_"):
            found.append(sub)
        found += _concrete(sub)
    return found


def _sample(cls: type[Effect]) -> Effect:
    return cls(**{f.name: SAMPLES[f.type] for f in fields(cls)})


def _by_fields(effect: Effect) -> dict[str, typing.Any]:
    """The reference: each dataclass field in declaration order, datetimes as ISO 8601."""
    data = {f.name: effects._plain(getattr(effect, f.name)) for f in fields(effect)}
    return {**data, "kind": effect.kind, "key": effect.key, "summary": effect.describe()}


@pytest.mark.parametrize("cls", _concrete(Effect), ids=lambda c: c.__name__)
def test_as_dict_is_every_field_in_order_then_kind_key_summary(cls: type[Effect]) -> None:
    effect = _sample(cls)
    got = effect.as_dict()
    assert list(got) == list(_by_fields(effect))
    assert got == _by_fields(effect)


def test_as_dict_writes_datetimes_as_iso_and_leaves_the_effect_alone() -> None:
    due = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    timer = StartTimer(rule_id="r", ticket_key="SS-1", step="remind", name="approval-reminder", due_at=due,
                       data={"n": 1})
    got = timer.as_dict()
    assert got["due_at"] == "2026-11-03T08:00:00+00:00"
    assert timer.due_at == due  # the copy was converted, not the effect
    assert got["key"] == "r:SS-1:remind"


def test_every_concrete_effect_is_covered() -> None:
    names = {c.__name__ for c in _concrete(Effect)}
    assert {"SetField", "StartTimer", "CancelTimer", "SlackMessage", "CreateTicket", "SetState"} <= names
    assert SetField(rule_id="r", ticket_key="T-1", step="s", field="Region", value="EU").as_dict()["summary"] == \
        "set 'Region' = 'EU'"
