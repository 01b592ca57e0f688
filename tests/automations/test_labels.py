"""The ``labels`` action (``tags`` on Zendesk: the same action): labels put on a ticket and taken off, once.

Jira Automation's "Edit issue → Labels: add" and Zendesk triggers' "Add tags" / "Remove tags": desired state,
so a ticket that already has them gets no write, and a redelivered event none either.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bot.check import run_check, trigger_edges
from bot.clock import VirtualClock
from bot.executor import ALREADY, APPLIED, REJECTED
from bot.model import MANUAL, Event
from bot.pipeline import Processor
from bot.settings import ConfigurationError
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import SiteTicket
from rules import load_rules
from rules.automations.rule import GUARD
from tests.automations.support import (
    ANA,
    KARL,
    NINA,
    OMAR,
    Desk,
    Helpdesk,
    at,
    automation,
    effects,
    jira_site,
    play,
    rules_of,
    write_config,
    zendesk_site,
)
from tests.automations.test_check import _resolvers

RULE = "automation:a"
TRIAGE = automation("a", "created", [{"labels": {"add": ["needs-triage", "from-portal"]}}])


def test_created_adds_the_labels(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T10:00")
    run = play(tmp_path, [desk.create(sup, labels=("customer",))], TRIAGE)
    assert effects(run, RULE) == ["add labels needs-triage, from-portal"]
    assert run.ticket("SUP-1").labels == ("customer", "needs-triage", "from-portal")  # a person's label stays
    assert run.changes == ["SUP-1: labels + needs-triage, from-portal"]


def test_labels_already_there_are_not_written_and_removal_of_absent_ones_neither(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T10:00")
    run = play(tmp_path, [desk.create(sup, labels=("needs-triage",))],
               automation("a", "created", [{"labels": {"add": "needs-triage", "remove": ["spam"]}}]))
    (outcome,) = run.steps[0].report.outcomes
    assert (outcome.status, outcome.detail) == (ALREADY, "already true on the ticket")
    assert outcome.effect.describe() == "add label needs-triage; remove label spam"
    assert run.changes == []


def test_the_same_event_delivered_twice_writes_once(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T09:00")
    moved = sup.move(at("2026-11-03T10:00"), NINA, "In Progress")
    action = automation("a", {"status_changed": {"to": "In Progress"}},
                        [{"labels": {"add": ["in-flight"], "remove": ["customer"]}}])
    events = [desk.create(sup, labels=("customer",)), _envelope(moved, "delivery-1"),
              _envelope(copy.deepcopy(moved), "delivery-2")]
    run = play(tmp_path, events, action)
    assert [o.status for o in run.steps[1].report.outcomes] == [APPLIED]
    assert [(o.status, o.detail) for o in run.steps[2].report.outcomes] == [(ALREADY, "recorded as applied earlier")]
    assert run.changes == ["SUP-1: labels + in-flight - customer"]  # ticketbot's changes: the label change once
    assert run.ticket("SUP-1").labels == ("in-flight",)


def test_zendesk_tags_are_the_same_action_lower_cased(tmp_path: Path) -> None:
    helpdesk = Helpdesk()
    ticket = helpdesk.ticket("5001", "2026-11-07T02:10", tags=("vip", "new-customer"))
    run = play(tmp_path, [ticket.create(KARL)],
               automation("a", "created", [{"tags": {"add": ["Ticketbot-Urgent"], "remove": ["new-customer"]}}],
                          tracker="zendesk", project="Support"), site=zendesk_site())
    assert effects(run, RULE) == ["add label ticketbot-urgent; remove label new-customer"]
    assert run.ticket("5001").labels == ("vip", "ticketbot-urgent")


def test_a_dry_run_says_what_it_would_change(tmp_path: Path) -> None:
    site = jira_site()
    site.tickets.append(SiteTicket(key="SUP-9", summary="Printer", status="Waiting for customer",
                                   issue_type="Incident", reporter=ANA, assignee=OMAR, labels=["stale"]))
    rules = rules_of(tmp_path, automation("waiting", {"status_changed": {"to": "Waiting for customer"}},
                                          [{"labels": {"add": ["waiting"], "remove": ["stale"]}}]))
    clock = VirtualClock(at("2026-11-06T10:00"))
    tracker = MemoryTracker(site)
    processor = Processor(rules, tracker, Store("sqlite://"), clock, scope="dry-run", dry_run=True,
                          record_traces=False)
    report = processor.process(Event(id="dry-run:1", source="cli", kind=MANUAL, ticket_key="SUP-9",
                                     occurred_at=clock.now()))
    (waiting,) = report.rules
    assert [(o.status, o.effect.describe()) for o in waiting.outcomes] == [
        ("would-apply", "add label waiting; remove label stale")]
    assert tracker.log == [] and tracker.tickets["SUP-9"].labels == ["stale"]


def test_a_label_a_rule_module_gives_with_a_space_is_not_sent_and_said(tmp_path: Path) -> None:
    from bot.effects import ChangeLabels
    from bot.executor import Executor

    site = jira_site()
    site.tickets.append(SiteTicket(key="SUP-9", summary="Printer", status="Open", issue_type="Incident",
                                   reporter=ANA))
    tracker = MemoryTracker(site)
    effect = ChangeLabels(rule_id="r", ticket_key="SUP-9", step="s", add=("needs triage",))
    (outcome,) = Executor(tracker, Store("sqlite://"), VirtualClock(at("2026-11-06T10:00")), scope="t").apply([effect])
    assert outcome.status == REJECTED
    assert outcome.detail == ("not sent: 'needs triage' has a space: a Jira label is one word; write it with - or _ "
                              "instead")
    assert tracker.tickets["SUP-9"].labels == []
    assert tracker.log[-1].startswith("SUP-9: internal comment: ticketbot did not add label needs triage")


# loading ------------------------------------------------------------------------------------------------
def _error(tmp_path: Path, action: Any, **more: Any) -> str:
    path = write_config(tmp_path / "rules.yaml", [automation("b", "created", [{"comment": "x"}, action], **more)])
    with pytest.raises(ConfigurationError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert "\n" not in text
    return text.removeprefix(f"{path}: ")


@pytest.mark.parametrize(("action", "line"), [
    ({"labels": {"add": []}}, "automations[0].actions[1].labels.add: give at least one label (or leave the key out)"),
    ({"labels": {}}, "automations[0].actions[1].labels: give labels to `add`, to `remove`, or both"),
    ({"labels": {"add": ["ok", "needs triage"]}},
     "automations[0].actions[1].labels.add[1]: 'needs triage' has a space: a label is one word (Jira refuses it, "
     "Zendesk splits it into several tags); write it with - or _ instead"),
    ({"labels": {"remove": [""]}}, "automations[0].actions[1].labels.remove[0]: an empty label"),
    ({"labels": {"add": ["{key}-seen"]}},
     "automations[0].actions[1].labels.add[0]: '{key}-seen': labels are written as given, placeholders are not "
     "filled in"),
    ({"labels": {"add": [{"name": "x"}]}},
     "automations[0].actions[1].labels.add[0]: {'name': 'x'} is not a label (text)"),
    ({"labels": {"add": ["a"], "remove": ["A"]}},
     "automations[0].actions[1].labels.remove: 'a' is also added: a label is either added or removed"),
    ({"labels": {"add": ["x" * 256]}}, "automations[0].actions[1].labels.add[0]: a Jira label has at most 255 "
                                       "characters"),
    ({"labels": {"put": ["x"]}}, "automations[0].actions[1].labels.put: unknown key 'put'"),
    ({"set": {"Labels": ["x"]}}, "automations[0].actions[1].set.Labels: labels are added and removed by their own "
                                 "action: `labels: {add: [NAME], remove: [NAME]}`"),
    ({"set": {"tags": "x"}}, "automations[0].actions[1].set.tags: tags are added and removed by their own action: "
                             "`tags: {add: [NAME], remove: [NAME]}`"),
    ({"labels": ["a"], "tags": ["b"]}, "automations[0].actions[1]: an action is exactly one of set, comment, watch, "
                                       "transition, link, labels, tags, slack (found labels, tags)"),
])
def test_a_mistake_is_one_line_naming_the_key(tmp_path: Path, action: dict[str, Any], line: str) -> None:
    assert _error(tmp_path, action) == line


def test_a_long_tag_is_fine_on_zendesk_and_the_list_shorthand_adds(tmp_path: Path) -> None:
    (bound,) = rules_of(tmp_path, automation("b", "created", [{"tags": ["x" * 300, "b"]}], tracker="zendesk",
                                             project="Support"))
    assert bound.config.actions[0].label_change.add == ("x" * 300, "b")


# loops and ``ticketbot check`` ----------------------------------------------------------------------------
def test_labels_need_nothing_looked_up_and_their_cycle_is_guarded(tmp_path: Path) -> None:
    own = automation("a", {"field_changed": {"field": "labels"}}, [{"labels": {"add": ["seen"]}}],
                     conditions=[{"field": "labels", "in": ["customer"]}])
    report = run_check(rules_of(tmp_path, own), _resolvers(jira_site()))
    assert report.exit_code(strict=True) == 0 and report.unguarded_cycles == []
    assert [r for r in report.resolutions if r.rule_id == RULE] == []  # free text: nothing to look up
    edges = trigger_edges(rules_of(tmp_path, own))
    assert {(e.writer, e.reader, e.in_cycle, e.trigger.guard) for e in edges} == {(RULE, RULE, True, GUARD)}
    loose = run_check(rules_of(tmp_path, {**own, "handles_own_events": True}), _resolvers(jira_site()))
    assert {(e.writer, e.reader) for e in loose.unguarded_cycles} == {(RULE, RULE)}


def _envelope(body: dict[str, Any], delivery: str) -> dict[str, Any]:
    return {"source": "jira", "headers": {"X-Atlassian-Webhook-Identifier": delivery}, "body": body}
