"""``ticketbot replay`` on a Zendesk account: the site description, both webhook shapes, the seeding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.cli.main import app
from bot.replay import Replay, ReplayError
from bot.store import Store
from bot.trackers.base import NotFound
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks
from tests.support.paths import CONFIG, EXAMPLES

START = datetime(2027, 2, 1, 8, tzinfo=UTC)
LIISA, AINO = "liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example"
STEPS = "Activation steps"


@pytest.fixture
def site() -> Site:
    return Site.load(EXAMPLES / "procountor" / "site.yaml")


@pytest.fixture
def player(site: Site, tmp_path: Path) -> Replay:
    return Replay([], site, Store(f"sqlite:///{tmp_path / 'r.sqlite3'}"), scope="t")  # no rules: seeding only


def envelope(ticket: ZendeskTicket, kind: str, event: dict[str, Any], by: str = LIISA) -> dict[str, Any]:
    return ticket._envelope(kind, START, by, event)


def activation(site: Site) -> ZendeskTicket:
    return ZendeskTicket(ZendeskWebhooks(site), "201", subject="Activation: Kotileipomo Oy", form="Activation",
                         group="Bookkeeping", status="open", created=START, tags=("finance",))


def test_a_zendesk_site_is_described_in_zendesk_terms(site: Site) -> None:
    tracker = MemoryTracker(site)
    assert site.is_zendesk and tracker.link_types() is None
    assert tracker.request_types("Bookkeeping") == ["Activation", "E-invoice order"]
    assert tracker.issue_types() == ["question", "incident", "problem", "task"]
    assert "solved" in tracker.transition_targets("Bookkeeping")
    with pytest.raises(NotFound, match="no Zendesk group named 'Finance'"):
        tracker.statuses("Finance")


@pytest.mark.parametrize(("change", "message"), [
    ({"transitions": [{"id": "1", "name": "Done", "to": "Done"}]}, "a Zendesk site has no transitions"),
    ({"statuses": ["open", "Waiting for support"]}, "Zendesk has no status 'Waiting for support'"),
    ({"tickets": [{"key": "PC-1", "summary": "x"}]}, "ticket ids"),
    ({"tickets": [{"key": "7", "summary": "x", "group": "Sales"}]}, "no group named 'Sales'"),
])
def test_a_zendesk_site_refuses_jira_notions(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Site.model_validate({"kind": "zendesk", "groups": [{"id": "1", "name": "Bookkeeping"}], **change})
    with pytest.raises(ValidationError, match="add `kind: zendesk`"):
        Site.model_validate({"groups": [{"id": "1", "name": "Bookkeeping"}]})


def test_trigger_then_envelopes_seed_the_ticket(site: Site, player: Replay) -> None:
    t = activation(site)
    records = [
        t.create(LIISA, description="Activate consumer e-invoicing.", fields={"Activation owner": LIISA,
                                                                            STEPS: ["1. Avtal med banken"]}),
        t.change(START, LIISA, {STEPS: (["1. Avtal med banken"], ["1. Avtal med banken",
                                                                  "2. Fakturerarmeddelande skickat"])}),
        envelope(t, "ticket.status_changed", {"current": "PENDING", "previous": "OPEN"}),
        envelope(t, "ticket.tags_changed", {"tags_added": ["vip"], "tags_removed": ["finance"]}),
        envelope(t, "ticket.comment_added", {"comment": {"id": "9001", "body": "Bank agreement signed.",
                                                         "is_public": False, "author": {"id": "481002"}}}),
        t.comment(START, AINO, "Thanks!", internal=False),
    ]
    steps = list(player.run(records))
    assert [(s.event.source, s.event.kind) for s in steps] == [("zendesk", "ticket.created")] + [
        ("zendesk", "ticket.updated")] * 3 + [("zendesk", "comment.created")] * 2
    ticket = player.tracker.get_ticket("201")
    assert (ticket.tracker, ticket.project, ticket.request_type, ticket.summary) == (
        "zendesk", "Bookkeeping", "Activation", "Activation: Kotileipomo Oy")
    assert ticket.description == "Activate consumer e-invoicing."
    assert ticket.reporter is not None and ticket.reporter.email == LIISA
    assert ticket.field("Activation owner") == LIISA
    assert ticket.field(STEPS) == ["1. Avtal med banken", "2. Fakturerarmeddelande skickat"]  # tags -> names
    assert ticket.status == "pending"
    assert "vip" in ticket.labels and "finance" not in ticket.labels
    first, second = ticket.comments
    assert (first.id, first.body, first.internal, first.author.email) == ("9001", "Bank agreement signed.", True,
                                                                          AINO)
    assert (second.body, second.internal, second.author.email) == ("Thanks!", False, AINO)
    assert second.id  # a trigger comment has no id: the event's stands in, so a second one is not dropped


def test_trigger_update_gives_the_whole_ticket(site: Site, player: Replay) -> None:
    t = activation(site)
    create = t.create(LIISA)
    t.tags = ["finance", "urgent"]
    list(player.run([create, t.move(START, LIISA, "hold")]))
    ticket = player.tracker.get_ticket("201")
    assert (ticket.status, ticket.labels) == ("hold", ("finance", "urgent"))


def test_inbox_envelopes_and_malformed_bodies(site: Site, player: Replay) -> None:
    body = activation(site).create(LIISA)
    event = player.decode({"source": "zendesk", "headers": {}, "body": body})
    assert (event.source, event.kind, event.ticket_key) == ("zendesk", "ticket.created", "201")
    with pytest.raises(ReplayError, match="cannot read this inbox envelope of a Zendesk trigger webhook: .*ticket id"):
        player.decode({"source": "zendesk", "body": {"ticketbot": "zendesk-trigger/1", "event": "ticket.created",
                                                     "ticket": {"id": "PC-1"}}})


@pytest.mark.parametrize(("demo", "applied"), [("nfe", 40), ("procountor", 74)])
def test_the_zendesk_demos_replay_from_the_command_line(tmp_path: Path, demo: str, applied: int) -> None:
    result = CliRunner().invoke(app, ["replay", str(EXAMPLES / demo / "events.jsonl"), "--config", str(CONFIG),
                                      "--json"], env={"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    outcomes = [e["outcome"] for s in data["steps"] for r in s["rules"] for e in r["effects"]]
    assert outcomes.count("applied") == applied and "failed" not in outcomes
    assert {s["event"]["source"] for s in data["steps"]} == {"zendesk", "timer"}


def test_the_readme_documents_the_trigger_body_the_webhook_module_reads() -> None:
    from tests.sources.test_zendesk_webhooks import documented_trigger_body

    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```json\n", readme.index("## Zendesk")) + len("```json\n")
    assert json.loads(readme[start:readme.index("\n```", start)]) == documented_trigger_body()
