"""README "Writing a runbook": its example module runs as printed, across a weekend on a virtual clock."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from bot.config import validate_block
from bot.engine import BoundRule
from bot.replay import Replay
from bot.store import Store
from bot.trackers.site import Site

README = Path(__file__).resolve().parents[2] / "README.md"
FRIDAY = datetime(2026, 11, 6, 14, 0, tzinfo=UTC)  # 15:00 in Stockholm
SITE = {
    "base_url": "https://acme.atlassian.net",
    "bot_account": {"account_id": "bot-1", "email": "ticketbot@acme.example", "display_name": "ticketbot"},
    "users": [{"account_id": "am-1", "email": "anna@acme.example", "display_name": "Anna (AM)"}],
    "fields": [{"id": "customfield_10100", "name": "Welcome call", "type": "option", "options": ["Done", "Missed"]}],
    "issue_types": ["New customer", "Task"],
    "statuses": ["Open", "Done"],
}


@pytest.fixture(scope="module")
def welcome_call() -> ModuleType:
    section = README.read_text(encoding="utf-8").split("## Writing a runbook", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's worked example is gone"
    spec = importlib.util.spec_from_loader("welcome_call_from_readme", loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module.__name__] = module  # dataclasses and pydantic look their module up
    exec(compile(code.group(1), str(README), "exec"), module.__dict__)  # noqa: S102 - the README's own code
    yield module
    del sys.modules[module.__name__]


def _created(key: str, at: datetime, summary: str) -> dict:
    ms = int(at.timestamp() * 1000)
    return {"webhookEvent": "jira:issue_created", "timestamp": ms, "issue_event_type_name": "issue_created",
            "user": {"accountId": "am-1", "displayName": "Anna (AM)"},
            "issue": {"id": "30001", "key": key, "fields": {
                "summary": summary, "issuetype": {"name": "New customer"}, "project": {"key": "CUS"},
                "status": {"name": "Open"}, "created": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "updated": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "labels": []}}}


@pytest.mark.parametrize(("language", "note", "chase"), [
    ("en", "ticketbot: a welcome call is due within 2 business days.",
     "CUS-1 (Sunpeak Solar) has had no welcome call yet (due Nov 10, 2026 3:00 PM)."),
    ("sv", "ticketbot: ett välkomstsamtal ska ringas inom 2 arbetsdagar.",
     "CUS-1 (Sunpeak Solar) har inte fått något välkomstsamtal än (senast 10 nov. 2026 15:00)."),
])
def test_the_readme_example_welcomes_then_chases_on_working_days_only(welcome_call, tmp_path, language, note, chase):
    rule = welcome_call.WelcomeCall()
    config = validate_block("welcome_call", welcome_call.Config,
                            {"account_manager": {"email": "anna@acme.example"}, "language": language},
                            tmp_path / "ticketbot.yaml")
    player = Replay([BoundRule(rule, config)], Site.model_validate(SITE),
                    Store(f"sqlite:///{tmp_path / 'replay.sqlite3'}"), scope="readme")
    steps = list(player.run([_created("CUS-1", FRIDAY, "Sunpeak Solar")],
                            until=datetime(2026, 11, 17, 12, 0, tzinfo=UTC)))
    assert [r.result.error for s in steps for r in s.report.rules if r.result.error] == []
    comments = [c.body for c in player.tracker.tickets["CUS-1"].comments]
    assert comments == [note]
    chased = [m for m in player.notifier.sent if m.user_email == "anna@acme.example"]
    # Due Tuesday 15:00 Stockholm (two working days after Friday 15:00; the date in the block's time zone), then a
    # reminder each working day, two at most: Wednesday and Thursday, and then silence.
    assert [m.text for m in chased] == [chase] * 3
    fired = [s.event.occurred_at for s in steps if s.event.kind == "timer.fired"]
    assert fired == [datetime(2026, 11, day, 14, 0, tzinfo=UTC) for day in (10, 11, 12)]


def test_the_readme_example_imports_only_the_rule_api() -> None:
    section = README.read_text(encoding="utf-8").split("### A worked example", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    imports = re.findall(r"^from (\S+) import", code.group(1), re.M)
    assert set(imports) == {"__future__", "bot.api"}
