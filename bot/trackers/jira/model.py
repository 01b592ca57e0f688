"""Jira JSON -> normalized model. Shared by the REST adapter and the webhook source.

Field ids differ per site (``customfield_10010`` here, ``customfield_10200`` there), so
values are keyed by display name, using the site's field catalog (``GET /field``).
Service Management system fields are recognised by their schema type, not by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from bot.model import Comment, Link, Ticket, User

ORGANIZATIONS_SCHEMA = "com.atlassian.servicedesk:sd-customer-organizations"
REQUEST_TYPE_SCHEMA = "com.atlassian.servicedesk:vp-origin"
PARTICIPANTS_SCHEMA = "com.atlassian.servicedesk:sd-request-participants"

#: Jira's own fields that the Ticket model carries as attributes.
_SYSTEM_FIELDS = {
    "summary", "description", "status", "issuetype", "project", "reporter", "creator", "assignee",
    "labels", "issuelinks", "comment", "created", "updated", "watches", "resolution",
}


@dataclass
class FieldCatalog:
    """Field id <-> display name for one Jira site, with the JSM special fields found."""

    names: dict[str, str] = field(default_factory=dict)  # id -> name
    ids: dict[str, str] = field(default_factory=dict)  # lower(name) -> id
    schema_types: dict[str, str] = field(default_factory=dict)  # id -> schema type/custom
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the field's whole schema
    organizations_id: str | None = None
    request_type_id: str | None = None
    participants_id: str | None = None

    @classmethod
    def from_fields(cls, fields_json: Iterable[Mapping[str, Any]]) -> FieldCatalog:
        catalog = cls()
        for f in fields_json:
            fid, name = f["id"], f.get("name") or f["id"]
            schema = f.get("schema") or {}
            custom = schema.get("custom", "")
            catalog.names[fid] = name
            catalog.ids.setdefault(name.strip().lower(), fid)
            catalog.schema_types[fid] = custom or schema.get("type", "")
            catalog.schemas[fid] = dict(schema)
            if custom == ORGANIZATIONS_SCHEMA:
                catalog.organizations_id = fid
            elif custom == REQUEST_TYPE_SCHEMA:
                catalog.request_type_id = fid
            elif custom == PARTICIPANTS_SCHEMA:
                catalog.participants_id = fid
        return catalog

    def id_for(self, name: str) -> str | None:
        return self.ids.get(name.strip().lower())

    def name_for(self, field_id: str) -> str:
        """The display name of a field id (the id itself when the site does not list it)."""
        return self.names.get(field_id, field_id)


def parse_datetime(value: str | None) -> datetime | None:
    """Jira writes ``2019-08-27T12:43:24.193-0700``; Python wants ``-07:00`` before 3.11's parser."""
    if not value or not isinstance(value, str):  # a webhook body may hold anything there
        return None
    return _parse_jira_time(value)


@lru_cache(maxsize=4096)  # a ticket's times recur in every event about it; datetimes are immutable
def _parse_jira_time(value: str) -> datetime | None:
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def user_from_json(data: Mapping[str, Any] | None) -> User | None:
    """A person from Jira's JSON; Users are frozen, so equal JSON gives one shared User."""
    if not data:
        return None
    account_id = data.get("accountId") or data.get("key") or data.get("name") or ""
    email = data.get("emailAddress") or ""
    display_name = data.get("displayName") or ""
    try:
        return _user(account_id, email, display_name)
    except TypeError:  # an unhashable value (a malformed body): a User of its own
        return User(account_id=account_id, email=email, display_name=display_name)


@lru_cache(maxsize=4096, typed=True)  # typed: 1, 1.0 and True are different account ids
def _user(account_id: Any, email: Any, display_name: Any) -> User:
    return User(account_id=account_id, email=email, display_name=display_name)


#: ADF nodes that end with a line break in plain text.
_BLOCKS = frozenset({"paragraph", "heading", "listItem", "codeBlock", "blockquote"})
#: Deepest ADF (or field value) nesting read. Real documents stay under about ten levels (a table in a
#: list in a panel); deeper content is left out with :data:`DEEP_MARKER`, so one crafted description
#: costs neither a RecursionError (a 500 the sender retries for ever) nor a stack that grows with it.
MAX_DEPTH = 100
DEEP_MARKER = "[…nested too deeply, left out]"


def adf_to_text(node: Any) -> str:
    """Plain text of an Atlassian Document Format node (v3 bodies); strings pass through.

    Walked with an explicit stack (no recursion); content more than :data:`MAX_DEPTH` levels down
    is replaced by :data:`DEEP_MARKER` once per cut.
    """
    out: list[str] = []
    # (node, depth), or a str already rendered (a block's closing line break) to emit when reached
    pending: list[tuple[Any, int] | str] = [(node, 0)]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        current, depth = item
        if depth > MAX_DEPTH:
            out.append(DEEP_MARKER)
            continue
        pending.extend(reversed(_adf_parts(current, depth)))
    return "".join(out)


def _adf_parts(node: Any, depth: int) -> list[tuple[Any, int] | str]:
    """What one node renders as: text, and its children still to be walked (a node's content is one
    level further down; a list is no level of its own)."""
    if node is None:
        return []
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [(child, depth) for child in node]
    if isinstance(node, Mapping):
        kind = node.get("type")
        if kind == "text":
            return [str(node.get("text", ""))]
        if kind == "hardBreak":
            return ["\n"]
        if kind == "mention":
            return [str((node.get("attrs") or {}).get("text", ""))]
        inner: list[tuple[Any, int] | str] = [(node.get("content", []), depth + 1)]
        return [*inner, "\n"] if kind in _BLOCKS else inner
    return [str(node)]


def plain_value(value: Any, _depth: int = 0) -> Any:
    """A field value as a rule compares it: option -> its value, user -> User, lists recursively
    (down to :data:`MAX_DEPTH` levels; a list deeper than that is kept as Jira sent it)."""
    if isinstance(value, list):
        if _depth >= MAX_DEPTH:
            return value
        return [plain_value(v, _depth + 1) for v in value]
    if isinstance(value, Mapping):
        if "accountId" in value or "emailAddress" in value:
            return user_from_json(value)
        if "value" in value:
            child = value.get("child")
            return f"{value['value']} / {child['value']}" if child else value["value"]
        if "name" in value:
            return value["name"]
        return dict(value)
    return value


def comment_from_json(data: Mapping[str, Any]) -> Comment:
    internal = not data.get("jsdPublic", True)
    for prop in data.get("properties") or []:
        if prop.get("key") == "sd.public.comment":
            internal = bool((prop.get("value") or {}).get("internal"))
    return Comment(
        id=str(data.get("id", "")),
        body=adf_to_text(data.get("body")),
        author=user_from_json(data.get("author")),
        internal=internal,
        created=parse_datetime(data.get("created")),
    )


def links_from_json(key: str, links: Iterable[Mapping[str, Any]]) -> tuple[Link, ...]:
    out = []
    for link in links or []:
        type_name = (link.get("type") or {}).get("name", "")
        if "outwardIssue" in link:
            out.append(Link(type_name, key, link["outwardIssue"]["key"]))
        elif "inwardIssue" in link:
            out.append(Link(type_name, link["inwardIssue"]["key"], key))
    return tuple(out)


def browse_url(self_url: str, key: str) -> str:
    """``https://x.atlassian.net/rest/api/2/issue/10001`` -> ``https://x.atlassian.net/browse/KEY``."""
    base = self_url.split("/rest/", 1)[0] if "/rest/" in self_url else ""
    return f"{base}/browse/{key}" if base else ""


def ticket_from_json(
    issue: Mapping[str, Any],
    catalog: FieldCatalog,
    *,
    watchers: tuple[User, ...] | None = None,
    participants: tuple[User, ...] | None = None,
) -> Ticket:
    """Normalize one issue JSON (REST or webhook) into a :class:`Ticket`."""
    f = issue.get("fields") or {}
    key = issue.get("key", "")
    named: dict[str, Any] = {}
    organizations: tuple[str, ...] = ()
    request_type: str | None = None
    for fid, raw in f.items():
        if fid in _SYSTEM_FIELDS:
            continue
        if fid == catalog.organizations_id:
            organizations = tuple(o.get("name", "") for o in raw or [])
            continue
        if fid == catalog.request_type_id:
            request_type = ((raw or {}).get("requestType") or {}).get("name")
            continue
        if fid == catalog.participants_id:
            if participants is None and raw is not None:
                participants = tuple(u for u in (user_from_json(p) for p in raw) if u)
            continue
        if raw is None:
            continue
        named[catalog.names.get(fid, fid)] = plain_value(raw)
    project = (f.get("project") or {}).get("key") or key.rsplit("-", 1)[0]
    comments = tuple(comment_from_json(c) for c in ((f.get("comment") or {}).get("comments") or []))
    return Ticket(
        key=key,
        id=str(issue.get("id", "")),
        project=project,
        summary=f.get("summary") or "",
        description=adf_to_text(f.get("description")),
        url=browse_url(str(issue.get("self") or ""), key),
        status=(f.get("status") or {}).get("name", ""),
        resolution=(f.get("resolution") or {}).get("name", ""),
        issue_type=(f.get("issuetype") or {}).get("name", ""),
        tracker="jira",
        reporter=user_from_json(f.get("reporter")),
        creator=user_from_json(f.get("creator")),
        assignee=user_from_json(f.get("assignee")),
        organizations=organizations,
        request_type=request_type,
        labels=tuple(f.get("labels") or ()),
        fields=named,
        watchers=watchers,
        participants=participants,
        links=links_from_json(key, f.get("issuelinks") or []),
        comments=comments,
        created=parse_datetime(f.get("created")),
        updated=parse_datetime(f.get("updated")),
    )
