"""A stateful fake Zendesk Support API on ``responses``, seeded from a :class:`bot.trackers.site.Site`.

It keeps tickets (fields, status, tags, organization, requester, followers, email CCs, comments
with their public flag), organizations, memberships, users, groups, forms and ticket fields, and
answers with Zendesk's documented JSON shapes. Every request is checked against Zendesk's Support
API OpenAPI spec (``../shared/contracts/zendesk``): a method/path the spec does not have gets a 400
and is recorded in :attr:`FakeZendesk.violations`; a JSON body is validated against the operation's
request schema (jsonschema) the same way. Tests assert ``fake.violations == []``. Without the
spec (``spec_checked`` is false) the fake still works but checks nothing. One spec bug is
corrected before validating, with its reason, in :data:`ERRATA` (ticket ``custom_fields`` items
are ``{id, value}``, not field definitions). Query parameters are not validated.

How a Site maps onto Zendesk:

- ``users`` (+ ``bot_account``, the authenticated agent) -> users; numeric ``account_id`` keeps its
  value as the id. Jira customer accounts (``qm:…``) become end-users, everyone else agents.
- ``fields`` -> ticket fields by title: text -> text, option -> dropdown ("tagger") whose option
  values are tags (``"Integrated Finance"`` -> ``integrated_finance``), options -> multiselect,
  number -> decimal. Service Management system fields (``sd-*``) have no Zendesk custom field: they
  are organization_id, ticket_form_id and email CCs, and are skipped. Zendesk's own system fields
  (Subject, Description, Status, Type, Priority, Group, Assignee) are always present.
- ``organizations`` -> organizations; ``service_desks[].request_types`` -> ticket forms;
  ``service_desks[].project``, ticket key prefixes ("SS-1" -> "SS") and ``groups=`` -> groups. A Zendesk
  site description (``kind: zendesk``) gives its ``groups`` and ``forms`` (forms keep their ids), and a
  ticket's ``group``.
- ``tickets`` -> tickets: a numeric key is the id, others get the next id (``fake.id_for(key)``);
  reporter -> requester, watchers -> followers, participants -> email CCs, labels -> tags, the
  description -> a public first comment by the requester. ``transitions``/``link_types`` have no
  Zendesk counterpart and are ignored.

Zendesk behaviour reproduced because the adapter depends on it: a comment without ``public`` is
PUBLIC; an organization must be one the requester belongs to; a closed ticket refuses updates;
dropdown values add their option's tag; memberships that exist answer 422; the incremental export
refuses a ``start_time`` in the last minute and serves nothing updated in the last minute.
"""

from __future__ import annotations

import base64
import copy
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
import yaml
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from bot.trackers.site import Site, SiteField, SiteTicket, SiteUser

CONTRACTS = Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "zendesk"
SPEC_PATH = CONTRACTS / "zendesk_support_api_openapi.yaml"
_SPEC_URN = "urn:zendesk-support-openapi"
_METHODS = ("get", "put", "post", "delete", "patch")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
EXPORT_LAG = timedelta(seconds=60)

Answer = tuple[int, dict[str, Any]]


# -- the spec -------------------------------------------------------------------------------------

class _SpecLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """The spec has bare ``=`` scalars, which PyYAML reads as tag:yaml.org,2002:value."""


_SpecLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _prepare(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: absolute $refs into the spec resource, ``nullable`` as a null type."""
    if isinstance(node, list):
        return [_prepare(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _prepare(value) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out["$ref"] = _SPEC_URN + ref
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    operation: dict[str, Any]

    @property
    def specificity(self) -> tuple[int, int]:
        """Fewer path parameters first, then longer literal paths (show_many beats {ticket_id})."""
        return (self.template.count("{"), -len(self.template))


#: Corrections to the spec, each with its reason. Applied before validation; kept few and explicit.
ERRATA: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (("components", "schemas", "TicketUpdateInput", "properties", "custom_fields", "items"),
     {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "value": {}}},
     "the spec types ticket custom_fields items as CustomFieldObject (a field DEFINITION, requiring "
     "key/type/title); its own description links 'Setting custom field values', which documents "
     "{id, value} items"),
)


def _apply_errata(document: dict[str, Any]) -> None:
    for path, replacement, _reason in ERRATA:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = replacement


class ZendeskSpec:
    """The operations of the Support API spec and their request-body schemas."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        raw = dict(document)
        _apply_errata(raw)
        self.document = _prepare(raw)
        self.registry = Registry().with_resource(_SPEC_URN, DRAFT4.create_resource(self.document))
        self.routes = sorted(self._routes(), key=lambda r: r.specificity)

    def _routes(self) -> Iterable[_Route]:
        for template, item in self.document["paths"].items():
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            for method, operation in item.items():
                if method in _METHODS:
                    yield _Route(method.upper(), template, re.compile(regex), operation)

    def operation(self, method: str, path: str) -> _Route | None:
        """The spec operation for ``method path`` (a trailing ``.json`` is optional in Zendesk)."""
        bare = path[:-5] if path.endswith(".json") else path
        return next((r for r in self.routes if r.method == method and r.pattern.match(bare)), None)

    def body_errors(self, route: _Route, body: Any) -> list[str]:
        """Schema violations of a JSON request body ([] when the spec gives no schema)."""
        content = (route.operation.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        if schema is None:
            return []
        validator = Draft4Validator(schema, registry=self.registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                for e in validator.iter_errors(body)]


@functools.lru_cache(maxsize=4)
def load_spec(path: str = str(SPEC_PATH)) -> ZendeskSpec | None:
    """The parsed spec (once per process), or None when ../shared is not there."""
    spec_file = Path(path)
    if not spec_file.is_file():
        return None
    with spec_file.open(encoding="utf-8") as fh:
        return ZendeskSpec(yaml.load(fh, Loader=_SpecLoader))


# -- helpers --------------------------------------------------------------------------------------

class _Refused(Exception):
    """A request the fake answers with an error, like Zendesk would."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def answer(self) -> Answer:
        body: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.status == 422:
            body["details"] = {"base": [{"description": self.description}]}
        return self.status, body


def option_tag(name: str) -> str:
    """Zendesk dropdown option value (a tag) for an option name."""
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _tags_of(body: Any) -> list[str]:
    """The tags of a tags request as Zendesk stores them: lower case, a tag with spaces split into several."""
    return [t for item in (body or {}).get("tags") or () for t in str(item).lower().split()]


def _encode_cursor(updated: int, ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"{updated}.{ticket_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        updated, ticket_id = text.split(".")
        return int(updated), int(ticket_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(400, "InvalidPaginationParameter", f"invalid cursor {cursor!r}") from exc


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


_SYSTEM_FIELDS = (("subject", "Subject"), ("description", "Description"), ("status", "Status"),
                  ("tickettype", "Type"), ("priority", "Priority"), ("group", "Group"), ("assignee", "Assignee"))
_FIELD_TYPES = {"text": "text", "option": "tagger", "options": "multiselect", "number": "decimal", "user": "lookup"}


# -- the fake ---------------------------------------------------------------------------------------

class FakeZendesk:
    """The fake. Use as a context manager (it starts its own ``responses`` mock) or ``install(rsps)``."""

    def __init__(self, site: Site | None = None, *, subdomain: str = "acme",
                 now: Callable[[], datetime] | None = None, groups: Sequence[str] = (),
                 spec_path: Path | None = SPEC_PATH, export_page_size: int = 1000) -> None:
        self.host = f"{subdomain}.zendesk.com"
        self.url = f"https://{self.host}"
        self.now = now or (lambda: datetime.now(UTC))
        self.spec = load_spec(str(spec_path)) if spec_path else None
        self.export_page_size = export_page_size
        self.calls: list[tuple[str, str]] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.unimplemented: list[str] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.memberships: dict[tuple[int, int], int] = {}
        self.fields: dict[int, dict[str, Any]] = {}
        self.forms: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.keys: dict[str, int] = {}
        self._ids = itertools.count(90001)
        self._ticket_ids = itertools.count(1)
        self._throttle_left = 0
        self._retry_after = "0"
        self._mock: responses.RequestsMock | None = None
        self._seed_system_fields()
        site = site or Site()
        self.bot_id = self._add_user(site.bot_account, role="admin")
        self._seed(site, groups)

    # public API for tests -------------------------------------------------------------------------
    @property
    def spec_checked(self) -> bool:
        return self.spec is not None

    def __enter__(self) -> FakeZendesk:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._mock.start()
        self.install(self._mock)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._mock is not None
        self._mock.stop()
        self._mock.reset()

    def install(self, rsps: responses.RequestsMock) -> None:
        """Answer every https://<sub>.zendesk.com request through this fake."""
        pattern = re.compile(rf"^https://{re.escape(self.host)}/.*")
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            rsps.add_callback(method, pattern, callback=self._respond)

    def throttle(self, times: int, retry_after: float | str = 7) -> None:
        """Answer the next ``times`` requests with 429 and ``Retry-After: retry_after``."""
        self._throttle_left, self._retry_after = times, str(retry_after)

    def id_for(self, key: str | int) -> int:
        """The ticket id of a Site ticket key ("SS-1") or of an id."""
        text = str(key)
        return self.keys[text] if text in self.keys else int(text)

    def ticket(self, key: str | int) -> dict[str, Any]:
        """The stored ticket (a copy) with its ``comments`` list."""
        tid = self.id_for(key)
        return {**copy.deepcopy(self.tickets[tid]), "comments": copy.deepcopy(self.comments[tid])}

    def user_id(self, email: str) -> int:
        return next(uid for uid, u in self.users.items() if u["email"].casefold() == email.casefold())

    def organization(self, name: str) -> dict[str, Any] | None:
        return next((o for o in self.organizations.values() if o["name"].casefold() == name.casefold()), None)

    def writes(self) -> list[tuple[str, str]]:
        """The non-GET calls received, in order."""
        return [c for c in self.calls if c[0] != "GET"]

    def add_ticket(self, subject: str, *, updated_at: datetime | None = None, **attrs: Any) -> int:
        """Put a ticket straight into the store (for export tests)."""
        tid = next(self._ticket_ids)
        while tid in self.tickets:
            tid = next(self._ticket_ids)
        moment = _iso(updated_at or self.now())
        self.tickets[tid] = self._ticket_json(tid, subject=subject, created_at=moment, updated_at=moment, **attrs)
        self.comments[tid] = []
        return tid

    # seeding ----------------------------------------------------------------------------------------
    def _new_id(self, wanted: str | int | None, taken: Mapping[int, Any]) -> int:
        text = str(wanted or "")
        if text.isdigit() and int(text) not in taken:
            return int(text)
        ident = next(self._ids)
        while ident in taken:
            ident = next(self._ids)
        return ident

    def _seed_system_fields(self) -> None:
        for ftype, title in _SYSTEM_FIELDS:
            fid = self._new_id(None, self.fields)
            self.fields[fid] = self._field_json(fid, ftype, title, removable=False)

    def _seed(self, site: Site, extra_groups: Sequence[str]) -> None:
        for user in site.users:
            self._add_user(user)
        for site_field in site.fields:
            self._add_field(site_field)
        for org in site.organizations:
            self._add_org(org.name, org.id)
        group_names = [desk.project for desk in site.service_desks] + [g.name for g in site.groups]
        group_names += list(extra_groups)
        group_names += [t.key.split("-")[0] for t in site.tickets if not t.key.isdigit() and "-" in t.key]
        for name in dict.fromkeys(group_names):
            self._add_group(name)
        for desk in site.service_desks:
            for form_id, name in desk.request_types.items():
                self._add_form(name, form_id)
        for form in site.forms:  # a Zendesk site description (kind: zendesk)
            self._add_form(form.name, form.id)
        for site_ticket in site.tickets:
            self._add_site_ticket(site_ticket)

    def _add_user(self, user: SiteUser, role: str | None = None) -> int:
        uid = self._new_id(user.account_id, self.users)
        role = role or ("end-user" if user.account_id.startswith("qm:") else "agent")
        self.users[uid] = self._user_json(uid, user.email, user.display_name or user.email, role)
        return uid

    def _user_json(self, uid: int, email: str, name: str, role: str) -> dict[str, Any]:
        moment = _iso(self.now())
        return {"id": uid, "url": f"{self.url}/api/v2/users/{uid}.json", "name": name, "email": email,
                "role": role, "active": True, "verified": True, "organization_id": None, "tags": [],
                "created_at": moment, "updated_at": moment, "time_zone": "UTC", "locale": "en-US"}

    def _add_field(self, site_field: SiteField) -> None:
        if site_field.type.startswith("sd-"):
            return
        digits = re.sub(r"\D", "", site_field.id)
        fid = self._new_id(digits, self.fields)
        ftype = _FIELD_TYPES.get(site_field.type, "text")
        options = [{"id": self._new_id(None, {}), "name": o, "raw_name": o, "value": option_tag(o), "default": False}
                   for o in site_field.options] if ftype in ("tagger", "multiselect") else None
        self.fields[fid] = self._field_json(fid, ftype, site_field.name, options=options)

    def _field_json(self, fid: int, ftype: str, title: str, *, removable: bool = True,
                    options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        data = {"id": fid, "url": f"{self.url}/api/v2/ticket_fields/{fid}.json", "type": ftype, "title": title,
                "raw_title": title, "description": "", "active": True, "required": False, "removable": removable,
                "visible_in_portal": False, "editable_in_portal": False, "position": len(self.fields)}
        if options is not None:
            data["custom_field_options"] = options
        return data

    def _add_org(self, name: str, wanted_id: str | int | None = None) -> int:
        oid = self._new_id(wanted_id, self.organizations)
        moment = _iso(self.now())
        self.organizations[oid] = {"id": oid, "url": f"{self.url}/api/v2/organizations/{oid}.json", "name": name,
                                   "domain_names": [], "details": None, "notes": None, "group_id": None,
                                   "shared_tickets": False, "shared_comments": False, "tags": [],
                                   "organization_fields": {}, "external_id": None,
                                   "created_at": moment, "updated_at": moment}
        return oid

    def _add_group(self, name: str) -> int:
        gid = self._new_id(None, self.groups)
        moment = _iso(self.now())
        self.groups[gid] = {"id": gid, "url": f"{self.url}/api/v2/groups/{gid}.json", "name": name,
                            "description": "", "default": False, "deleted": False, "is_public": True,
                            "created_at": moment, "updated_at": moment}
        return gid

    def _add_form(self, name: str, wanted_id: str | int | None = None) -> int:
        existing = next((f for f in self.forms.values() if f["name"] == name), None)
        if existing:
            return existing["id"]
        form_id = self._new_id(wanted_id, self.forms)
        self.forms[form_id] = {"id": form_id, "url": f"{self.url}/api/v2/ticket_forms/{form_id}.json",
                               "name": name, "raw_name": name, "display_name": name, "raw_display_name": name,
                               "active": True, "default": False, "end_user_visible": True, "position": 0,
                               "ticket_field_ids": sorted(self.fields), "in_all_brands": True}
        return form_id

    def _user_for(self, email: str) -> int:
        try:
            return self.user_id(email)
        except StopIteration:
            uid = self._new_id(None, self.users)
            self.users[uid] = self._user_json(uid, email, email, "end-user")
            return uid

    def _add_site_ticket(self, st: SiteTicket) -> None:
        tid = int(st.key) if st.key.isdigit() else next(self._ticket_ids)
        while not st.key.isdigit() and tid in self.tickets:
            tid = next(self._ticket_ids)
        self.keys[st.key] = tid
        requester = self._user_for(st.reporter) if st.reporter else self.bot_id
        org_id = None
        if st.organizations:
            org = self.organization(st.organizations[0])
            org_id = org["id"] if org else self._add_org(st.organizations[0])
            self._add_membership(requester, org_id)
        group = next((g["id"] for g in self.groups.values() if g["name"] == (st.group or st.key.split("-")[0])), None)
        custom, tags = self._seed_fields(st.fields)
        moment = _iso(self.now())
        self.tickets[tid] = self._ticket_json(
            tid, subject=st.summary, description=st.description, status=self._seed_status(st.status),
            type=st.issue_type.casefold() if st.issue_type.casefold() in ("question", "incident", "problem", "task")
            else None, requester_id=requester, submitter_id=requester, organization_id=org_id, group_id=group,
            assignee_id=self._user_for(st.assignee) if st.assignee else None,
            ticket_form_id=self._add_form(st.request_type) if st.request_type else None,
            follower_ids=[self._user_for(e) for e in st.watchers],
            email_cc_ids=[self._user_for(e) for e in st.participants],
            tags=sorted(set(st.labels) | tags), custom_fields=custom, created_at=moment, updated_at=moment)
        self.comments[tid] = []
        if st.description:
            self._add_comment(tid, {"body": st.description, "public": True}, author=requester)

    @staticmethod
    def _seed_status(status: str) -> str:
        text = status.strip().casefold().replace("on-hold", "hold").replace("on hold", "hold")
        if text not in STATUSES:
            raise ValueError(f"Site ticket status {status!r} is not a Zendesk status ({', '.join(STATUSES)})")
        return text

    def _seed_fields(self, values: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
        custom: list[dict[str, Any]] = []
        for title, value in values.items():
            definition = next((f for f in self.fields.values() if f["title"] == title), None)
            if definition is None:
                raise ValueError(f"Site ticket field {title!r} is not a Zendesk ticket field")
            if definition["type"] in ("tagger", "multiselect"):
                names = {o["name"]: o["value"] for o in definition["custom_field_options"]}
                value = [names[v] for v in value] if isinstance(value, list) else names[value]
            custom.append({"id": definition["id"], "value": value})
        ticket: dict[str, Any] = {"custom_fields": [], "tags": []}
        for item in custom:
            self._set_custom_field(ticket, item)
        return ticket["custom_fields"], set(ticket["tags"])

    def _ticket_json(self, tid: int, **attrs: Any) -> dict[str, Any]:
        data = {"id": tid, "url": f"{self.url}/api/v2/tickets/{tid}.json", "external_id": None,
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": None, "updated_at": None, "type": None, "subject": "", "raw_subject": "",
                "description": "", "priority": None, "status": "new", "recipient": None,
                "requester_id": self.bot_id, "submitter_id": self.bot_id, "assignee_id": None,
                "organization_id": None, "group_id": None, "collaborator_ids": [], "follower_ids": [],
                "email_cc_ids": [], "forum_topic_id": None, "problem_id": None, "has_incidents": False,
                "is_public": True, "due_at": None, "tags": [], "custom_fields": [], "satisfaction_rating": None,
                "sharing_agreement_ids": [], "ticket_form_id": None, "brand_id": None,
                "allow_channelback": False, "allow_attachments": True}
        data.update(attrs)
        data["raw_subject"] = data["subject"]
        data["collaborator_ids"] = sorted(set(data["follower_ids"]) | set(data["email_cc_ids"]))
        data["custom_fields"] = self._all_custom_fields(data["custom_fields"])
        return data

    def _all_custom_fields(self, values: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Zendesk lists every custom field on a ticket, unset ones with null."""
        given = {int(v["id"]): v.get("value") for v in values}
        return [{"id": fid, "value": given.get(fid)} for fid, f in sorted(self.fields.items()) if f["removable"]]

    def _add_membership(self, user_id: int, org_id: int) -> int:
        mid = next(self._ids)
        self.memberships[(user_id, org_id)] = mid
        user = self.users[user_id]
        if user["organization_id"] is None:
            user["organization_id"] = org_id
        return mid

    # HTTP --------------------------------------------------------------------------------------------
    def _respond(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        method, path, query = request.method.upper(), parts.path, parse_qs(parts.query)
        self.calls.append((method, path))
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            return self._json(400, {"error": "InvalidJSON", "description": "request body is not JSON"})
        self.requests.append(Recorded(method, path, query, body))
        if self._throttle_left > 0:
            self._throttle_left -= 1
            return self._json(429, {"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"},
                              {"Retry-After": self._retry_after})
        if not str(request.headers.get("Authorization", "")).startswith("Basic "):
            return self._json(401, {"error": "Couldn't authenticate you"})
        refused = self._check_spec(method, path, body)
        if refused is not None:
            return self._json(*refused)
        try:
            return self._json(*self._dispatch(method, path, query, body))
        except _Refused as exc:
            return self._json(*exc.answer())

    @staticmethod
    def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
              ) -> tuple[int, dict[str, str], str]:
        text = "" if status == 204 else json.dumps(body)  # No Content: no body at all
        return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, text

    def _check_spec(self, method: str, path: str, body: Any) -> Answer | None:
        if self.spec is None:
            return None
        route = self.spec.operation(method, path)
        if route is None:
            self.violations.append(f"{method} {path}: not an operation of the Zendesk Support API spec")
            return 400, {"error": "InvalidEndpoint", "description": f"{method} {path} is not in the spec"}
        errors = self.spec.body_errors(route, body) if body is not None else []
        if errors:
            self.violations.extend(f"{method} {path} ({route.template}) body: {e}" for e in errors)
            return 400, {"error": "InvalidBody", "description": "; ".join(errors)}
        return None

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        bare = path[:-5] if path.endswith(".json") else path
        for route_method, pattern, handler in self._handlers():
            match = pattern.match(bare)
            if route_method == method and match:
                return handler(*match.groups(), query=query, body=body)
        self.unimplemented.append(f"{method} {path}")
        return 501, {"error": "NotImplemented", "description": f"the fake does not implement {method} {path}"}

    def _handlers(self) -> list[tuple[str, re.Pattern[str], Callable[..., Answer]]]:
        table = [
            ("GET", r"/api/v2/tickets/(\d+)", self._show_ticket),
            ("PUT", r"/api/v2/tickets/(\d+)", self._update_ticket),
            ("PUT", r"/api/v2/tickets/(\d+)/tags", self._add_tags),
            ("DELETE", r"/api/v2/tickets/(\d+)/tags", self._delete_tags),
            ("POST", r"/api/v2/tickets", self._create_ticket),
            ("GET", r"/api/v2/tickets", self._list_tickets),
            ("GET", r"/api/v2/tickets/(\d+)/comments", self._list_comments),
            ("GET", r"/api/v2/ticket_fields", self._list_of("ticket_fields", self.fields)),
            ("GET", r"/api/v2/ticket_forms", self._list_of("ticket_forms", self.forms)),
            ("GET", r"/api/v2/groups", self._list_of("groups", self.groups)),
            ("GET", r"/api/v2/users/search", self._search_users),
            ("GET", r"/api/v2/users/show_many", self._show_many("users", self.users)),
            ("GET", r"/api/v2/users/(\d+)", self._show_one("user", self.users)),
            ("GET", r"/api/v2/organizations", self._list_of("organizations", self.organizations)),
            ("GET", r"/api/v2/organizations/search", self._search_organizations),
            ("GET", r"/api/v2/organizations/show_many", self._show_many("organizations", self.organizations)),
            ("GET", r"/api/v2/organizations/(\d+)", self._show_one("organization", self.organizations)),
            ("POST", r"/api/v2/organizations", self._create_organization),
            ("POST", r"/api/v2/organization_memberships", self._create_membership),
            ("GET", r"/api/v2/incremental/tickets/cursor", self._export_tickets),
        ]
        return [(m, re.compile(f"^{p}$"), h) for m, p, h in table]

    # listings ----------------------------------------------------------------------------------------
    def _listing(self, key: str, items: Sequence[dict[str, Any]], query: dict[str, list[str]], path: str) -> Answer:
        """Offset pagination by default; cursor pagination (meta/links) when page[size] is asked for."""
        size = _first(query, "page[size]")
        if size is None:
            return 200, {key: copy.deepcopy(list(items)), "next_page": None, "previous_page": None,
                         "count": len(items)}
        start = int(_first(query, "page[after]") or 0)
        end = start + int(size)
        has_more = end < len(items)
        after = str(end) if has_more else None
        next_link = f"{self.url}{path}.json?page[size]={size}&page[after]={after}" if has_more else None
        return 200, {key: copy.deepcopy(list(items[start:end])),
                     "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": str(start) or None},
                     "links": {"next": next_link, "prev": None}}

    def _list_of(self, key: str, store: dict[int, dict[str, Any]]) -> Callable[..., Answer]:
        def handler(*, query: dict[str, list[str]], body: Any) -> Answer:
            return self._listing(key, [store[i] for i in sorted(store)], query, f"/api/v2/{key}")
        return handler

    def _show_many(self, key: str, store: dict[int, dict[str, Any]]) -> Callable[..., Answer]:
        def handler(*, query: dict[str, list[str]], body: Any) -> Answer:
            ids = [int(i) for i in (_first(query, "ids") or "").split(",") if i.strip().isdigit()]
            return self._listing(key, [store[i] for i in ids if i in store], {}, f"/api/v2/{key}/show_many")
        return handler

    def _show_one(self, key: str, store: dict[int, dict[str, Any]]) -> Callable[..., Answer]:
        def handler(ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
            if int(ident) not in store:
                raise _Refused(404, "RecordNotFound", "Not found")
            return 200, {key: copy.deepcopy(store[int(ident)])}
        return handler

    def _search_users(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        text = (_first(query, "query") or "").strip().strip('"')
        wanted = text.split(":", 1)[1].strip('"') if text.casefold().startswith("email:") else text
        needle = wanted.casefold()
        found = [u for u in self.users.values()
                 if u["email"].casefold() == needle or (needle and needle in u["name"].casefold())]
        return self._listing("users", found, {}, "/api/v2/users/search")

    def _search_organizations(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        name = (_first(query, "name") or "").casefold()
        found = [o for o in self.organizations.values() if o["name"].casefold() == name]
        return self._listing("organizations", found, {}, "/api/v2/organizations/search")

    # organizations ---------------------------------------------------------------------------------------
    def _create_organization(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        name = str(((body or {}).get("organization") or {}).get("name") or "").strip()
        if not name:
            raise _Refused(422, "RecordInvalid", "Name: cannot be blank")
        if self.organization(name):
            raise _Refused(422, "RecordInvalid", "Name: has already been taken")
        return 201, {"organization": copy.deepcopy(self.organizations[self._add_org(name)])}

    def _create_membership(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        data = (body or {}).get("organization_membership") or {}
        user_id, org_id = int(data.get("user_id") or 0), int(data.get("organization_id") or 0)
        if user_id not in self.users or org_id not in self.organizations:
            raise _Refused(422, "RecordInvalid", "User or organization is invalid")
        if (user_id, org_id) in self.memberships:
            raise _Refused(422, "RecordInvalid", "User is already a member of this organization")
        mid = self._add_membership(user_id, org_id)
        moment = _iso(self.now())
        return 201, {"organization_membership": {
            "id": mid, "url": f"{self.url}/api/v2/organization_memberships/{mid}.json", "user_id": user_id,
            "organization_id": org_id, "organization_name": self.organizations[org_id]["name"],
            "default": self.users[user_id]["organization_id"] == org_id, "view_tickets": False,
            "created_at": moment, "updated_at": moment}}

    # tickets -------------------------------------------------------------------------------------------------
    def _require_ticket(self, ident: str | int) -> dict[str, Any]:
        ticket = self.tickets.get(int(ident))
        if ticket is None:
            raise _Refused(404, "RecordNotFound", "Not found")
        return ticket

    def _show_ticket(self, ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
        return 200, {"ticket": copy.deepcopy(self._require_ticket(ident))}

    def _list_comments(self, ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
        self._require_ticket(ident)
        return self._listing("comments", self.comments[int(ident)], query, f"/api/v2/tickets/{ident}/comments")

    def _update_ticket(self, ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
        ticket = self._require_ticket(ident)
        if ticket["status"] == "closed":
            raise _Refused(422, "RecordInvalid", "Status: closed prevents ticket update")
        changes = dict((body or {}).get("ticket") or {})
        updated = copy.deepcopy(ticket)
        events = self._apply(updated, changes)
        self._validate(updated, ticket)
        audit = self._commit(int(ident), updated, changes.get("comment"), events)
        return 200, {"ticket": copy.deepcopy(self.tickets[int(ident)]), "audit": audit}

    def _add_tags(self, ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
        """PUT /api/v2/tickets/{id}/tags: add to the ticket's tags (Zendesk lower-cases them and splits one
        with spaces into several); answers the ticket's tags."""
        return self._change_tags(ident, body, additional_tags=_tags_of(body))

    def _delete_tags(self, ident: str, *, query: dict[str, list[str]], body: Any) -> Answer:
        """DELETE /api/v2/tickets/{id}/tags: remove those tags; 204 as the spec says."""
        self._change_tags(ident, body, remove_tags=_tags_of(body))
        return 204, {}

    def _change_tags(self, ident: str, body: Any, **change: list[str]) -> Answer:
        ticket = self._require_ticket(ident)
        if ticket["status"] == "closed":
            raise _Refused(422, "RecordInvalid", "Status: closed prevents ticket update")
        if not isinstance((body or {}).get("tags"), list):
            raise _Refused(400, "InvalidValue", "tags: give a list of tags")
        updated = copy.deepcopy(ticket)
        events = self._apply(updated, change)
        self._commit(int(ident), updated, None, events)
        return 200, {"tags": list(self.tickets[int(ident)]["tags"])}

    def _list_tickets(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        """GET /api/v2/tickets: all tickets, or (``external_id``) those with that external id."""
        wanted = _first(query, "external_id")
        found = [t for t in self.tickets.values() if wanted is None or t.get("external_id") == wanted]
        return self._listing("tickets", found, query, "/api/v2/tickets")

    def _create_ticket(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        changes = dict((body or {}).get("ticket") or {})
        comment = changes.get("comment") or {}
        if not (comment.get("body") or comment.get("html_body")):
            raise _Refused(422, "RecordInvalid", "Description: cannot be blank")
        tid = next(self._ticket_ids)
        while tid in self.tickets:
            tid = next(self._ticket_ids)
        moment = _iso(self.now())
        ticket = self._ticket_json(tid, created_at=moment, updated_at=moment,
                                   description=comment.get("body") or comment.get("html_body"))
        requester = changes.get("requester_id") or self.bot_id
        ticket["organization_id"] = self.users.get(int(requester), {}).get("organization_id")
        events = self._apply(ticket, changes)
        self._validate(ticket, None)
        self.comments[tid] = []
        audit = self._commit(tid, ticket, comment, events)
        return 201, {"ticket": copy.deepcopy(self.tickets[tid]), "audit": audit}

    def _apply(self, ticket: dict[str, Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply an update body to ``ticket`` in place; returns the Change audit events."""
        before = copy.deepcopy(ticket)
        simple = ("subject", "status", "type", "priority", "assignee_id", "group_id", "organization_id",
                  "ticket_form_id", "problem_id", "external_id", "due_at", "brand_id")
        for key in simple:
            if key in changes:
                ticket[key] = changes[key]
        if "subject" in changes:
            ticket["raw_subject"] = changes["subject"]
        if "requester_id" in changes:
            ticket["requester_id"] = changes["requester_id"]
            if "organization_id" not in changes:
                ticket["organization_id"] = self.users.get(int(changes["requester_id"] or 0), {}).get("organization_id")
        self._apply_tags(ticket, changes)
        for item in changes.get("custom_fields") or ():
            self._set_custom_field(ticket, item)
        self._apply_people(ticket, "follower_ids", changes.get("followers"), agents_only=True)
        self._apply_people(ticket, "email_cc_ids", changes.get("email_ccs"), agents_only=False)
        ticket["collaborator_ids"] = sorted(set(ticket["follower_ids"]) | set(ticket["email_cc_ids"]))
        return [{"id": next(self._ids), "type": "Change", "field_name": k, "value": ticket[k],
                 "previous_value": before.get(k)} for k in ticket if ticket[k] != before.get(k)]

    @staticmethod
    def _apply_tags(ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        tags = list(changes["tags"]) if "tags" in changes else list(ticket["tags"])
        tags += [t for t in changes.get("additional_tags") or () if t not in tags]
        removed = set(changes.get("remove_tags") or ())
        ticket["tags"] = [t for t in dict.fromkeys(tags) if t not in removed]

    def _set_custom_field(self, ticket: dict[str, Any], item: Mapping[str, Any]) -> None:
        """Set one custom field; dropdown values must be option tags and swap the option's tag."""
        definition = self.fields.get(int(item["id"]))
        if definition is None or not definition["removable"]:
            raise _Refused(422, "RecordInvalid", f"custom field {item['id']} does not exist")
        value = item.get("value")
        options = {o["value"] for o in definition.get("custom_field_options") or ()}
        old = next((f["value"] for f in ticket["custom_fields"] if f["id"] == definition["id"]), None)
        if definition["type"] in ("tagger", "multiselect"):
            new_tags = set(value if isinstance(value, list) else [value]) - {None, ""}
            if not new_tags <= options:
                raise _Refused(422, "RecordInvalid", f"{definition['title']}: {value!r} is not a valid option")
            old_tags = set(old if isinstance(old, list) else [old]) - {None, ""}
            kept = [t for t in ticket["tags"] if t not in old_tags]  # a tag still selected stays
            ticket["tags"] = kept + sorted(new_tags - set(kept))
        others = [f for f in ticket["custom_fields"] if f["id"] != definition["id"]]
        ticket["custom_fields"] = sorted(others + [{"id": definition["id"], "value": value}], key=lambda f: f["id"])

    def _apply_people(self, ticket: dict[str, Any], key: str, actions: Any, *, agents_only: bool) -> None:
        for action in actions or ():
            uid = self._person_id(action, create=not agents_only)
            if agents_only and self.users[uid]["role"] == "end-user":
                raise _Refused(422, "RecordInvalid", f"Followers: user {uid} is not an agent")
            people = [p for p in ticket[key] if p != uid]
            ticket[key] = people if action.get("action") == "delete" else people + [uid]

    def _person_id(self, action: Mapping[str, Any], *, create: bool) -> int:
        if action.get("user_id") not in (None, ""):
            uid = int(action["user_id"])
            if uid not in self.users:
                raise _Refused(422, "RecordInvalid", f"user {uid} does not exist")
            return uid
        email = str(action.get("user_email") or "")
        try:
            return self.user_id(email)
        except StopIteration:
            if not (create and email):
                raise _Refused(422, "RecordInvalid", f"no user {email!r}") from None
            return self._user_for(email)

    def _validate(self, ticket: dict[str, Any], before: dict[str, Any] | None) -> None:
        """The checks Zendesk makes that the adapter relies on."""
        checks = [
            (ticket["status"] in STATUSES, f"Status: {ticket['status']!r} is invalid"),
            (ticket["type"] in (None, "question", "incident", "problem", "task"), "Type: is invalid"),
            (ticket["priority"] in (None, "low", "normal", "high", "urgent"), "Priority: is invalid"),
            (int(ticket["requester_id"] or 0) in self.users, "Requester: is invalid"),
            (ticket["group_id"] in (None, *self.groups), "Group: is invalid"),
            (ticket["ticket_form_id"] in (None, *self.forms), "Ticket form: is invalid"),
            (ticket["organization_id"] in (None, *self.organizations), "Organization: is invalid"),
        ]
        for ok, message in checks:
            if not ok:
                raise _Refused(422, "RecordInvalid", message)
        org = ticket["organization_id"]
        if org is not None and (before is None or org != before["organization_id"]
                                or ticket["requester_id"] != before["requester_id"]) \
                and (int(ticket["requester_id"]), int(org)) not in self.memberships:
            raise _Refused(422, "RecordInvalid", "Organization: the requester is not a member of it")
        problem = ticket["problem_id"]
        problem_type = self.tickets[int(problem)]["type"] if problem and int(problem) in self.tickets else None
        if problem is not None and problem_type != "problem":
            raise _Refused(422, "RecordInvalid", "Problem: must be a ticket of type problem")

    def _commit(self, tid: int, ticket: dict[str, Any], comment: Mapping[str, Any] | None,
                events: list[dict[str, Any]]) -> dict[str, Any]:
        moment = _iso(self.now())
        ticket["updated_at"] = moment
        self.tickets[tid] = ticket
        if ticket["problem_id"]:
            self.tickets[int(ticket["problem_id"])]["has_incidents"] = True
        audit_id = next(self._ids)
        if comment:
            events = [self._add_comment(tid, comment, author=self.bot_id, audit_id=audit_id), *events]
        return {"id": audit_id, "ticket_id": tid, "created_at": moment, "author_id": self.bot_id,
                "metadata": {"system": {}, "custom": {}}, "via": {"channel": "api"}, "events": events}

    def _add_comment(self, tid: int, comment: Mapping[str, Any], *, author: int,
                     audit_id: int | None = None) -> dict[str, Any]:
        """Store a comment. Like Zendesk, a comment without ``public`` is PUBLIC."""
        body = str(comment.get("body") or comment.get("html_body") or "")
        if not body.strip():
            raise _Refused(422, "RecordInvalid", "Comment: body cannot be blank")
        cid = next(self._ids)
        stored = {"id": cid, "type": "Comment", "author_id": int(comment.get("author_id") or author),
                  "body": body, "html_body": f"<div class=\"zd-comment\"><p>{body}</p></div>", "plain_body": body,
                  "public": bool(comment.get("public", True)), "attachments": [], "audit_id": audit_id or cid,
                  "via": {"channel": "api"}, "metadata": {}, "created_at": _iso(self.now())}
        self.comments[tid].append(stored)
        if not stored["public"]:
            self.tickets[tid]["is_public"] = any(c["public"] for c in self.comments[tid])
        return {k: stored[k] for k in ("id", "type", "author_id", "body", "html_body", "plain_body", "public",
                                       "attachments", "audit_id")}

    # incremental export ------------------------------------------------------------------------------------
    def _export_tickets(self, *, query: dict[str, list[str]], body: Any) -> Answer:
        """GET /api/v2/incremental/tickets/cursor: start_time (>= 1 min old) or cursor."""
        horizon = int((self.now() - EXPORT_LAG).timestamp())
        cursor, start = _first(query, "cursor"), _first(query, "start_time")
        if cursor:
            position = _decode_cursor(cursor)
        elif start is not None and start.isdigit():
            if int(start) > horizon:
                self.violations.append(f"incremental export start_time {start} is less than one minute old")
                raise _Refused(400, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")
            position = (int(start) - 1, 2**62)
        else:
            raise _Refused(400, "InvalidValue", "start_time or cursor is required")
        ready = sorted((int(_parse_iso(t["updated_at"]).timestamp()), tid) for tid, t in self.tickets.items())
        ready = [p for p in ready if p > position and p[0] <= horizon]
        page = ready[:self.export_page_size]
        after = page[-1] if page else position
        after_cursor = _encode_cursor(*after)
        return 200, {
            "tickets": [copy.deepcopy(self.tickets[tid]) for _, tid in page],
            "after_cursor": after_cursor,
            "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}",
            "before_cursor": _encode_cursor(*position) if cursor else None,
            "before_url": None,
            "end_of_stream": len(ready) <= len(page),
        }
