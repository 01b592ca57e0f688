"""Loop and blast-radius guards: own events, per-ticket and per-rule caps, pause and resume."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.inbox.queue import DONE
from tests.support.daemon import encode, jira_headers, lines_of, onboarding_created, onboarding_site, onboarding_updated

RULE = "everbright_onboarding"
BOT = {"accountId": "5b10ac8d82e05b22cc7d4ef0", "emailAddress": "ticketbot@goeverbright.com",
       "displayName": "ticketbot", "accountType": "atlassian"}


def _receive(daemon, body: dict) -> None:
    raw = encode(body)
    assert daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw).items()}).status == 202


def _by_bot(body: dict) -> dict:
    body["user"] = BOT
    return body


def test_events_caused_by_the_bot_are_ignored(make_daemon):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    _receive(daemon, _by_bot(onboarding_updated("SS-1", 1793610840000)))
    daemon.workers.drain()
    [row] = daemon.inbox.rows()
    assert (row.status, row.note) == (DONE, "event caused by ticketbot's own account")
    assert daemon.handler.trackers["jira"].changes() == []
    assert daemon.store.traces() == []  # the bot's own echoes would drown the traces


def test_a_rule_may_opt_into_the_bots_own_events(make_daemon, rules, monkeypatch):
    monkeypatch.setattr(rules[0].rule, "handles_own_events", True, raising=False)
    daemon = make_daemon(onboarding_site(["SS-1"]))
    _receive(daemon, _by_bot(onboarding_updated("SS-1", 1793610840000)))
    daemon.workers.drain()
    assert lines_of(daemon.handler.trackers["jira"].changes(), "SS-1")


def test_per_ticket_cap_pauses_the_rule_on_that_ticket_until_resumed(make_daemon, clock):
    alerts: list[str] = []
    daemon = make_daemon(onboarding_site(["SS-1", "SS-2"]), alert=alerts.append,
                         guards={"max_writes_per_ticket_10min": 3})
    tracker = daemon.handler.trackers["jira"]
    _receive(daemon, onboarding_created("SS-1", 1793610840000))
    daemon.workers.drain()
    written = len(tracker.changes())  # one plan may overshoot the cap: 7 writes
    tracker.apply_external_change("SS-1", "Needs Configuration?", None)  # a person undoes one field
    _receive(daemon, onboarding_updated("SS-1", 1793610900000))
    daemon.workers.drain()
    assert len(tracker.changes()) == written
    [pause] = daemon.guards.active_pauses(RULE)
    assert (pause.ticket_key, pause.by) == ("SS-1", "cap")
    assert len(alerts) == 1 and "SS-1" in alerts[0] and f"ticketbot rules resume {RULE}" in alerts[0]
    trace = daemon.store.traces("SS-1")[-1]
    assert (
        not trace.matched and "cap reached: 7 bot writes by this rule on SS-1 in 10 minutes (max 3)" in trace.notes[0]
    )

    _receive(daemon, onboarding_created("SS-2", 1793610840000))  # other tickets are not paused
    daemon.workers.drain()
    assert lines_of(tracker.changes(), "SS-2")

    clock.advance(timedelta(minutes=11))  # time alone does not lift a pause
    _receive(daemon, onboarding_updated("SS-1", 1793611900000))
    daemon.workers.drain()
    assert "rule paused for SS-1" in daemon.store.traces("SS-1")[-1].notes[0]

    assert daemon.guards.resume(RULE) == 1
    _receive(daemon, onboarding_updated("SS-1", 1793612000000))
    daemon.workers.drain()
    resumed = daemon.store.traces("SS-1")[-1]
    assert resumed.verdicts and not any("paused" in n for n in resumed.notes)  # evaluated again
    # The onboarding is recorded at stage intake, so the rule does not redo step 2 over a person's change.
    assert resumed.effects == [] and any(v["name"] == "onboarding stage" and v["passed"] for v in resumed.verdicts)


def test_per_rule_cap_pauses_the_rule_entirely(make_daemon, clock):
    alerts: list[str] = []
    daemon = make_daemon(onboarding_site([f"SS-{i}" for i in range(1, 5)]), alert=alerts.append,
                         guards={"max_tickets_per_rule_hour": 2})
    tracker = daemon.handler.trackers["jira"]
    for i in range(1, 5):
        _receive(daemon, onboarding_created(f"SS-{i}", 1793610840000 + i))
    daemon.workers.drain()
    assert [bool(lines_of(tracker.changes(), f"SS-{i}")) for i in range(1, 5)] == [True, True, False, False]
    [pause] = daemon.guards.active_pauses(RULE)
    assert (pause.ticket_key, pause.by) == ("", "cap")
    assert len(alerts) == 1 and "changed 2 tickets in the last hour (max 2); paused entirely" in alerts[0]
    assert "rule paused since" in daemon.store.traces("SS-4")[-1].notes[0]

    clock.advance(timedelta(minutes=1))
    daemon.guards.resume(RULE)  # the two tickets changed before the resume no longer count
    _receive(daemon, onboarding_updated("SS-3", 1793610900000))
    daemon.workers.drain()
    assert lines_of(tracker.changes(), "SS-3")


@pytest.mark.parametrize("by", ["admin"])
def test_an_admin_pause_stops_the_rule(make_daemon, by):
    daemon = make_daemon(onboarding_site(["SS-1"]))
    daemon.guards.pause(RULE, "investigating", by=by)
    _receive(daemon, onboarding_created("SS-1", 1793610840000))
    daemon.workers.drain()
    assert daemon.handler.trackers["jira"].changes() == []
    assert "investigating" in daemon.store.traces("SS-1")[-1].notes[0]


def test_the_per_ticket_cap_counts_each_rules_own_writes(tmp_path, clock):
    """One rule looping on a ticket pauses there; another rule's writes on that ticket do not count
    against it, and its own work on the ticket goes on."""
    from bot.config import RuleBlock
    from bot.engine import BoundRule, Evaluation, Rule
    from bot.executor import APPLIED
    from bot.inbox.guards import Guards
    from bot.model import TICKET_UPDATED, Event
    from bot.settings import GuardSettings
    from bot.store import LIVE, Store

    class Quiet(Rule):
        title = "test"
        Config = RuleBlock

        def evaluate(self, event, ticket, ctx):  # never evaluated here
            return Evaluation.skip([], "")

    noisy, calm = type("Noisy", (Quiet,), {"id": "noisy"})(), type("Calm", (Quiet,), {"id": "calm"})()
    rules = [BoundRule(noisy, RuleBlock()), BoundRule(calm, RuleBlock())]
    store = Store(f"sqlite:///{tmp_path / 'guards.sqlite3'}")
    guards = Guards(store, GuardSettings(max_writes_per_ticket_10min=3, max_tickets_per_rule_hour=0), clock)
    for n in range(3):
        store.record_applied(scope=LIVE, effect_key=f"noisy:SS-1:comment-{n}", ticket_key="SS-1", rule_id="noisy",
                             kind="internal_comment", outcome=APPLIED, detail="", at=clock.now())
    store.record_applied(scope=LIVE, effect_key="calm:SS-1:state", ticket_key="SS-1", rule_id="calm",
                         kind="set_state", outcome=APPLIED, detail="", at=clock.now())  # bookkeeping: not a write

    def event(n: int) -> Event:
        return Event(id=f"e{n}", source="jira", kind=TICKET_UPDATED, ticket_key="SS-1", occurred_at=clock.now())

    admission = guards.admit(event(1), rules)
    assert [r.id for r in admission.rules] == ["calm"]
    assert admission.refused["noisy"].startswith("cap reached: 3 bot writes by this rule on SS-1")
    for n in range(2):  # calm writes too: two writes of its own, under the cap of 3
        store.record_applied(scope=LIVE, effect_key=f"calm:SS-1:w{n}", ticket_key="SS-1", rule_id="calm",
                             kind="add_watcher", outcome=APPLIED, detail="", at=clock.now())
    assert [r.id for r in guards.admit(event(2), rules).rules] == ["calm"]
    assert [(p.rule_id, p.ticket_key) for p in guards.active_pauses()] == [("noisy", "SS-1")]
    store.engine.dispose()
