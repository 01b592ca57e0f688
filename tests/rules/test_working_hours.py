"""Every seed runbook, across a weekend and a public holiday of its own calendar: no message reaches a person
or a team channel outside working hours, in the calendar's time zone, or in the recipient's own when Slack
knows it; what falls outside is held and delivered on the next working morning.

Each demo in examples/ is moved in time (every timestamp in its recorded webhooks, by whole days) so that a
public holiday of the block's calendar falls on a weekday in its first two weeks, then replayed on the
virtual clock with time let run on for 70 days (NF-e's 60-day target and its reminders included).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.calendar import BusinessCalendar
from bot.effects import SlackMessage
from bot.executor import APPLIED, HELD
from bot.replay import Replay, read_records
from bot.store import Store
from bot.trackers.site import Site
from rules import load_rules
from tests.rules.scenario import CONFIG, EXAMPLES, SCOPE

RULES = {"everbright": "everbright_onboarding", "momentus": "momentus_einvoicing", "nfe": "nfe_onboarding",
         "sharespine": "sharespine_onboarding", "procountor": "procountor_einvoicing"}
#: A zone far from every seed's calendar: a recipient there has working hours at the calendar's night.
ELSEWHERE = "Asia/Tokyo"

_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)")


def _shift_text(text: str, days: int) -> str:
    def move(match: re.Match[str]) -> str:
        moment = datetime.fromisoformat(match.group(1)) + timedelta(days=days)
        return moment.isoformat(timespec="milliseconds" if "." in match.group(1) else "seconds") + match.group(2)
    return _ISO.sub(move, text)


def _shift(record: dict[str, Any], days: int) -> dict[str, Any]:
    moved = json.loads(_shift_text(json.dumps(record), days))
    if isinstance(moved.get("timestamp"), int):  # Jira: epoch milliseconds
        moved["timestamp"] += days * 86_400_000
    return moved


def _first_moment(records: list[dict[str, Any]]) -> datetime:
    found = [datetime.fromisoformat(m.group(0).replace("Z", "+00:00")) for r in records
             for m in _ISO.finditer(json.dumps(r))]
    stamps = [datetime.fromtimestamp(r["timestamp"] / 1000, UTC) for r in records
              if isinstance(r.get("timestamp"), int)]
    return min(stamps or found)


def _days_to_a_holiday(calendar: BusinessCalendar, start: date) -> tuple[int, date]:
    """The shift (in days) that puts a weekday public holiday of ``calendar`` 3-10 days after ``start``."""
    for shift in range(0, 400):
        for ahead in range(3, 11):
            day = start + timedelta(days=shift + ahead)
            if day.weekday() < 5 and calendar.holiday_name(day) and day.weekday() in calendar.working_days:
                return shift, day
    raise AssertionError(f"no weekday holiday in a year of {calendar.summary}")


def _replay(example: str, tmp_path: Path, zones: dict[str, str]) -> tuple[Replay, list, BusinessCalendar, date]:
    rules = load_rules(CONFIG)
    calendar = next(b.config for b in rules if b.id == RULES[example]).calendar
    records = list(read_records(EXAMPLES / example / "events.jsonl"))
    start = _first_moment(records)
    shift, holiday = _days_to_a_holiday(calendar, start.date())
    moved = [_shift(r, shift) for r in records]
    player = Replay(rules, Site.load(EXAMPLES / example / "site.yaml"),
                    Store(f"sqlite:///{tmp_path / f'{example}.sqlite3'}"), scope=SCOPE)
    player.notifier.zones.update(zones)
    steps = list(player.run(moved, until=start + timedelta(days=shift + 70)))
    return player, steps, calendar, holiday


def _deliveries(steps: list) -> list[tuple[datetime, SlackMessage]]:
    return [(step.event.occurred_at, o.effect) for step in steps for o in step.report.outcomes
            if isinstance(o.effect, SlackMessage) and o.status == APPLIED and not o.effect.alert]


def _people(steps: list) -> set[str]:
    return {o.effect.user_email.lower() for step in steps for o in step.report.outcomes
            if isinstance(o.effect, SlackMessage) and o.effect.user_email}


@pytest.mark.parametrize("example", sorted(RULES))
def test_in_the_calendars_time_zone(example: str, tmp_path: Path) -> None:
    player, steps, calendar, holiday = _replay(example, tmp_path, {})
    sent = _deliveries(steps)
    assert sent, f"{example}: nobody was told anything"
    outside = [(at.astimezone(calendar.zone).strftime("%a %Y-%m-%d %H:%M"), m.describe()) for at, m in sent
               if not calendar.is_business_time(at)]
    assert outside == []
    assert not any(at.astimezone(calendar.zone).date() == holiday for at, _ in sent), \
        f"a message went out on {holiday} ({calendar.holiday_name(holiday)})"


@pytest.mark.parametrize("example", sorted(RULES))
def test_in_the_recipients_own_time_zone(example: str, tmp_path: Path) -> None:
    """Everyone the runbook writes to works from Tokyo (Slack says so): their messages come in Tokyo's
    working hours, on the calendar's working days; channels keep the calendar's hours."""
    (tmp_path / "first").mkdir()
    _, first_steps, _, _ = _replay(example, tmp_path / "first", {})
    zones = {email: ELSEWHERE for email in _people(first_steps)}
    _, steps, calendar, _ = _replay(example, tmp_path, zones)
    tokyo = calendar.in_zone(ELSEWHERE)
    sent = _deliveries(steps)
    to_people = [(at, m) for at, m in sent if m.to_person]
    assert to_people, f"{example}: no message to a person"
    assert [(at.astimezone(tokyo.zone).strftime("%a %H:%M"), m.describe()) for at, m in to_people
            if not tokyo.is_business_time(at)] == []
    assert [m.describe() for at, m in sent if not m.to_person and not calendar.is_business_time(at)] == []
    held = [o for step in steps for o in step.report.outcomes if o.status == HELD and o.effect.to_person]
    assert held and all("their Slack time zone" in o.detail for o in held)
