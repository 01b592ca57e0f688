"""Momentus' API-user task (seed 000: "for an Enterprise customer's first Connect app, Support Ops sets up a
Connect API user"), tracked as a child of its request on the virtual clock: adopted and linked, "ready" held
until it is done, its assignee reminded past its due time in working hours (the runbook's Chicago calendar,
or the assignee's own Slack time zone) across Thanksgiving and a weekend, the reminders stopped when it is done.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.calendar import BusinessCalendar
from bot.effects import SlackMessage
from bot.executor import APPLIED, HELD, SKIPPED
from bot.model import Event, Ticket, User
from bot.replay import Replay
from bot.store import Store
from bot.trackers.site import Site
from rules import load_rules, momentus_einvoicing
from rules.runbook.acts import Acts
from rules.runbook.checks import Facts
from rules.runbook.machine import Alarm
from tests.rules.scenario import CONFIG, EXAMPLES, SCOPE, Run
from tests.rules.webhooks import Issue, JiraWebhooks

RULE = "momentus_einvoicing"
AGENT, CONNECT, BOT = "priya.natarajan@momentus.example", "connect@momentus.example", "ticketbot@momentus.example"
AM, LEAD = "marcus.hale@momentus.example", "olivia.grant@momentus.example"
CHICAGO = BusinessCalendar(time_zone="America/Chicago", country="US")
TOKYO = "Asia/Tokyo"
THANKSGIVING = date(2026, 11, 26)
#: Monday 23 November 2026, 10:00 in Chicago: the setup form comes in; its task is due 2 business days later,
#: Wednesday 25 November 10:00; Thursday is Thanksgiving.
FORM = datetime(2026, 11, 23, 16, tzinfo=UTC)
DUE = datetime(2026, 11, 25, 16, tzinfo=UTC)
H = timedelta(hours=1)


class Request:
    """One E-Invoicing request on the demo site and its API-user task, as people (and Jira) make events."""

    def __init__(self, *, edition: str = "Enterprise", first_app: str = "Yes") -> None:
        site = Site.load(EXAMPLES / "momentus" / "site.yaml")
        self.hooks = JiraWebhooks(site, site.base_url)
        self.req = Issue(self.hooks, "EINV-1", summary="E-Invoicing: Lakeside Arena", issue_type="E-Invoicing request",
                         status="Approved", created=FORM - 48 * H)
        self.fields = {"Customer": "Lakeside Arena", "Edition": edition, "Requester email": "it@lakeside.example",
                       "First Connect app": first_app, "Account manager": "marcus.hale@momentus.example"}

    def task(self, key: str = "EINV-2", created: datetime = FORM + timedelta(seconds=2)) -> Issue:
        return Issue(self.hooks, key, summary="Set up the Connect API user for Lakeside Arena", issue_type="Task",
                     status="To Do", created=created)

    def opened(self, *, form: datetime | None = FORM, bot_created: bool = True) -> list[dict[str, Any]]:
        """Approved; the setup form at ``form``; Jira's issue_created of ticketbot's task right after."""
        out = [self.req.create(AGENT, fields=self.fields)]
        if form is not None:
            out.append(self.req.change(form, CONNECT, {"Setup form": (None, "Submitted")}))
            if bot_created:
                out.append(self.task().create(BOT, fields={"E-Invoicing request": "EINV-1"}))
        return out

    def configured(self, at: datetime) -> list[dict[str, Any]]:
        """Storecove pending, validated an hour later, the Connect configuration complete an hour after that."""
        return [self.req.change(at, AGENT, {"Storecove validation": (None, "Pending")}),
                self.req.change(at + H, AGENT, {"Storecove validation": ("Pending", "Validated")}),
                self.req.change(at + 2 * H, AGENT, {"Connect configuration": (None, "Complete")})]

    def assign(self, at: datetime, email: str, key: str = "EINV-2") -> dict[str, Any]:
        """Jira's issue_assigned on the task: replay reads the assignee's e-mail from the changelog."""
        task = self.task(key)
        record = task.change(at, LEAD, {"summary": (task.summary, task.summary)})
        record["issue_event_type_name"] = "issue_assigned"
        record["issue"]["fields"]["assignee"] = self.hooks.user(email)
        record["changelog"]["items"] = [{"field": "assignee", "fieldtype": "jira", "fieldId": "assignee",
                                         "from": None, "fromString": None, "to": self.hooks.user(email)["accountId"],
                                         "toString": email}]
        return record

    def done(self, at: datetime, key: str = "EINV-2") -> dict[str, Any]:
        return self.task(key).move(at, AGENT, "Done")


def play(tmp_path: Path, records: list[dict[str, Any]], *, until: datetime | None = None,
         zones: dict[str, str] | None = None, config: Path = CONFIG) -> Run:
    """``ticketbot replay`` of ``records`` on the Momentus demo site; ``zones``: people's Slack time zones."""
    player = Replay(load_rules(config), Site.load(EXAMPLES / "momentus" / "site.yaml"),
                    Store(f"sqlite:///{tmp_path / 'momentus.sqlite3'}"), scope=SCOPE)
    player.notifier.zones.update(zones or {})
    return Run(player, list(player.run(records, until=until)))


def delivered(result: Run, to: str) -> list[tuple[datetime, str]]:
    """(when it went out, text) of each Slack message sent to ``to``, in order."""
    return [(step.event.occurred_at, o.effect.text) for step in result.steps for o in step.report.outcomes
            if isinstance(o.effect, SlackMessage) and o.status == APPLIED
            and to in (o.effect.user_email, o.effect.channel)]


def waiting_for(result: Run, at: datetime) -> list[tuple[str, Any, Any]]:
    """The rule's failed verdicts on the event at ``at``: what it waits for."""
    step = next(s for s in result.steps if s.event.occurred_at == at and s.event.kind != "timer.fired")
    return [(v.name, v.observed, v.expected) for r in step.report.rules if r.rule_id == RULE
            for v in r.result.evaluation.verdicts if not v.passed]


# the task and its request ---------------------------------------------------------------------------------
def test_the_task_carries_its_request_and_is_adopted_and_linked_once(tmp_path):
    r = Request()
    records = r.opened()
    result = play(tmp_path, [*records, records[-1] | {"timestamp": records[-1]["timestamp"] + 1}])
    task = result.ticket("EINV-2")
    assert (task.issue_type, task.summary, task.field("E-Invoicing request")) == (
        "Task", "Set up the Connect API user for Lakeside Arena", "EINV-1")
    assert task.description == (
        "Lakeside Arena's first Connect app (EINV-1): set up the Connect API user (see Enterprise Apps and API Users "
        "in Momentus Connect). Due on November 25, 2026.\n\nticketbot tracks this task for EINV-1: the integration "
        "is ready to use only once it is Done.")
    data = result.state(RULE, "EINV-1").data
    assert (data["child:api_user"], data["member:EINV-2"]) == ("EINV-2", "api_user")
    assert [(link.type, link.inward_key, link.outward_key) for link in result.ticket("EINV-1").links] == [
        ("Relates", "EINV-1", "EINV-2")]
    assert len([e for e in result.applied(RULE) if e.startswith("link")]) == 1
    [timer] = [t for t in result.timers("EINV-1") if t.name == "api_user"]
    assert (timer.due_at, timer.status) == (DUE, "pending")


def test_ready_waits_for_the_task_and_the_trace_says_so_then_comes_when_it_is_done(tmp_path):
    r = Request()
    configured_at = FORM + 24 * H
    done_at = configured_at + 6 * H
    result = play(tmp_path, [*r.opened(), r.assign(FORM + H, AGENT), *r.configured(configured_at),
                             r.done(done_at)])
    assert waiting_for(result, configured_at + 2 * H) == [
        ("next stage 'ready to use': API-user task EINV-2 status", "To Do", ["Done"])]
    state = result.state(RULE, "EINV-1")
    assert state.entered("validated") == configured_at + H and state.entered("ready") == done_at
    assert result.public_comments("EINV-1") and "ready to use" in delivered(result, AM)[-1][1]
    assert "ticketbot: the Connect API user is set up (EINV-2 is Done)." in result.comments("EINV-1")
    assert {t.name: t.status for t in result.timers("EINV-1") if not t.name.startswith("deliver:")} == {
        "api_user": "cancelled", "storecove": "cancelled"}


def test_before_its_task_is_linked_the_request_already_waits_for_it(tmp_path):
    """Jira's issue_created of the task is late (or lost): the request's record says a task was created."""
    r = Request()
    result = play(tmp_path, [*r.opened(bot_created=False), *r.configured(FORM + 24 * H)])
    assert result.state(RULE, "EINV-1").stage == "validated"
    [(name, observed, _)] = waiting_for(result, FORM + 26 * H)
    assert (name, observed) == ("next stage 'ready to use': API-user task",
                                "created 2026-11-23T16:00:00+00:00, not linked yet")
    # Its first event, whatever it is (here: done), links it and lets the request be ready.
    (tmp_path / "later").mkdir()
    result = play(tmp_path / "later", [*r.opened(bot_created=False), *r.configured(FORM + 24 * H),
                                       r.done(FORM + 30 * H)])
    assert result.state(RULE, "EINV-1").stage == "ready"
    assert result.state(RULE, "EINV-1").data["child:api_user"] == "EINV-2"


def test_a_task_done_before_the_rest_lets_the_configuration_make_the_request_ready(tmp_path):
    r = Request()
    result = play(tmp_path, [*r.opened(), r.done(FORM + 5 * H), *r.configured(FORM + 24 * H)])
    assert result.state(RULE, "EINV-1").entered("ready") == FORM + 26 * H
    assert delivered(result, AGENT) == [] and delivered(result, "#support-ops")[1:] == []  # no reminder


def test_everything_at_once_creates_the_task_and_still_waits_for_it(tmp_path):
    """Form, validation and configuration recorded in one edit: the stages are caught up, the task created,
    and "ready" waits for it even though the request's record did not yet say a task exists."""
    r = Request()
    at = FORM
    edit = r.req.change(at, AGENT, {"Setup form": (None, "Submitted"), "Storecove validation": (None, "Validated"),
                                    "Connect configuration": (None, "Complete")})
    result = play(tmp_path, [r.req.create(AGENT, fields=r.fields), edit])
    assert result.stages(RULE, "EINV-1") == ["requested", "approved", "form_submitted", "validating", "validated"]
    assert "EINV-2" in result.player.tracker.tickets
    assert result.public_comments("EINV-1") == [] and not any("ready" in text for _, text in delivered(result, AM))
    (tmp_path / "done").mkdir()
    result = play(tmp_path / "done", [r.req.create(AGENT, fields=r.fields), edit,
                                      r.task().create(BOT, fields={"E-Invoicing request": "EINV-1"}), r.done(at + H)])
    assert result.stages(RULE, "EINV-1")[-1] == "ready"


@pytest.mark.parametrize(("edition", "first_app"), [("Elite", "Yes"), ("Enterprise", "No")])
def test_a_request_that_needs_no_api_user_has_no_task_and_is_not_held(tmp_path, edition, first_app):
    r = Request(edition=edition, first_app=first_app)
    result = play(tmp_path, [*r.opened(bot_created=False), *r.configured(FORM + 24 * H)],
                  until=FORM + timedelta(days=14))
    assert "EINV-2" not in result.player.tracker.tickets
    assert result.state(RULE, "EINV-1").entered("ready") == FORM + 26 * H
    assert "api_user" not in {t.name for t in result.timers("EINV-1")}
    assert delivered(result, AGENT) == []


def test_a_task_that_is_not_the_requests_own_is_not_adopted(tmp_path):
    """Another task naming the request (someone copied the field) neither joins it nor holds it."""
    r = Request()
    other = r.task("EINV-3", created=FORM + H)
    records = [*r.opened(), other.create(AGENT, fields={"E-Invoicing request": "EINV-1"}), r.done(FORM + 2 * H),
               *r.configured(FORM + 24 * H)]
    result = play(tmp_path, records)
    assert waiting_for(result, FORM + H) == [("EINV-1's API-user task", "EINV-2", "EINV-3")]
    assert result.state(RULE, "EINV-1").data["child:api_user"] == "EINV-2"
    assert [link.outward_key for link in result.ticket("EINV-1").links] == ["EINV-2"]
    assert result.state(RULE, "EINV-1").stage == "ready"  # EINV-3 is still To Do


def test_a_task_naming_a_request_that_needs_none_is_left_alone(tmp_path):
    r = Request(edition="Elite")
    stray = r.task("EINV-2", created=FORM + H)
    result = play(tmp_path, [*r.opened(bot_created=False), stray.create(AGENT, fields={"E-Invoicing request":
                                                                                      "EINV-1"})])
    assert waiting_for(result, FORM + H) == [("EINV-1's API-user task", "none requested", "EINV-2")]
    assert "child:api_user" not in result.state(RULE, "EINV-1").data


# reminders on the virtual clock --------------------------------------------------------------------------
def _late_task(r: Request, *, assignee: str | None = AGENT) -> list[dict[str, Any]]:
    return [*r.opened(), *([r.assign(FORM + H, assignee)] if assignee else [])]


def test_past_its_due_time_the_assignee_is_reminded_in_chicagos_working_hours(tmp_path):
    """Due Wednesday 10:00 before Thanksgiving; then every business day: Friday, Monday, Tuesday (3 at most)."""
    result = play(tmp_path, _late_task(Request()), until=FORM + timedelta(days=21))
    sent = delivered(result, AGENT)
    assert [at for at, _ in sent] == [DUE, datetime(2026, 11, 27, 16, tzinfo=UTC),
                                     datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 1, 16, tzinfo=UTC)]
    assert all(CHICAGO.is_business_time(at) for at, _ in sent)
    assert not any(at.astimezone(CHICAGO.zone).date() == THANKSGIVING for at, _ in sent)
    assert sent[0][1] == ("Reminder 1: EINV-2 (set up the Connect API user for Lakeside Arena, EINV-1) was due on "
                          "November 25, 2026 and is not done yet. E-Invoicing cannot be ready until it is.")
    assert [text.split(":")[0] for _, text in sent] == ["Reminder 1", "Reminder 2", "Reminder 3", "Reminder 4"]
    assert delivered(result, "#support-ops")[1:] == []  # the form's message only: the assignee owns it
    assert [t.status for t in result.timers("EINV-1") if t.name == "api_user"] == ["fired"]


def test_the_reminders_wait_for_the_assignees_own_morning_in_their_slack_time_zone(tmp_path):
    """Priya works from Tokyo (Slack says so): 10:00 in Chicago is 01:00 there. The calendar's working days
    and holidays count on her clock: Wednesday's reminder is Thanksgiving morning in Tokyo, so it waits for
    Friday; Friday's is Saturday there, so it waits for Monday."""
    result = play(tmp_path, _late_task(Request()), until=FORM + timedelta(days=21), zones={AGENT: TOKYO})
    sent = delivered(result, AGENT)
    assert [at for at, _ in sent] == [datetime(2026, 11, 27, 0, tzinfo=UTC), datetime(2026, 11, 30, 0, tzinfo=UTC),
                                     datetime(2026, 12, 1, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, tzinfo=UTC)]
    tokyo = CHICAGO.in_zone(TOKYO)
    assert all(tokyo.is_business_time(at) for at, _ in sent)
    held = [o for s in result.steps for o in s.report.outcomes if o.status == HELD and o.effect.user_email == AGENT]
    assert len(held) == 4 and all("their Slack time zone" in o.detail for o in held)
    assert "(Thanksgiving" in held[0].detail and "delivered Fri 2026-11-27 09:00 JST" in held[0].detail


def test_an_unassigned_task_is_chased_in_support_ops_channel(tmp_path):
    result = play(tmp_path, _late_task(Request(), assignee=None), until=DUE + 2 * H)
    [(at, text)] = delivered(result, "#support-ops")[1:]
    assert at == DUE and text.startswith("Reminder 1: EINV-2 (set up the Connect API user for Lakeside Arena, "
                                         "EINV-1) was due on November 25, 2026, is not done yet and nobody is "
                                         "assigned to it: please assign it.")


def test_the_reminders_stop_when_the_task_is_done(tmp_path):
    result = play(tmp_path, [*_late_task(Request()), Request().done(DUE + 3 * H)], until=FORM + timedelta(days=21))
    assert [at for at, _ in delivered(result, AGENT)] == [DUE]
    assert [t.status for t in result.timers("EINV-1") if t.name == "api_user"] == ["cancelled"]
    assert "ticketbot: the Connect API user is set up (EINV-2 is Done)." in result.comments("EINV-1")


def test_a_reminder_held_for_the_night_is_dropped_when_the_task_is_done_meanwhile(tmp_path):
    """Held for Priya's Tokyo morning; she closes the task from Chicago's afternoon first: nothing is sent."""
    result = play(tmp_path, [*_late_task(Request()), Request().done(DUE + 4 * H)], until=FORM + timedelta(days=21),
                  zones={AGENT: TOKYO})
    assert delivered(result, AGENT) == []
    dropped = [o for s in result.steps for o in s.report.outcomes if o.status == SKIPPED]
    assert len(dropped) == 1 and "the runbook moved on (met:api_user)" in dropped[0].detail


def test_an_escalation_when_the_block_sets_one_tells_the_support_ops_lead(tmp_path):
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["rules"][RULE]["api_user_task"]["escalate_after"] = "4 business days"
    config = tmp_path / "ticketbot.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = play(tmp_path, _late_task(Request()), until=FORM + timedelta(days=21), config=config)
    # Due Wednesday, reminded Friday; 4 business days after Monday's form (Thanksgiving skipped) is the next
    # Monday: the escalation takes the place of Monday's reminder, and the reminders end there.
    assert [at for at, _ in delivered(result, AGENT)] == [DUE, datetime(2026, 11, 27, 16, tzinfo=UTC)]
    assert delivered(result, LEAD) == [(datetime(2026, 11, 30, 16, tzinfo=UTC),
                                        "EINV-2 (the Connect API user for Lakeside Arena, EINV-1) is still not done "
                                        "4 business days after it was created (due November 25, 2026). Please "
                                        "follow up.")]
    assert "ticketbot: EINV-2 still not done after 4 business days; escalated to olivia.grant@momentus.example." \
        in result.comments("EINV-1")


@pytest.mark.parametrize(("kind", "assignee", "to", "says"), [
    ("due", User(account_id="a1", email=AGENT, display_name="Priya"), AGENT, "Reminder 1: EINV-2 (set up"),
    ("remind", User(account_id="a1", email=AGENT, display_name="Priya"), AGENT, "Reminder 3: EINV-2 (set up"),
    ("warn", User(account_id="a1", email=AGENT, display_name="Priya"), AGENT, "is due on November 25, 2026."),
    # Jira Cloud often hides e-mail addresses: Slack cannot find the assignee, the channel passes it on.
    ("due", User(account_id="a1", display_name="Priya <Natarajan>"), "#support-ops",
     "It is assigned to Priya <Natarajan>, whom ticketbot cannot reach on Slack: please pass this on."),
    ("warn", User(account_id="a1", display_name="Priya"), "#support-ops",
     "It is assigned to Priya, whom ticketbot cannot reach on Slack"),
    ("warn", None, "#support-ops", "is due on November 25, 2026 and nobody is assigned to it: please assign it."),
])
def test_who_hears_of_a_late_task(kind, assignee, to, says):
    cfg = next(b.config for b in load_rules(CONFIG) if b.id == RULE)
    request = Ticket(key="EINV-1", project="EINV", summary="E-Invoicing: Lakeside Arena",
                     issue_type="E-Invoicing request", fields={"Customer": "Lakeside Arena"})
    task = Ticket(key="EINV-2", project="EINV", summary="API user", issue_type="Task", status="To Do",
                  assignee=assignee)
    event = Event(id="t", source="timer", kind="timer.fired", ticket_key="EINV-1", occurred_at=DUE)
    facts = Facts(ticket=request, event=event, now=DUE, children={"api_user": task})
    alarm = Alarm(index=2, kind=kind, n=2, at=DUE, due=DUE)
    [message] = momentus_einvoicing.api_user_overdue(cfg, facts, Acts(RULE, "EINV-1", "api_user:x"), alarm)
    assert isinstance(message, SlackMessage) and to in (message.user_email, message.channel)
    assert says in message.text and "Lakeside Arena, EINV-1" in message.text
