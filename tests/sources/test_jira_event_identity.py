"""Decoding a Jira webhook gives the same Event however it is made fast.

Event ids are inbox dedup keys kept in databases: ``event_digest`` must give, for every body, the hex
the released digest gave. That digest is written out below (``_digest_as_released``) and the parser's
is checked against it on hostile bodies (unicode, lone surrogates, floats, any JSON in the identity's
places); a few ids are pinned outright. Users and times are shared between decodes (they are frozen):
a decode served from those caches must equal one made from scratch.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import User
from bot.sources.jira_webhook import event_digest, parse_jira_webhook
from bot.trackers.jira import model as jira_model
from bot.trackers.jira.model import FieldCatalog, parse_datetime, user_from_json
from tests.hostile.fuzz import JIRA_BODIES, JIRA_EVENTS, JIRA_PATHS, JSON_VALUES, NUMBERS, TEXT, VALUES, mutated

CATALOG = FieldCatalog.from_fields([
    {"id": "customfield_10002", "name": "Organizations",
     "schema": {"custom": "com.atlassian.servicedesk:sd-customer-organizations"}},
    {"id": "customfield_10010", "name": "Request Type", "schema": {"custom": "com.atlassian.servicedesk:vp-origin"}},
    {"id": "customfield_10001", "name": "Request participants",
     "schema": {"custom": "com.atlassian.servicedesk:sd-request-participants"}},
    {"id": "customfield_10050", "name": "Needs Configuration?", "schema": {"type": "option"}},
])


def _digest_as_released(payload: Mapping[str, Any]) -> str:
    """The event digest as released (ids already stored were made by this)."""
    issue = payload.get("issue") if isinstance(payload.get("issue"), Mapping) else {}
    comment = payload.get("comment") if isinstance(payload.get("comment"), Mapping) else {}
    changelog = payload.get("changelog") if isinstance(payload.get("changelog"), Mapping) else {}
    parts = [payload.get("webhookEvent"), issue.get("id"), issue.get("key"), payload.get("timestamp"),
             comment.get("id"), changelog.get("id")]
    identity = "|".join("" if p is None else str(p) for p in parts)
    return "sha256:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _outcome(digest: Any, payload: Mapping[str, Any]) -> Any:
    """The digest, or the error it raises (a lone surrogate cannot be encoded: both must refuse alike)."""
    try:
        return digest(payload)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
        return type(exc)


# what makes up the identity, in every shape a body may give it ---------------------------------------------
IDENTITY_VALUES = (st.none() | st.booleans() | NUMBERS | st.floats() | TEXT | JSON_VALUES
                   | st.sampled_from(["ÅSA-1", "☃", "𝄞", "SS-1\u200b", "e\u0301", "\ud800", "1e3", "-0.0"]))


@st.composite
def identities(draw: st.DrawFn) -> dict[str, Any]:
    """A body whose identity parts are anything at all: absent, null, scalars, other JSON, or not objects."""
    body: dict[str, Any] = {}
    for name in ("webhookEvent", "timestamp"):
        if draw(st.booleans()):
            body[name] = draw(IDENTITY_VALUES)
    for name, key in (("issue", "id"), ("issue", "key"), ("comment", "id"), ("changelog", "id")):
        choice = draw(st.sampled_from(["absent", "object", "value"]))
        if choice == "object":
            holder = body.setdefault(name, {})
            if isinstance(holder, dict):
                holder[key] = draw(IDENTITY_VALUES)
        elif choice == "value":
            body[name] = draw(IDENTITY_VALUES)
    return body


IDENTITY_PATHS = [("webhookEvent",), ("timestamp",), ("issue",), ("issue", "id"), ("issue", "key"), ("comment",),
                  ("comment", "id"), ("changelog",), ("changelog", "id")]
BODIES = identities() | mutated(JIRA_BODIES, IDENTITY_PATHS, JIRA_EVENTS, "webhookEvent")


@settings(max_examples=600, deadline=None)
@given(body=BODIES)
def test_the_digest_is_the_released_one_for_any_body(body: dict[str, Any]) -> None:
    assert _outcome(event_digest, body) == _outcome(_digest_as_released, body)


@settings(max_examples=300, deadline=None)
@given(body=mutated(JIRA_BODIES, JIRA_PATHS + IDENTITY_PATHS, JIRA_EVENTS, "webhookEvent"))
def test_a_decoded_event_is_identified_by_the_released_digest(body: dict[str, Any]) -> None:
    try:
        event = parse_jira_webhook(body)
    except ValueError:  # MalformedEvent; UnicodeEncodeError for a lone surrogate in the identity
        return
    assert event.id == _digest_as_released(body)


@pytest.mark.parametrize(("body", "expected"), [
    ({"webhookEvent": "jira:issue_updated", "timestamp": 1767603600000, "issue": {"id": "10001", "key": "SS-1"},
      "changelog": {"id": "555", "items": []}},
     "sha256:413b5519cdd8900fffe2ca37e8ae664cf833a0e2c1a7faa3ff9fb495ce255c75"),
    ({"webhookEvent": "comment_created", "timestamp": 1767603600000, "issue": {"id": "10001", "key": "SS-1"},
      "comment": {"id": "900", "body": "Approved"}},
     "sha256:6f880c9cd58361405644cd5af1cba9da8cdcee8ca49e64267c97612d84f57a13"),
    ({"webhookEvent": "comment_created", "issue": {"id": 10001, "key": "ÅSA-1 ☃ 𝄞"}, "timestamp": 1767603600000.5,
      "comment": {"id": 7.25}, "changelog": {"id": True}},
     "sha256:58880c4b67f1b9aa1842bd28941b0040b665758bee0b00de41895d2451746616"),
    ({"webhookEvent": "jira:issue_deleted", "issue": ["not", "an", "object"], "timestamp": None},
     "sha256:598f0aa0f8fc5d12060e793302ee699428c1b06111584c36253789fdcb409f47"),
], ids=["updated", "commented", "unicode-and-floats", "no-objects"])
def test_released_ids_are_pinned(body: dict[str, Any], expected: str) -> None:
    assert event_digest(body) == expected


# users and times shared between decodes ---------------------------------------------------------------------
def _decoded(body: Any) -> Any:
    """Everything a decode gives, ``repr`` included (``1 == True`` would hide a User of the wrong id)."""
    try:
        event = parse_jira_webhook(body, catalog=CATALOG)
    except Exception as exc:  # noqa: BLE001 - the failure is part of the result
        return type(exc), str(exc)
    return event, repr(event), repr(event.payload), event.payload == body


def _forget_shared() -> None:
    jira_model._user.cache_clear()
    jira_model._parse_jira_time.cache_clear()


@settings(max_examples=300, deadline=None)
@given(body=mutated(JIRA_BODIES, JIRA_PATHS + [("issue", "fields", "customfield_10001"), ("user", "accountId"),
                                                ("issue", "fields", "reporter", "accountId")],
                    JIRA_EVENTS, "webhookEvent"))
def test_a_decode_from_the_shared_users_and_times_is_a_decode_from_scratch(body: dict[str, Any]) -> None:
    _forget_shared()
    from_scratch = _decoded(copy.deepcopy(body))
    assert _decoded(copy.deepcopy(body)) == from_scratch


@pytest.mark.parametrize("account_id", [1, True, 1.0, "1", "True", 10**20])
def test_equal_account_ids_of_other_types_are_other_users(account_id: Any) -> None:
    for other in (1, True, 1.0, "1", "True", 10**20):  # each cached first
        user_from_json({"accountId": other, "emailAddress": "a@example.com"})
    user = user_from_json({"accountId": account_id, "emailAddress": "a@example.com"})
    assert repr(user) == repr(User(account_id=account_id, email="a@example.com"))


def test_a_person_is_one_user_and_an_unhashable_one_is_still_read() -> None:
    data = {"accountId": "557058:abc", "emailAddress": "d@example.com", "displayName": "David", "active": True}
    assert user_from_json(data) is user_from_json(dict(data))
    assert user_from_json({**data, "displayName": "David E."}).display_name == "David E."
    odd = {"accountId": ["557058:abc"], "emailAddress": {"x": 1}}
    assert user_from_json(odd) == User(account_id=["557058:abc"], email={"x": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("2019-08-27T12:43:24.193-0700", datetime(2019, 8, 27, 12, 43, 24, 193000, timezone(timedelta(hours=-7)))),
    ("2026-11-02T09:00:00Z", datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
    ("2026-11-02T09:00:00+05:30", datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ("2026-13-45T99:00Z", None), ("", None), (None, None), (20261102, None), (["2026-11-02"], None),
])
def test_times_read_the_same_every_time(text: Any, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected and parse_datetime(text) == expected


@settings(max_examples=200, deadline=None)
@given(text=TEXT | VALUES)
def test_a_time_read_again_is_the_time_read_first(text: Any) -> None:
    _forget_shared()
    first = parse_datetime(text)
    assert repr(parse_datetime(text)) == repr(first)
