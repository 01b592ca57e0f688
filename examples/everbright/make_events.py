"""Writes events.jsonl: the recorded webhooks of the EverBright demo (all six runbook steps).

    python examples/everbright/make_events.py

The bodies follow Jira Cloud's webhook shape (``jira:issue_created`` / ``jira:issue_updated`` with a
changelog / ``comment_created``) as ../shared/contracts shows it; ``ticketbot replay`` reads them.
The story, on the virtual clock:

- Mon 09:14 SS-101 Sunpeak Solar onboarding arrives (step 1) → intake (step 2).
- Mon 09:34 SS-102, an unrelated ticket; 10:19 SS-103 Helio Homes (no account manager configured);
  11:14 SS-104 with the installer name missing.
- Mon 09:16 / 10:21 Jira's automation creates CS-201 / CS-202 → linked to SS-101 / SS-103 (step 3).
- Tue 15:00 Config puts CS-201 on hold (step 4) → approval asked, reminder due Wed 15:00 (step 5).
- Tue 16:00 CS-202 on hold → approval asked for SS-103.
- Wed 09:05 the approver comments "Approved, go ahead" on SS-103 → CS-202 back to To Do.
- Wed 10:00 a "needs-customer-comms" label on SS-103 → account manager and approver tagged.
- Wed 15:00 no answer on SS-101: the 24 h reminder fires → Slack DM with Approve / Reject.
- Thu 10:30 the approver e-mails a new ticket SS-105 "Sunpeak Solar – approved" → linked to SS-101,
  closed as a duplicate, counted as the approval → CS-201 back to To Do.
- Fri 11:00 Config sets CS-201 Done → approver told the products are live, SS-101 closed (step 6).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

BASE = "https://goeverbright.atlassian.net"
HERE = Path(__file__).parent

PEOPLE = {
    "sunpeak": ("qm:customer-sunpeak", "ops@sunpeaksolar.example", "Sunpeak Solar Ops", "customer"),
    "helio": ("qm:customer-helio", "hello@heliohomes.example", "Helio Homes", "customer"),
    "tom": ("5c0a1f7b8d2e3f0012a4b5c7", "tom.becker@goeverbright.com", "Tom Becker", "atlassian"),
    "david": ("5b10a2844c20165700ede21g", "david.ellis@goeverbright.com", "David Ellis", "atlassian"),
    "automation": ("557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "", "Automation for Jira", "app"),
    "config": ("5d1e2f3a4b5c6d7e8f901234", "lena.config@goeverbright.com", "Lena (Config)", "atlassian"),
}
PROJECTS = {"SS": ("10000", "EverBright Support", "service_desk"), "CS": ("10001", "Config Services", "software")}
STATUSES = {"Waiting for support": ("10001", "new"), "To Do": ("10002", "new"), "On Hold": ("10003", "indeterminate"),
            "Done": ("10004", "done"), "Closed": ("10005", "done")}


def user(who: str) -> dict:
    account_id, email, name, kind = PEOPLE[who]
    data = {"self": f"{BASE}/rest/api/2/user?accountId={account_id}", "accountId": account_id,
            "displayName": name, "active": True, "timeZone": "America/Denver", "accountType": kind}
    if email:
        data["emailAddress"] = email
    return data


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def stamp(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def issue(key: str, number: int, summary: str, description: str, reporter: str, *, created: str, status: str,
          issue_type: str = "Service Request", labels: tuple[str, ...] = (), participants: tuple[str, ...] = (),
          comments: tuple[dict, ...] = ()) -> dict:
    project = key.split("-")[0]
    pid, pname, ptype = PROJECTS[project]
    sid, category = STATUSES[status]
    fields = {
        "summary": summary, "description": description,
        "issuetype": {"id": "10004" if issue_type == "Service Request" else "10002", "name": issue_type,
                      "subtask": False},
        "project": {"id": pid, "key": project, "name": pname, "projectTypeKey": ptype},
        "status": {"name": status, "id": sid, "statusCategory": {"key": category, "name": status}},
        "reporter": user(reporter), "creator": user(reporter),
        "created": stamp(created), "updated": stamp(created), "labels": list(labels), "issuelinks": [],
        "priority": {"name": "Medium", "id": "3"}, "assignee": None,
        "watches": {"watchCount": 0, "isWatching": False},
        "comment": {"comments": list(comments), "maxResults": len(comments), "total": len(comments), "startAt": 0},
    }
    if project == "SS":
        fields.update({"customfield_10002": [], "customfield_10001": [user(p) for p in participants],
                       "customfield_10010": {"requestType": {"id": "18", "name": "Partner onboarding"},
                                             "currentStatus": {"status": status}},
                       "customfield_10050": None})
    return {"id": str(number), "self": f"{BASE}/rest/api/2/issue/{number}", "key": key, "fields": fields}


def created(at: str, body: dict, who: str, changelog_id: int) -> dict:
    return {"timestamp": ms(at), "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
            "user": user(who), "issue": body,
            "changelog": {"id": str(changelog_id), "items": [
                {"field": "summary", "fieldtype": "jira", "fieldId": "summary", "from": None, "fromString": None,
                 "to": None, "toString": body["fields"]["summary"]}]}}


def updated(at: str, body: dict, who: str, changelog_id: int, items: list[dict]) -> dict:
    """The issue as it is after the change (Jira sends the new snapshot with the changelog)."""
    body = copy.deepcopy(body)
    body["fields"]["updated"] = stamp(at)
    for item in items:
        if item["field"] == "status":
            sid, category = STATUSES[item["toString"]]
            body["fields"]["status"] = {"name": item["toString"], "id": sid,
                                        "statusCategory": {"key": category, "name": item["toString"]}}
        if item["field"] == "labels":
            body["fields"]["labels"] = item["toString"].split()
    return {"timestamp": ms(at), "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
            "user": user(who), "issue": body, "changelog": {"id": str(changelog_id), "items": items}}


def status_change(old: str, new: str) -> dict:
    return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": STATUSES[old][0],
            "fromString": old, "to": STATUSES[new][0], "toString": new}


def comment_created(at: str, body: dict, who: str, comment_id: int, text: str) -> dict:
    comment = {"self": f"{BASE}/rest/api/2/issue/{body['id']}/comment/{comment_id}", "id": str(comment_id),
               "author": user(who), "body": text, "updateAuthor": user(who), "created": stamp(at),
               "updated": stamp(at), "jsdPublic": False}
    return {"timestamp": ms(at), "webhookEvent": "comment_created", "issue_event_type_name": "issue_commented",
            "comment": comment, "issue": body}


SUNPEAK_FORM = ("Thank you for partnering with EverBright!\n\n* Installer name: Sunpeak Solar\n"
                "* Installer contact email: ops@sunpeaksolar.example\n* State: Colorado\n")
HELIO_FORM = "Installer name\n   Helio Homes  \nInstaller contact email:\nhello@heliohomes.example\n"


def events() -> list[dict]:
    ss101 = issue("SS-101", 10101, "EverBright Partner Onboarding", SUNPEAK_FORM, "sunpeak",
                  created="2026-11-02T09:14", status="Waiting for support")
    ss103 = issue("SS-103", 10103, "  everbright partner   onboarding ", HELIO_FORM, "helio",
                  created="2026-11-02T10:19", status="Waiting for support", participants=("helio",))
    cs201 = issue("CS-201", 20201, "EverBright integrated finance setup: Sunpeak Solar",
                  "Created by automation from SS-101 (Needs Configuration? = Integrated Finance).", "automation",
                  created="2026-11-02T09:16", status="To Do", issue_type="Task")
    cs202 = issue("CS-202", 20202, "EverBright integrated finance setup: Helio Homes",
                  "Created by automation from SS-103 (Needs Configuration? = Integrated Finance).", "automation",
                  created="2026-11-02T10:21", status="To Do", issue_type="Task")
    ss105 = issue("SS-105", 10105, "Sunpeak Solar – approved",
                  "Hi team, sorry for the delay: approved, please push Sunpeak Solar live.\n\nDavid", "david",
                  created="2026-11-05T10:30", status="Waiting for support")
    return [
        created("2026-11-02T09:14", ss101, "sunpeak", 30101),
        created("2026-11-02T09:16", cs201, "automation", 30201),
        created("2026-11-02T09:34", issue("SS-102", 10102, "VPN drops every hour",
                                          "Since Monday our VPN disconnects hourly.", "tom",
                                          created="2026-11-02T09:34", status="Waiting for support"), "tom", 30102),
        created("2026-11-02T10:19", ss103, "helio", 30103),
        created("2026-11-02T10:21", cs202, "automation", 30202),
        created("2026-11-02T11:14", issue("SS-104", 10104, "EverBright Partner Onboarding",
                                          "Installer contact email: info@ridgeline.example\nState: Utah\n", "helio",
                                          created="2026-11-02T11:14", status="Waiting for support",
                                          participants=("helio",)), "helio", 30104),
        updated("2026-11-03T15:00", cs201, "config", 30203, [status_change("To Do", "On Hold")]),
        updated("2026-11-03T16:00", cs202, "config", 30204, [status_change("To Do", "On Hold")]),
        comment_created("2026-11-04T09:05", ss103, "david", 40001, "Approved, go ahead with Helio Homes."),
        updated("2026-11-04T10:00", ss103, "tom", 30105, [
            {"field": "labels", "fieldtype": "jira", "fieldId": "labels", "from": None, "fromString": "",
             "to": None, "toString": "needs-customer-comms"}]),
        created("2026-11-05T10:30", ss105, "david", 30106),
        updated("2026-11-06T11:00", cs201, "config", 30205, [status_change("To Do", "Done")]),
    ]


if __name__ == "__main__":
    with open(HERE / "events.jsonl", "w", encoding="utf-8") as out:
        for event in events():
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
    print(f"wrote {len(events())} events to {HERE / 'events.jsonl'}")
