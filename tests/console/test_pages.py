"""The pages, on the records of the demos as ``ticketbot replay`` leaves them."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import insert

from bot.console import queries as console_queries
from bot.inbox.queue import PENDING
from bot.ops.audit import DONE, REFUSED, AuditLog
from bot.state import RuleStateRow
from bot.store import LIVE
from tests.console.conftest import ADMIN, JIRA_URL, PERMALINK, columns, dead_letter, sent_messages, text_of

RULE = "everbright_onboarding"


# the board ---------------------------------------------------------------------------------------------------
def test_the_board_lists_the_demos_onboardings_under_their_stages(open_console):
    console = open_console("midway")
    page = console.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    stages = columns(page.text)
    assert list(stages) == ["intake", "configuring", "awaiting-approval", "approved"]  # the order they go through
    assert "SS-101" in stages["awaiting-approval"] and "Sunpeak Solar" in stages["awaiting-approval"]
    assert "SS-103" in stages["approved"] and "Helio Homes" in stages["approved"]
    assert "SS-" not in stages["intake"] + stages["configuring"]
    assert "SS-101" not in stages["approved"] and "CS-201" not in page.text  # a config ticket is no onboarding
    waiting = stages["awaiting-approval"]
    assert "in stage 1d 5h" in waiting  # since 3 November 15:00
    assert "next: approval-reminder in 19h 0m" in waiting and "due soon" in waiting.lower()
    assert "waits on a decision from david.ellis@goeverbright.com" in waiting
    assert "due soon" not in stages["approved"].lower()
    assert f'href="{JIRA_URL}/browse/SS-101"' in page.text and 'href="/console/ticket/SS-101"' in page.text


def test_the_board_filters_by_runbook_stage_person_and_search(open_console):
    console = open_console("midway")
    only = columns(console.get(f"/console/?stage={RULE}/approved").text)
    assert list(only) == ["approved"] and "SS-103" in only["approved"]
    one = columns(console.get(f"/console/?runbook={RULE}&stage=awaiting-approval").text)
    assert one.keys() == {"awaiting-approval"}
    by_approver = columns(console.get("/console/?person=david.ellis").text)  # asked on both, deciding on SS-101
    assert "SS-101" in by_approver["awaiting-approval"] and "SS-103" in by_approver["approved"]
    assert "SS-10" not in console.get("/console/?person=carla.mendes").text
    by_manager = console.get("/console/?person=Tom.Becker@goeverbright.com").text  # SS-101's account manager
    assert "SS-101" in by_manager and "SS-103" not in by_manager
    by_name = console.get("/console/?q=helio").text
    assert "SS-103" in by_name and "SS-101" not in by_name
    by_member = console.get("/console/?q=cs-201").text  # the config ticket finds its onboarding
    assert "SS-101" in by_member and "SS-103" not in by_member
    by_key = console.get("/console/?q=SS-103").text
    assert "SS-103" in by_key and "SS-101" not in by_key
    nothing = console.get("/console/?q=no+such+customer")
    assert "Nothing in flight matches." in text_of(nothing.text) and "SS-10" not in nothing.text
    assert "Nothing in flight matches." in text_of(console.get("/console/?q=%25").text)  # LIKE wildcards are text


def test_closed_onboardings_only_behind_the_toggle(open_console):
    console = open_console("finished")
    board = console.get("/console/").text
    assert "SS-103" in columns(board)["approved"] and "SS-101" not in board and "Closed in the last" not in board
    closed = console.get("/console/?closed=7").text
    section = text_of(closed.split('id="closed"')[1])
    assert "SS-101" in section and "closed" in section and "Sunpeak Solar" in section
    assert "SS-105" in section and "duplicate" in section  # the approver's separate ticket, closed as a duplicate
    assert "SS-103" not in section
    assert "SS-101" not in text_of(console.get("/console/?closed=7&q=helio").text.split('id="closed"')[1])
    console.clock.advance(timedelta(days=30))
    assert "SS-101" not in console.get("/console/?closed=7").text  # closed more than a week ago


def test_a_declared_runbook_shows_its_stages_deadlines_and_what_is_overdue(open_console):
    console = open_console("nfe")
    page = console.get("/console/")
    stages = columns(page.text)
    assert list(stages) == ["purchased", "first_contact", "evaluation", "layout", "homologation", "production"]
    production = stages["production"]
    assert "102" in production and "overdue" in production.lower()
    assert "Ferragens Horizonte" in production  # the customer the runbook recorded when it started
    assert console.get("/console/", params={"q": "horizonte"}).text.count('href="/console/ticket/102"') >= 1
    assert "deadline target 2027-01-17 14:00 UTC (9d 22h ago)" in production  # the 60 days' target, missed
    assert "Produção" in page.text and "Emissão em homologação" in page.text  # the stages as the team names them
    assert "101" not in production and 'href="/console/ticket/101"' not in page.text  # closed
    assert 'href="/console/ticket/101"' in console.get("/console/?closed=30").text


def test_a_stage_with_more_instances_than_a_column_shows_pages_them(open_console, monkeypatch):
    console = open_console("midway")
    now = console.clock.now()
    with console.store.engine.begin() as conn:
        conn.execute(insert(RuleStateRow), [
            {"scope": LIVE, "rule_id": RULE, "ticket_key": f"SS-{500 + n}", "stage": "configuring",
             "data": {"installer": f"Installer {n}"}, "history": [{"stage": "configuring", "at": "2026-11-04T10:00"}],
             "created_at": now - timedelta(hours=n), "updated_at": now - timedelta(hours=n)} for n in range(30)])
    monkeypatch.setattr(console_queries, "PAGE", 20)
    board = console.get("/console/").text
    column = columns(board)["configuring"]
    assert "30" in column and "5 more" in column and column.count("SS-5") == 25
    assert "SS-529" in column and "SS-504" not in column  # unchanged longest first
    first = columns(console.get(f"/console/?runbook={RULE}&stage=configuring").text)["configuring"]
    second = console.get(f"/console/?runbook={RULE}&stage=configuring&offset=20").text
    assert first.count("SS-5") == 20 and columns(second)["configuring"].count("SS-5") == 10
    assert "newer" in second


def test_values_from_tickets_are_escaped(open_console):
    console = open_console("midway")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with console.store.engine.begin() as conn:
        conn.execute(insert(RuleStateRow).values(
            scope=LIVE, rule_id=RULE, ticket_key="SS-666", stage="configuring", data={"installer": hostile},
            history=[{"stage": "configuring", "at": "2026-11-04T10:00:00+00:00"}], created_at=console.clock.now(),
            updated_at=console.clock.now()))
    for path in ["/console/", "/console/ticket/SS-666", "/console/?q=%3Cscript"]:
        html = console.get(path).text
        assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html, path


# one ticket ----------------------------------------------------------------------------------------------
def test_a_ticket_page_links_to_the_slack_message_the_bot_sent(open_console):
    console = open_console("midway")
    sent_messages(console, [PERMALINK])
    html = console.get("/console/ticket/SS-101").text
    assert re.findall(r'<a class="ext" href="([^"]*)" rel="noopener noreferrer" target="_blank">Slack message ↗</a>',
                      html) == [PERMALINK]  # the demo's messages were replayed, never posted: no link
    assert "(ts 1793892000.000100 in DDAVIDE01) Slack message ↗" in text_of(html)


def test_a_url_in_a_trace_that_is_not_https_is_never_a_link(open_console):
    console = open_console("midway")
    hostile = ["javascript:alert(1)", " https://evil.example/", 'https://evil.example/" onclick="alert(1)',
               "http://plain.example/"]
    sent_messages(console, hostile)
    html = console.get("/console/ticket/SS-101").text
    assert "Slack message ↗" not in html and "javascript:" not in re.sub(r'<span class="detail">[^<]*</span>', "", html)
    assert 'onclick="' not in html and "&#34; onclick=&#34;alert(1)" in html  # shown as text, escaped
    assert all(url.strip() in text_of(html) for url in hostile if '"' not in url)
    effects = [e for event in console.get("/api/v1/instances/SS-101").json()["timeline"] for r in event["rules"]
               for e in r["effects"]]
    assert {e["url"] for e in effects} == {None}


def test_a_ticket_page_shows_its_timeline_verdicts_effects_stages_and_timers(open_console):
    console = open_console("midway")
    page = console.get("/console/ticket/SS-101")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "EverBright partner onboarding (seed 002): awaiting-approval" in text
    assert f'href="{JIRA_URL}/browse/SS-101"' in page.text and "With CS-201 (config ticket" in text
    assert "intake 2026-11-02 09:14 UTC · 2m configuring 2026-11-02 09:16 UTC · 1d 5h awaiting-approval" in text
    assert "installer 'Sunpeak Solar'" in text and "account_manager 'tom.becker@goeverbright.com'" in text
    assert "2026-11-05 15:00 UTC (in 19h 0m) due soon SS-101 approval-reminder" in text  # pending timer
    # the timeline, newest first: the reminder that fired, CS on hold, CS created, the intake
    events = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC (ticket\.created|ticket\.updated|timer\.fired) on (\S+)",
                        text)
    assert events == [("2026-11-04 15:00", "timer.fired", "SS-101"),
                      ("2026-11-03 15:00", "ticket.updated", "CS-201"),
                      ("2026-11-02 09:16", "ticket.created", "CS-201"),
                      ("2026-11-02 09:14", "ticket.created", "SS-101")]
    assert "applied slack to david.ellis@goeverbright.com: Hi! The EverBright onboarding of Sunpeak Solar" in text
    assert "applied set organization = 'Sunpeak Solar'" in text
    assert "already-true ensure ops@sunpeaksolar.example is not a request participant" in text
    assert "✓ CS status 'On Hold' 'On Hold'" in text  # a check: observed, expected
    assert "✓ still awaiting approval 'awaiting-approval' 'awaiting-approval'" in text
    assert "reminder 1 of 3 to david.ellis@goeverbright.com" in text  # the rule's note


def test_a_finished_ticket_shows_the_decision_and_the_separate_approval_ticket(open_console):
    console = open_console("finished")
    text = text_of(console.get("/console/ticket/SS-101").text)
    assert "awaiting-approval" in text and ": closed closed" in text
    assert "Decision: approved by David Ellis, 2026-11-05T10:30:00+00:00, via separate ticket SS-105." in text
    assert "With CS-201 (config ticket" in text and "SS-105 (approval ticket" in text
    assert "ticket.created on SS-105" in text and "applied transition to 'Closed' (resolution 'Done')" in text
    assert "Pending timers None." in text


def test_a_member_ticket_leads_to_its_onboarding_and_unknown_keys_are_404(open_console):
    console = open_console("midway")
    member = console.get("/console/ticket/cs-201", follow_redirects=False)
    assert member.status_code == 303 and member.headers["location"] == "/console/ticket/SS-101"
    unknown = console.get("/console/ticket/SS-999")
    assert unknown.status_code == 404 and "ticketbot has no record of SS-999." in unknown.text
    not_a_key = console.get("/console/ticket/DROP%20TABLE")
    assert not_a_key.status_code == 404 and "is not a Jira or Zendesk ticket key" in not_a_key.text


def test_a_ticket_page_shows_its_runbook_or_every_rule(open_console):
    console = open_console("nfe")
    own = text_of(console.get("/console/ticket/102").text)
    assert "nfe_onboarding : matched" in own.replace("nfe_onboarding:", "nfe_onboarding :")
    assert "momentus_einvoicing" not in own
    every = text_of(console.get("/console/ticket/102?all=1").text)
    assert "momentus_einvoicing" in every and "not matched" in every


def test_a_long_timeline_pages_without_cutting_an_event(open_console, monkeypatch):
    console = open_console("finished")
    whole = console.get("/console/ticket/SS-101").text
    everything = re.findall(r"<time>([^<]+)</time> <strong>([^<]+)</strong> on (\S+)</p>", whole)
    monkeypatch.setattr(console_queries, "TIMELINE_TRACES", 3)
    seen, path = [], "/console/ticket/SS-101"
    while path:
        html = console.get(path).text
        seen += re.findall(r"<time>([^<]+)</time> <strong>([^<]+)</strong> on (\S+)</p>", html)
        older = re.search(r'href="(/console/ticket/SS-101\?[^"]*before=\d+[^"]*)">older', html)
        path = older[1].replace("&amp;", "&") if older else ""
    assert seen == everything and len(seen) > 3


# timers, dead letters, rules, audit -----------------------------------------------------------------------
def test_the_timers_page(open_console):
    console = open_console("midway")
    text = text_of(console.get("/console/timers").text)
    assert "Pending timers 1" in text
    assert "2026-11-05 15:00 UTC (in 19h 0m) due soon SS-101 everbright_onboarding approval-reminder" in text
    assert "SS-101" not in text_of(console.get("/console/timers?ticket=ss-103").text)
    nfe = text_of(open_console("nfe").get("/console/timers").text)
    assert "deadline target: next remind2 (deadline due 2027-01-17 14:00 UTC)" in nfe and "overdue" in nfe


def test_retry_of_a_dead_letter_requeues_it_and_is_audited(open_console):
    console = open_console("midway")
    row = dead_letter(console.inbox, error="TrackerError: HTTP 400 " + "x" * 300)
    page = console.get("/console/dead-letters")
    text = text_of(page.text)
    assert "Dead letters 1" in text and "SS-103" in text and "jira ticket.updated" in text and "HTTP 400" in text
    assert 'class="badge">1<' in page.text  # the count in the menu, on every page
    response = console.post(f"/console/dead-letters/{row}/retry", data={"csrf_token": console.form_token(
        "/console/dead-letters")})
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/dead-letters?notice=retried&subject={row}"
    [again] = console.inbox.rows()
    assert again.id == row and again.status == PENDING and again.attempts == 0 and again.finished_at is None
    assert console.inbox.dead_letters() == []
    after = text_of(console.get(response.headers["location"]).text)
    assert f"Dead letter {row} is queued again; a running daemon picks it up." in after and "No dead letters." in after
    second = console.post(f"/console/dead-letters/{row}/retry", data={"csrf_token": console.token()})
    assert second.headers["location"] == f"/console/dead-letters?notice=not-dead&subject={row}"
    entries = AuditLog(console.store, console.clock).entries()
    assert [(e.actor, e.via, e.command, e.outcome) for e in entries] == [
        (ADMIN, "console", f"retry dead letter {row}", DONE), (ADMIN, "console", f"retry dead letter {row}", REFUSED)]


def test_pause_and_resume_from_the_rules_page_change_the_guard_and_are_audited(open_console):
    console = open_console("midway")
    page = console.get("/console/rules")
    text = text_of(page.text)
    assert "everbright_onboarding EverBright partner onboarding (seed 002) enabled CS, SS 2" in text
    assert "30 writes to one ticket in 10 minutes" in text
    assert f'action="/console/rules/{RULE}/pause"' in page.text and "/resume" not in page.text
    paused = console.post(f"/console/rules/{RULE}/pause", data={"csrf_token": console.form_token("/console/rules")})
    assert paused.headers["location"] == f"/console/rules?notice=paused&subject={RULE}"
    [pause] = console.guards.active_pauses()
    assert (pause.rule_id, pause.ticket_key, pause.by) == (RULE, "", "admin")
    assert pause.reason == f"paused from the console by {ADMIN}"
    shown = console.get(paused.headers["location"])
    assert f"Rule {RULE} is paused: it plans nothing until it is resumed." in text_of(shown.text)
    assert f"paused since 2026-11-04 20:00 UTC (admin): paused from the console by {ADMIN}" in text_of(shown.text)
    assert f'action="/console/rules/{RULE}/resume"' in shown.text and f"/{RULE}/pause" not in shown.text
    again = console.post(f"/console/rules/{RULE}/pause", data={"csrf_token": console.token()})
    assert again.headers["location"] == f"/console/rules?notice=already-paused&subject={RULE}"
    resumed = console.post(f"/console/rules/{RULE}/resume", data={"csrf_token": console.form_token("/console/rules")})
    assert resumed.headers["location"] == f"/console/rules?notice=resumed&subject={RULE}"
    assert console.guards.active_pauses() == []
    entries = AuditLog(console.store, console.clock).entries()
    assert [(e.actor, e.via, e.command, e.outcome) for e in entries] == [
        (ADMIN, "console", f"pause {RULE}", DONE), (ADMIN, "console", f"pause {RULE}", REFUSED),
        (ADMIN, "console", f"resume {RULE}", DONE)]
    assert entries[-1].detail == "1 pause(s) lifted"


def test_an_unknown_rule_is_said_and_a_notice_shows_only_known_sentences(open_console):
    console = open_console("midway")
    response = console.post("/console/rules/no_such_rule/pause", data={"csrf_token": console.token()})
    assert response.headers["location"] == "/console/rules?notice=unknown-rule&subject=no_such_rule"
    assert "There is no rule no_such_rule." in console.get(response.headers["location"]).text
    forged = console.get("/console/rules?notice=Your+password+expired&subject=x")
    assert "password" not in forged.text
    odd = console.get("/console/rules?notice=paused&subject=%3Cb%3Eyou%3C/b%3E")
    assert "Rule ? is paused" in odd.text and "<b>you" not in odd.text


def test_the_audit_log_page_searches(open_console):
    console = open_console("midway")
    console.post(f"/console/rules/{RULE}/pause", data={"csrf_token": console.token()})
    console.post(f"/console/rules/{RULE}/pause", data={})  # refused: no token
    AuditLog(console.store, console.clock).record(actor="U0APPROVER", via="slack", command="approve SS-101",
                                                  outcome=DONE, detail="approval.given queued")
    everything = text_of(console.get("/console/audit").text)
    assert everything.index("approve SS-101") < everything.index(f"pause {RULE}")  # newest first
    assert f"{ADMIN} console pause {RULE} done" in everything
    approvals = text_of(console.get("/console/audit?q=ss-101").text)
    assert "approve SS-101" in approvals and f"pause {RULE}" not in approvals
    refused = text_of(console.get("/console/audit?outcome=refused").text)
    assert "no CSRF token" in refused and "approve SS-101" not in refused
    assert "No entry matches." in text_of(console.get("/console/audit?q=nobody-did-this").text)
    on_ticket = text_of(console.get("/console/ticket/SS-101").text)
    assert "Asked of ticketbot" in on_ticket and "U0APPROVER slack approve SS-101 done" in on_ticket


def test_json_of_the_board_and_the_page_agree(open_console):
    console = open_console("midway")
    board = console.get("/api/v1/board").json()
    [everbright] = board["runbooks"]
    shown = {s["stage"]: [i["ticket"] for i in s["instances"]] for s in everbright["stages"]}
    assert shown == {"intake": [], "configuring": [], "awaiting-approval": ["SS-101"], "approved": ["SS-103"]}
    assert json.loads(json.dumps(board)) == board
