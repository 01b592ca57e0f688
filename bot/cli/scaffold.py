"""``ticketbot new-runbook NAME --dir DIR``: an installable rule package to start a runbook from.

What it writes (``NAME`` a Python identifier, not a known rule id nor an importable module)::

    DIR/pyproject.toml          the package, its entry point in ticketbot.rules
    DIR/NAME/__init__.py
    DIR/NAME/rule.py            Config, two stages, a business-time deadline with reminders, its texts
    DIR/config.yaml             the block to paste under rules: in ticketbot's rules YAML
    DIR/tests/test_NAME.py      a table-driven test on the test kit (bot.testing)
    DIR/demo/site.yaml          a small Jira site
    DIR/demo/events.jsonl       what people did on it, as Jira's webhooks: ``ticketbot replay`` plays it

Right after ``pip install -e DIR``, ``ticketbot rules`` lists the rule, ``pytest DIR/tests`` passes and
``TICKETBOT_CONFIG=DIR/config.yaml ticketbot replay DIR/demo/events.jsonl`` plays the demo.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from bot.cli.common import out
from bot.settings import ConfigurationError

#: The demo's onboarding is opened on a Monday morning (UTC; the calendar is London's).
DEMO_START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
OWNER = "owner@example.com"
REQUESTER = "requester@example.com"


def validate_name(name: str) -> str:
    """``name`` when it can be a rule id and a package; a ConfigurationError saying why not otherwise."""
    from rules import known_rules

    if not name.isidentifier() or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigurationError(f"NAME: {name!r} is not a rule id: use lower-case letters, digits and _ "
                                 "(a Python identifier, e.g. acme_onboarding)")
    if keyword.iskeyword(name):
        raise ConfigurationError(f"NAME: {name!r} is a Python keyword")
    if name in known_rules():
        raise ConfigurationError(f"NAME: {name!r} is already a known rule id (see `ticketbot rules`)")
    if importlib.util.find_spec(name) is not None:
        raise ConfigurationError(f"NAME: a module {name!r} is already importable here; the package would be "
                                 "shadowed or shadow it: choose another name")
    return name


def new_runbook(
    name: Annotated[str, typer.Argument(help="The rule id and package name, e.g. acme_onboarding.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the package (must be empty or new).")],
) -> None:
    """Write an installable rule package: the rule, its config block, a test on the test kit and a demo."""
    validate_name(name)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigurationError(f"--dir: {directory} exists and is not an empty directory")
    for path, text in render(name).items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    out.print(f"Wrote the rule package {name} in {directory}. Next:\n"
              f"  pip install -e {directory}\n"
              f"  ticketbot rules                      # lists {name}\n"
              f"  pytest {directory / 'tests'}\n"
              f"  TICKETBOT_CONFIG={directory / 'config.yaml'} ticketbot replay {directory / 'demo' / 'events.jsonl'}\n"
              f"then paste {directory / 'config.yaml'}'s block under rules: in your rules YAML.", markup=False)


def render(name: str) -> dict[str, str]:
    """Every file of the package, by path."""
    values = {"name": name, "Class": "".join(p.capitalize() for p in name.split("_")),
              "title": name.replace("_", " ").capitalize(), "dist": name.replace("_", "-"), "owner": OWNER}
    files = {path: Template(text).substitute(values) for path, text in _FILES.items()}
    files = {path.replace("NAME", name): text for path, text in files.items()}
    files["demo/site.yaml"] = _SITE
    files["demo/events.jsonl"] = demo_events()
    return files


def demo_events() -> str:
    """The demo: one onboarding opened on Monday and left alone until the reminders ring, a second one done the
    same day; written with the test kit's Jira webhook builder, on the demo site."""
    import yaml

    from bot.testing import Issue, JiraWebhooks
    from bot.trackers.site import Site

    site = Site.model_validate(yaml.safe_load(_SITE))
    hooks = JiraWebhooks(site, "https://example.atlassian.net")
    slow = Issue(hooks, "ONB-1", summary="Onboarding of Acme Ltd", issue_type="Task", status="Open",
                 created=DEMO_START)
    quick = Issue(hooks, "ONB-2", summary="Onboarding of Brightside Ltd", issue_type="Task", status="Open",
                  created=DEMO_START + timedelta(minutes=30))
    bodies = [slow.create(REQUESTER), quick.create(REQUESTER),
              quick.move(DEMO_START + timedelta(hours=5), OWNER, "Done"),
              slow.move(DEMO_START + timedelta(days=8, hours=2), OWNER, "Done")]
    return "".join(json.dumps(body, ensure_ascii=False) + "\n" for body in bodies)


_SITE = """\
# The demo's Jira site: one project (ONB), its people and its workflow.
base_url: https://example.atlassian.net
bot_account: {account_id: "bot-0001", email: "ticketbot@example.com", display_name: "ticketbot"}
users:
  - {account_id: "acc-owner", email: "owner@example.com", display_name: "Olive Owner"}
  - {account_id: "acc-requester", email: "requester@example.com", display_name: "Rex Requester"}
issue_types: [Task]
statuses: [Open, In Progress, Done]
transitions:
  - {id: "11", name: Start, to: In Progress}
  - {id: "21", name: Done, to: Done}
  - {id: "31", name: Reopen, to: Open}
"""

_FILES = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a ticketbot runbook."
requires-python = ">=3.11"
dependencies = ["ticketbot"]

# ticketbot finds its rules here: the rule id = "module:Class".
[project.entry-points."ticketbot.rules"]
$name = "$name.rule:$Class"

[tool.setuptools]
packages = ["$name"]
""",
    "NAME/__init__.py": '''\
"""$title: a ticketbot runbook (rule id ``$name``)."""
''',
    "NAME/rule.py": '''\
"""$title: a ticket of kind ``issue_type`` in ``project`` is an onboarding; ticketbot notes who owns it, reminds
the owner on Slack while it is not done (``follow_up``, in business time on ``calendar``; messages wait for
working hours), and notes when it is done.

Stages: ``opened`` (any ticket of the kind) and ``done`` (a status of ``done_statuses``). Every text is a
template (``TEXTS`` below), overridable per block under ``templates:``. Only ``bot.api`` is imported: that is
ticketbot's promise to rule packages.
"""

from __future__ import annotations

from pydantic import Field

from bot.api import (
    Acts,
    Alarm,
    Alarms,
    Always,
    BusinessCalendar,
    Catalogue,
    Deadline,
    Declarations,
    Effect,
    Facts,
    Person,
    Runbook,
    RunbookConfig,
    RunbookRule,
    Stage,
    StatusIn,
    Ticket,
    Verdict,
    kind_is,
    one_line,
    per_config,
    template,
)


class Config(RunbookConfig):
    project: str = "ONB"
    issue_type: str = "Task"
    done_statuses: list[str] = Field(default_factory=lambda: ["Done"])
    owner: Person = Person(email="$owner")
    #: The first reminder after 2 business days without being done, then every business day, 3 more at most.
    follow_up: Alarms = Alarms(due="2 business days", remind_every="1 business day", max_reminders=3)
    calendar: BusinessCalendar = BusinessCalendar(time_zone="Europe/London", country="GB")


class $Class(RunbookRule[Config]):
    id = "$name"
    title = "$title"

    def checks(self, cfg: Config, ticket: Ticket) -> list[Verdict]:
        return [*super().checks(cfg, ticket), kind_is(ticket, cfg.issue_type)]

    def runbook(self, cfg: Config) -> Runbook:
        return runbook(cfg, self.id)

    def declarations(self, config: Config) -> Declarations:
        return Declarations(
            self.id, config, [runbook(config, self.id)],
            guard="acts only when the ticket enters a later stage (its stage is recorded) or its own timer rings",
            kinds={"issue_type": config.issue_type}, people={"owner": config.owner})


@per_config
def runbook(cfg: Config, rule_id: str) -> Runbook:
    stages = (
        Stage("opened", Always("onboarding ticket"), lambda facts, acts: opened(cfg, facts, acts)),
        Stage("done", StatusIn(tuple(cfg.done_statuses)), lambda facts, acts: done(cfg, facts, acts)),
    )
    follow_up = Deadline("follow_up", starts="opened", stops=("done",), alarms=cfg.follow_up,
                         ring=lambda facts, acts, alarm: remind(cfg, facts, acts, alarm))
    return Runbook(rule_id, stages, (follow_up,), cfg.calendar)


def opened(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    return [acts.comment("note", cfg.words("opened_note", owner=cfg.owner.email, after=cfg.follow_up.due),
                         mentions=[cfg.owner.email])]


def remind(cfg: Config, facts: Facts, acts: Acts, alarm: Alarm) -> list[Effect]:
    t = facts.ticket
    number = 1 if alarm.kind == "due" else alarm.n + 1
    return [acts.slack("owner", cfg.words("reminder", n=number, summary=one_line(t.summary), key=t.key),
                       to=cfg.owner)]


def done(cfg: Config, facts: Facts, acts: Acts) -> list[Effect]:
    return [acts.comment("note", cfg.words("done_note"))]


TEXTS = Catalogue(
    template("opened_note", "owner after",
             "ticketbot: {owner} owns this onboarding; reminders start after {after} if it is not done."),
    template("reminder", "n summary key", "Reminder {n}: {summary} ({key}) is still not done."),
    template("done_note", "", "ticketbot: onboarding done; no more reminders."),
)
Config.texts = TEXTS
''',
    "config.yaml": """\
# Paste the block under rules: in ticketbot's rules YAML (TICKETBOT_CONFIG); set only what differs.
rules:
  $name:
    project: ONB
    issue_type: Task
    done_statuses: [Done]
    owner: {email: $owner}
    follow_up: {due: 2 business days, remind_every: 1 business day, max_reminders: 3}
    calendar: {time_zone: Europe/London, country: GB}
    # language: en
    # templates:
    #   reminder: "Reminder {n}: {summary} ({key}) is waiting for you."
""",
    "tests/test_NAME.py": '''\
"""$title, table-driven on ticketbot's test kit: what people do, and what the runbook must have done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.testing import Issue, JiraWebhooks, load_site, replay

HERE = Path(__file__).resolve().parent.parent
SITE = load_site(HERE / "demo" / "site.yaml")
CONFIG = HERE / "config.yaml"
OWNER, REQUESTER = "$owner", "requester@example.com"
MONDAY = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # 09:00 in London (winter time)
UNTIL = MONDAY + timedelta(days=21)

CASES = [
    # (what happens, (hours after opening, new status)..., stages reached, reminders to the owner)
    ("done the same day: no reminder", [(5, "Done")], ["opened", "done"], 0),
    ("never done: the first reminder after 2 business days, 3 more", [], ["opened"], 4),
    ("done on Thursday, after two reminders", [(72, "Done")], ["opened", "done"], 2),
]


@pytest.mark.parametrize(("what", "moves", "stages", "reminders"), CASES, ids=[c[0] for c in CASES])
def test_the_runbook(what: str, moves: list[tuple[int, str]], stages: list[str], reminders: int) -> None:
    ticket = Issue(JiraWebhooks(SITE, "https://example.atlassian.net"), "ONB-1", summary="Onboarding of Acme",
                   issue_type="Task", status="Open", created=MONDAY)
    events = [ticket.create(REQUESTER)]
    events += [ticket.move(MONDAY + timedelta(hours=hours), OWNER, status) for hours, status in moves]
    run = replay(events, site=SITE, config=CONFIG, until=UNTIL)
    assert run.errors() == []
    assert run.stages("$name", "ONB-1") == stages
    sent = run.slack_to(OWNER)
    assert len(sent) == reminders, sent
    assert all("ONB-1" in text for text in sent)
    assert all(9 <= _hour(run, message) < 17 for message in run.slack)  # quiet hours: London working hours
    assert any(OWNER in comment for comment in run.comments("ONB-1"))  # the opening note names the owner


def _hour(run, message) -> int:  # noqa: ANN001
    """The London hour the message was delivered at (quiet hours: only in working hours)."""
    from zoneinfo import ZoneInfo

    step = next(s for s in run.steps for o in s.report.outcomes if o.effect.key == message.key
                and o.status == "applied")
    return step.event.occurred_at.astimezone(ZoneInfo("Europe/London")).hour
''',
}


def register(app: typer.Typer) -> None:
    app.command("new-runbook")(new_runbook)
