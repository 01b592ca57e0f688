"""The JSON API under /api/v1: the pages' data, and the same actions with the token in a header."""

from __future__ import annotations

from bot.console.access import Identity
from bot.inbox.queue import PENDING
from bot.ops.audit import DONE, REFUSED, AuditLog
from tests.console.conftest import ADMIN, JIRA_URL, PERMALINK, PROXY, dead_letter, sent_messages

RULE = "everbright_onboarding"


def test_session_names_the_person_and_gives_the_token(open_console):
    console = open_console()
    session = console.get("/api/v1/session", who="Ann.Admin@GoEverBright.example").json()
    assert session["email"] == ADMIN and session["via"] == f"X-Forwarded-Email from {PROXY}"
    assert session["csrf_header"] == "X-CSRF-Token" and session["scope"] == "live"
    assert console.console.csrf.valid(Identity(ADMIN, "any way"), session["csrf_token"])


def test_board(open_console):
    console = open_console("midway")
    board = console.get("/api/v1/board").json()
    assert board["now"] == "2026-11-04T20:00:00+00:00" and board["in_flight"] == 2 and board["closed"] is None
    [everbright] = board["runbooks"]
    assert everbright["rule"] == RULE and everbright["in_flight"] == 2
    waiting = next(s for s in everbright["stages"] if s["stage"] == "awaiting-approval")
    assert waiting["count"] == 1 and waiting["more"] == 0
    [ss101] = waiting["instances"]
    assert ss101["ticket"] == "SS-101" and ss101["customer"] == "Sunpeak Solar" and ss101["members"] == ["CS-201"]
    assert ss101["entered_at"] == "2026-11-03T15:00:00+00:00" and ss101["seconds_in_stage"] == 29 * 3600
    assert ss101["next_timer"]["name"] == "approval-reminder"
    assert ss101["next_timer"]["due_at"] == "2026-11-05T15:00:00+00:00"
    assert ss101["due_soon"] is True and ss101["overdue"] is False
    assert ss101["waits_on"] == "a decision from david.ellis@goeverbright.com"
    assert ss101["url"] == f"{JIRA_URL}/browse/SS-101"
    filtered = console.get("/api/v1/board", params={"q": "helio", "closed_days": 7}).json()
    assert [i["ticket"] for r in filtered["runbooks"] for s in r["stages"] for i in s["instances"]] == ["SS-103"]
    assert filtered["closed"] == [] and filtered["filter"]["q"] == "helio"
    finished = open_console("finished").get("/api/v1/board", params={"closed_days": 7}).json()
    assert {c["ticket"]: c["stage"] for c in finished["closed"]} == {"SS-101": "closed", "SS-105": "duplicate"}


def test_board_parameters_are_checked(open_console):
    console = open_console()
    assert console.get("/api/v1/board", params={"closed_days": -1}).status_code == 422
    assert console.get("/api/v1/board", params={"per_stage": 0}).status_code == 422
    assert console.get("/api/v1/board", params={"per_stage": 1000}).status_code == 422
    assert console.get("/api/v1/audit", params={"outcome": "maybe"}).status_code == 422


def test_instance(open_console):
    console = open_console("finished")
    instance = console.get("/api/v1/instances/ss-101").json()
    assert instance["ticket"] == "SS-101" and instance["asked_for"] == "SS-101"
    assert instance["url"] == f"{JIRA_URL}/browse/SS-101"
    [runbook] = instance["runbooks"]
    assert runbook["stage"] == "closed" and runbook["closed"] is True
    assert [h["stage"] for h in runbook["history"]] == ["intake", "configuring", "awaiting-approval", "approved",
                                                        "closed"]
    assert runbook["decision"] == {"approved": True, "by": "David Ellis", "at": "2026-11-05T10:30:00+00:00",
                                   "via": "separate ticket SS-105"}
    assert runbook["record"]["installer"] == "Sunpeak Solar" and "member:CS-201" not in runbook["record"]
    assert {m["ticket"]: m["role"] for m in instance["members"]} == {"CS-201": "config ticket",
                                                                     "SS-105": "approval ticket"}
    events = instance["timeline"]
    assert events[0]["kind"] == "ticket.updated" and events[0]["ticket"] == "CS-201"  # newest first: CS done
    [closing] = events[0]["rules"]
    assert closing["head"] == "matched"
    assert {"outcome": "applied", "what": "transition to 'Closed' (resolution 'Done')", "detail": None,
            "url": None} in [{**e, "detail": None} for e in closing["effects"]]
    verdict = next(v for e in events for r in e["rules"] for v in r["verdicts"] if v["name"] == "CS status")
    assert set(verdict) == {"name", "passed", "observed", "expected", "note"}
    intake = events[-1]
    assert intake["kind"] == "ticket.created" and intake["ticket"] == "SS-101"
    assert any(e["outcome"] == "already-true" for e in intake["rules"][0]["effects"])
    assert instance["older"] is None and instance["timers"] == []
    member = console.get("/api/v1/instances/SS-105").json()  # its own record: a duplicate of SS-101
    assert member["ticket"] == "SS-105" and member["runbooks"][0]["stage"] == "duplicate"
    config_ticket = console.get("/api/v1/instances/CS-201").json()
    assert config_ticket["ticket"] == "SS-101" and config_ticket["asked_for"] == "CS-201"
    assert console.get("/api/v1/instances/SS-999").status_code == 404
    assert console.get("/api/v1/instances/not%20a%20key").status_code == 404


def test_an_instances_effects_carry_the_slack_messages_permalink(open_console):
    console = open_console("midway")
    sent_messages(console, [PERMALINK])
    [newest, *older] = console.get("/api/v1/instances/SS-101").json()["timeline"]
    [effect] = newest["rules"][0]["effects"]
    assert (effect["outcome"], effect["detail"], effect["url"]) == ("applied", "ts 1793892000.000100 in DDAVIDE01",
                                                                    PERMALINK)
    assert {e["url"] for event in older for r in event["rules"] for e in r["effects"]} == {None}  # replayed: none


def test_timers_dead_letters_rules_and_audit(open_console):
    console = open_console("midway")
    timers = console.get("/api/v1/timers").json()
    assert timers["total"] == 1 and timers["next_offset"] is None
    assert timers["items"][0]["id"] == "everbright_onboarding:SS-101:approval-reminder"
    assert console.get("/api/v1/timers", params={"rule": "nfe_onboarding"}).json()["total"] == 0
    assert console.get("/api/v1/timers", params={"limit": 0}).status_code == 422
    row = dead_letter(console.inbox)
    [letter] = console.get("/api/v1/dead-letters").json()["items"]
    assert letter["id"] == row and letter["ticket"] == "SS-103" and letter["attempts"] == 1
    assert letter["last_error"].startswith("TrackerError: HTTP 400") and letter["url"] == f"{JIRA_URL}/browse/SS-103"
    rules = console.get("/api/v1/rules").json()
    assert rules["caps"] == {"max_writes_per_ticket_10min": 30, "max_tickets_per_rule_hour": 200}
    [rule] = rules["rules"]
    assert rule["rule"] == RULE and rule["enabled"] and rule["paused"] is None and rule["in_flight"] == 2
    assert rule["projects"] == ["CS", "SS"]
    assert console.get("/api/v1/audit").json() == {"entries": [], "older": None}


def test_actions(open_console):
    console = open_console("midway")
    token = {"X-CSRF-Token": console.token()}
    paused = console.post(f"/api/v1/rules/{RULE}/pause", headers=token)
    assert paused.status_code == 200 and paused.json()["done"] is True
    assert [p.reason for p in console.guards.active_pauses()] == [f"paused from the console by {ADMIN}"]
    assert console.get("/api/v1/rules").json()["rules"][0]["paused"]["reason"] == f"paused from the console by {ADMIN}"
    twice = console.post(f"/api/v1/rules/{RULE}/pause", headers=token)
    assert twice.status_code == 409 and twice.json() == {"done": False, "message": f"Rule {RULE} is already paused."}
    assert console.post(f"/api/v1/rules/{RULE}/resume", headers=token).status_code == 200
    assert console.post(f"/api/v1/rules/{RULE}/resume", headers=token).status_code == 409
    assert console.post("/api/v1/rules/nope/pause", headers=token).status_code == 404
    row = dead_letter(console.inbox)
    retried = console.post(f"/api/v1/dead-letters/{row}/retry", headers=token)
    assert retried.status_code == 200 and retried.json()["done"] is True
    assert [(r.id, r.status, r.attempts) for r in console.inbox.rows()] == [(row, PENDING, 0)]
    assert console.post(f"/api/v1/dead-letters/{row}/retry", headers=token).status_code == 404
    audit = console.get("/api/v1/audit", params={"q": "console"}).json()["entries"]
    assert [(e["command"], e["outcome"]) for e in reversed(audit)] == [
        (f"pause {RULE}", DONE), (f"pause {RULE}", REFUSED), (f"resume {RULE}", DONE), (f"resume {RULE}", REFUSED),
        ("pause nope", REFUSED), (f"retry dead letter {row}", DONE), (f"retry dead letter {row}", REFUSED)]
    assert {e["actor"] for e in audit} == {ADMIN}
    page = console.get("/api/v1/audit", params={"limit": 3}).json()
    older = console.get("/api/v1/audit", params={"limit": 3, "before": page["older"]}).json()
    assert len(page["entries"]) == 3 and older["entries"][0]["id"] < page["entries"][-1]["id"]
    assert len(AuditLog(console.store, console.clock).entries()) == 7
