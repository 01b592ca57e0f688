"""Invalid automations are refused when the rules load, in one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli.main import app
from bot.settings import ConfigurationError
from rules import load_rules
from tests.automations.support import CONFIG_DIR, DEMO, automation, write_config

GOOD = automation("a", "created", [{"comment": "hello {key}"}])


def _error(tmp_path: Path, *items: Any, **top: Any) -> str:
    path = write_config(tmp_path / "rules.yaml", items, **top)
    with pytest.raises(ConfigurationError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert "\n" not in text
    return text.removeprefix(f"{path}: ")


@pytest.mark.parametrize(("change", "line"), [
    ({"actions": [{"set": {"Priority": {"name": "High"}}}]},
     "automations[1].actions[0].set.Priority: a field value is text, a number, true/false, a list of those, or "
     "null (to clear it); got a mapping"),
    ({"actions": [{"set": {"Status": "Done"}}]},
     "automations[1].actions[0].set.Status: the status changes through a transition: write `transition: NAME` as an "
     "action"),
    ({"actions": [{"comment": "Hi {customer}"}]},
     "automations[1].actions[0].comment.text: unknown value {customer}; a text may use {key}, {summary}"),
    ({"actions": [{"comment": "a lone { brace"}]},
     "automations[1].actions[0].comment.text: a lone '{' at character 8: write a literal brace as {{"),
    ({"actions": [{"comment": {"text": "x", "public": True}}]},
     "automations[1].actions[0].comment.public: an automation's comments are internal; it never writes to the "
     "customer"),
    ({"customer_replies": True},
     "automations[1].customer_replies: an automation never writes to the customer"),
    ({"actions": [{"comment": "x", "transition": "Done"}]},
     "automations[1].actions[0]: an action is exactly one of set, comment, watch, transition, link, labels, tags, "
     "slack (found comment, transition)"),
    ({"actions": [{"comment": "x", "delay": "2 bussiness days"}]},
     "automations[1].actions[0].delay: not a delay: '2 bussiness days'"),
    ({"actions": [{"comment": "x", "while": [{"status": "Open"}]}]},
     "automations[1].actions[0].while: `while` is checked when a delay ends"),
    ({"actions": [{"comment": "x", "delay": "1bd", "while": [{"actor": "a@b.example"}]}]},
     "automations[1].actions[0].while[0]: a `while` condition is checked again later"),
    ({"actions": [{"slack": {"to": "the boss", "text": "x"}}]},
     "automations[1].actions[0].slack.to: 'the boss' is neither an e-mail address nor one of assignee, reporter, "
     "actor"),
    ({"actions": [{"link": {"type": "Relates", "to": "not a key"}}]},
     "automations[1].actions[0].link.to: 'not a key' is not a jira ticket key"),
    ({"actions": []}, "automations[1].actions: give at least one action"),
    ({"actions": [{"notify": "x"}]}, "automations[1].actions[0].notify: unknown key 'notify'"),
    ({"trigger": "create"}, "automations[1].trigger: unknown trigger 'create': created, updated, commented"),
    ({"trigger": {"created": None, "updated": None}},
     "automations[1].trigger: a trigger is exactly one of created, updated, commented, field_changed, "
     "status_changed, schedule (found created, updated)"),
    ({"trigger": {"schedule": {"cron": "*/5 * * * *"}}},
     "automations[1].trigger.schedule.cron: '*/5 * * * *': the minute must be one number"),
    ({"trigger": {"schedule": {"cron": "0 25 * * *"}}}, "automations[1].trigger.schedule.cron: '0 25 * * *' is not "
                                                        "a cron expression"),
    ({"trigger": {"schedule": {"every": "30m"}}}, "automations[1].trigger.schedule.every: at least 1 hour"),
    ({"trigger": {"schedule": {"every": "1bd"}}, "actions": [{"comment": "x", "delay": "1bd"}]},
     "automations[1].actions[0].delay: a scheduled automation acts at its ticks"),
    ({"conditions": [{"text": "summary", "equals": "x"}]},
     "automations[1].conditions[0].equals: 'equals' goes with `field:`, not with `text:`"),
    ({"conditions": [{"field": "Priority"}]},
     "automations[1].conditions[0]: a field condition's test is exactly one of equals, in, empty"),
    ({"conditions": [{"text": "summary", "regex": "(unclosed"}]},
     "automations[1].conditions[0].regex: not a regular expression: missing ), unterminated subpattern"),
    ({"conditions": [{"any": [{"kind": "Task"}, {"colour": "red"}]}]},
     "automations[1].conditions[0].any[1].colour: unknown key 'colour'"),
    ({"conditions": [{"actor": {"not_bot": True}}], "handles_own_events": True},
     "automations[1].conditions[0]: `actor: {not_bot: true}` contradicts `handles_own_events: true`"),
    ({"name": "Urgent Tickets"}, "automations[1].name: 'Urgent Tickets': a name is 1-64 lower-case letters"),
    ({"calendar": {"time_zone": "Mars/Olympus"}}, "automations[1].calendar.time_zone: unknown IANA time zone"),
    ({"tracker": "servicenow"}, "automations[1].tracker: Input should be 'jira' or 'zendesk'"),
    ({"project": None}, "automations[1].project: None is not a name"),
])
def test_a_mistake_is_one_line_naming_the_key(tmp_path: Path, change: dict[str, Any], line: str) -> None:
    broken = {**automation("b", "created", [{"comment": "x"}]), **change}
    assert _error(tmp_path, GOOD, broken).startswith(line)


def test_missing_keys_and_other_shapes(tmp_path: Path) -> None:
    assert _error(tmp_path, {"name": "a", "project": "SUP", "actions": [{"comment": "x"}]}) == \
        "automations[0].trigger: 'trigger' is missing"
    assert _error(tmp_path, "just a string") == ("automations[0]: an automation is a mapping (name, project, trigger, "
                                                 "conditions, actions), not str")
    path = tmp_path / "rules.yaml"
    path.write_text("automations: {a: 1}\n")
    with pytest.raises(ConfigurationError, match="automations: Input should be a valid list"):
        load_rules(path)


def test_names_are_unique(tmp_path: Path) -> None:
    assert _error(tmp_path, GOOD, {**GOOD, "project": "OPS"}) == (
        "automations[1].name: 'a' is the name of automations[0] too; names are unique (the rule id is "
        "automation:NAME)")


def test_included_files_add_automations_and_name_themselves_in_errors(tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    write_config(tmp_path / "more" / "extra.yaml", [automation("b", "created", [{"comment": "x"}])])
    rules = load_rules(write_config(tmp_path / "rules.yaml", [GOOD], include=["more/extra.yaml"]))
    assert [b.id for b in rules] == ["automation:a", "automation:b"]

    write_config(tmp_path / "more" / "bad.yaml", [automation("c", "created", [{"set": {"Summary": "x"}}])])
    with pytest.raises(ConfigurationError) as caught:
        load_rules(write_config(tmp_path / "rules.yaml", [GOOD], include=["more/bad.yaml"]))
    assert str(caught.value) == (f"{tmp_path / 'more' / 'bad.yaml'}: automations[0].actions[0].set.Summary: "
                                 "ticketbot does not set the summary (no such action)")

    write_config(tmp_path / "more" / "dup.yaml", [GOOD])
    with pytest.raises(ConfigurationError, match=r"dup.yaml: automations\[0\].name: 'a' is the name of "
                                                 r"automations\[0\] of .*rules.yaml too"):
        load_rules(write_config(tmp_path / "rules.yaml", [GOOD], include=["more/dup.yaml"]))

    (tmp_path / "more" / "rules.yaml").write_text(yaml.safe_dump({"rules": {"everbright_onboarding": {}}}))
    with pytest.raises(ConfigurationError, match="more/rules.yaml: rules: an included file holds only automations:"):
        load_rules(write_config(tmp_path / "rules.yaml", [], include=["more/rules.yaml"]))
    with pytest.raises(ConfigurationError, match=r"include\[0\]: file not found: .*nowhere.yaml"):
        load_rules(write_config(tmp_path / "rules.yaml", [], include=["nowhere.yaml"]))


def test_automations_sit_beside_rule_blocks(tmp_path: Path) -> None:
    rules = load_rules(write_config(tmp_path / "rules.yaml", [GOOD], rules={"everbright_onboarding": {}}))
    assert [b.id for b in rules] == ["everbright_onboarding", "automation:a"]
    assert rules[1].rule.title == "automation: on ticket created" and rules[1].config.enabled
    disabled = load_rules(write_config(tmp_path / "rules.yaml", [{**GOOD, "enabled": False}]))
    assert not disabled[0].config.enabled


def test_the_shipped_examples_and_the_demo_load() -> None:
    ids = [b.id for b in load_rules(DEMO / "ticketbot.yaml")]
    assert ids == ["automation:major-incident", "automation:link-problem", "automation:enterprise-morning-nudge",
                   "automation:waiting-for-customer-reminder", "automation:customer-replied",
                   "automation:urgent-ticket"]
    for name in ("automations-jira-waiting-for-customer.yaml", "automations-zendesk-urgent.yaml"):
        assert load_rules(CONFIG_DIR / name)


@pytest.mark.parametrize("command", [["check"], ["replay", str(DEMO / "events.jsonl")], ["rules"]])
def test_the_commands_stop_on_it_with_that_one_line(tmp_path: Path, command: list[str]) -> None:
    path = write_config(tmp_path / "rules.yaml", [{**GOOD, "actions": [{"set": {"Priority": ["a", {"b": 1}]}}]}])
    result = CliRunner().invoke(app, command, env={"TICKETBOT_CONFIG": str(path),
                                                   "TICKETBOT_TRACKER": f"memory:{DEMO / 'site.yaml'}"})
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.endswith(f"{path}: automations[0].actions[0].set.Priority: a field value is text, a number, "
                         "true/false, a list of those, or null (to clear it); got a list")


def test_ticketbot_rules_lists_the_automations() -> None:
    result = CliRunner().invoke(app, ["rules"], env={"TICKETBOT_CONFIG": str(DEMO / "ticketbot.yaml"),
                                                     "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "automation:urgent-ticket" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "automation:urgent-ticket",
        "An urgent ticket is tagged, noted, followed by on-call and told to on-call at once", "rules YAML", "yes",
        "Support"]
