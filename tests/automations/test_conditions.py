"""Each condition of an automation, and how ``ticketbot why`` shows it: observed against expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.automations.support import (
    ANA,
    KARL,
    NINA,
    Desk,
    Helpdesk,
    at,
    automation,
    effects,
    play,
    verdicts,
    zendesk_site,
)

RULE = "automation:a"
NOTE = [{"comment": "ticketbot: matched {key}."}]


def _created(tmp_path: Path, conditions: list[Any], *, summary: str = "Invoice export fails",
             kind: str = "Service Request", fields: dict[str, Any] | None = None, assignee: str | None = NINA,
             description: str = "", labels: tuple[str, ...] = ()):  # noqa: ANN202 - a Run
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00", summary=summary, kind=kind)
    body = desk.create(sup, assignee=assignee, fields=fields or {}, description=description, labels=labels)
    return play(tmp_path, [body], automation("a", "created", NOTE, conditions=conditions))


@pytest.mark.parametrize(("conditions", "acts", "verdict"), [
    ([{"kind": "service request"}], True, ("issue type", True, "Service Request", "service request")),
    ([{"kind": ["Incident", "Problem"]}], False, ("issue type", False, "Service Request", ["Incident", "Problem"])),
    ([{"status": "open"}], True, ("status", True, "Open", ["open"])),
    ([{"field": "Customer tier", "equals": "enterprise"}], True, ("Customer tier", True, "Enterprise", "enterprise")),
    ([{"field": "Customer tier", "in": ["Free", "Pro"]}], False, ("Customer tier", False, "Enterprise",
                                                                   ["Free", "Pro"])),
    ([{"field": "Impact", "empty": True}], True, ("Impact", True, None, "empty")),
    ([{"field": "Customer tier", "empty": False}], True, ("Customer tier", True, "Enterprise", "any value")),
    ([{"field": "assignee", "equals": NINA}], True, ("assignee", True, NINA, NINA)),
    ([{"field": "Labels", "in": ["vip"]}], True, ("Labels", True, ["billing", "vip"], "vip")),
    ([{"not": {"kind": "Incident"}}], True, ("not issue type", True, "Service Request", "not 'Incident'")),
    ([{"any": [{"kind": "Incident"}, {"status": "Open"}]}], True, ("status", True, "Open", ["Open"])),
    ([{"all": [{"status": "Open"}, {"kind": "Incident"}]}], False, ("issue type", False, "Service Request",
                                                                     "Incident")),
    ([{"text": "summary", "contains": ["EXPORT", "import"]}], True, ("summary text", True, "EXPORT",
                                                                     "contains 'EXPORT' or 'import'")),
    ([{"text": "description", "regex": r"\bstores?\s+down\b"}], True, ("description text", True, "Stores  down",
                                                                        "matches /\\bstores?\\s+down\\b/")),
    ([{"text": "description", "regex": r"^outage"}], False, ("description text", False, "All Stores down since 2",
                                                             "matches /^outage/")),
    ([{"actor": KARL}], True, ("actor", True, KARL, f"one of {KARL}")),
    ([{"actor": {"not_email": [KARL, ANA]}}], False, ("actor", False, KARL, f"none of {KARL}, {ANA}")),
    ([{"actor": {"reporter": True}}], True, ("actor", True, KARL, f"the reporter ({KARL})")),
    ([{"actor": {"not_bot": True}}], True, ("actor is not ticketbot", True, KARL, "not ticketbot's own account")),
])
def test_each_condition_on_a_new_ticket(tmp_path: Path, conditions: list[Any], acts: bool,
                                        verdict: tuple[str, bool, Any, Any]) -> None:
    run = _created(tmp_path, conditions, fields={"Customer tier": "Enterprise"}, labels=("billing", "vip"),
                   description="All Stores  down since 2")
    assert effects(run, RULE) == (["internal comment: ticketbot: matched SUP-1."] if acts else [])
    assert verdicts(run, 0, RULE)[-1] == verdict


def test_every_condition_is_traced_even_after_one_failed(tmp_path: Path) -> None:
    run = _created(tmp_path, [{"kind": "Incident"}, {"status": "Done"}, {"field": "Impact", "equals": "Major"}])
    assert [(name, passed) for name, passed, _, _ in verdicts(run, 0, RULE)] == [
        ("project", True), ("trigger: ticket created", True), ("issue type", False), ("status", False),
        ("Impact", False)]
    trace = run.player.store.traces("SUP-1")[0]
    assert trace.rule_id == RULE and not trace.matched
    assert [v["name"] for v in trace.verdicts] == ["project", "trigger: ticket created", "issue type", "status",
                                                    "Impact"]
    assert trace.verdicts[-1]["observed"] is None and trace.verdicts[-1]["expected"] == "Major"


def test_the_project_and_the_tracker_come_first(tmp_path: Path) -> None:
    desk = Desk()
    other = desk.issue("OPS-1", "2026-11-02T09:00")
    run = play(tmp_path, [desk.create(other)], automation("a", "created", NOTE),
               automation("b", "created", NOTE, project=["ops", "SUP"]),
               automation("z", "created", NOTE, tracker="zendesk", project="Support"))
    assert verdicts(run, 0, RULE) == [("project", False, "OPS", "SUP")]
    assert effects(run, "automation:b") == ["internal comment: ticketbot: matched OPS-1."]
    assert verdicts(run, 0, "automation:z") == [("tracker", False, "jira", "zendesk")]


def test_a_comment_condition_reads_the_triggering_comment(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-02T09:00")
    events = [desk.create(sup),
              sup.comment(at("2026-11-02T10:00"), KARL, "Still BROKEN after the update", internal=False),
              sup.comment(at("2026-11-02T11:00"), KARL, "works now", internal=False)]
    run = play(tmp_path, events, automation("a", "commented", NOTE, conditions=[{"text": "comment",
                                                                                  "contains": "broken"}]),
               automation("b", "created", NOTE, conditions=[{"text": "comment", "contains": "broken"}]))
    assert len(effects(run, RULE)) == 1
    assert verdicts(run, 2, RULE)[-1] == ("comment text", False, "works now", "contains 'broken'")
    assert verdicts(run, 0, "automation:b")[-1] == ("comment text", False, "no comment in this event",
                                                    "contains 'broken'")


def test_zendesk_kind_is_the_form_and_tags_are_labels(tmp_path: Path) -> None:
    helpdesk = Helpdesk()
    ticket = helpdesk.ticket("5001", "2026-11-02T09:00", tags=("urgent", "vip"))
    run = play(tmp_path, [ticket.create(KARL)],
               automation("a", "created", NOTE, tracker="zendesk", project="Support",
                          conditions=[{"kind": "Support request"}, {"field": "tags", "in": ["URGENT"]},
                                      {"text": "subject", "regex": "down"}]),
               site=zendesk_site())
    assert effects(run, RULE) == ["internal comment: ticketbot: matched 5001."]
    assert verdicts(run, 0, RULE)[2:] == [
        ("ticket form or type", True, "Support request", "Support request"),
        ("tags", True, ["urgent", "vip"], "URGENT"),
        ("subject text", True, "down", "matches /down/")]


def test_a_regex_reads_a_bounded_text(tmp_path: Path) -> None:
    from rules.automations.conditions import REGEX_TEXT_LIMIT

    run = _created(tmp_path, [{"text": "description", "regex": "needle"}],
                   description="x" * REGEX_TEXT_LIMIT + " needle")
    assert effects(run, RULE) == []  # past the bound: not read
