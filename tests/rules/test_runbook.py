"""rules/runbook/: conditions, alarm schedules and the stage machine, on plain values (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.calendar import BusinessCalendar
from bot.effects import InternalComment, LinkTickets, SetState, SlackMessage, StartTimer
from bot.model import COMMENT_CREATED, TICKET_UPDATED, TIMER_FIRED, Comment, Event, Ticket, User
from bot.state import RuleState
from rules.runbook.acts import Acts
from rules.runbook.checks import (
    Always,
    Checklist,
    Child,
    Commented,
    Facts,
    FieldFilled,
    FieldIs,
    Labelled,
    StatusIn,
    all_of,
    any_of,
    email_of,
    items_of,
)
from rules.runbook.config import Alarms, Person
from rules.runbook.machine import Children, Deadline, Runbook, Stage, foreign_timer

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday
RULE = "toy"


def ticket(**kw) -> Ticket:
    return Ticket(key=kw.pop("key", "T-1"), project="T", summary="toy", **kw)


def facts(t: Ticket, *, state: RuleState | None = None, event: Event | None = None, now=NOW, children=None) -> Facts:
    return Facts(ticket=t, event=event or Event(id="e", source="test", kind=TICKET_UPDATED, ticket_key=t.key,
                                               occurred_at=now), now=now, state=state, children=children or {})


# conditions ------------------------------------------------------------------------------------------
CONDITIONS = [
    ("status, case and spaces ignored", StatusIn(("In Progress",)), ticket(status="in  progress"), True),
    ("status other", StatusIn(("Done",)), ticket(status="In Progress"), False),
    ("field option", FieldIs("Stage", ("Avaliação",)), ticket(fields={"Stage": "avaliação"}), True),
    ("field empty", FieldIs("Stage", ("Avaliação",)), ticket(), False),
    ("field is a user", FieldIs("Owner", ("a@x.example",)), ticket(fields={"Owner": User(email="a@x.example")}), True),
    ("filled text", FieldFilled("Customer number"), ticket(fields={"Customer number": " 42 "}), True),
    ("blank text", FieldFilled("Customer number"), ticket(fields={"Customer number": "  "}), False),
    ("checklist from a list", Checklist("C", ("a", "b")), ticket(fields={"C": ["b", "a", "c"]}), True),
    ("checklist from changelog text", Checklist("C", ("a", "b")), ticket(fields={"C": "a,b"}), True),
    ("checklist missing one", Checklist("C", ("a", "b")), ticket(fields={"C": "a"}), False),
    ("labels", Labelled(("x", "y")), ticket(labels=("Y", "x")), True),
    ("labels missing", Labelled(("x", "y")), ticket(labels=("x",)), False),
    ("comment phrase", Commented("form submitted"), ticket(comments=(Comment(id="1", body="The FORM  submitted."),)),
     True),
    ("no such comment", Commented("form submitted"), ticket(), False),
    ("all of: one fails", all_of(StatusIn(("Done",)), FieldFilled("F")), ticket(status="Done"), False),
    ("any of: one holds", any_of(StatusIn(("Done",)), FieldFilled("F")), ticket(fields={"F": "x"}), True),
]


@pytest.mark.parametrize(("name", "check", "t", "passed"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_conditions_explain_themselves(name, check, t, passed):
    verdict = check(facts(t))
    assert verdict.passed is passed
    assert verdict.name and verdict.expected is not None


def test_checklist_names_the_open_items():
    verdict = Checklist("C", ("a", "b", "c"))(facts(ticket(fields={"C": ["b"]})))
    assert verdict.note == "open: a, c"


def test_child_condition_fails_until_the_child_is_known():
    check = Child("step1", StatusIn(("Done",)))
    assert not check(facts(ticket())).passed
    done = ticket(key="T-2", status="Done")
    verdict = check(facts(ticket(), children={"step1": done}))
    assert verdict.passed and "T-2" in verdict.name


def test_conditions_list_what_they_need_on_the_site():
    reqs = all_of(StatusIn(("Approved",)), Checklist("C", ("a",))).requirements("P")
    assert {(r.kind, r.name, r.project, r.parent) for r in reqs} == {
        ("status", "Approved", "P", None), ("field", "C", None, None), ("option", "a", "P", "C")}


@pytest.mark.parametrize(("value", "items"), [(None, []), (["a", " b "], ["a", "b"]), ("a, b\nc", ["a", "b", "c"])])
def test_items_of(value, items):
    assert items_of(value) == items


@pytest.mark.parametrize(
    ("value", "email"),
    [(User(email="a@x.example"), "a@x.example"), ("b@x.example", "b@x.example"), ("Bob Smith", ""), (None, "")],
)
def test_email_of(value, email):
    assert email_of(value) == email


# alarm schedules -------------------------------------------------------------------------------------
H = timedelta(hours=1)
UTC_CAL = BusinessCalendar()
STOCKHOLM = BusinessCalendar(time_zone="Europe/Stockholm", country="SE", start="08:00", end="17:00")


def schedule(alarms: Alarms, calendar=UTC_CAL, start=NOW):
    d = Deadline("d", starts="a", stops=(), alarms=alarms, ring=lambda *_: [])
    return [(a.kind, a.n, a.at) for a in d.schedule(start, calendar)]


def test_check_every_12h_and_escalate_at_48h():
    assert schedule(Alarms(due=12 * H, remind_every=12 * H, escalate_after=48 * H)) == [
        ("due", 1, NOW + 12 * H), ("remind", 1, NOW + 24 * H), ("remind", 2, NOW + 36 * H),
        ("escalate", 1, NOW + 48 * H)]


def test_a_target_with_warnings_and_bounded_reminders():
    days = timedelta(days=1)
    assert schedule(Alarms(due=60 * days, warn_before=[3 * days, 10 * days], remind_every=7 * days,
                           max_reminders=2)) == [
        ("warn", 1, NOW + 50 * days), ("warn", 2, NOW + 57 * days), ("due", 1, NOW + 60 * days),
        ("remind", 1, NOW + 67 * days), ("remind", 2, NOW + 74 * days)]


def test_a_single_follow_up_in_business_days():
    # Monday 10:00 in Stockholm + 5 business days = next Monday 10:00.
    assert schedule(Alarms(due="5 business days"), STOCKHOLM) == [("due", 1, datetime(2026, 11, 9, 9, tzinfo=UTC))]


def test_warnings_already_past_at_the_start_are_dropped():
    assert [k for k, _, _ in schedule(Alarms(due=2 * H, warn_before=[3 * H, H]))] == ["warn", "due"]


def test_reminders_without_a_limit_stop_at_the_escalation():
    kinds = [k for k, _, _ in schedule(Alarms(due="1 business day", remind_every="1 business day",
                                              escalate_after="5 business days"))]
    assert kinds == ["due", "remind", "remind", "remind", "escalate"]


@pytest.mark.parametrize("bad", [{"due": "0h"}, {"due": "1h", "remind_every": "0 business days"},
                                 {"due": "1h", "max_reminders": -1}])
def test_alarms_refuse_nonsense(bad):
    with pytest.raises(ValidationError):
        Alarms.model_validate(bad)


# the stage machine ------------------------------------------------------------------------------------
def toy(*, catch_up_b: bool = True) -> Runbook:
    def say(stage):
        return lambda f, acts: [acts.comment("c", f"entered {stage}")]

    def ring(f, acts, alarm):
        return [acts.slack("s", f"{alarm.label} for {f.ticket.key}", to=Person(email="p@x.example"))]

    return Runbook(RULE, (
        Stage("a", Always(), say("a")),
        Stage("b", StatusIn(("B",)), say("b"), catch_up=catch_up_b),
        Stage("c", FieldIs("F", ("x",)), say("c")),
    ), (Deadline("d", starts="a", stops=("c",), alarms=Alarms(due=H, remind_every=H, max_reminders=1),
                 ring=ring, until=Labelled(("done",)),
                 on_met=lambda f, acts: [acts.comment("met", "done at last")]),), UTC_CAL)


def state(stage: str, **data) -> RuleState:
    return RuleState(rule_id=RULE, ticket_key="T-1", stage=stage, data=data,
                     history=({"stage": stage, "at": NOW.isoformat()},), created_at=NOW)


def kinds(evaluation):
    return [(type(e).__name__, e.step) for e in evaluation.effects]


def test_first_event_enters_the_first_stage_and_arms_its_deadline():
    ev = toy().evaluate(facts(ticket(status="Open")))
    assert kinds(ev) == [("SetState", "stage:a"), ("InternalComment", "enter:a:c"), ("StartTimer", "timer:d:0")]
    timer = ev.effects[-1]
    assert isinstance(timer, StartTimer) and timer.due_at == NOW + H and timer.data == {
        "alarm": 0, "start": NOW.isoformat()}
    assert ev.matched


def test_the_next_stage_is_entered_when_its_condition_holds():
    ev = toy().evaluate(facts(ticket(status="B"), state=state("a")))
    assert kinds(ev) == [("SetState", "stage:b"), ("InternalComment", "enter:b:c")]


def test_a_skipped_stage_is_caught_up_and_the_deadline_stopped():
    ev = toy().evaluate(facts(ticket(status="Open", fields={"F": "x"}), state=state("a")))
    assert kinds(ev) == [("SetState", "stage:b"), ("InternalComment", "enter:b:c"), ("SetState", "stage:c"),
                         ("InternalComment", "enter:c:c"), ("CancelTimer", "timer:d:cancel")]
    assert "entered stage 'b' (caught up)" in ev.notes


def test_a_stage_without_catch_up_records_the_stage_but_runs_no_entry_action():
    ev = toy(catch_up_b=False).evaluate(facts(ticket(fields={"F": "x"}), state=state("a")))
    assert ("InternalComment", "enter:b:c") not in kinds(ev) and ("SetState", "stage:b") in kinds(ev)


def test_the_machine_never_goes_back_and_says_what_it_waits_for():
    ev = toy().evaluate(facts(ticket(status="Open"), state=state("b")))
    assert ev.effects == [] and not ev.matched
    assert ev.verdicts[-1].name == "next stage 'c': F" and ev.verdicts[-1].expected == ["x"]
    last = toy().evaluate(facts(ticket(status="B"), state=state("c")))
    assert last.effects == [] and last.verdicts[-1].name == "runbook has a next stage"


def test_until_met_cancels_the_deadline_once():
    ev = toy().evaluate(facts(ticket(labels=("done",)), state=state("a")))
    assert kinds(ev) == [("SetState", "d:met"), ("CancelTimer", "timer:d:cancel"), ("InternalComment", "d:met:met")]
    again = toy().evaluate(facts(ticket(labels=("done",)), state=state("a", **{"met:d": NOW.isoformat()})))
    assert again.effects == []


def fired(alarm: int, *, rule: str = RULE, timer: str = "d", at: datetime = NOW + H) -> Event:
    return Event(id=f"timer:{alarm}", source="timer", kind=TIMER_FIRED, ticket_key="T-1", occurred_at=at,
                 payload={"rule": rule, "timer": timer, "data": {"alarm": alarm, "start": NOW.isoformat()}})


def test_a_ringing_timer_acts_and_arms_the_next_alarm():
    first = toy().evaluate(facts(ticket(), state=state("a"), event=fired(0), now=NOW + H))
    assert kinds(first) == [("SlackMessage", "d:due:s"), ("StartTimer", "timer:d:1")]
    assert isinstance(first.effects[0], SlackMessage) and first.effects[0].user_email == "p@x.example"
    assert first.effects[1].due_at == NOW + 2 * H
    last = toy().evaluate(facts(ticket(), state=state("a"), event=fired(1), now=NOW + 2 * H))
    assert kinds(last) == [("SlackMessage", "d:remind1:s")]  # max_reminders = 1: nothing left to arm


@pytest.mark.parametrize("why", ["stage passed", "until holds", "met earlier", "another deadline"])
def test_a_late_timer_is_ignored(why):
    t = ticket(labels=("done",)) if why == "until holds" else ticket()
    st = {"stage passed": state("c"), "met earlier": state("a", **{"met:d": NOW.isoformat()})}.get(why, state("a"))
    event = fired(0, timer="other") if why == "another deadline" else fired(0)
    ev = toy().evaluate(facts(t, state=st, event=event))
    assert not any(isinstance(e, SlackMessage) for e in ev.effects)


def test_another_rules_timer_is_foreign():
    assert foreign_timer(fired(0, rule="someone_else"), RULE).passed is False
    assert foreign_timer(fired(0), RULE) is None
    assert foreign_timer(Event(id="x", source="t", kind=COMMENT_CREATED, ticket_key="T-1", occurred_at=NOW),
                         RULE) is None


def test_effect_keys_are_unique_within_and_stable_across_evaluations():
    one = toy().evaluate(facts(ticket(fields={"F": "x"})))
    two = toy().evaluate(facts(ticket(fields={"F": "x"})))
    assert len({e.key for e in one.effects}) == len(one.effects)
    assert [e.key for e in one.effects] == [e.key for e in two.effects]


def test_a_runbook_refuses_deadlines_on_unknown_stages():
    with pytest.raises(ValueError, match="unknown stage"):
        Runbook(RULE, (Stage("a", Always()),), (Deadline("d", "a", ("z",), Alarms(due=H), lambda *_: []),))


# children ----------------------------------------------------------------------------------------------
class Reader:
    name = "fake"

    def __init__(self, *tickets: Ticket) -> None:
        self.tickets = {t.key: t for t in tickets}

    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        from bot.trackers.base import NotFound

        if key not in self.tickets:
            raise NotFound(key)
        return self.tickets[key]

    def find_user(self, email: str):
        return None


def test_a_child_is_adopted_once_and_linked():
    children = Children("Parent", "Relates")
    child = ticket(key="T-2", fields={"Parent": "T-1"})
    assert children.parent_key(child) == "T-1"
    effects = children.adopt(RULE, "T-1", "task", child, state("a"))
    assert [type(e) for e in effects] == [SetState, LinkTickets]
    assert effects[0].data == {"child:task": "T-2", "member:T-2": "task"} and effects[0].ticket_key == "T-1"
    assert children.adopt(RULE, "T-1", "task", child, state("a", **{"child:task": "T-2"})) == []


def test_children_are_read_fresh_and_unreadable_ones_left_out():
    children = Children("Parent")
    fresh = ticket(key="T-2", status="Done")
    known = children.load(Reader(fresh), state("a", **{"child:one": "T-2", "child:gone": "T-9"}))
    assert known == {"one": fresh}
    override = ticket(key="T-3")
    assert children.load(Reader(), None, known={"two": override}) == {"two": override}


def test_acts_gives_every_effect_a_prefixed_step_and_never_a_public_comment():
    acts = Acts(RULE, "T-1", "enter:a")
    comment = acts.comment("n", "hello", mentions=["a@x.example", ""])
    assert isinstance(comment, InternalComment) and comment.step == "enter:a:n" and comment.mentions == ("a@x.example",)
    nobody = acts.slack("s", "hi")
    assert isinstance(nobody, SlackMessage) and nobody.alert  # nobody to tell: the admin channel
    assert acts.on("T-2").transition("t", "Done").ticket_key == "T-2"


def test_acts_labels_adds_and_removes_and_refuses_a_label_in_both():
    from bot.api import ChangeLabels

    acts = Acts(RULE, "T-1", "enter:a")
    labels = acts.labels("l", add=["needs-triage", "needs-triage", "vip"], remove=["spam"])
    assert isinstance(labels, ChangeLabels) and labels.step == "enter:a:l"
    assert (labels.add, labels.remove) == (("needs-triage", "vip"), ("spam",))
    assert labels.describe() == "add labels needs-triage, vip; remove label spam"
    with pytest.raises(ValueError, match="labels 'l': vip both added and removed"):
        acts.labels("l", add=["vip"], remove=["vip"])
    with pytest.raises(ValueError, match="give labels to add or to remove"):
        acts.labels("l")
