"""Procountor (seed 003): an open allocation task past its due time reminds its assignee, on the virtual clock.

The orders live on the demo's Zendesk account (examples/procountor/site.yaml, the shipped block: Swedish texts,
the Helsinki calendar 08:00-16:00 with Finnish public holidays). A person assigns the task as Zendesk reports it
(the event webhook ``ticket.agent_assignment_changed``); the reminders go to the assignee read from the tracker at
each ring, else to the bookkeeper saying why; the escalation goes to the finance lead; the task solved without
the customer number stops the reminders and says what is missing.

The replay's own Zendesk seed (``bot/replay.py``) does not apply ``agent_assignment_changed`` to the in-memory
site yet, so :func:`replay` seeds it here (:func:`seed_assignments`) exactly as the fake Zendesk stores it
(:func:`run_on_fake_zendesk`): what Zendesk does when an agent assigns a ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import VirtualClock
from bot.effects import SlackMessage
from bot.executor import APPLIED, HELD
from bot.model import TIMER_FIRED, Event, Ticket, User
from bot.replay import Replay, seed_memory, zendesk_person_change
from bot.state import RuleState
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from bot.trackers.zendesk.adapter import ZendeskTracker
from rules import load_rules
from rules.procountor_einvoicing import Config, _holder
from rules.runbook.checks import Facts
from rules.runbook.config import Person
from tests.fakes.fake_zendesk import FakeZendesk
from tests.rules.scenario import CONFIG, EXAMPLES, SCOPE, Run
from tests.rules.test_procountor_words import block_config
from tests.rules.zendesk_scenario import FakeZendeskSeed, ZendeskRun
from tests.rules.zendesk_webhooks import ACCOUNT_ID, EVENT_VERSION, ZendeskTicket, ZendeskWebhooks, zendesk_time

RULE = "procountor_einvoicing"
OWNER, KEEPER = "liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example"
LEAD, PROCOUNTOR = "mikko.laine@kotileipomo.example", "procountor@kotileipomo.example"
JUSSI, BOT = "jussi.makinen@kotileipomo.example", "ticketbot@kotileipomo.example"
SITE = EXAMPLES / "procountor" / "site.yaml"
HELSINKI = ZoneInfo("Europe/Helsinki")
ASSIGNED = "zen:event-type:ticket.agent_assignment_changed"


def hel(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Helsinki wall-clock moment, in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


# what people do on the Zendesk account ---------------------------------------------------------------------------
def assign(ticket: ZendeskTicket, at: datetime, by: str, to: str | None, *, before: str | None = None
           ) -> dict[str, Any]:
    """An agent assigns ``ticket`` to ``to`` (None: unassigns it): the event webhook Zendesk sends."""
    hooks = ticket.hooks
    actor, now, was = hooks.user(by)[0], hooks.user(to)[0] if to else None, hooks.user(before)[0] if before else None
    ticket.updated = at
    group = next(g.id for g in hooks.site.groups if g.name == ticket.group)
    return {"type": ASSIGNED, "account_id": ACCOUNT_ID, "id": hooks.next_id(), "time": zendesk_time(at),
            "zendesk_event_version": EVENT_VERSION, "subject": f"zen:ticket:{ticket.key}",
            "detail": {"actor_id": actor, "assignee_id": now, "id": ticket.key, "subject": ticket.subject,
                       "status": ticket.status.upper(), "type": ticket.type.upper() or None, "group_id": group,
                       "form_id": None, "requester_id": hooks.user(BOT)[0], "tags": list(ticket.tags),
                       "is_public": True, "created_at": zendesk_time(ticket.created), "updated_at": zendesk_time(at),
                       "via": {"channel": "web"}},
            "event": {"current": now, "previous": was}}


def assignee_of(event: Event, site: Site) -> tuple[str, str] | None:
    """(ticket id, the new assignee's e-mail; "" when unassigned) of an ``agent_assignment_changed`` webhook."""
    payload = event.payload or {}
    if payload.get("type") != ASSIGNED:
        return None
    person = site.user_by_id((payload.get("event") or {}).get("current"))
    return event.ticket_key, person.email if person else ""


def seed_assignments(site: Site, tracker: MemoryTracker) -> Callable[[Event], None]:
    """The replay's Zendesk seed of the in-memory site, plus the assignments it does not read yet."""
    def seed(event: Event) -> None:
        change = zendesk_person_change(event, site) if event.source == "zendesk" else None
        if change is not None:
            seed_memory(tracker, change)
        if (assigned := assignee_of(event, site)) is not None and assigned[0] in tracker.tickets:
            tracker.apply_external_change(assigned[0], "assignee", assigned[1])
    return seed


def replay(tmp_path: Path, records: Iterable[dict[str, Any]], *, until: datetime | None = None,
           config: Path = CONFIG, zones: dict[str, str] | None = None, site_path: Path = SITE,
           pause: tuple[datetime, Callable[[Replay], None]] | None = None) -> Run:
    """Replay ``records`` on the demo's Zendesk account in memory, as ``ticketbot replay`` does (with the
    assignments seeded); ``zones``: people's Slack time zones; ``pause``: at that moment, do something to the
    site behind the bot's back, then let time run on."""
    site = Site.load(site_path)
    clock = VirtualClock()
    tracker = MemoryTracker(site, now=clock.now)
    player = Replay(load_rules(config), site, Store(f"sqlite:///{tmp_path / 'procountor.sqlite3'}"), scope=SCOPE,
                    tracker=tracker, seed=seed_assignments(site, tracker), clock=clock)
    player.notifier.zones.update(zones or {})
    steps = list(player.run(records, until=pause[0] if pause else until))
    if pause is not None:
        pause[1](player)
        steps += list(player.run([], until=until))
    return Run(player, steps)


def run_on_fake_zendesk(tmp_path: Path, records: Iterable[dict[str, Any]], *, until: datetime | None = None
                        ) -> ZendeskRun:
    """The records through the real Zendesk adapter on the fake Zendesk; an assignment is stored as Zendesk
    stores it (``assignee_id``), and the adapter reads it back."""
    site = Site.load(SITE)
    clock = VirtualClock()
    store = Store(f"sqlite:///{tmp_path / 'procountor-zendesk.sqlite3'}")
    with FakeZendesk(site, now=clock.now, subdomain="procountor-reminders") as fake:
        stored = FakeZendeskSeed(fake, site)

        def seed(event: Event) -> None:
            stored(event)
            if (assigned := assignee_of(event, site)) is not None and int(assigned[0]) in fake.tickets:
                fake._apply(fake.tickets[int(assigned[0])],
                            {"assignee_id": fake.user_id(assigned[1]) if assigned[1] else None})

        tracker = ZendeskTracker(fake.url, site.bot_account.email, "token", sleep=clock.sleep, now=clock.now)
        player = Replay(load_rules(CONFIG), site, store, scope=SCOPE, tracker=tracker, seed=seed, clock=clock)
        steps = list(player.run(records, until=until))
    assert fake.violations == [] and fake.unimplemented == []
    return ZendeskRun(player, steps, fake, site)


class Desk:
    """The demo's Zendesk account: orders from Procountor and the tasks ticketbot creates for them."""

    def __init__(self) -> None:
        self.hooks = ZendeskWebhooks(Site.load(SITE))

    def order(self, key: str, at: datetime, consumer: str = "Ville Nieminen"
              ) -> tuple[ZendeskTicket, ZendeskTicket, list[dict[str, Any]]]:
        """An unallocated order ``key`` arriving ``at``; ticketbot's task is the next ticket (its webhook 2 s later)."""
        order = ZendeskTicket(self.hooks, key, subject=f"E-invoice order: {consumer}", form="E-invoice order",
                              group="Bookkeeping", created=at)
        task_key = str(int(key) + 1)
        task = ZendeskTicket(self.hooks, task_key, subject=f"Allokera e-fakturabeställning {key} till en kund",
                             group="Bookkeeping", ticket_type="task", created=at + timedelta(seconds=2))
        return order, task, [order.create(PROCOUNTOR), task.create(BOT, fields={"E-invoice order": key})]


# reading the results ----------------------------------------------------------------------------------------------
def deliveries(steps: list) -> list[tuple[datetime, SlackMessage]]:
    """Every Slack message delivered to a person or channel (not admin alerts), with the moment it went out."""
    return [(step.event.occurred_at, o.effect) for step in steps for o in step.report.outcomes
            if isinstance(o.effect, SlackMessage) and o.status == APPLIED and not o.effect.alert]


def rang(steps: list, timer: str = "allocation") -> list[datetime]:
    return [s.event.occurred_at for s in steps if s.event.kind == TIMER_FIRED
            and (s.event.payload or {}).get("timer") == timer]


def to(sent: list[tuple[datetime, SlackMessage]], email: str) -> list[tuple[datetime, str]]:
    return [(at, m.text) for at, m in sent if m.user_email == email]


def calendar() -> Any:
    return Config().calendar


# the assignee is reminded --------------------------------------------------------------------------------------
def test_the_assignee_is_reminded_across_a_weekend_and_independence_day(tmp_path: Path) -> None:
    """Thursday 2 December 2027, 15:00 in Helsinki: the order arrives; Aino assigns the task to Jussi. Reminders
    every business day at 15:00 — Friday, then Tuesday: the weekend and Monday 6 December (Independence Day) are
    skipped — to Jussi, not to the bookkeeper; after 5 business days the finance lead, told who has the task."""
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 12, 2, 15))
    records.append(assign(task, hel(2027, 12, 2, 15, 30), KEEPER, JUSSI))
    result = replay(tmp_path, records, until=hel(2027, 12, 24, 12))
    assert result.errors() == []
    assert rang(result.steps) == [hel(2027, 12, 3, 15), hel(2027, 12, 7, 15), hel(2027, 12, 8, 15),
                                  hel(2027, 12, 9, 15), hel(2027, 12, 10, 15)]
    sent = deliveries(result.steps)
    cal = calendar()
    assert [(at, m.describe()) for at, m in sent if not cal.is_business_time(at)] == []
    assert not any(at.astimezone(HELSINKI).date().isoformat() in ("2027-12-04", "2027-12-05", "2027-12-06")
                   for at, _ in sent)
    reminders = to(sent, JUSSI)
    assert [at for at, _ in reminders] == rang(result.steps)[:4]
    assert [text.split(":")[0] for _, text in reminders] == [f"Påminnelse {n}" for n in range(1, 5)]
    assert all("(din uppgift 301)" in text for _, text in reminders)
    assert to(sent, KEEPER) == []
    [(at, escalation)] = to(sent, LEAD)
    assert at == hel(2027, 12, 10, 15)
    assert escalation.endswith("efter 5 arbetsdagar: konsumenten får ingen e-faktura förrän den är det och "
                               "”Customer number” är ifyllt. Allokeringsuppgiften 301 är tilldelad "
                               "jussi.makinen@kotileipomo.example.")
    notes = [c for c in result.comments("300") if "påminnelse" in c]
    assert notes == [f"@{JUSSI} ticketbot: påminnelse {n}: fortfarande inte allokerad till en kund; den som "
                     "uppgiften 301 är tilldelad har påmints." for n in range(1, 5)]
    assert result.comments("300")[-1] == "ticketbot: fortfarande inte allokerad efter 5 arbetsdagar; eskalerat till " \
                                         "mikko.laine@kotileipomo.example."
    assert result.ticket("301").status == "new"  # nobody allocated it: the task stays open


def test_unassigned_the_bookkeeper_is_reminded_and_told_why_and_each_ring_reads_the_assignee_afresh(
        tmp_path: Path) -> None:
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))  # Monday
    records += [assign(task, hel(2027, 2, 9, 13), KEEPER, JUSSI),  # after the first reminder (Tue 11:00)
                assign(task, hel(2027, 2, 10, 13), KEEPER, OWNER, before=JUSSI),  # Liisa takes it over
                assign(task, hel(2027, 2, 11, 13), OWNER, None, before=OWNER)]  # and gives it back
    result = replay(tmp_path, records, until=hel(2027, 2, 13, 0))
    assert result.errors() == []
    sent = deliveries(result.steps)
    recipients = [(at.astimezone(HELSINKI).strftime("%a %H:%M"), m.user_email, m.text.split(";")[0].split(" (")[0])
                  for at, m in sent]
    assert recipients == [("Tue 11:00", KEEPER, "Påminnelse 1: e-fakturabeställningen 300"),
                          ("Wed 11:00", JUSSI, "Påminnelse 2: e-fakturabeställningen 300"),
                          ("Thu 11:00", OWNER, "Påminnelse 3: e-fakturabeställningen 300"),
                          ("Fri 11:00", KEEPER, "Påminnelse 4: e-fakturabeställningen 300")]
    first = sent[0][1].text
    assert "är ännu inte allokerad till en kund; allokeringsuppgiften 301 är inte tilldelad någon. Allokera" in first
    notes = [c for c in result.comments("300") if "påminnelse" in c]
    assert notes[0] == (f"@{KEEPER} ticketbot: påminnelse 1: fortfarande inte allokerad till en kund; "
                        "allokeringsuppgiften 301 är inte tilldelad någon, så påminnelsen gick till bokföraren.")
    assert notes[1].startswith(f"@{JUSSI} ticketbot: påminnelse 2") and notes[2].startswith(f"@{OWNER} ")


def test_the_message_lands_in_the_assignees_own_working_hours(tmp_path: Path) -> None:
    """Jussi works from Stockholm (Slack says so). The order comes Tuesday 5 January 2027, 08:15 in Helsinki;
    Wednesday is Epiphany; the first reminder rings Thursday 08:15 in Helsinki — 07:15 in Stockholm — and waits
    for his 08:00. The finance lead (no Slack zone) is told at Helsinki's 08:15."""
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 1, 5, 8, 15))
    records.append(assign(task, hel(2027, 1, 5, 9), KEEPER, JUSSI))
    result = replay(tmp_path, records, until=hel(2027, 1, 20, 0), zones={JUSSI: "Europe/Stockholm"})
    assert result.errors() == []
    assert rang(result.steps)[:2] == [hel(2027, 1, 7, 8, 15), hel(2027, 1, 8, 8, 15)]
    sent = deliveries(result.steps)
    stockholm = calendar().in_zone("Europe/Stockholm")
    reminders = to(sent, JUSSI)
    assert [at.astimezone(stockholm.zone).strftime("%a %d %H:%M") for at, _ in reminders] == [
        "Thu 07 08:00", "Fri 08 08:00", "Mon 11 08:00", "Tue 12 08:00"]
    assert all(stockholm.is_business_time(at) and calendar().is_business_time(at) for at, _ in reminders)
    held = [o for s in result.steps for o in s.report.outcomes if o.status == HELD]
    assert held and all("their Slack time zone" in o.detail for o in held)
    [(at, _)] = to(sent, LEAD)
    assert at == hel(2027, 1, 13, 8, 15)  # Helsinki's calendar: Wed 13, five business days after Tue 5


def test_on_zendesk_the_reminder_goes_to_the_assignee_the_adapter_reads(tmp_path: Path) -> None:
    """Through the real Zendesk adapter on the fake Zendesk: the assignee is the ticket's ``assignee_id``."""
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))
    records.append(assign(task, hel(2027, 2, 8, 11, 30), KEEPER, JUSSI))
    result = run_on_fake_zendesk(tmp_path, records, until=hel(2027, 2, 10, 12))
    assert result.errors() == []
    assert result.fake.users[result.ticket(301)["assignee_id"]]["email"] == JUSSI
    assert [t.split(":")[0] for t in result.slack_to(JUSSI)] == ["Påminnelse 1", "Påminnelse 2"]
    assert result.slack_to(KEEPER) == []
    notes = [c["body"] for c in result.bot_comments(300) if "påminnelse" in c["body"]]
    assert notes and all(n.startswith(f"@{JUSSI} ticketbot: påminnelse") for n in notes)
    assert all(not c["public"] for c in result.bot_comments(300))


# the task closed without the customer number ---------------------------------------------------------------------
def test_the_task_solved_without_a_customer_stops_the_reminders_and_says_what_is_missing(tmp_path: Path) -> None:
    """Jussi solves the task on Friday 17:30 without filling the customer number: no more reminders, no
    escalation on Monday; the order and the task say what is missing; Jussi hears it on Slack at Monday 08:00
    (Friday evening is outside working hours). He fills it Monday 10:00: the order is allocated, the solved
    task is left as it is."""
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))
    records += [assign(task, hel(2027, 2, 8, 11, 30), KEEPER, JUSSI),
                task.move(hel(2027, 2, 12, 17, 30), JUSSI, "solved"),
                order.change(hel(2027, 2, 15, 10), JUSSI, {"Customer number": (None, "10044")})]
    result = replay(tmp_path, records, until=hel(2027, 2, 26, 0))
    assert result.errors() == []
    assert rang(result.steps) == [hel(2027, 2, d, 11) for d in (9, 10, 11, 12)]  # the escalation never rang
    sent = deliveries(result.steps)
    assert [(at, m.describe()) for at, m in sent if not calendar().is_business_time(at)] == []
    assert to(sent, LEAD) == [] and to(sent, KEEPER) == []
    *reminders, (at, told) = to(sent, JUSSI)
    assert len(reminders) == 4 and at == hel(2027, 2, 15, 8)
    assert told == ("Uppgiften 301 har stängts, men e-fakturabeställningen 300 (E-invoice order: Ville Nieminen) är "
                    "fortfarande inte allokerad till en kund: ”Customer number” är tomt. Allokera mottagarinfon i "
                    "Procountor och fyll i ”Customer number” på 300; konsumenten får ingen e-faktura innan dess.")
    notes = result.comments("300")
    closed = next(n for n in notes if "har stängts" in n)
    assert closed.startswith(f"@{JUSSI} ticketbot: allokeringsuppgiften 301 har stängts, men beställningen är "
                             "fortfarande inte allokerad till en kund: ”Customer number” är tomt.")
    assert closed.endswith("Påminnelserna har upphört.")
    assert notes[-1].startswith("ticketbot: allokerad till kund 10044. Härnäst (steg 5)")
    assert any(c.startswith("ticketbot: stängd medan e-fakturabeställningen 300 fortfarande inte är allokerad")
               for c in result.comments("301"))
    assert result.ticket("301").status == "solved"
    assert not any(line.startswith("301: status") for line in result.player.tracker.log)  # the bot moved nothing
    assert result.state(RULE, "300").stage == "allocated"


def test_the_notice_held_over_the_weekend_is_dropped_if_the_order_is_allocated_meanwhile(tmp_path: Path) -> None:
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))
    records += [assign(task, hel(2027, 2, 8, 11, 30), KEEPER, JUSSI),
                task.move(hel(2027, 2, 12, 17, 30), JUSSI, "solved"),
                order.change(hel(2027, 2, 13, 10), JUSSI, {"Customer number": (None, "10044")})]  # Saturday
    result = replay(tmp_path, records, until=hel(2027, 2, 26, 0))
    assert result.errors() == []
    assert [text.split(" ")[0] for _, text in to(deliveries(result.steps), JUSSI)] == ["Påminnelse"] * 4
    assert any("har stängts" in c for c in result.comments("300"))  # the tickets still say it happened


def test_a_task_that_cannot_be_read_reminds_the_bookkeeper(tmp_path: Path) -> None:
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))
    records.append(assign(task, hel(2027, 2, 8, 11, 30), KEEPER, JUSSI))

    def delete_task(player: Replay) -> None:
        assert isinstance(player.tracker, MemoryTracker)
        del player.tracker.tickets["301"]  # deleted in Zendesk: reading it fails

    result = replay(tmp_path, records, until=hel(2027, 2, 11, 0), pause=(hel(2027, 2, 9, 12), delete_task))
    assert [m.user_email for _, m in deliveries(result.steps)] == [JUSSI, KEEPER]
    assert "; allokeringsuppgiften 301 kunde inte läsas. Allokera" in to(deliveries(result.steps), KEEPER)[0][1]


def test_without_a_bookkeeper_an_unassigned_task_is_the_admin_channels(tmp_path: Path) -> None:
    desk = Desk()
    order, task, records = desk.order("300", hel(2027, 2, 8, 11))
    result = replay(tmp_path, records, until=hel(2027, 2, 9, 12), config=block_config(tmp_path, bookkeeper=None))
    assert result.errors() == [] and deliveries(result.steps) == []
    [alert] = result.alerts
    assert alert.startswith("Påminnelse 1: e-fakturabeställningen 300")
    assert result.comments("300")[-1] == ("ticketbot: påminnelse 1: fortfarande inte allokerad till en kund; "
                                          "allokeringsuppgiften 301 är inte tilldelad någon, så påminnelsen gick "
                                          "till adminkanalen.")


# who holds the task, case by case ------------------------------------------------------------------------------
def _facts(task: Ticket | None, recorded: str | None = "301") -> Facts:
    now = datetime(2027, 2, 9, 9, tzinfo=UTC)
    state = RuleState(RULE, "300", "received", {"child:task": recorded} if recorded else {})
    order = Ticket(key="300", summary="E-invoice order", project="Bookkeeping", status="new", issue_type="",
                   tracker="zendesk")
    event = Event(id="e", source="timer", kind=TIMER_FIRED, ticket_key="300", occurred_at=now)
    return Facts(ticket=order, event=event, now=now, state=state, children={"task": task} if task else {})


def test_the_holder_of_a_task() -> None:
    cfg = next(b for b in load_rules(CONFIG) if b.id == RULE).config
    task = Ticket(key="301", summary="t", project="Bookkeeping", status="open", issue_type="task", tracker="zendesk")
    assert _holder(cfg, _facts(replace(task, assignee=User(email=JUSSI)))) == (Person(email=JUSSI), "")
    keeper = Person(email=KEEPER)
    assert _holder(cfg, _facts(task)) == (keeper, "allokeringsuppgiften 301 är inte tilldelad någon")
    # a tracker that hides e-mail addresses (Jira's privacy setting): the account is known, the address is not
    hidden = replace(task, assignee=User(account_id="5b10ac8d82e05b22cc7d4ef5", display_name="Jussi"))
    assert _holder(cfg, _facts(hidden)) == (
        keeper, "den som allokeringsuppgiften 301 är tilldelad har ingen e-postadress som ticketbot kan se")
    assert _holder(cfg, _facts(None)) == (keeper, "allokeringsuppgiften 301 kunde inte läsas")
    assert _holder(cfg, _facts(None, recorded=None)) == (keeper, "allokeringsuppgiften är okänd")
