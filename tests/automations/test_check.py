"""``ticketbot check`` resolves the names automations use, and reports the trigger cycles between them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.check import MISSING, RESOLVED, UNCHECKED, TrackerResolver, Unavailable, run_check, trigger_edges
from bot.cli.main import app
from bot.trackers.memory import MemoryTracker
from rules import load_rules
from rules.automations.rule import GUARD
from tests.automations.support import DEMO, LEAD, automation, jira_site, rules_of, zendesk_site


def _resolvers(site):  # noqa: ANN001, ANN202
    tracker = TrackerResolver(MemoryTracker(site), "memory")
    return lambda systems: {"jira": tracker, "zendesk": tracker,
                            "slack": Unavailable("Slack", "Slack is not configured", fatal=False)}


def test_the_demo_names_are_all_found_on_its_sites() -> None:
    rules = load_rules(DEMO / "ticketbot.yaml")
    jira = run_check([b for b in rules if b.config.tracker == "jira"], _resolvers(jira_site()))
    zendesk = run_check([b for b in rules if b.config.tracker == "zendesk"], _resolvers(zendesk_site()))
    for report in (jira, zendesk):
        assert report.failures == [] and report.undeclared == []
        assert {r.outcome for r in report.resolutions} <= {RESOLVED, UNCHECKED}
    found = {(r.rule_id, r.requirement.kind, r.requirement.name, r.requirement.source) for r in jira.resolutions}
    assert ("automation:major-incident", "field", "Impact", "automations.major-incident.trigger") in found
    assert ("automation:major-incident", "option", "Outage", "automations.major-incident.trigger") in found
    assert ("automation:major-incident", "option", "Highest", "automations.major-incident.actions[0].set.Priority") \
        in found
    assert ("automation:major-incident", "user", LEAD, "automations.major-incident.actions[1].watch") in found
    assert ("automation:link-problem", "link_type", "Relates", "automations.link-problem.actions[0].link.type") in found
    assert ("automation:waiting-for-customer-reminder", "status", "Waiting for customer",
            "automations.waiting-for-customer-reminder.actions[0].while[0]") in found
    assert ("automation:customer-replied", "transition", "Waiting for support",
            "automations.customer-replied.actions[0].transition") in found
    assert ("automation:waiting-for-customer-reminder", "issue_type", "Incident",
            "automations.waiting-for-customer-reminder.conditions[0]") in found
    slack = {(r.requirement.name, r.outcome) for r in zendesk.resolutions if r.requirement.kind == "slack_user"}
    assert slack == {("oncall@acme.example", UNCHECKED)}
    zfound = {(r.requirement.kind, r.requirement.name) for r in zendesk.resolutions}
    assert {("field", "Escalation"), ("option", "Urgent"), ("user", "oncall@acme.example")} <= zfound


def test_misspelt_names_fail_with_the_closest_and_the_key(tmp_path: Path) -> None:
    rules = rules_of(tmp_path, automation(
        "typos", {"status_changed": {"to": "Waiting for custmer"}},
        [{"set": {"Priorty": "High", "Impact": "Catastrophic", "Problem ticket": "SUP-2"}},
         {"transition": "Resolved"}, {"link": {"type": "Relates to", "to": "SUP-2"}},
         {"watch": "nobody@acme.example"}, {"comment": "{field:Customer teir}"}],
        conditions=[{"kind": "Bug"}]))
    report = run_check(rules, _resolvers(jira_site()))
    failing = {(r.requirement.kind, r.requirement.name): r for r in report.failures}
    assert set(failing) == {("status", "Waiting for custmer"), ("field", "Priorty"), ("option", "High"),
                            ("option", "Catastrophic"),
                            ("transition", "Resolved"), ("link_type", "Relates to"), ("user", "nobody@acme.example"),
                            ("field", "Customer teir"), ("issue_type", "Bug")}
    assert failing[("status", "Waiting for custmer")].closest[0] == "Waiting for customer"
    assert failing[("field", "Priorty")].closest == ("Priority",)
    assert failing[("field", "Priorty")].requirement.source == "automations.typos.actions[0].set.Priorty"
    assert failing[("link_type", "Relates to")].closest == ("Relates",)
    assert "field 'Priorty' not found" in failing[("option", "High")].detail  # its field is the miss
    # a text field takes any value: "SUP-2" is no option to look for
    text = next(r for r in report.resolutions if r.requirement.name == "SUP-2")
    assert text.outcome == RESOLVED and "offers no options" in text.detail
    assert report.exit_code() == 1


def _ping_pong(tmp_path: Path, *, own: bool):  # noqa: ANN202 - the bound rules
    more = {"handles_own_events": True} if own else {}
    return rules_of(tmp_path,
                    automation("ping", {"status_changed": {"to": "Waiting for support"}},
                               [{"transition": "In Progress"}], **more),
                    automation("pong", {"status_changed": {"to": "In Progress"}},
                               [{"transition": "Waiting for support"}], **more),
                    automation("quiet", {"field_changed": {"field": "Impact"}}, [{"comment": "x"}]))


def test_two_automations_that_wake_each_other_are_a_cycle_with_its_guard(tmp_path: Path) -> None:
    edges = trigger_edges(_ping_pong(tmp_path, own=False))
    pairs = {(e.writer, e.reader, e.in_cycle, e.trigger.guard) for e in edges}
    assert pairs == {("automation:ping", "automation:pong", True, GUARD),
                     ("automation:pong", "automation:ping", True, GUARD),
                     ("automation:ping", "automation:ping", True, GUARD),
                     ("automation:pong", "automation:pong", True, GUARD)}
    report = run_check(_ping_pong(tmp_path, own=False), _resolvers(jira_site()))
    assert report.unguarded_cycles == [] and report.exit_code(strict=True) == 0


def test_taking_ticketbots_own_events_leaves_the_cycle_unguarded(tmp_path: Path) -> None:
    report = run_check(_ping_pong(tmp_path, own=True), _resolvers(jira_site()))
    assert {(e.writer, e.reader) for e in report.unguarded_cycles} >= {("automation:ping", "automation:pong"),
                                                                       ("automation:pong", "automation:ping")}
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1


def test_the_check_command_lists_automations_and_their_cycle(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from tests.automations.support import write_config

    config = write_config(tmp_path / "rules.yaml", [
        automation("ping", {"status_changed": {"to": "Waiting for support"}}, [{"transition": "In Progress"}],
                   handles_own_events=True),
        automation("pong", {"status_changed": {"to": "In Progress"}}, [{"transition": "Waiting for support"}],
                   handles_own_events=True)])
    monkeypatch.setenv("TICKETBOT_CONFIG", str(config))
    monkeypatch.setenv("TICKETBOT_TRACKER", f"memory:{DEMO / 'site.yaml'}")
    result = CliRunner().invoke(app, ["check", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {(r["rule"], r["kind"], r["name"], r["outcome"]) for r in data["requirements"]} == {
        ("automation:ping", "status", "Waiting for support", RESOLVED),
        ("automation:ping", "transition", "In Progress", RESOLVED),
        ("automation:pong", "status", "In Progress", RESOLVED),
        ("automation:pong", "transition", "Waiting for support", RESOLVED)}
    assert {(e["writer"], e["reader"], e["in_cycle"], e["guard"]) for e in data["trigger_edges"]} >= {
        ("automation:ping", "automation:pong", True, ""), ("automation:pong", "automation:ping", True, "")}
    strict = CliRunner().invoke(app, ["check", "--strict"])
    assert strict.exit_code == 1 and "none declared" in strict.output


def test_a_missing_option_of_a_select_field_still_fails(tmp_path: Path) -> None:
    rules = rules_of(tmp_path, automation("a", "created", [{"set": {"Customer tier": "Platinum"}}]))
    (miss,) = run_check(rules, _resolvers(jira_site())).failures
    assert (miss.requirement.kind, miss.requirement.name, miss.outcome) == ("option", "Platinum", MISSING)
