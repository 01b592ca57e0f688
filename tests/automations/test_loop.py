"""Loops between automations, in the daemon: Jira echoes every change ticketbot makes as a webhook by its account.

Automation "ping" moves a ticket to In Progress when it enters Waiting for support, "pong" moves it back. By
default ticketbot's own changes trigger no automation, so the echo of ping's move is ignored and the loop never
starts. An admin who lets them take ticketbot's own events (``handles_own_events: true``) gets a loop that the
per-ticket write cap stops: each rule is paused on the ticket, the admin channel is told how to resume it, and
``ticketbot check`` had named the cycle as unguarded.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.clock import VirtualClock
from bot.daemon.core import Daemon
from bot.inbox.queue import DONE
from bot.testing import Issue
from bot.trackers.shared_memory import SharedMemoryTracker
from bot.trackers.site import SiteTicket
from tests.automations.support import BOT, NINA, Desk, at, automation, rules_of, write_config
from tests.support.daemon import daemon_settings, encode, in_process_daemon, jira_headers

PING = automation("ping", {"status_changed": {"to": "Waiting for support"}}, [{"transition": "In Progress"}])
PONG = automation("pong", {"status_changed": {"to": "In Progress"}}, [{"transition": "Waiting for support"}])
_MOVE = re.compile(r"^(?P<key>[A-Z]+-\d+): status (?P<old>.+) -> (?P<new>.+)$")
_SET = re.compile(r"^(?P<key>[A-Z]+-\d+): (?P<field>[^=]+) = '(?P<value>.*)'$")
_LABELS = re.compile(r"^(?P<key>[A-Z]+-\d+): labels ")


class Loop:
    """A daemon on the demo site whose writes come back as Jira would send them: webhooks by ticketbot."""

    def __init__(self, daemon: Daemon, tracker: SharedMemoryTracker, clock: VirtualClock, issue: Issue) -> None:
        self.daemon, self.tracker, self.clock, self.issue = daemon, tracker, clock, issue
        self.seen = 0

    def send(self, body: dict[str, Any]) -> None:
        raw = encode(body)
        headers = {k.lower(): v for k, v in jira_headers(raw, delivery=str(uuid.uuid4())).items()}
        assert self.daemon.intake.receive("jira", raw, headers).status == 202

    def run(self, first: dict[str, Any], change: tuple[str, str], rounds: int = 100) -> int:
        """A person makes ``change`` (field, value) and Jira sends ``first``; then ticketbot's changes are echoed
        until there are none. How many rounds it took."""
        self.tracker.apply_external_change(self.issue.key, *change)
        self.send(first)
        for n in range(rounds):
            self.daemon.workers.drain()
            echoes = self._echoes()
            if not echoes:
                return n
            for body in echoes:
                self.send(body)
        raise AssertionError(f"still looping after {rounds} rounds")

    def _echoes(self) -> list[dict[str, Any]]:
        changes = self.tracker.changes()
        new, self.seen = changes[self.seen:], len(changes)
        out = []
        for line in new:
            self.clock.advance(timedelta(seconds=5))
            if (move := _MOVE.match(line)) is not None:
                self.issue.status = move["old"]
                out.append(self.issue.move(self.clock.now(), BOT, move["new"]))
            elif (setting := _SET.match(line)) is not None:
                out.append(self.issue.change(self.clock.now(), BOT, {setting["field"]: (None, setting["value"])}))
            elif _LABELS.match(line) is not None:
                labels = list(self.tracker.get_ticket(self.issue.key).labels)
                out.append(self.issue.change(self.clock.now(), BOT, {"labels": (None, labels)}))
        return out

    def status_changes(self) -> list[str]:
        return [line for line in self.tracker.changes() if _MOVE.match(line)]


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Callable[..., Loop]]:
    made: list[Daemon] = []

    def make(*automations: dict[str, Any], **guards: int) -> Loop:
        desk = Desk()
        site = desk.site
        site.tickets.append(SiteTicket(key="SUP-1", summary="Tills freeze", status="Open", issue_type="Incident",
                                       reporter="ana@solbakery.example", assignee=NINA))
        clock = VirtualClock(at("2026-11-03T10:00"))
        tracker = SharedMemoryTracker(site, tmp_path / f"site-{uuid.uuid4().hex[:6]}.sqlite3", now=clock.now)
        settings = daemon_settings(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}", guards=guards or {})
        alerts: list[str] = []
        daemon = in_process_daemon(settings, site, rules=rules_of(tmp_path, *automations), tracker=tracker,
                                   clock=clock, alert=alerts.append)
        daemon.alerts = alerts  # type: ignore[attr-defined]
        made.append(daemon)
        issue = desk.issue("SUP-1", "2026-11-03T09:00", summary="Tills freeze", kind="Incident")
        return Loop(daemon, tracker, clock, issue)

    yield make
    for daemon in made:
        daemon.store.engine.dispose()


def test_by_default_ticketbots_own_change_triggers_no_automation(loop: Callable[..., Loop]) -> None:
    world = loop(PING, PONG)
    world.issue.status = "Open"
    rounds = world.run(world.issue.move(world.clock.now(), NINA, "Waiting for support"),
                       ("status", "Waiting for support"))
    assert rounds == 1 and world.status_changes() == ["SUP-1: status Waiting for support -> In Progress"]
    last = world.daemon.inbox.rows()[-1]
    assert (last.status, last.note) == (DONE, "event caused by ticketbot's own account")


def test_a_loop_between_two_automations_is_stopped_by_the_write_cap(loop: Callable[..., Loop], tmp_path: Path
                                                                    ) -> None:
    own = {"handles_own_events": True}
    world = loop({**PING, **own}, {**PONG, **own}, max_writes_per_ticket_10min=3)
    world.issue.status = "Open"
    world.run(world.issue.move(world.clock.now(), NINA, "Waiting for support"), ("status", "Waiting for support"))
    moves = world.status_changes()
    assert len(moves) == 6  # three writes each, then each is paused on SUP-1
    assert moves[:2] == ["SUP-1: status Waiting for support -> In Progress",
                         "SUP-1: status In Progress -> Waiting for support"]
    pauses = {(p.rule_id, p.ticket_key, p.by) for p in world.daemon.guards.active_pauses()}
    assert pauses == {("automation:ping", "SUP-1", "cap"), ("automation:pong", "SUP-1", "cap")}
    alerts = world.daemon.alerts  # type: ignore[attr-defined]
    assert len(alerts) == 2 and all("cap reached: 3 bot writes by this rule on SUP-1" in a for a in alerts)
    assert any("Resume with `ticketbot rules resume automation:ping`" in a for a in alerts)
    # A person's next change finds both paused there, and the trace says so.
    world.issue.status = "Waiting for support"
    world.run(world.issue.move(world.clock.now(), NINA, "In Progress"), ("status", "In Progress"))
    assert len(world.status_changes()) == 6
    paused = {t.rule_id: t.notes[0] for t in world.daemon.store.traces("SUP-1")[-2:]}
    assert set(paused) == {"automation:ping", "automation:pong"}
    assert all(note.startswith("rule paused for SUP-1") for note in paused.values())

    # The admin resumes it as the alert says; the rule id of an automation is known to the command.
    config = write_config(tmp_path / "cli.yaml", [{**PING, **own}, {**PONG, **own}])
    result = CliRunner().invoke(app, ["rules", "resume", "automation:ping"], env={
        "TICKETBOT_CONFIG": str(config), "TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"})
    assert result.exit_code == 0, result.output
    assert {p.rule_id for p in world.daemon.guards.active_pauses()} == {"automation:pong"}


def test_automations_that_set_fields_on_each_other_settle_by_desired_state(loop: Callable[..., Loop]) -> None:
    own = {"handles_own_events": True}
    a = automation("a", {"field_changed": {"field": "Impact"}}, [{"set": {"Priority": "High"}}], **own)
    b = automation("b", {"field_changed": {"field": "Priority"}}, [{"set": {"Impact": "Major"}}], **own)
    world = loop(a, b, max_writes_per_ticket_10min=30)
    rounds = world.run(world.issue.change(world.clock.now(), NINA, {"Impact": (None, "Minor")}), ("Impact", "Minor"))
    sets = [line for line in world.tracker.changes() if " = " in line]
    assert sets == ["SUP-1: Priority = 'High'", "SUP-1: Impact = 'Major'"]  # then each finds its value already set
    assert rounds == 2 and world.daemon.guards.active_pauses() == []


def test_an_automation_that_adds_the_label_its_own_condition_checks_settles(loop: Callable[..., Loop]) -> None:
    """It takes its own events and reacts to label changes; its echo finds the label there: no second write."""
    triage = automation("triage", {"field_changed": {"field": "labels"}}, [{"labels": {"add": ["needs-triage"]}}],
                        conditions=[{"field": "labels", "in": ["customer"]}], handles_own_events=True)
    world = loop(triage, max_writes_per_ticket_10min=30)
    rounds = world.run(world.issue.change(world.clock.now(), NINA, {"labels": (None, "customer")}),
                       ("labels", ["customer"]))
    assert [line for line in world.tracker.changes() if "labels" in line] == ["SUP-1: labels + needs-triage"]
    assert rounds == 1 and world.daemon.guards.active_pauses() == []
    assert world.tracker.get_ticket("SUP-1").labels == ("customer", "needs-triage")
    echo = world.daemon.store.traces("SUP-1")[-1]
    assert [e["outcome"] for e in echo.effects] == ["already-true"]
