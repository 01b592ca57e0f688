"""Procountor consumer e-invoicing (seed 003) on the virtual clock: the demo end to end on its Zendesk account
(in-memory replay, and the real Zendesk adapter on the fake Zendesk), then the Jira-hosted run and variants."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.replay import read_records
from bot.trackers.site import Site
from rules.procountor_einvoicing import Config
from tests.rules.scenario import EXAMPLES, JIRA_SITES, Run, jira_config, run
from tests.rules.test_procountor_reminders import deliveries, replay, run_on_fake_zendesk, to
from tests.rules.webhooks import Issue, JiraWebhooks
from tests.rules.zendesk_scenario import run_on_zendesk
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks


def run_jira(tmp_path, records=None, **kw) -> Run:
    """The runbook on its Jira-hosted variant (the shipped demo runs on Zendesk)."""
    return run("procountor", tmp_path, records, config=jira_config(tmp_path), root=JIRA_SITES, **kw)


RULE = "procountor_einvoicing"
OWNER, KEEPER = "liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example"
LEAD, PROCOUNTOR = "mikko.laine@kotileipomo.example", "procountor@kotileipomo.example"
BOT, JUSSI = "ticketbot@kotileipomo.example", "jussi.makinen@kotileipomo.example"
STEPS = Config().steps
DEMO = EXAMPLES / "procountor"
HELSINKI = ZoneInfo("Europe/Helsinki")


def _local(moment: datetime) -> str:
    return moment.astimezone(HELSINKI).strftime("%a %d %b %H:%M")


# on Zendesk (the shipped demo) ------------------------------------------------------------------------------
def test_the_demos_events_are_what_make_events_writes():
    spec = importlib.util.spec_from_file_location("procountor_make_events", DEMO / "make_events.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # writes nothing on import: only when run as a script
    written = [json.loads(line) for line in (DEMO / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert module.records() == written == module.records()  # deterministic, and up to date


def test_zendesk_demo_replays_in_memory(tmp_path):
    """The shipped recording, its assignments seeded as Zendesk stores them (see test_procountor_reminders)."""
    result = replay(tmp_path, read_records(DEMO / "events.jsonl"))
    assert result.errors() == []
    assert result.stages(RULE, "201") == ["started", *(f"step{n}" for n in range(1, 9))]
    assert result.ticket("201").status == "solved"
    task = result.ticket("203")  # created by ticketbot as a Zendesk task in the group, adopted from its webhook
    assert (task.project, task.issue_type, task.status, task.field("E-invoice order")) == (
        "Bookkeeping", "task", "solved", "202")
    assert task.summary == "Allokera e-fakturabeställning 202 till en kund" and task.assignee.email == JUSSI
    assert "ticketbot_link_relates_202_203" in result.ticket("202").labels
    # who heard what, when (Helsinki time): the assignee, the bookkeeper only while #206 was unassigned
    sent = deliveries(result.steps)
    assert [(_local(at), text.split(":")[0]) for at, text in to(sent, JUSSI)] == [
        ("Tue 09 Feb 11:00", "Påminnelse 1"), ("Wed 10 Feb 11:00", "Påminnelse 2"),  # order 202
        ("Tue 16 Feb 15:00", "Påminnelse 2"),  # order 205, once he had its task
        ("Wed 17 Feb 08:00", "Uppgiften 206 har stängts, men e-fakturabeställningen 205 (E-fakturabeställning")]
    assert [(_local(at), text.split(" (")[0]) for at, text in to(sent, KEEPER)] == [
        ("Mon 15 Feb 15:00", "Påminnelse 1: e-fakturabeställningen 205")]
    assert "; allokeringsuppgiften 206 är inte tilldelad någon." in to(sent, KEEPER)[0][1]
    assert to(sent, LEAD) == []
    assert [m.describe() for at, m in sent if not Config().calendar.is_business_time(at)] == []
    # 204 arrived allocated: no task; 205 allocated the morning after its task was solved without it
    assert result.stages(RULE, "204") == ["received", "allocated"]
    assert result.ticket("206").status == "solved" and "207" not in result.player.tracker.tickets
    assert any(c.startswith(f"@{JUSSI} ticketbot: allokeringsuppgiften 206 har stängts") for c in
               result.comments("205"))
    assert result.comments("205")[-1].startswith("ticketbot: allokerad till kund 10045.")


def test_the_command_line_replay_shows_the_assignments():
    """What `ticketbot replay examples/procountor/events.jsonl` shows (its own seed): the assignee reminded."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        result = run("procountor", Path(tmp))
        assert result.errors() == []
        assert [t.split(":")[0] for t in result.slack_to(JUSSI)][:2] == ["Påminnelse 1", "Påminnelse 2"]


def test_zendesk_demo_on_the_fake_zendesk(tmp_path):
    """The shipped recording through the real Zendesk adapter: the fake's final tickets are the runbook's."""
    result = run_on_fake_zendesk(tmp_path, read_records(DEMO / "events.jsonl"))
    assert result.errors() == []
    # the activation: all eight options selected (their tags on the ticket), one note per step, solved
    activation = result.ticket(201)
    assert activation["status"] == "solved"
    selected = result.field(201, "Activation steps")
    assert len(selected) == 8 and set(selected) <= set(activation["tags"])  # every selected option keeps its tag
    notes = [c["body"] for c in result.bot_comments(201)]
    assert len(notes) == 9 and notes[-1] == "ticketbot: alla åtta steg är klara: konsumentnätfaktureringen är i bruk."
    # the order 202: the task 203 created in the group as a Zendesk task carrying the order's id, linked by
    # tag and note on both, assigned to Jussi, solved once the order was allocated
    task = result.ticket(203)
    group = next(g["id"] for g in result.fake.groups.values() if g["name"] == "Bookkeeping")
    assert (task["type"], task["group_id"], task["status"]) == ("task", group, "solved")
    assert result.fake.users[task["assignee_id"]]["email"] == JUSSI
    assert result.field(203, "E-invoice order") == "202"
    for key in (202, 203):
        assert "ticketbot_link_relates_202_203" in result.ticket(key)["tags"]
        assert any(c["body"].startswith("ticketbot linked #202 -[Relates]-> #203") for c in result.bot_comments(key))
    reminders = [c["body"] for c in result.bot_comments(202) if ": påminnelse " in c["body"]]
    assert reminders == [f"@{JUSSI} ticketbot: påminnelse {n}: fortfarande inte allokerad till en kund; den som "
                         "uppgiften 203 är tilldelad har påmints." for n in (1, 2)]
    assert result.field(202, "Customer number") == "10042" and result.timers("202") == {"allocation": "cancelled"}
    # 205: the bookkeeper first (unassigned), then Jussi; he solved 206 without the customer number: both say so
    reminders = [c["body"] for c in result.bot_comments(205) if ": påminnelse " in c["body"]]
    assert [r.split(" ")[0] for r in reminders] == [f"@{KEEPER}", f"@{JUSSI}"]
    assert any("allokeringsuppgiften 206 har stängts" in c["body"] for c in result.bot_comments(205))
    assert any("stängd medan e-fakturabeställningen 205" in c["body"] for c in result.bot_comments(206))
    assert result.ticket(206)["status"] == "solved" and result.field(205, "Customer number") == "10045"
    # 204 arrived allocated: no task, no reminder; nothing ticketbot wrote is public, nobody was copied
    assert sorted(result.fake.tickets) == [201, 202, 203, 204, 205, 206] and result.timers("204") == {}
    assert result.public_bot_comments() == []
    assert all(result.people(t, "email_cc_ids") == [] for t in result.fake.tickets)
    assert result.slack_to(LEAD) == []


def test_zendesk_order_never_allocated_is_escalated_and_its_task_stays_open(tmp_path):
    site = Site.load(EXAMPLES / "procountor" / "site.yaml")
    hooks = ZendeskWebhooks(site)
    start = datetime(2027, 2, 8, 9, tzinfo=UTC)  # Monday 11:00 in Helsinki
    order = ZendeskTicket(hooks, "300", subject="E-invoice order: Ville Nieminen", form="E-invoice order",
                          group="Bookkeeping", created=start)
    task = ZendeskTicket(hooks, "301", subject="Allocate e-invoice order 300 to a customer", group="Bookkeeping",
                         ticket_type="task", created=start)
    records = [order.create(PROCOUNTOR), task.create(BOT, fields={"E-invoice order": "300"})]
    result = run_on_zendesk("procountor", tmp_path, records, until=start + timedelta(days=14))
    assert result.errors() == []
    fired = [s.event.occurred_at for s in result.steps if s.event.kind == "timer.fired"]
    assert fired == [start + timedelta(days=d) for d in (1, 2, 3, 4, 7)]
    assert len(result.slack_to(KEEPER)) == 4 and len(result.slack_to(LEAD)) == 1
    assert result.ticket(301)["status"] == "new"  # never allocated: the task stays open
    escalation = result.bot_comments(300)[-1]
    assert not escalation["public"] and "eskalerat till mikko.laine@kotileipomo.example" in escalation["body"]


# on Jira -------------------------------------------------------------------------------------------------
def test_demo_tracks_the_eight_steps_and_chases_the_unallocated_order(tmp_path):
    result = run_jira(tmp_path)
    assert result.errors() == []
    # The activation: every step entered once, in order (5 and 6 ticked together), then closed.
    assert result.stages(RULE, "PC-1") == ["started", *(f"step{n}" for n in range(1, 9))]
    activation = result.ticket("PC-1")
    assert (activation.status, activation.resolution) == ("Done", "Done")
    comments = result.comments("PC-1")
    assert len(comments) == 9 and "Härnäst, steg 1: avtala med banken om att skicka nätfakturor" in comments[0]
    assert "steg 4 (4. Mottagarinfo allokerad) är klart. Härnäst, steg 5: uppdatera" in comments[4]
    assert comments[-1] == "ticketbot: alla åtta steg är klara: konsumentnätfaktureringen är i bruk."
    # Step 5 waited 10 business days: the owner was reminded once; then told it is all done.
    to_owner = result.slack_to(OWNER)
    assert len(to_owner) == 2
    assert "har väntat 10 arbetsdagar eller mer på steg 5 (5. CRM/ERP uppdaterat)" in to_owner[0]
    assert "alla åtta aktiveringssteg är klara" in to_owner[1]
    # The order PC-2: a task PC-3, two daily reminders, then allocated: the task is closed.
    task = result.ticket("PC-3")
    assert (task.summary, task.field("E-invoice order")) == ("Allokera e-fakturabeställning PC-2 till en kund", "PC-2")
    assert (task.status, task.resolution) == ("Done", "Done")
    assert [link.outward_key for link in result.ticket("PC-2").links] == ["PC-3"]
    reminders = result.slack_to(KEEPER)
    assert [t.split(":")[0] for t in reminders] == ["Påminnelse 1", "Påminnelse 2"]
    assert "allokerad till kund 10042. Härnäst (steg 5)" in result.comments("PC-2")[-1]
    assert {t.name: t.status for t in result.timers("PC-2")} == {"allocation": "cancelled"}
    # The order PC-4 arrived allocated: no task, no reminder.
    assert result.stages(RULE, "PC-4") == ["received", "allocated"]
    assert "PC-5" not in result.player.tracker.tickets and result.timers("PC-4") == []
    assert result.slack_to(LEAD) == []


def _order(*, allocated_after: timedelta | None, task_event: bool = True):
    site = Site.load(JIRA_SITES / "procountor" / "site.yaml")
    hooks = JiraWebhooks(site, site.base_url)
    start = datetime(2027, 2, 8, 9, tzinfo=UTC)  # Monday 11:00 in Helsinki
    order = Issue(hooks, "PC-1", summary="E-invoice order: Ville Nieminen", issue_type="E-invoice order",
                  status="To Do", created=start)
    task = Issue(hooks, "PC-2", summary="Allocate e-invoice order PC-1 to a customer", issue_type="Task",
                 status="To Do", created=start)
    records = [order.create(PROCOUNTOR)]
    if task_event:
        records.append(task.create(BOT, fields={"E-invoice order": "PC-1"}))
    if allocated_after is not None:
        records.append(order.change(start + allocated_after, KEEPER, {"Customer number": (None, "20001")}))
    return records, start


def test_an_order_never_allocated_is_reminded_daily_then_escalated(tmp_path):
    records, start = _order(allocated_after=None)
    result = run_jira(tmp_path, records, until=start + timedelta(days=14))
    # Every Helsinki business day at 11:00 (Tue-Fri), then the escalation after 5 business days (Mon).
    fired = [s.event.occurred_at for s in result.steps if s.event.kind == "timer.fired"]
    assert fired == [start + timedelta(days=d) for d in (1, 2, 3, 4, 7)]
    assert len(result.slack_to(KEEPER)) == 4
    assert len(result.slack_to(LEAD)) == 1 and "efter 5 arbetsdagar" in result.slack_to(LEAD)[0]
    assert result.ticket("PC-2").status == "To Do"
    # Reminders mention the bookkeeper in the internal comment.
    assert any(c.startswith("[~accountid:8c00a1000000000000000002] ticketbot: påminnelse 1")
               for c in result.comments("PC-1"))


def test_allocated_before_the_first_reminder(tmp_path):
    records, _ = _order(allocated_after=timedelta(hours=3))
    result = run_jira(tmp_path, records, until=datetime(2027, 3, 1, tzinfo=UTC))
    assert result.slack_to(KEEPER) == [] and result.slack_to(LEAD) == []
    assert result.ticket("PC-2").status == "Done"


def test_task_never_seen_the_order_says_to_close_it_by_hand(tmp_path):
    records, _ = _order(allocated_after=timedelta(hours=3), task_event=False)
    result = run_jira(tmp_path, records)
    assert result.ticket("PC-2").status == "To Do"
    assert "Allokeringsuppgiften kunde inte identifieras; stäng den för hand." in result.comments("PC-1")[-1]


def test_steps_ticked_out_of_order_count_only_up_to_the_first_gap(tmp_path):
    site = Site.load(JIRA_SITES / "procountor" / "site.yaml")
    start = datetime(2027, 2, 1, 8, tzinfo=UTC)
    act = Issue(JiraWebhooks(site, site.base_url), "PC-1", summary="Activation", issue_type="Activation",
                status="To Do", created=start)
    records = [act.create(OWNER, fields={"Activation owner": OWNER}),
               act.change(start + timedelta(hours=1), OWNER, {"Activation steps": (None, [STEPS[0], STEPS[1],
                                                                                         STEPS[3]])})]
    result = run_jira(tmp_path, records)
    assert result.state(RULE, "PC-1").stage == "step2"
