"""Issue 15's scenario: CS goes on hold on a Friday evening and no approval ever comes. With the shipped block
(reminders in business days through the New York calendar), no Slack message reaches anyone at night or at the
weekend, and the approver is still reminded, inside working hours."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.executor import APPLIED
from tests.rules.scenario import run
from tests.support.paths import EXAMPLES

NEW_YORK = ZoneInfo("America/New_York")
APPROVER = "david.ellis@goeverbright.com"
FRIDAY_9PM_UTC = datetime(2026, 11, 6, 21, 0, tzinfo=UTC)  # 16:00 in New York


def _shifted_until_on_hold() -> list[dict]:
    """The EverBright demo up to both CS tickets going on hold, moved so the first goes on hold on Friday at
    21:00 UTC; the approvals and everything after are left out."""
    records = [json.loads(line) for line in (EXAMPLES / "everbright" / "events.jsonl").read_text().splitlines()]
    on_hold = next(i for i, r in enumerate(records) if any(
        item.get("toString") == "On Hold" for item in (r.get("changelog") or {}).get("items", [])))
    kept = records[:on_hold + 2]  # CS-201 and CS-202 on hold
    shift = int(FRIDAY_9PM_UTC.timestamp() * 1000) - kept[on_hold]["timestamp"]
    for record in kept:
        record["timestamp"] += shift
    return kept


def _working_hours(moment: datetime) -> bool:
    local = moment.astimezone(NEW_YORK)
    return local.weekday() < 5 and 9 <= local.hour < 17


def test_cs_on_hold_friday_evening_reminds_only_in_new_york_working_hours(tmp_path: Path) -> None:
    result = run("everbright", tmp_path, _shifted_until_on_hold(), until=FRIDAY_9PM_UTC + timedelta(days=10))
    assert result.errors() == []
    sent = [(step.event.occurred_at, outcome.effect) for step in result.steps for rule in step.report.rules
            for outcome in rule.outcomes if outcome.effect.kind == "slack_message" and outcome.status == APPLIED]
    assert sent, "the approver was never reminded"
    outside = [(at.astimezone(NEW_YORK).isoformat(), effect.describe()) for at, effect in sent
               if not _working_hours(at)]
    assert outside == []
    first = min(at for at, effect in sent if effect.user_email == APPROVER)  # (an admin alert goes at once)
    assert first.astimezone(NEW_YORK) == datetime(2026, 11, 9, 16, 0, tzinfo=NEW_YORK)  # Monday, not Saturday
