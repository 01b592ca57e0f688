"""Every shape in which Jira delivers a comment counts, and counts once; the other type names stay updates.

Bodies are the real captures in ``../shared/contracts/jira/webhooks`` (read, never copied), turned
into the "Issue updated" shape of the same comment the way Jira sends it: ``jira:issue_updated`` with
``issue_event_type_name`` naming the comment event, ``user`` the commenter, no changelog.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.inbox.queue import dedup_key
from bot.model import COMMENT_CREATED, COMMENT_DELETED, COMMENT_UPDATED, TICKET_UPDATED
from bot.sources.common import MalformedEvent
from bot.sources.jira_webhook import AUTOMATION_SOURCE, comment_identity, parse_jira_automation, parse_jira_webhook
from tests.support.daemon import CONTRACTS, NO_CONTRACTS, contract_payloads

pytestmark = pytest.mark.skipif(not (CONTRACTS / "jira" / "webhooks").is_dir(), reason=NO_CONTRACTS)

COMMENT_EVENTS = {  # the comment webhook's capture -> the type name "Issue updated" carries it under
    "mattermost_webhook-cloud-comment-created.json": ("issue_commented", COMMENT_CREATED),
    "mattermost_webhook-cloud-comment-updated.json": ("issue_comment_edited", COMMENT_UPDATED),
    "mattermost_webhook-cloud-comment-deleted.json": ("issue_comment_deleted", COMMENT_DELETED),
}


def _capture(name: str) -> dict[str, Any]:
    return copy.deepcopy(contract_payloads()[name])


def as_issue_updated(body: dict[str, Any], type_name: str) -> dict[str, Any]:
    """The same comment as a webhook subscribed to "Issue updated" delivers it."""
    other = copy.deepcopy(body)
    other["webhookEvent"] = "jira:issue_updated"
    other["issue_event_type_name"] = type_name
    other["user"] = copy.deepcopy(body["comment"]["updateAuthor"])
    other["timestamp"] = body["timestamp"] + 11  # its own send: Jira's clock moved on
    return other


@pytest.mark.parametrize("name", sorted(COMMENT_EVENTS))
def test_the_issue_updated_shape_of_a_comment_is_that_comment(name: str) -> None:
    type_name, kind = COMMENT_EVENTS[name]
    direct = parse_jira_webhook(_capture(name), headers={"X-Atlassian-Webhook-Identifier": "comment-hook"})
    updated = parse_jira_webhook(as_issue_updated(_capture(name), type_name),
                                 headers={"X-Atlassian-Webhook-Identifier": "issue-hook"})
    assert (direct.kind, updated.kind) == (kind, kind)
    assert updated.comment == direct.comment and updated.changes == ()
    assert updated.actor is not None and updated.actor.same_person(direct.comment.author)
    # Two webhooks, two identifiers, two bodies: one comment, one inbox key.
    assert direct.id != updated.id
    assert comment_identity(direct) == comment_identity(updated) is not None
    assert dedup_key("jira", direct) == dedup_key("jira", updated)


def test_comment_identity_tells_the_comment_its_edits_and_its_deletion_apart() -> None:
    created = parse_jira_webhook(_capture("mattermost_webhook-cloud-comment-created.json"))
    edited = parse_jira_webhook(_capture("mattermost_webhook-cloud-comment-updated.json"))
    assert created.comment.id == edited.comment.id  # the same comment (10019), edited a minute later
    edited_again = _capture("mattermost_webhook-cloud-comment-updated.json")
    edited_again["comment"]["updated"] = "2019-02-15T19:14:00.000-0800"
    deleted = _capture("mattermost_webhook-cloud-comment-created.json")
    deleted["webhookEvent"] = "comment_deleted"
    keys = {dedup_key("jira", parse_jira_webhook(b)) for b in (edited_again, deleted)}
    keys |= {dedup_key("jira", created), dedup_key("jira", edited)}
    assert len(keys) == 4
    other = _capture("mattermost_webhook-cloud-comment-created.json")
    other["comment"]["id"] = "10020"
    assert dedup_key("jira", parse_jira_webhook(other)) not in keys


def test_the_same_instant_written_in_another_offset_is_the_same_comment() -> None:
    body = _capture("mattermost_webhook-cloud-comment-created.json")
    utc = copy.deepcopy(body)
    utc["comment"]["updated"] = "2019-02-16T03:11:18.321+0000"  # 19:11:18.321-0800
    assert comment_identity(parse_jira_webhook(body)) == comment_identity(parse_jira_webhook(utc))


def test_a_comment_deletion_without_its_comment_is_a_plain_update() -> None:
    """Jira Cloud has sent ``issue_comment_deleted`` with no ``comment`` object: nothing names the
    comment, so it is what it visibly is, an update of the ticket (read afresh by the pipeline)."""
    body = as_issue_updated(_capture("mattermost_webhook-cloud-comment-deleted.json"), "issue_comment_deleted")
    del body["comment"]
    event = parse_jira_webhook(body)
    assert (event.kind, event.comment, event.changes) == (TICKET_UPDATED, None, ())
    assert comment_identity(event) is None


@pytest.mark.parametrize("name", [
    "mattermost_webhook-issue-updated-assigned.json",  # issue_assigned
    "mattermost_webhook-issue-assigned-empty-changelog.json",  # issue_assigned, nothing in the changelog
    "mattermost_webhook-issue-updated-resolved.json",  # issue_generic: a transition
    "mattermost_webhook-issue-updated-labels.json",  # issue_updated
])
def test_other_type_names_stay_updates_with_their_changelog(name: str) -> None:
    body = _capture(name)
    event = parse_jira_webhook(body)
    assert event.kind == TICKET_UPDATED
    assert [c.field for c in event.changes] == [i["field"] for i in body["changelog"]["items"]]


@pytest.mark.parametrize("type_name", ["issue_resolved", "issue_closed", "issue_reopened", "issue_moved",
                                       "issue_work_started", "issue_work_stopped", "issue_work_logged",
                                       "issue_worklog_updated", "issue_worklog_deleted", "something_new"])
def test_the_remaining_type_names_are_updates_even_with_a_comment_aboard(type_name: str) -> None:
    """A comment typed in a transition screen rides on the transition's event: the transition is what
    happened (the comment itself reaches a webhook subscribed to comment events as comment_created)."""
    body = _capture("mattermost_webhook-issue-updated-resolved.json")
    body["issue_event_type_name"] = type_name
    body["comment"] = _capture("mattermost_webhook-cloud-comment-created.json")["comment"]
    event = parse_jira_webhook(body)
    assert event.kind == TICKET_UPDATED and [c.field for c in event.changes] == ["resolution", "status"]
    assert comment_identity(event) is None


@pytest.mark.parametrize("type_name", [None, 7, ["issue_commented"], {"a": 1}])
def test_a_type_name_that_is_no_name_leaves_the_update_an_update(type_name: Any) -> None:
    body = as_issue_updated(_capture("mattermost_webhook-cloud-comment-created.json"), "issue_commented")
    body["issue_event_type_name"] = type_name
    assert parse_jira_webhook(body).kind == TICKET_UPDATED


def test_an_issue_commented_body_whose_comment_is_broken_is_refused_clearly() -> None:
    body = as_issue_updated(_capture("mattermost_webhook-cloud-comment-created.json"), "issue_commented")
    body["comment"] = {"id": "1", "author": "not an object"}
    with pytest.raises(MalformedEvent, match="comment"):
        parse_jira_webhook(body)


# Jira Automation "Send web request" ------------------------------------------------------------------------
def _issue() -> dict[str, Any]:
    """An issue as the REST API (and so Automation) writes it: the id may come as a number."""
    issue = copy.deepcopy(_capture("mattermost_webhook-issue-updated-labels.json")["issue"])
    issue["id"] = int(issue["id"])
    return issue


def test_automation_jira_format_is_an_update_of_its_issue() -> None:
    body = {"issue": _issue(), "timestamp": 1793783100000}
    event = parse_jira_automation(body)
    assert (event.source, event.kind, event.ticket_key) == (AUTOMATION_SOURCE, TICKET_UPDATED, body["issue"]["key"])
    assert event.occurred_at == datetime(2026, 11, 4, 9, 5, tzinfo=UTC)
    assert parse_jira_automation(copy.deepcopy(body)).id == event.id  # a repeat of the request
    later = {**body, "timestamp": 1793783160000}
    assert parse_jira_automation(later).id != event.id  # the rule's next run


def test_automation_format_is_the_issue_itself_dated_by_its_updated_time() -> None:
    issue = _issue()
    event = parse_jira_automation(issue)
    assert (event.kind, event.ticket_key) == (TICKET_UPDATED, issue["key"])
    assert event.occurred_at == datetime.fromisoformat(issue["fields"]["updated"].replace("-0800", "-08:00"))


@pytest.mark.parametrize(("body", "message"), [
    ({"timestamp": 1793783100000}, "must carry the issue"),
    ({"issue": {"fields": {}}, "timestamp": 1793783100000}, "must carry the issue"),
    ({"issue": {"key": "SS-1"}}, "neither when"),
    ({"issue": {"key": "../../myself"}, "timestamp": 1793783100000}, "issue key"),
    ({"issue": {"key": ["SS-1"]}, "timestamp": 1793783100000}, "issue key"),
    ({"issue": {"key": "SS-1"}, "timestamp": 10**20}, "is no time"),
    ([], "must be a JSON object"),
])
def test_automation_bodies_that_cannot_be_read_say_why(body: Any, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_jira_automation(body)


def test_a_webhook_body_sent_by_automation_is_read_as_a_webhook() -> None:
    body = _capture("mattermost_webhook-cloud-comment-created.json")
    assert parse_jira_automation(body) == parse_jira_webhook(body)
