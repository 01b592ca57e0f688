"""``ticketbot check``: every name the rules use, resolved against a site; trigger cycles between rules.

The sites are the EverBright demo site (in memory), the same site on the stateful fake Jira, and
a Zendesk flavour of it on the fake Zendesk; each test breaks one thing on the site (a renamed
field, a renamed status…) and expects the check to fail naming it and the closest name there is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import responses
import yaml
from typer.testing import CliRunner

from bot.check import (
    FAILED,
    MISSING,
    RESOLVED,
    UNCHECKED,
    Answer,
    Requirement,
    SlackResolver,
    Touch,
    TrackerResolver,
    Unavailable,
    closest_names,
    explain_rejection,
    run_check,
    trigger_edges,
)
from bot.cli.main import app
from bot.config import RuleBlock
from bot.effects import SetField
from bot.engine import BoundRule, Rule
from bot.settings import SlackSettings
from bot.slack.sender import SlackNotifier
from bot.trackers.base import Catalog
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.memory import MemoryTracker
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import Site
from bot.trackers.zendesk.adapter import ZendeskTracker
from rules import load_rules
from tests.fakes.fake_jira import FakeJira, load_specs
from tests.fakes.fake_slack import FakeSlack, urllib_via_requests
from tests.fakes.fake_zendesk import FakeZendesk

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "examples" / "everbright" / "site.yaml"
#: The EverBright block of the shipped config, on its own (the shipped file grows with other runbooks).
EVERBRIGHT_CONFIG = """
rules:
  everbright_onboarding:
    service_desk_project: SS
    config_project: CS
    approver: {email: david.ellis@goeverbright.com}
    account_managers:
      Brightside Installers: maria.lopez@goeverbright.com
      Sunpeak Solar: tom.becker@goeverbright.com
"""
CONFIG = Path(tempfile.mkdtemp(prefix="ticketbot-check-")) / "ticketbot.yaml"
CONFIG.write_text(EVERBRIGHT_CONFIG, encoding="utf-8")
BOT_EMAIL, TOKEN = "ticketbot@goeverbright.com", "fake-token"
runner = CliRunner()


def site_data(change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The demo site as YAML data, with a CS ticket (so the fake Jira knows project CS), changed by ``change``."""
    data = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    data["tickets"] = [{"key": "CS-1", "summary": "Configure Brightside Installers", "status": "On Hold"}]
    if change:
        change(data)
    return data


def rename_field(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        next(f for f in data["fields"] if f["name"] == old)["name"] = new
    return change


def write_site(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def everbright_rules() -> list[BoundRule]:
    return load_rules(CONFIG)


def trackers_only(tracker: Any) -> Callable[[set[str]], dict[str, Any]]:
    """Resolvers: ``tracker`` for Jira, Slack not configured."""
    return lambda systems: {"jira": TrackerResolver(tracker, tracker.name),
                            "slack": Unavailable("Slack", "Slack is not configured", fatal=False)}


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def table_row(output: str, what: str, name: str) -> list[str]:
    """The cells (rule, what, name, system, mark, detail) of the requirements table row for ``what`` ``name``."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]
    (row,) = [r for r in rows if r[1:3] == [what, name]]
    return row


# requirements and touches are checked when made ---------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "colour", "name": "red"}, "unknown requirement kind 'colour'"),
    ({"kind": "field", "name": "X", "system": "trello"}, "unknown system 'trello'"),
    ({"kind": "field", "name": "  ", "source": "rules.x.field"}, r"needs a name \(rules.x.field\)"),
    ({"kind": "option", "name": "Integrated Finance", "project": "SS"}, "needs its field as parent"),
    ({"kind": "status", "name": "Closed"}, "needs a project"),
])
def test_bad_requirements_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Requirement(**kwargs)


def test_bad_touches_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown touch kind 'everything'"):
        Touch("everything")


def test_check_knows_no_rule() -> None:
    """Every rule declares its own names: bot/check.py holds no rule-specific stand-in."""
    import bot.check

    source = Path(bot.check.__file__).read_text(encoding="utf-8").casefold()
    assert "everbright" not in source and "builtin_" not in source


def test_everbright_requirements_come_from_its_config_block() -> None:
    (bound,) = everbright_rules()
    reqs = bound.rule.requirements(bound.config)
    named = {(r.kind, r.name, r.project) for r in reqs}
    assert ("request_type", "Company-specific Data Change", "SS") in named
    assert ("option", "Integrated Finance", "SS") in named
    assert ("transition", "To Do", "CS") in named and ("status", "On Hold", "CS") in named
    assert ("user", "maria.lopez@goeverbright.com", None) in named
    assert ("slack_user", "david.ellis@goeverbright.com", None) in named
    assert ("link_type", "Duplicate", None) in named
    option = next(r for r in reqs if r.kind == "option")
    assert option.parent == "Needs Configuration?"
    assert option.source == "rules.everbright_onboarding.needs_configuration_value"
    organizations = [r for r in reqs if r.kind == "organization"]
    assert organizations and not any(r.required for r in organizations)  # created when first needed


def test_closest_names() -> None:
    names = ["Needs configuration (automation)", "Installer name", "Modules"]
    assert closest_names("Needs Configuration?", names) == ("Needs configuration (automation)",)
    assert closest_names("Colour", names) == ()


# against the in-memory site --------------------------------------------------------------------------
def test_the_demo_site_has_every_name(site: Site) -> None:
    report = run_check(everbright_rules(), lambda systems: {
        "jira": TrackerResolver(MemoryTracker(site), "memory"),
        "slack": Unavailable("Slack", "Slack is not configured", fatal=False)})
    assert report.failures == []
    assert report.exit_code() == 0
    outcomes = {(r.requirement.kind, r.requirement.name): r.outcome for r in report.resolutions}
    assert outcomes[("field", "Needs Configuration?")] == RESOLVED
    assert outcomes[("slack_user", "david.ellis@goeverbright.com")] == UNCHECKED
    assert outcomes[("organization", "sunpeak solar")] == MISSING  # optional: does not fail
    assert report.exit_code(strict=True) == 1  # the Slack row was not checked


def test_a_renamed_field_fails_and_names_the_closest(site: Site) -> None:
    data = site_data(rename_field("Needs Configuration?", "Needs configuration (automation)"))
    tracker = MemoryTracker(Site.model_validate(data))
    report = run_check(everbright_rules(), trackers_only(tracker))
    failing = {(r.requirement.kind, r.requirement.name): r for r in report.failures}
    assert set(failing) == {("field", "Needs Configuration?"), ("option", "Integrated Finance")}
    assert failing[("field", "Needs Configuration?")].closest == ("Needs configuration (automation)",)
    assert "field 'Needs Configuration?' not found" in failing[("option", "Integrated Finance")].detail
    assert report.exit_code() == 1


def test_each_kind_of_name_is_checked(site: Site) -> None:
    def break_everything(data: dict[str, Any]) -> None:
        data["service_desks"][0]["request_types"]["17"] = "Company Specific Data Change Request"
        data["statuses"] = [s if s != "On Hold" else "On hold (config)" for s in data["statuses"]]
        data["transitions"] = [t for t in data["transitions"] if t["to"] != "Closed"]
        data["link_types"] = [t for t in data["link_types"] if t["name"] != "Duplicate"]
        data["users"] = [u for u in data["users"] if not u["email"].startswith("tom.becker")]
        next(f for f in data["fields"] if f["name"] == "Needs Configuration?")["options"] = ["Finance (integrated)"]

    tracker = MemoryTracker(Site.model_validate(site_data(break_everything)))
    report = run_check(everbright_rules(), trackers_only(tracker))
    failing = {(r.requirement.what, r.requirement.name): r for r in report.failures}
    assert set(failing) == {
        ("request type in SS", "Company-specific Data Change"),
        ("status in CS", "On Hold"),
        ("transition to in SS", "Closed"),
        ("link type", "Duplicate"),
        ("user", "tom.becker@goeverbright.com"),
        ("option of 'Needs Configuration?' in SS", "Integrated Finance"),
    }
    assert failing[("request type in SS", "Company-specific Data Change")].closest == \
        ("Company Specific Data Change Request",)
    assert failing[("status in CS", "On Hold")].closest == ("On hold (config)",)
    assert "has no user with this e-mail" in failing[("user", "tom.becker@goeverbright.com")].detail


# the command, in process (CliRunner) -----------------------------------------------------------------
@pytest.fixture
def memory_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    def use(site_path: Path) -> None:
        monkeypatch.setenv("TICKETBOT_TRACKER", f"memory:{site_path}")
        monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    return use


def test_check_command_on_a_site_with_a_renamed_field(tmp_path: Path, memory_env: Callable[[Path], None]) -> None:
    memory_env(write_site(tmp_path, site_data(rename_field("Needs Configuration?", "Needs Configuration"))))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1, result.output
    row = table_row(result.output, "field", "Needs Configuration?")
    assert row[4] == "✗" and row[5] == "closest: 'Needs Configuration' (not found)"
    assert "FAILED: 2 missing or unreachable" in result.output


def test_check_command_on_a_correct_site(tmp_path: Path, memory_env: Callable[[Path], None]) -> None:
    memory_env(write_site(tmp_path, site_data()))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert table_row(result.output, "organization", "sunpeak solar")[4] == "✗"  # optional: reported, not failing
    assert "OK: 21 of 23 names found, 1 not checked, 1 optional missing" in result.output
    assert "Slack is not configured" in result.output
    assert runner.invoke(app, ["check", "--strict"]).exit_code == 1


def test_check_command_json(tmp_path: Path, memory_env: Callable[[Path], None]) -> None:
    memory_env(write_site(tmp_path, site_data(rename_field("Needs Configuration?", "Needs Config?"))))
    result = runner.invoke(app, ["check", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["ok"] is False
    field = next(r for r in data["requirements"] if r["kind"] == "field" and r["name"] == "Needs Configuration?")
    assert field["outcome"] == MISSING and field["closest"] == ["Needs Config?"]
    assert field["source"] == "rules.everbright_onboarding.needs_configuration_field"
    (edge,) = data["trigger_edges"]
    assert edge["writer"] == edge["reader"] == "everbright_onboarding" and edge["in_cycle"]
    assert "not yet as the runbook says" in edge["guard"]


def test_check_reads_the_daemons_live_memory_state(tmp_path: Path, memory_env: Callable[[Path], None]) -> None:
    from bot.effects import SetOrganization
    from bot.trackers.shared_memory import SharedMemoryTracker

    site_path = write_site(tmp_path, site_data())
    live = SharedMemoryTracker.open(f"memory:{site_path}")  # the daemon's state file, beside the site
    live.create_ticket("SS", "Service Request", "EverBright Partner Onboarding")
    live.update_fields("SS-1", [SetOrganization(rule_id="t", ticket_key="SS-1", step="o", name="Sunpeak Solar")])
    memory_env(site_path)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "OK: 22 of 23 names found, 1 not checked" in result.output  # the organization now exists


def test_a_tracker_that_is_not_configured_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1
    assert "TICKETBOT_JIRA__URL is not set" in result.output


def test_a_missing_site_file_is_a_configuration_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "check"], capture_output=True, text=True, check=False,
                            cwd=tmp_path, env=_env(tracker=f"memory:{tmp_path / 'nowhere.yaml'}"), timeout=120)
    assert result.returncode == 2
    assert "TICKETBOT_TRACKER: site file not found" in result.stderr


def _env(**ticketbot: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETBOT_")}
    env.update({f"TICKETBOT_{k.upper()}": v for k, v in ticketbot.items()})
    env["TICKETBOT_CONFIG"] = str(CONFIG)
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_ticketbot_check_as_a_real_process_on_the_demo_site(tmp_path: Path) -> None:
    """The installed console script, as an admin runs it."""
    script = Path(sys.executable).parent / "ticketbot"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    before = sorted(p.name for p in SITE.parent.iterdir())
    result = subprocess.run([*command, "check"], capture_output=True, text=True, check=False, cwd=ROOT,
                            timeout=120,
                            env=_env(tracker="memory:examples/everbright/site.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 21 of 23 names found" in result.stdout
    assert lines_with(result.stdout, "Company-specific Data Change")[0].count("✓") == 1
    assert sorted(p.name for p in SITE.parent.iterdir()) == before  # nothing written beside the site


# against the fake Jira (REST, spec-checked) --------------------------------------------------------
@pytest.fixture
def jira_site() -> Site:
    def rename(data: dict[str, Any]) -> None:
        rename_field("Needs Configuration?", "Needs configuration (automation)")(data)
        data["statuses"] = [s if s != "Waiting for support" else "Waiting for Support Team" for s in data["statuses"]]
        for t in data["transitions"]:
            if t["to"] == "Waiting for support":
                t["to"] = "Waiting for Support Team"
        data["transitions"] = [t for t in data["transitions"] if t["to"] != "Closed"]  # the status stays
    return Site.model_validate(site_data(rename))


@pytest.fixture
def fake_jira(jira_site: Site) -> Iterator[FakeJira]:
    with FakeJira(jira_site, specs=load_specs()) as fake:
        yield fake
        assert fake.violations == [], "requests that Atlassian's spec does not describe"
        assert fake.response_violations == []
        assert fake.unserved == []


def test_check_against_jira_names_renamed_fields_and_statuses(fake_jira: FakeJira) -> None:
    tracker = JiraTracker(fake_jira.base_url, BOT_EMAIL, TOKEN, sleep=lambda s: None)
    report = run_check(everbright_rules(), lambda systems: {
        "jira": TrackerResolver(tracker, "jira"), "slack": Unavailable("Slack", "no Slack", fatal=False)})
    failing = {(r.requirement.what, r.requirement.name): r for r in report.failures}
    assert set(failing) == {("field", "Needs Configuration?"),
                            ("option of 'Needs Configuration?' in SS", "Integrated Finance"),
                            ("status in SS", "Waiting for support"),
                            ("transition to in SS", "Closed")}
    assert failing[("field", "Needs Configuration?")].closest == ("Needs configuration (automation)",)
    assert failing[("status in SS", "Waiting for support")].closest[0] == "Waiting for Support Team"
    # Reads only: the one POST is Jira's bulk *read* of workflows.
    assert {c for c in fake_jira.writes} == {("POST", "/rest/api/2/workflows")}


def test_check_command_against_jira(fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"URL": fake_jira.base_url, "EMAIL": BOT_EMAIL, "API_TOKEN": TOKEN}.items():
        monkeypatch.setenv(f"TICKETBOT_JIRA__{key}", value)
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1, result.output
    row = table_row(result.output, "field", "Needs Configuration?")
    assert row[4] == "✗" and row[5].startswith("closest: 'Needs configuration (automation)'")
    assert TOKEN not in result.output


def test_a_jira_error_is_a_failure_not_a_miss(fake_jira: FakeJira) -> None:
    tracker = JiraTracker(fake_jira.base_url, BOT_EMAIL, TOKEN, max_retries=0, sleep=lambda s: None)
    fake_jira.throttle(50, status=429, retry_after="1")
    report = run_check(everbright_rules(), trackers_only(tracker))
    assert report.failures and all(r.outcome == FAILED for r in report.failures if r.requirement.system == "jira")
    assert "could not check" in report.failures[0].detail


# against the fake Zendesk, for a rule that declares its own requirements ------------------------------
class ZendeskTriage(Rule):
    """A test rule on Zendesk that declares requirements, writes and triggers itself."""

    id = "zendesk_triage"
    title = "test rule"
    Config = RuleBlock

    def requirements(self, config: RuleBlock) -> list[Requirement]:
        return [
            Requirement("field", "Needs Configuration?", system="zendesk"),
            Requirement("option", "Integrated Payments", "SS", system="zendesk", parent="Needs Configuration?"),
            Requirement("status", "On Hold", "SS", system="zendesk"),
            Requirement("transition", "Solved", "Support", system="zendesk"),
            Requirement("request_type", "Partner Onboarding", "SS", system="zendesk"),
            Requirement("link_type", "Duplicate", system="zendesk"),
            Requirement("organization", "Brightside Installers", system="zendesk"),
            Requirement("user", "david.ellis@goeverbright.com", system="zendesk"),
            Requirement("issue_type", "task", "SS", system="zendesk"),
        ]

    def writes(self, config: RuleBlock) -> list[Touch]:
        return [Touch("status", "solved", "SS", system="zendesk")]

    def triggers(self, config: RuleBlock) -> list[Touch]:
        return [Touch("field", "Needs Configuration?", "SS", system="zendesk")]


def test_check_against_zendesk_with_rule_declared_requirements() -> None:
    site = Site.model_validate(site_data(rename_field("Needs Configuration?", "Needs configuration")))
    with FakeZendesk(site, groups=["Support"]) as fake:
        tracker = ZendeskTracker(fake.url, BOT_EMAIL, TOKEN, sleep=lambda s: None)
        report = run_check([BoundRule(ZendeskTriage(), RuleBlock())],
                           lambda systems: {"zendesk": TrackerResolver(tracker, "zendesk")})
        assert fake.violations == [] and fake.unimplemented == []
        assert [c for c in fake.calls if c[0] != "GET"] == []
    outcomes = {(r.requirement.kind, r.requirement.name): r for r in report.resolutions}
    assert outcomes[("field", "Needs Configuration?")].closest == ("Needs configuration",)
    assert outcomes[("option", "Integrated Payments")].outcome == MISSING  # its field is gone
    assert outcomes[("status", "On Hold")].outcome == RESOLVED  # Zendesk's "hold"
    assert outcomes[("transition", "Solved")].outcome == RESOLVED
    assert outcomes[("request_type", "Partner Onboarding")].detail == "as 'Partner onboarding'"
    assert outcomes[("link_type", "Duplicate")].outcome == RESOLVED  # Zendesk records any link type
    assert outcomes[("organization", "Brightside Installers")].outcome == RESOLVED
    assert outcomes[("user", "david.ellis@goeverbright.com")].outcome == RESOLVED
    assert outcomes[("issue_type", "task")].outcome == RESOLVED
    assert report.edges == []  # it writes a status, it reacts to a field: no cycle
    assert report.undeclared == []


def test_a_zendesk_group_that_does_not_exist_is_missing() -> None:
    with FakeZendesk(Site.model_validate(site_data())) as fake:
        tracker = ZendeskTracker(fake.url, BOT_EMAIL, TOKEN, sleep=lambda s: None)
        answer = TrackerResolver(tracker).resolve(Requirement("status", "open", "Billing", system="zendesk"))
    assert answer.outcome == MISSING and "no Zendesk group named 'Billing'" in answer.detail


# Slack ---------------------------------------------------------------------------------------------
@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user("U0DAVID", "david.ellis@goeverbright.com", "David Ellis")
    fake.add_user("U0GONE", "gone@goeverbright.com", "Gone")
    fake.users["U0GONE"]["deleted"] = True
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, urllib_via_requests():
        fake.install(mock)
        yield fake


def test_slack_users_by_email_and_by_member_id(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier.from_settings(SlackSettings(bot_token=fake_slack.token, api_url=fake_slack.base_url),
                                           sleep=lambda s: None)
    slack = SlackResolver(notifier)

    def ask(name: str) -> Answer:
        return slack.resolve(Requirement("slack_user", name, system="slack"))

    assert ask("David.Ellis@goeverbright.com") == Answer(RESOLVED, "U0DAVID")
    assert ask("nobody@goeverbright.com").outcome == MISSING
    assert ask("U0DAVID") == Answer(RESOLVED, "David Ellis")
    assert ask("U0NOBODY").outcome == MISSING
    assert "deactivated" in ask("U0GONE").detail
    assert fake_slack.count("users.lookupByEmail") == 2 and fake_slack.count("users.info") == 3
    fake_slack.rate_limit(10, retry_after=60)  # longer than the client waits: a failure, not a miss
    assert ask("someone@goeverbright.com").outcome == FAILED


def test_check_command_with_slack_configured(tmp_path: Path, memory_env: Callable[[Path], None],
                                             fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    memory_env(write_site(tmp_path, site_data()))
    monkeypatch.setenv("TICKETBOT_SLACK__BOT_TOKEN", fake_slack.token)
    monkeypatch.setenv("TICKETBOT_SLACK__API_URL", fake_slack.base_url)
    result = runner.invoke(app, ["check", "--strict"])
    assert result.exit_code == 0, result.output
    assert table_row(result.output, "Slack user", "david.ellis@goeverbright.com")[4:] == ["✓", "U0DAVID"]
    assert "OK: 22 of 23 names found, 1 optional missing" in result.output


# trigger cycles ------------------------------------------------------------------------------------
def _rule(rule_id: str, writes: list[Touch], triggers: list[Touch]) -> BoundRule:
    class Declared(Rule):
        id: ClassVar[str] = rule_id
        title: ClassVar[str] = rule_id

        def requirements(self, config: RuleBlock) -> list[Requirement]:
            return []

    Declared.writes = lambda self, config: writes  # type: ignore[attr-defined]
    Declared.triggers = lambda self, config: triggers  # type: ignore[attr-defined]
    return BoundRule(Declared(), RuleBlock())


@pytest.mark.parametrize(("write", "trigger", "wakes"), [
    (Touch("field", "Priority", "SS"), Touch("field", "priority", "SS"), True),
    (Touch("field", "Priority", "SS"), Touch("field", None, None), True),
    (Touch("field", "Priority", "SS"), Touch("field", "Status", "SS"), False),
    (Touch("field", "Priority", "SS"), Touch("field", "Priority", "CS"), False),
    (Touch("comment", None, "SS"), Touch("any", None, "SS"), True),
    (Touch("ticket", None, "CS"), Touch("any", None, "CS"), False),  # creating is not changing
    (Touch("ticket", None, "CS"), Touch("ticket", None, "CS"), True),
    (Touch("status", "Done", "CS"), Touch("status", "Done", "CS", system="zendesk"), False),
])
def test_which_writes_wake_which_triggers(write: Touch, trigger: Touch, wakes: bool) -> None:
    assert write.wakes(trigger) is wakes


def test_trigger_pairs_cycles_and_guards() -> None:
    creator = _rule("creator", [Touch("ticket", None, "CS")], [Touch("status", "Done", "CS")])
    closer = _rule("closer", [Touch("status", "Done", "CS")], [Touch("ticket", None, "CS")])
    labeller = _rule(
        "labeller", [Touch("label", "seen", "SS")], [Touch("any", None, "SS", guard="label 'seen' absent")]
    )
    notifier = _rule("notifier", [], [Touch("label", "seen", "SS")])
    edges = {(e.writer, e.reader): e for e in trigger_edges([creator, closer, labeller, notifier])}
    assert set(edges) == {("creator", "closer"), ("closer", "creator"), ("labeller", "labeller"),
                          ("labeller", "notifier")}
    assert edges[("creator", "closer")].in_cycle and not edges[("creator", "closer")].guarded
    assert edges[("labeller", "labeller")].in_cycle and edges[("labeller", "labeller")].guarded
    assert not edges[("labeller", "notifier")].in_cycle


def test_unguarded_cycles_are_reported_and_fail_only_when_strict(tmp_path: Path) -> None:
    loop = _rule("loop", [Touch("field", "Priority", "SS")], [Touch("field", "Priority", "SS")])
    report = run_check([loop], lambda systems: {})
    assert [(e.writer, e.reader) for e in report.unguarded_cycles] == [("loop", "loop")]
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1


def test_rules_that_declare_nothing_are_named() -> None:
    class Silent(Rule):
        id = "silent"
        title = "declares nothing"

    report = run_check([BoundRule(Silent(), RuleBlock())], lambda systems: {})
    assert report.undeclared == [
        "silent: declares no requirements(config); its names were not checked",
        "silent: declares no writes(config) and triggers(config); trigger cycles through it were not checked"]


def test_disabled_rules_are_not_checked(site: Site) -> None:
    (bound,) = everbright_rules()
    disabled = BoundRule(bound.rule, bound.config.model_copy(update={"enabled": False}))
    report = run_check([disabled], lambda systems: pytest.fail("nothing to connect to"))
    assert report.resolutions == [] and report.edges == []


def test_every_tracker_is_a_catalog(site: Site) -> None:
    """``ticketbot check`` reads names through the typed Catalog port, not method names looked up by string."""

    with tempfile.TemporaryDirectory() as folder:
        shared = SharedMemoryTracker(site, Path(folder) / "state.db")
        trackers = [MemoryTracker(site), shared,
                    JiraTracker("https://x.atlassian.net", BOT_EMAIL, TOKEN),
                    ZendeskTracker("https://x.zendesk.com", BOT_EMAIL, TOKEN)]
        assert all(isinstance(t, Catalog) for t in trackers)
    assert not isinstance(object(), Catalog)


def test_a_rejection_on_a_tracker_without_a_catalog_names_no_closest(site: Site) -> None:
    effect = SetField(rule_id="r", ticket_key="SS-1", step="s", field="Needs Configuration", value=1)
    listed = explain_rejection(None, effect, "no field", MemoryTracker(site), name="Needs Configuration")
    bare = explain_rejection(None, effect, "no field", object(), name="Needs Configuration")
    assert listed.closest and not listed.found
    assert (bare.closest, bare.found) == ((), False)
