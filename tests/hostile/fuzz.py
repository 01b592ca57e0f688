"""Hypothesis strategies for hostile webhook bodies, and the checks every answer must pass.

Bodies are generated three ways: raw bytes (anything at all), arbitrary JSON values, and real
bodies (the recorded EverBright webhook, the vendors' payloads in ../shared/contracts when present,
Zendesk's documented envelope and our trigger body) with one or two of their parts replaced by
arbitrary JSON. Strings include lone surrogates, NULs and control characters, which valid JSON can
carry as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from tests.support.daemon import CONTRACTS, contract_payloads, onboarding_created

# every code point, surrogates (Cs) included: JSON's \uD800 escapes decode to them
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=30) | st.sampled_from(
    ["", "SS-1", "ss-1", "1", "²", "٣", "0", "-1", "SS-1\x00", "\ud800", "2026-11-02T09:00:00Z", "9999-99-99",
     "zen:ticket:1", "zen:ticket:²", "zen:event-type:ticket.created", "jira:issue_created", "comment_created"])
NUMBERS = (st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.sampled_from([0, -1, 1e300, -1e300, 2**63, 10**16, 1.5e15, 253402300800000]))
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)
#: Values that broke (or could break) a parser: out-of-range times, odd digits, NULs, lone surrogates.
HOSTILE_VALUES = st.sampled_from([
    None, True, False, 0, -1, 1.5, 1e300, -1e300, 2**63, -(2**63), 10**16, 253402300800000, "", " ", "\ud800",
    "x\udfffy", "SS-1\x00", "\x00", "²", "٣", "SS-²", "1" * 40, "SS-1", "2026-11-02T09:00:00Z", "2026-13-45T99:00Z",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", [], {}, [None], {"": None}, {"key": "\ud800"},
    {"accountId": None, "emailAddress": ["x"]}, {"name": {"x": 1}}, {"items": "x"}, {"items": [{"field": None}]},
])
VALUES = HOSTILE_VALUES | JSON_VALUES


def _zendesk_bodies() -> list[dict[str, Any]]:
    trigger = {"ticketbot": "zendesk-trigger/1", "event": "comment.created",
               "ticket": {"id": "123", "title": "EverBright Partner Onboarding", "status": "open",
                          "updated_at": "2026-11-02T09:00Z", "requester_email": "ops@sunpeaksolar.example"},
               "comment": {"html": "<p>Approved</p>", "public": False},
               "actor": {"email": "david.ellis@goeverbright.com", "name": "David Ellis"}}
    envelope = {"type": "zen:event-type:ticket.status_changed", "account_id": 1, "id": "01J0000000000000000000",
                "time": "2026-11-02T09:00:00Z", "zendesk_event_version": "2022-11-06", "subject": "zen:ticket:123",
                "detail": {"id": "123", "actor_id": "42", "status": "OPEN", "subject": "x"},
                "event": {"previous": "NEW", "current": "OPEN",
                          "comment": {"id": "9", "body": "hi", "author": {"id": "42", "name": "A"}}}}
    found = CONTRACTS / "zendesk" / "webhook_event_envelope_doc_example.json"
    documented = [json.loads(found.read_text(encoding="utf-8"))] if found.is_file() else []
    return [trigger, envelope, *[d for d in documented if isinstance(d, dict)]]


def _jira_bodies() -> list[dict[str, Any]]:
    recorded = [onboarding_created("SS-1", 1793610840000)]
    if (CONTRACTS / "jira" / "webhooks").is_dir():
        recorded += list(contract_payloads().values())
    return recorded


JIRA_BODIES = _jira_bodies()
ZENDESK_BODIES = _zendesk_bodies()
JIRA_PATHS = [("webhookEvent",), ("timestamp",), ("issue",), ("issue", "key"), ("issue", "id"), ("issue", "fields"),
              ("issue", "fields", "summary"), ("issue", "fields", "description"), ("issue", "fields", "status"),
              ("issue", "fields", "created"), ("issue", "fields", "updated"), ("issue", "fields", "labels"),
              ("issue", "fields", "reporter"), ("issue", "fields", "issuelinks"), ("issue", "fields", "project"),
              ("issue", "fields", "comment"), ("issue", "fields", "customfield_10010"), ("user",), ("changelog",),
              ("changelog", "items"), ("comment",), ("comment", "body"), ("comment", "author"),
              ("comment", "created"), ("comment", "updated"), ("comment", "jsdPublic")]
ZENDESK_PATHS = [("type",), ("id",), ("time",), ("subject",), ("detail",), ("detail", "id"), ("event",),
                 ("event", "previous"), ("event", "comment"), ("ticketbot",), ("ticket",), ("ticket", "id"),
                 ("ticket", "updated_at"), ("comment",), ("comment", "html"), ("comment", "public"), ("actor",),
                 ("actor", "email")]
JIRA_EVENTS = st.sampled_from(["jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created",
                               "comment_updated", "comment_deleted", "jira:version_released"])
ZENDESK_TYPES = st.sampled_from(["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added",
                                 "zen:event-type:ticket.status_changed", "zen:event-type:ticket.soft_deleted",
                                 "zen:event-type:user.created"])


def _put(body: Any, path: tuple[str, ...], value: Any) -> Any:
    """``body`` with ``value`` at ``path`` (intermediate parts made objects as needed)."""
    if not path:
        return value
    holder = body if isinstance(body, dict) else {}
    holder[path[0]] = _put(holder.get(path[0]), path[1:], value)
    return holder


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]], paths: list[tuple[str, ...]],
            kinds: st.SearchStrategy[str], kind_field: str) -> Any:
    """A real body with a few parts replaced (sometimes its event type changed too)."""
    body = copy.deepcopy(draw(st.sampled_from(bases)))
    if draw(st.booleans()):
        body[kind_field] = draw(kinds)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2)):
        body = _put(body, path, copy.deepcopy(draw(VALUES)))  # sampled values are shared objects
    return body


def dumps(value: Any) -> bytes:
    """JSON as a sender would write it (surrogates and NULs as \\u escapes)."""
    return json.dumps(value).encode()


def jira_bodies() -> st.SearchStrategy[bytes]:
    real = mutated(JIRA_BODIES, JIRA_PATHS, JIRA_EVENTS, "webhookEvent").map(dumps)
    return st.one_of(real, real, real, st.binary(max_size=300), JSON_VALUES.map(dumps))


def zendesk_bodies() -> st.SearchStrategy[bytes]:
    real = mutated(ZENDESK_BODIES, ZENDESK_PATHS, ZENDESK_TYPES, "type").map(dumps)
    return st.one_of(real, real, real, st.binary(max_size=300), JSON_VALUES.map(dumps))
