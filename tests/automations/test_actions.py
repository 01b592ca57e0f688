"""Each action of an automation: set fields, comment (internal, from a template), watch, transition, link, Slack."""

from __future__ import annotations

from pathlib import Path

from bot.text import BACKSLASH
from tests.automations.support import (
    ANA,
    KARL,
    LEAD,
    NINA,
    ONCALL,
    Desk,
    Helpdesk,
    at,
    automation,
    effects,
    notes,
    play,
    verdicts,
    zendesk_site,
)

RULE = "automation:a"


def _run(tmp_path: Path, actions: list, *, summary: str = "Invoice export fails", assignee: str | None = NINA,
         fields: dict | None = None, more: list | None = None):  # noqa: ANN202 - a Run
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T10:00", summary=summary)  # Tuesday, inside working hours
    problem = desk.issue("SUP-2", "2026-11-03T09:00", kind="Problem", summary="Export service")
    events = [desk.create(problem, NINA), desk.create(sup, assignee=assignee, fields=fields or {}), *(more or [])]
    return play(tmp_path, events, automation("a", "created", actions, conditions=[{"kind": "Service Request"}]))


def test_set_fields_in_one_edit(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"set": {"Priority": "High", "Impact": "Minor", "Problem ticket": None}}])
    assert effects(run, RULE) == ["set 'Priority' = 'High'", "set 'Impact' = 'Minor'"]
    assert [(o.status, o.detail) for o in run.steps[1].report.outcomes] == [
        ("applied", "one edit of 2 field(s)"), ("applied", "one edit of 2 field(s)"),
        ("already-true", "already true on the ticket")]  # cleared already: not sent
    ticket = run.ticket("SUP-1")
    assert ticket.fields["Priority"] == "High" and ticket.fields["Impact"] == "Minor"


def test_a_value_the_site_refuses_is_rejected_and_named_by_its_key(tmp_path: Path) -> None:
    from bot.check import explain_rejection

    run = _run(tmp_path, [{"set": {"Priority": "Urgent"}}, {"transition": "In Progress"}])
    (rejected,) = [o for o in run.steps[1].report.outcomes if o.status == "rejected"]
    assert effects(run, RULE) == ["transition to 'In Progress'"]  # the rest of the plan goes on
    bound = run.player.processor.bound[RULE]
    why = explain_rejection(bound, rejected.effect, rejected.detail, run.player.tracker)
    assert (why.kind, why.name, why.source) == ("option", "Urgent", "automations.a.actions[0].set.Priority")
    assert why.closest == ()


def test_set_a_reporter_and_a_multi_value(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"set": {"Reporter": ANA}}])
    assert effects(run, RULE) == [f"set reporter = {ANA}"]
    assert run.ticket("SUP-1").reporter.email == ANA


def test_an_internal_comment_from_a_template_with_values_escaped(tmp_path: Path) -> None:
    summary = "[~accountid:5c00a1000000000000000003] {html}<b>x</b>{html} \\\\ evil"
    run = _run(tmp_path, [{"comment": {"text": "ticketbot: *{summary}* ({key}, {field:Customer tier}) for "
                                               "{assignee}", "mention": ["assignee", LEAD]}}],
               summary=summary, fields={"Customer tier": "Pro"})
    (body,) = run.comments("SUP-1")
    # the people mentioned ahead of the body, as Jira does: notified, not made participants
    assert body.startswith("[~accountid:5c00a1000000000000000001] [~accountid:5c00a1000000000000000003] ticketbot: *")
    assert "*\\[\\~accountid:5c00a1000000000000000003\\]" in body and "\\{html\\}" in body  # no mention, no markup
    assert BACKSLASH in body and "\\\\ evil" not in body  # no line break smuggled in
    assert "(SUP-1, Pro) for nina.berg\\@acme.example" in body
    assert run.public_comments("SUP-1") == []


def test_watchers_by_email_role_and_field(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"watch": [LEAD, "assignee", "reporter"]}])
    assert effects(run, RULE) == [f"add watcher {LEAD}", f"add watcher {NINA}", f"add watcher {KARL}"]
    assert {w.email for w in run.ticket("SUP-1").watchers or ()} == {LEAD, NINA, KARL}


def test_a_role_nobody_has_is_skipped_and_said(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"watch": "assignee"}], assignee=None)
    assert effects(run, RULE) == []
    assert notes(run, 1, RULE) == ["action 1 (watch) skipped: could not find the assignee"]
    assert verdicts(run, 1, RULE)[-1] == ("action 1 (watch) can find the assignee", False, "(none)",
                                          "a person with an e-mail")


def test_transition(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"transition": "In Progress"}])
    assert effects(run, RULE) == ["transition to 'In Progress'"]
    assert run.ticket("SUP-1").status == "In Progress"


def test_link_to_a_key_or_the_key_in_a_field(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"link": {"type": "Relates", "to": "SUP-2"}},
                          {"link": {"type": "Problem/Incident", "to_field": "Problem ticket", "reverse": True}}],
               fields={"Problem ticket": "SUP-2"})
    assert effects(run, RULE) == ["link SUP-1 -[Relates]-> SUP-2", "link SUP-2 -[Problem/Incident]-> SUP-1"]
    assert len(run.ticket("SUP-1").links) == 2


def test_a_field_without_a_key_links_nothing(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"link": {"type": "Relates", "to_field": "Problem ticket"}}, {"transition": "In Progress"}],
               fields={"Problem ticket": "see the other one"})
    assert effects(run, RULE) == ["transition to 'In Progress'"]
    assert "action 1 (link) skipped: could not link to the ticket in 'Problem ticket'" in notes(run, 1, RULE)


def test_slack_to_a_person_a_role_and_a_channel(tmp_path: Path) -> None:
    run = _run(tmp_path, [{"slack": {"to": {"email": LEAD, "slack_user": "U0LEAD"}, "text": "New: {summary} <!here>"}},
                          {"slack": {"to": "assignee", "text": "{key} is yours"}},
                          {"slack": {"channel": "#support", "text": "{key}: {summary}"}}])
    assert [(m.user_email, m.slack_user, m.channel, m.text) for m in run.slack] == [
        (LEAD, "U0LEAD", "", "New: Invoice export fails <!here>"),  # the notifier escapes Slack's markup
        (NINA, "", "", "SUP-1 is yours"), ("", "", "#support", "SUP-1: Invoice export fails")]


def test_slack_waits_for_working_hours_unless_told_not_to(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-07T02:00")  # Saturday night
    run = play(tmp_path, [desk.create(sup)],
               automation("a", "created", [{"slack": {"to": "assignee", "text": "{key} arrived"}}],
                          calendar={"time_zone": "Europe/Oslo", "country": "NO"}),
               automation("b", "created", [{"slack": {"to": ONCALL, "text": "{key} arrived", "quiet_hours": False}}]),
               until="2026-11-10T00:00")
    assert effects(run, RULE, outcome="held") == ["slack to nina.berg@acme.example: SUP-1 arrived"]
    assert effects(run, "automation:b") == ["slack to oncall@acme.example: SUP-1 arrived"]
    delivered = [s for s in run.steps if s.event.kind == "timer.fired"]
    assert [s.event.occurred_at for s in delivered] == [at("2026-11-09T08:00")]  # Monday 09:00 in Oslo
    assert run.slack_to(NINA) == ["SUP-1 arrived"]


def test_zendesk_actions_tag_note_follow(tmp_path: Path) -> None:
    helpdesk = Helpdesk()
    ticket = helpdesk.ticket("5001", "2026-11-07T02:10", subject="Checkout is DOWN")
    run = play(tmp_path, [ticket.create(KARL)],
               automation("a", "created", [{"set": {"Escalation": "Urgent"}}, {"comment": "ticketbot: {summary}"},
                                           {"watch": ONCALL}, {"transition": "open"}],
                          tracker="zendesk", project="Support"), site=zendesk_site())
    assert effects(run, RULE) == ["set 'Escalation' = 'Urgent'", "internal comment: ticketbot: Checkout is DOWN",
                                  f"add watcher {ONCALL}", "transition to 'open'"]
    zticket = run.ticket("5001")
    assert "urgent" in zticket.labels  # the dropdown's option tag
    assert run.comments("5001") == ["ticketbot: Checkout is DOWN"] and zticket.status == "open"


def test_no_action_writes_a_public_comment(tmp_path: Path) -> None:
    desk = Desk()
    sup = desk.issue("SUP-1", "2026-11-03T10:00")
    events = [desk.create(sup), sup.comment(at("2026-11-03T11:00"), KARL, "Any news?", internal=False)]
    run = play(tmp_path, events, automation("a", "commented", [{"comment": "Thanks, {actor}: we are on it."}]))
    comments = run.ticket("SUP-1").comments
    assert [(c.internal, c.body) for c in comments] == [  # the customer's, then ours
        (False, "Any news?"), (True, "Thanks, karl\\@fjordfoods.example: we are on it.")]
