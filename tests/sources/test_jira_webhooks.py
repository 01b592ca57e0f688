"""parse_jira_webhook: real Jira Cloud payloads from ../shared, plus hand-made edge cases."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import model
from bot.sources.jira_webhook import MalformedEvent, parse_jira_webhook
from bot.trackers.jira.model import FieldCatalog
from tests.fakes.fake_jira import SHARED_ENV, shared_dir

_SHARED = shared_dir()
WEBHOOK_DIR = _SHARED / "contracts" / "jira" / "webhooks" if _SHARED else None
FIXTURES = sorted(WEBHOOK_DIR.glob("*.json")) if WEBHOOK_DIR and WEBHOOK_DIR.is_dir() else []
NO_FIXTURES = f"../shared/contracts/jira/webhooks is absent (set {SHARED_ENV} to the shared directory)"

#: Written out here, not imported from the parser, so the test checks the mapping.
EXPECTED_KIND = {
    "jira:issue_created": model.TICKET_CREATED,
    "jira:issue_updated": model.TICKET_UPDATED,
    "jira:issue_deleted": model.TICKET_DELETED,
    "comment_created": model.COMMENT_CREATED,
    "comment_updated": model.COMMENT_UPDATED,
    "comment_deleted": model.COMMENT_DELETED,
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.skipif(not FIXTURES, reason=NO_FIXTURES)
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_recorded_webhook_parses(path: Path) -> None:
    payload = _load(path)
    event = parse_jira_webhook(payload)
    assert event.kind == EXPECTED_KIND[payload["webhookEvent"]]
    assert event.ticket_key == payload["issue"]["key"]
    assert event.source == "jira" and event.raw_type == payload["webhookEvent"]
    assert event.ticket is not None and event.ticket.key == event.ticket_key
    assert event.occurred_at == datetime.fromtimestamp(payload["timestamp"] / 1000, tz=UTC)
    assert event.id.startswith("sha256:")
    if event.kind.startswith("comment."):
        assert event.comment is not None and event.comment.id == payload["comment"]["id"]
    assert len(event.changes) == len((payload.get("changelog") or {}).get("items", []))


# a small payload of our own ---------------------------------------------------------------------------
ISSUE = {
    "id": "10001", "key": "SS-1",
    "fields": {
        "summary": "Onboard Sunpeak", "status": {"name": "Waiting for support"}, "project": {"key": "SS"},
        "issuetype": {"name": "Service Request"},
        "customfield_10050": {"value": "Integrated Finance", "id": "10100"},
        "customfield_10002": [{"id": 1, "name": "Brightside Installers"}],
        "customfield_10010": {"requestType": {"id": "18", "name": "Partner onboarding"}},
        "customfield_10001": [{"accountId": "qm:sunpeak", "displayName": "Sunpeak"}],
        "updated": "2026-01-05T09:00:00.000+0000",
    },
}
UPDATED = {
    "timestamp": 1767603600000, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_updated",
    "user": {"accountId": "acc-maria", "displayName": "Maria Lopez", "emailAddress": "maria@example.com"},
    "issue": ISSUE,
    "changelog": {"id": "555", "items": [
        {"field": "Needs Configuration?", "fieldId": "customfield_10050", "fromString": None,
         "toString": "Integrated Finance"},
        {"field": "status", "fieldId": "status", "fromString": "Open", "toString": "Waiting for support"}]},
}
COMMENTED = {
    "timestamp": 1767603660000, "webhookEvent": "comment_created",
    "comment": {"id": "900", "body": "Please hold", "jsdPublic": False,
                "author": {"accountId": "acc-tom", "displayName": "Tom"},
                "updateAuthor": {"accountId": "acc-tom", "displayName": "Tom"}},
    "issue": {"id": "10001", "key": "SS-1", "fields": {"summary": "Onboard Sunpeak"}},
}
CATALOG = FieldCatalog.from_fields([
    {"id": "customfield_10050", "name": "Needs Configuration?", "schema": {"type": "option"}},
    {"id": "customfield_10002", "name": "Organizations",
     "schema": {"type": "array", "custom": "com.atlassian.servicedesk:sd-customer-organizations"}},
    {"id": "customfield_10010", "name": "Request Type",
     "schema": {"type": "sd-customerrequesttype", "custom": "com.atlassian.servicedesk:vp-origin"}},
    {"id": "customfield_10001", "name": "Request participants",
     "schema": {"type": "array", "custom": "com.atlassian.servicedesk:sd-request-participants"}},
])


def test_issue_updated_carries_actor_changes_and_snapshot() -> None:
    event = parse_jira_webhook(UPDATED, catalog=CATALOG)
    assert (event.kind, event.ticket_key) == (model.TICKET_UPDATED, "SS-1")
    assert event.actor == model.User("acc-maria", "maria@example.com", "Maria Lopez")
    assert event.changes == (model.Change("Needs Configuration?", None, "Integrated Finance"),
                             model.Change("status", "Open", "Waiting for support"))
    assert event.occurred_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ticket = event.ticket
    assert ticket is not None
    assert ticket.fields == {"Needs Configuration?": "Integrated Finance"}
    assert (ticket.organizations, ticket.request_type) == (("Brightside Installers",), "Partner onboarding")
    assert [p.account_id for p in ticket.participants or ()] == ["qm:sunpeak"]


def test_an_assignment_names_the_assignee_by_account_id_not_by_display_name() -> None:
    body = copy.deepcopy(UPDATED)
    body["changelog"]["items"] = [{"field": "assignee", "fieldtype": "jira", "fieldId": "assignee", "from": None,
                                   "fromString": None, "to": "acc-maria", "toString": "Maria Lopez"}]
    assert parse_jira_webhook(body).changes == (model.Change("assignee", None, "acc-maria"),)
    body["changelog"]["items"][0].update(to=None, toString=None)  # unassigned
    assert parse_jira_webhook(body).changes == (model.Change("assignee", None, None),)


def test_without_a_catalog_custom_fields_are_keyed_by_id() -> None:
    ticket = parse_jira_webhook(UPDATED).ticket
    assert ticket is not None and ticket.fields["customfield_10050"] == "Integrated Finance"


def test_comment_event_actor_is_the_comment_author_and_internal_flag_is_read() -> None:
    event = parse_jira_webhook(COMMENTED)
    assert event.kind == model.COMMENT_CREATED
    assert event.actor is not None and event.actor.account_id == "acc-tom"
    assert event.comment == model.Comment("900", "Please hold", event.comment.author, internal=True)  # type: ignore[union-attr]


def test_event_id_is_the_webhook_identifier_header_in_any_case() -> None:
    assert parse_jira_webhook(UPDATED, headers={"x-atlassian-webhook-identifier": "abc-1"}).id == "abc-1"
    assert parse_jira_webhook(UPDATED, headers={"X-Atlassian-Webhook-Identifier": "abc-2"}).id == "abc-2"


def test_digest_is_stable_across_redeliveries_and_tells_events_apart() -> None:
    redelivered = copy.deepcopy(UPDATED)
    redelivered["issue"]["fields"]["summary"] = "renamed since"  # the snapshot is not the identity
    first = parse_jira_webhook(UPDATED).id
    assert parse_jira_webhook(redelivered).id == first
    other = copy.deepcopy(UPDATED)
    other["changelog"]["id"] = "556"
    assert parse_jira_webhook(other).id != first
    assert parse_jira_webhook(COMMENTED).id != parse_jira_webhook({**COMMENTED, "comment": {
        **COMMENTED["comment"], "id": "901"}}).id


def test_unknown_event_types_are_kind_unknown() -> None:
    event = parse_jira_webhook({"webhookEvent": "worklog_created", "timestamp": 1767603600000,
                                "worklog": {"issueId": "10001"}})
    assert (event.kind, event.ticket_key, event.ticket) == (model.UNKNOWN, "", None)
    with_issue = parse_jira_webhook({**UPDATED, "webhookEvent": "jira:issue_archived"})
    assert (with_issue.kind, with_issue.ticket_key) == (model.UNKNOWN, "SS-1")


def test_missing_timestamp_falls_back_to_the_issue_update_time() -> None:
    payload = {k: v for k, v in UPDATED.items() if k != "timestamp"}
    assert parse_jira_webhook(payload).occurred_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("payload", "message"), [
    ([1, 2], "JSON object, got list"),
    ("jira:issue_created", "JSON object, got str"),
    ({"timestamp": 1}, "no 'webhookEvent'"),
    ({"webhookEvent": ""}, "no 'webhookEvent'"),
    ({"webhookEvent": "jira:issue_created", "timestamp": 1}, "no 'issue' object"),
    ({"webhookEvent": "jira:issue_updated", "timestamp": 1, "issue": {"id": "1"}}, "issue has no 'key'"),
    ({"webhookEvent": "jira:issue_updated", "timestamp": 1, "issue": {"key": "A-1", "fields": []}},
     "'fields' is not an object"),
    ({"webhookEvent": "comment_created", "timestamp": 1, "issue": {"key": "A-1"}}, "no 'comment' object"),
    ({"webhookEvent": "jira:issue_updated", "timestamp": 1, "issue": {"key": "A-1"}, "changelog": {"items": 3}},
     "no 'items' list"),
    ({"webhookEvent": "jira:issue_updated", "issue": {"key": "A-1"}}, "no usable 'timestamp'"),
], ids=["list", "string", "no-type", "empty-type", "no-issue", "no-key", "bad-fields", "no-comment",
        "bad-changelog", "no-time"])
def test_malformed_payloads_raise_a_clear_value_error(payload: Any, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message) as caught:
        parse_jira_webhook(payload)
    assert isinstance(caught.value, ValueError)
