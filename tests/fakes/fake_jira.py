"""A stateful fake Jira Cloud + Service Management, served through ``responses`` callbacks.

Seeded from a :class:`bot.trackers.site.Site`, it keeps tickets (fields, status, watchers,
participants, comments with their internal flag, links, reporter, organizations, request
type), users, organizations and service-desk membership, and answers the endpoints the
Jira adapter uses with Atlassian's response shapes.

It is also a contract check. When ``../shared/contracts`` is present, every request is
looked up in Atlassian's OpenAPI specs (``/rest/api/2`` is checked against the v3 spec,
which has the same operations; ``/rest/servicedeskapi`` against the JSM spec) and its JSON
body is validated with ``jsonschema`` against the operation's ``requestBody`` schema. A
request that does not fit is answered ``400`` with ``errorMessages`` and recorded in
:attr:`FakeJira.violations`, which tests assert empty. The fake's own 2xx answers are
validated against the response schemas too (:attr:`FakeJira.response_violations`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from bot.trackers.site import Site, SiteField, SiteUser

# where the vendor specs live ----------------------------------------------------------------------
SHARED_ENV = "TICKETBOT_SHARED_DIR"
JIRA_SPEC = Path("contracts/jira/jira_cloud_platform_rest_api_v3_openapi.json")
JSM_SPEC = Path("contracts/jsm/jira_service_management_cloud_rest_api_openapi.json")


def shared_dir() -> Path | None:
    """``../shared`` beside the repository (or ``$TICKETBOT_SHARED_DIR``); ``None`` when absent."""
    configured = os.environ.get(SHARED_ENV)
    candidate = Path(configured) if configured else Path(__file__).resolve().parents[2] / ".." / "shared"
    return candidate.resolve() if candidate.is_dir() else None


def spec_skip_reason() -> str | None:
    """Why the spec checks cannot run here, or ``None`` when they can."""
    base = shared_dir()
    if base is None:
        return f"../shared is absent (set {SHARED_ENV}); Atlassian's OpenAPI specs are needed for this check"
    missing = [str(p) for p in (JIRA_SPEC, JSM_SPEC) if not (base / p).is_file()]
    return f"missing in {base}: {', '.join(missing)}" if missing else None


@cache
def load_specs() -> SpecBook | None:
    """The two specs, parsed once per test session (2.9 MB of JSON); ``None`` when absent."""
    if spec_skip_reason() is not None:
        return None
    base = shared_dir()
    assert base is not None
    documents = {}
    for uri, rel in (("urn:jira-platform-v3", JIRA_SPEC), ("urn:jira-service-management", JSM_SPEC)):
        with open(base / rel, encoding="utf-8") as fh:
            documents[uri] = json.load(fh)
    return SpecBook(documents)


# OpenAPI -> JSON Schema ----------------------------------------------------------------------------
_HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
_JSON = "application/json"


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (``type: [t, "null"]``); the rest is as is."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items()}
    if out.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _v3_path(path: str) -> str:
    """v2 and v3 have the same operations; only the spec for v3 exists."""
    return re.sub(r"^/rest/api/2/", "/rest/api/3/", path)


@dataclass(frozen=True)
class Operation:
    uri: str
    method: str
    template: str
    spec: dict[str, Any]

    def query_names(self) -> set[str]:
        return {p["name"] for p in self.spec.get("parameters", []) if p.get("in") == "query"}


class SpecBook:
    """Atlassian's OpenAPI documents: which operations exist and what their JSON looks like."""

    def __init__(self, documents: Mapping[str, dict[str, Any]]) -> None:
        self._registry: Registry = Registry()
        self._operations: list[tuple[re.Pattern[str], Operation]] = []
        for uri, raw in documents.items():
            doc = _openapi_to_jsonschema(raw)
            self._registry = self._registry.with_resource(uri, Resource.from_contents(doc, DRAFT7))
            for template, item in doc["paths"].items():
                for method, spec in item.items():
                    if method in _HTTP_METHODS:
                        self._operations.append((_template_regex(template), Operation(uri, method, template, spec)))
        # literal segments beat parameters: /issue/createmeta before /issue/{issueIdOrKey}
        self._operations.sort(key=lambda pair: -pair[1].template.count("/") * 10 + pair[1].template.count("{"))
        self._validators: dict[str, Draft7Validator] = {}

    def find(self, method: str, path: str) -> Operation | None:
        wanted = method.lower()
        return next((op for rx, op in self._operations if op.method == wanted and rx.fullmatch(path)), None)

    def request_problems(self, op: Operation, query: Mapping[str, Any], body: Any, has_body: bool) -> list[str]:
        problems = [f"unknown query parameter {name!r}" for name in query if name not in op.query_names()]
        request_body = op.spec.get("requestBody")
        if request_body is None:
            return problems + (["the operation takes no request body"] if has_body else [])
        if not has_body:
            return problems + (["a request body is required"] if request_body.get("required") else [])
        if _JSON not in request_body.get("content", {}):
            return problems + [f"the operation does not take {_JSON}"]
        where = _pointer("paths", op.template, op.method, "requestBody", "content", _JSON, "schema")
        return problems + self._errors(op.uri, where, body)

    def response_problems(self, op: Operation, status: int, body: Any) -> list[str]:
        response = op.spec.get("responses", {}).get(str(status))
        if response is None:
            return [f"the spec lists no {status} response"]
        if body is None or "schema" not in response.get("content", {}).get(_JSON, {}):
            return []
        where = _pointer("paths", op.template, op.method, "responses", str(status), "content", _JSON, "schema")
        return self._errors(op.uri, where, body)

    def _errors(self, uri: str, where: str, instance: Any) -> list[str]:
        ref = f"{uri}#{where}"
        if ref not in self._validators:
            self._validators[ref] = Draft7Validator({"$ref": ref}, registry=self._registry)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in self._validators[ref].iter_errors(instance)]


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def _adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def v2_bodies_as_v3(template: str, body: Any) -> tuple[Any, list[str]]:
    """Check v2 rich-text values are strings and swap them for ADF, so the v3 schema applies.

    REST v2 takes comment bodies and descriptions as wiki-markup strings where v3 takes
    Atlassian Document Format objects; that is the one shape difference between the two.
    """
    if not isinstance(body, dict):
        return body, []
    problems: list[str] = []
    body = json.loads(json.dumps(body))

    def swap(holder: Any, key: str, where: str) -> None:
        if not isinstance(holder, dict) or holder.get(key) is None:
            return
        if isinstance(holder[key], str):
            holder[key] = _adf(holder[key])
        else:
            problems.append(f"{where}: REST v2 wants a string (wiki markup) here, got "
                            f"{type(holder[key]).__name__} (ADF is v3 only)")

    if template.endswith("/comment") or template.endswith("/comment/{id}"):
        swap(body, "body", "body")
    if template == "/rest/api/3/issueLink":
        swap(body.get("comment"), "body", "comment/body")
    for name in ("description", "environment"):
        swap(body.get("fields"), name, f"fields/{name}")
    for i, op in enumerate((body.get("update") or {}).get("comment") or []):
        swap(op.get("add") if isinstance(op, dict) else None, "body", f"update/comment/{i}/add/body")
    return body, problems


# errors as Jira writes them --------------------------------------------------------------------------
class JiraHTTPError(Exception):
    """A domain error the fake answers as Jira does (platform or Service Management shape)."""

    def __init__(self, status: int, *messages: str, errors: Mapping[str, str] | None = None, jsm: bool = False):
        super().__init__("; ".join(messages) or json.dumps(errors))
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.jsm = jsm

    def body(self) -> dict[str, Any]:
        if self.jsm:
            message = "; ".join(self.messages + [f"{k}: {v}" for k, v in self.errors.items()])
            return {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "fake.error", "parameters": []}}
        return {"errorMessages": self.messages, "errors": self.errors}


# stored state --------------------------------------------------------------------------------------
@dataclass
class StoredComment:
    id: str
    body: str
    author: str  # account id
    internal: bool
    created: datetime


@dataclass
class StoredLink:
    id: str
    type_id: str
    inward: str
    outward: str


@dataclass
class StoredIssue:
    """One ticket as the fake keeps it; custom field values are kept as Jira's JSON."""

    id: str
    key: str
    project: str
    issue_type: str
    summary: str
    description: str
    status: str
    reporter: str | None  # account id
    creator: str
    created: datetime
    updated: datetime
    organizations: list[str] = field(default_factory=list)  # organization ids
    request_type: str | None = None  # request type id
    participants: list[str] = field(default_factory=list)  # account ids
    watchers: list[str] = field(default_factory=list)  # account ids
    labels: list[str] = field(default_factory=list)
    resolution: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # custom field id -> Jira JSON
    comments: list[StoredComment] = field(default_factory=list)
    links: list[StoredLink] = field(default_factory=list)
    assignee: str | None = None  # account id


Handler = Callable[..., tuple[int, Any]]
_SD_CUSTOM = {
    "sd-organizations": {"type": "array", "items": "sd-customerorganization",
                         "custom": "com.atlassian.servicedesk:sd-customer-organizations"},
    "sd-request-type": {"type": "sd-customerrequesttype", "custom": "com.atlassian.servicedesk:vp-origin"},
    "sd-participants": {"type": "array", "items": "user",
                        "custom": "com.atlassian.servicedesk:sd-request-participants"},
    "option": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select"},
    "options": {"type": "array", "items": "option",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect"},
    "user": {"type": "user", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"},
    "number": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    "text": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"},
}
_SYSTEM_FIELDS = [
    ("summary", "Summary", {"type": "string", "system": "summary"}),
    ("description", "Description", {"type": "string", "system": "description"}),
    ("status", "Status", {"type": "status", "system": "status"}),
    ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
    ("project", "Project", {"type": "project", "system": "project"}),
    ("reporter", "Reporter", {"type": "user", "system": "reporter"}),
    ("creator", "Creator", {"type": "user", "system": "creator"}),
    ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
    ("issuelinks", "Linked Issues", {"type": "array", "items": "issuelinks", "system": "issuelinks"}),
    ("comment", "Comment", {"type": "comments-page", "system": "comment"}),
    ("created", "Created", {"type": "datetime", "system": "created"}),
    ("updated", "Updated", {"type": "datetime", "system": "updated"}),
]
_EDITABLE_SYSTEM = ("summary", "description", "labels", "reporter")
_DONE = {"done", "closed", "resolved", "canceled", "cancelled"}
_NEW = {"open", "to do", "backlog", "new"}


class FakeJira:
    """Jira Cloud + JSM at ``base_url``; use as a context manager (it starts ``responses``)."""

    def __init__(
        self,
        site: Site,
        *,
        base_url: str = "https://fake-jira.atlassian.net",
        specs: SpecBook | None = None,
        page_size: int = 50,
        hide_emails: bool = False,
        now: datetime | None = None,
    ) -> None:
        self.site = site
        self.base_url = base_url.rstrip("/")
        self.specs = specs
        self.page_size = page_size
        self.hide_emails = hide_emails
        self.now = now or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self.calls: list[tuple[str, str]] = []
        #: The JSON body of every request that had one, with its method and path, in order.
        self.bodies: list[tuple[str, str, Any]] = []
        self.violations: list[str] = []
        self.response_violations: list[str] = []
        self.unserved: list[str] = []
        self._throttles: list[tuple[int, str | None]] = []
        self._ids = itertools.count(20000)
        self._seed(site)
        self._routes = self._route_table()
        self._mock: responses.RequestsMock | None = None

    # test helpers --------------------------------------------------------------------------------
    @property
    def writes(self) -> list[tuple[str, str]]:
        """Every non-GET request received, in order."""
        return [c for c in self.calls if c[0] != "GET"]

    def ticket(self, key: str) -> StoredIssue:
        return self.issues[key]

    def field(self, key: str, name: str) -> Any:
        """A custom field's plain value (option value, account id, number, text) by display name."""
        site_field = self._field_by_name(name)
        return _plain(self.issues[key].fields.get(site_field.id))

    def organization_names(self, key: str) -> list[str]:
        return [self.organizations[o] for o in self.issues[key].organizations]

    def request_type_name(self, key: str) -> str | None:
        rt = self.issues[key].request_type
        return None if rt is None else self._request_type_names()[rt]

    def account_id(self, email: str) -> str:
        user = self.site.user_by_email(email) or (self.bot if self.bot.email == email else None)
        if user is None:
            raise KeyError(email)
        return user.account_id

    def add_ticket(self, ticket: Any) -> StoredIssue:
        """A ticket a person just created (``ticket`` shaped like ``SiteTicket``), created now."""
        self._seed_ticket(ticket)
        issue = self.issues[ticket.key]
        issue.created = issue.updated = self.now
        return issue

    def comment_as(self, key: str, email: str, body: str, *, internal: bool = False) -> StoredComment:
        """A comment a person wrote."""
        issue = self.issues[key]
        comment = StoredComment(str(next(self._ids)), body, self.account_id(email), internal, self.now)
        issue.comments.append(comment)
        issue.updated = self.now
        return comment

    def remove_from_screens(self, project: str, name: str) -> None:
        """Take the custom field ``name`` off ``project``'s screens: an edit or create setting it there is
        answered 400 as Jira does ("cannot be set. It is not on the appropriate screen, or unknown")."""
        self.off_screens.setdefault(project, set()).add(self._field_by_name(name).id)

    def throttle(self, times: int, *, status: int = 429, retry_after: str | None = "7") -> None:
        """Answer the next ``times`` requests with ``status`` (+ ``Retry-After``) instead of serving them."""
        self._throttles.extend([(status, retry_after)] * times)

    def lookups(self) -> list[tuple[str, str]]:
        """GETs received so far (names->ids lookups and reads)."""
        return [c for c in self.calls if c[0] == "GET"]

    # lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> FakeJira:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        pattern = re.compile(re.escape(self.base_url) + r"/.*")
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            self._mock.add_callback(method, pattern, callback=self._serve)
        self._mock.start()

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()
            self._mock = None

    # seeding -------------------------------------------------------------------------------------
    def _seed(self, site: Site) -> None:
        self.bot = site.bot_account
        self.users: dict[str, SiteUser] = {u.account_id: u for u in [site.bot_account, *site.users]}
        self.fields_by_id: dict[str, SiteField] = {f.id: f for f in site.fields}
        self.off_screens: dict[str, set[str]] = {}  # project -> custom field ids not on its screens
        self.option_ids: dict[tuple[str, str], str] = {
            (f.id, o): str(10100 + i * 10 + j) for i, f in enumerate(site.fields) for j, o in enumerate(f.options)}
        self.organizations: dict[str, str] = {o.id: o.name for o in site.organizations}
        #: (organization id, property key) -> JSON value: Service Management organization properties.
        self.organization_properties: dict[tuple[str, str], Any] = {
            (o.id, k): v for o in site.organizations for k, v in o.properties.items()}
        #: Set True to answer property reads 403, as Jira does for an account without permission.
        self.organization_properties_forbidden = False
        self.desk_organizations: dict[str, set[str]] = {d.id: set() for d in site.service_desks}
        for org in site.organizations:
            for desk in org.service_desks:
                self.desk_organizations.setdefault(desk, set()).add(org.id)
        self.projects = sorted(
            {d.project for d in site.service_desks} | {t.key.rsplit("-", 1)[0] for t in site.tickets}
        )
        self.issues: dict[str, StoredIssue] = {}
        self.links: list[StoredLink] = []
        for ticket in site.tickets:
            self._seed_ticket(ticket)

    def _seed_ticket(self, t: Any) -> None:
        project = t.key.rsplit("-", 1)[0]
        created = self.now - timedelta(days=1)
        issue = StoredIssue(
            id=str(10000 + len(self.issues) + 1), key=t.key, project=project, issue_type=t.issue_type,
            summary=t.summary, description=t.description, status=t.status,
            reporter=self.account_id(t.reporter) if t.reporter else None, creator=self.bot.account_id,
            assignee=self.account_id(t.assignee) if t.assignee else None,
            created=created, updated=created, labels=list(t.labels),
            organizations=[self._org_id_by_name(n) for n in t.organizations],
            request_type=self._request_type_id_by_name(project, t.request_type) if t.request_type else None,
            participants=[self.account_id(e) for e in t.participants],
            watchers=[self.account_id(e) for e in t.watchers])
        for name, value in t.fields.items():
            site_field = self._field_by_name(name)
            issue.fields[site_field.id] = self._stored_value(site_field, value)
        self.issues[t.key] = issue

    def _stored_value(self, f: SiteField, value: Any) -> Any:
        """A seeded plain value as Jira would return it."""
        if value is None:
            return None
        if f.type == "option":
            return self._option_json(f, str(value))
        if f.type == "options":
            return [self._option_json(f, str(v)) for v in value]
        if f.type == "user":
            return {"accountId": self.account_id(str(value))}
        return value

    # HTTP entry point ----------------------------------------------------------------------------
    def _serve(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        method, path = request.method.upper(), url.path
        self.calls.append((method, path))
        if self._throttles:
            status, retry_after = self._throttles.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return self._reply(status, {"errorMessages": ["Rate limit exceeded."]}, headers)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            body, has_body = self._body(request)
            if has_body:
                self.bodies.append((method, path, body))
            self._check_auth(request, has_body)
            op = self._check_spec(method, path, query, body, has_body)
            status, payload = self._dispatch(method, path, query, body)
        except JiraHTTPError as exc:
            return self._reply(exc.status, exc.body())
        if op is not None and 200 <= status < 300:
            self.response_violations += [f"{method} {path} -> {status}: {p}"
                                         for p in self.specs.response_problems(op, status, payload)]  # type: ignore[union-attr]
        return self._reply(status, payload)

    @staticmethod
    def _reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        text = "" if payload is None else json.dumps(payload)
        return status, {"Content-Type": "application/json", **(headers or {})}, text

    @staticmethod
    def _body(request: Any) -> tuple[Any, bool]:
        raw = request.body
        if raw in (None, b"", ""):
            return None, False
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        try:
            return json.loads(text), True
        except ValueError:
            raise JiraHTTPError(400, "Unexpected character: the request body is not JSON") from None

    @staticmethod
    def _check_auth(request: Any, has_body: bool) -> None:
        if not request.headers.get("Authorization", "").startswith("Basic "):
            raise JiraHTTPError(401, "Client must be authenticated to access this resource.")
        if has_body and "application/json" not in request.headers.get("Content-Type", ""):
            raise JiraHTTPError(415, "Unsupported Media Type: send application/json")

    def _check_spec(self, method: str, path: str, query: Mapping[str, Any], body: Any,
                    has_body: bool) -> Operation | None:
        """Reject (400) and record requests that Atlassian's spec does not describe."""
        if self.specs is None:
            return None
        spec_path = _v3_path(path)
        op = self.specs.find(method, spec_path)
        if op is None:
            problems = [f"no operation {method} {spec_path} in the spec"]
        else:
            body_v3, problems = v2_bodies_as_v3(op.template, body) if path.startswith("/rest/api/2/") else (body, [])
            problems += self.specs.request_problems(op, query, body_v3, has_body)
        if problems:
            self.violations += [f"{method} {path}: {p}" for p in problems]
            raise JiraHTTPError(400, *[f"Request does not match Atlassian's spec: {p}" for p in problems])
        return op

    def _dispatch(self, method: str, path: str, query: Mapping[str, Any], body: Any) -> tuple[int, Any]:
        for route_method, rx, handler in self._routes:
            match = rx.fullmatch(path)
            if route_method == method and match:
                return handler(query=query, body=body, **match.groupdict())
        self.unserved.append(f"{method} {path}")
        raise JiraHTTPError(404, f"The fake does not serve {method} {path}")

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        api, sd, key = "/rest/api/2", "/rest/servicedeskapi", r"(?P<key>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", f"{api}/field", self._get_fields),
            ("GET", f"{api}/user/search", self._search_users),
            ("GET", f"{api}/issueLinkType", self._get_link_types),
            ("POST", f"{api}/issueLink", self._post_link),
            ("GET", f"{api}/search/jql", self._search_jql),
            ("POST", f"{api}/issue", self._create_issue),
            ("GET", f"{api}/project/(?P<project>[^/]+)", self._get_project),
            ("GET", f"{api}/project/(?P<project>[^/]+)/statuses", self._get_project_statuses),
            ("POST", f"{api}/workflows", self._read_workflows),
            ("GET", f"{api}/issue/createmeta/(?P<project>[^/]+)/issuetypes", self._createmeta_types),
            ("GET", f"{api}/issue/createmeta/(?P<project>[^/]+)/issuetypes/(?P<type_id>[^/]+)",
             self._createmeta_fields),
            ("GET", f"{api}/issue/{key}", self._get_issue),
            ("PUT", f"{api}/issue/{key}", self._edit_issue),
            ("GET", f"{api}/issue/{key}/editmeta", self._editmeta),
            ("GET", f"{api}/issue/{key}/watchers", self._get_watchers),
            ("POST", f"{api}/issue/{key}/watchers", self._post_watcher),
            ("GET", f"{api}/issue/{key}/comment", self._get_comments),
            ("POST", f"{api}/issue/{key}/comment", self._post_comment),
            ("GET", f"{api}/issue/{key}/transitions", self._get_transitions),
            ("POST", f"{api}/issue/{key}/transitions", self._post_transition),
            ("GET", f"{sd}/servicedesk", self._get_desks),
            ("GET", f"{sd}/servicedesk/(?P<desk>[^/]+)/requesttype", self._get_request_types),
            ("GET", f"{sd}/servicedesk/(?P<desk>[^/]+)/organization", self._get_desk_orgs),
            ("POST", f"{sd}/servicedesk/(?P<desk>[^/]+)/organization", self._post_desk_org),
            ("GET", f"{sd}/organization", self._get_orgs),
            ("POST", f"{sd}/organization", self._post_org),
            ("GET", f"{sd}/organization/(?P<org>[^/]+)/property/(?P<prop>[^/]+)", self._get_org_property),
            ("GET", f"{sd}/request/{key}/participant", self._get_participants),
            ("POST", f"{sd}/request/{key}/participant", self._post_participants),
            ("DELETE", f"{sd}/request/{key}/participant", self._delete_participants),
            ("POST", f"{sd}/request/{key}/comment", self._post_sd_comment),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # platform: fields, users, link types ----------------------------------------------------------
    def _get_fields(self, **_: Any) -> tuple[int, Any]:
        return 200, self.field_json()

    def field_json(self) -> list[dict[str, Any]]:
        """``GET /field`` as Jira answers it: system fields, then the site's custom fields."""
        out = [{"id": fid, "key": fid, "name": name, "custom": False, "orderable": True, "navigable": True,
                "searchable": True, "clauseNames": [fid], "schema": schema} for fid, name, schema in _SYSTEM_FIELDS]
        for f in self.site.fields:
            custom_id = int(f.id.rsplit("_", 1)[-1])
            out.append({"id": f.id, "key": f.id, "name": f.name, "custom": True, "orderable": True,
                        "navigable": True, "searchable": True, "clauseNames": [f"cf[{custom_id}]", f.name],
                        "schema": {**_SD_CUSTOM[f.type], "customId": custom_id}})
        return out

    def _search_users(self, *, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        wanted = str(query.get("query", "")).strip().lower()
        if not wanted:
            raise JiraHTTPError(400, "The query parameter 'query' is required.")
        hits = [u for u in self.users.values()
                if u.email.lower().startswith(wanted) or u.display_name.lower().startswith(wanted)]
        return 200, [self._user_json(u.account_id) for u in hits]

    def _get_link_types(self, **_: Any) -> tuple[int, Any]:
        return 200, {"issueLinkTypes": [self._link_type_json(t.id) for t in self.site.link_types]}

    def _post_link(self, *, body: Any, **_: Any) -> tuple[int, Any]:
        wanted = body.get("type") or {}
        link_type = next((t for t in self.site.link_types if t.id == wanted.get("id") or t.name == wanted.get("name")),
                         None)
        if link_type is None:
            raise JiraHTTPError(404, f"No issue link type with name '{wanted.get('name') or wanted.get('id')}' found.")
        inward = self._issue_ref(body.get("inwardIssue") or {})
        outward = self._issue_ref(body.get("outwardIssue") or {})
        link = StoredLink(str(next(self._ids)), link_type.id, inward.key, outward.key)
        self.links.append(link)
        for issue in {inward.key: inward, outward.key: outward}.values():
            issue.links.append(link)
            issue.updated = self.now
        return 201, None

    # platform: issues ------------------------------------------------------------------------------
    def _get_issue(self, *, key: str, **_: Any) -> tuple[int, Any]:
        return 200, self._issue_json(self._issue(key))

    def _create_issue(self, *, body: Any, **_: Any) -> tuple[int, Any]:
        fields = dict(body.get("fields") or {})
        project = self._project_ref(fields.pop("project", None))
        issue_type = self._issue_type_ref(fields.pop("issuetype", None))
        if not fields.get("summary"):
            raise JiraHTTPError(400, errors={"summary": "You must specify a summary of the issue."})
        number = 1 + max((int(k.rsplit("-", 1)[1]) for k in self.issues if k.startswith(project + "-")), default=0)
        key = f"{project}-{number}"
        issue = StoredIssue(id=str(next(self._ids)), key=key, project=project, issue_type=issue_type, summary="",
                            description="", status=self.site.statuses[0], reporter=self.bot.account_id,
                            creator=self.bot.account_id, created=self.now, updated=self.now)
        self._apply_fields(issue, fields)  # validates all before anything is stored
        self.issues[key] = issue
        return 201, {"id": issue.id, "key": key, "self": f"{self.base_url}/rest/api/2/issue/{issue.id}"}

    def _edit_issue(self, *, key: str, body: Any, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        update = dict(body.get("update") or {})
        if set(update) - {"labels"}:
            raise JiraHTTPError(400, "The fake supports 'update' operations on labels only.")
        labels = self._label_updates(issue, update.get("labels") or [])
        self._apply_fields(issue, dict(body.get("fields") or {}))
        if labels is not None:
            issue.labels = labels
        issue.updated = self.now
        return 204, None

    @staticmethod
    def _label_updates(issue: StoredIssue, verbs: list[Any]) -> list[str] | None:
        """The labels after the update verbs (``add``, ``remove``, ``set``), in order, as Jira applies them;
        a label with a space is refused (400) as Jira refuses it. None: no verbs."""
        if not verbs:
            return None
        labels = list(issue.labels)
        for verb in verbs:
            ((op, value),) = dict(verb).items()
            values = value if op == "set" else [value]
            if not all(isinstance(v, str) and v and " " not in v and len(v) <= 255 for v in values):
                raise JiraHTTPError(400, errors={"labels": f"The label '{value}' contains spaces which is invalid."})
            if op == "add" and value not in labels:
                labels.append(value)
            elif op == "remove":
                labels = [label for label in labels if label != value]
            elif op == "set":
                labels = list(dict.fromkeys(values))
        return labels

    def _editmeta(self, *, key: str, **_: Any) -> tuple[int, Any]:
        self._issue(key)
        fields = {fid: self._field_meta(fid) for fid in [*_EDITABLE_SYSTEM, *self.fields_by_id]}
        return 200, {"fields": fields}

    def _createmeta_types(self, *, project: str, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        self._project_ref({"key": project})
        types = [self._issue_type_json(name) for name in self.site.issue_types]
        return 200, self._platform_page(types, query, "issueTypes")

    def _createmeta_fields(self, *, project: str, type_id: str, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        self._project_ref({"key": project})
        self._issue_type_ref({"id": type_id})
        metas = [{**self._field_meta(fid), "fieldId": fid}
                 for fid in ["summary", "description", "labels", "reporter", *self.fields_by_id]]
        return 200, self._platform_page(metas, query, "fields")

    # platform: projects and their workflow (one workflow, the site's, for every project) -----------
    def _get_project(self, *, project: str, **_: Any) -> tuple[int, Any]:
        key = self._known_project(project)
        return 200, {"self": f"{self.base_url}/rest/api/2/project/{self._project_id(key)}",
                     "id": self._project_id(key), "key": key, "name": key, "simplified": False,
                     "projectTypeKey": "service_desk" if self._desk_of(key) else "software"}

    def _get_project_statuses(self, *, project: str, **_: Any) -> tuple[int, Any]:
        self._known_project(project)  # 404 for a project the site does not have
        statuses = [self._status_json(name) for name in self.site.statuses]
        return 200, [{"self": f"{self.base_url}/rest/api/2/issuetype/{self._issue_type_id(name)}",
                      "id": self._issue_type_id(name), "name": name, "subtask": False, "statuses": statuses}
                     for name in self.site.issue_types]

    def _read_workflows(self, *, body: Any, **_: Any) -> tuple[int, Any]:
        """Bulk get workflows by project and issue type: the site's transitions as one workflow."""
        pairs = (body or {}).get("projectAndIssueTypes") or []
        project_ids = {self._project_id(p) for p in self.projects}
        type_ids = {self._issue_type_id(n) for n in self.site.issue_types}
        for pair in pairs:
            if pair.get("projectId") not in project_ids or pair.get("issueTypeId") not in type_ids:
                raise JiraHTTPError(400, f"Project {pair.get('projectId')!r} has no issue type "
                                         f"{pair.get('issueTypeId')!r}.")
        if not pairs:
            return 200, {"statuses": [], "workflows": []}
        ref = {name: str(i + 1) for i, name in enumerate(self.site.statuses)}
        transitions = [{"id": "1", "name": "Create", "description": "", "type": "INITIAL", "links": [],
                        "toStatusReference": ref[self.site.statuses[0]]}] if self.site.statuses else []
        transitions += [{"id": t.id, "name": t.name, "description": "", "type": "DIRECTED" if t.from_ else "GLOBAL",
                         "toStatusReference": ref.get(t.to, "0"),
                         "links": [{"fromStatusReference": ref.get(f, "0")} for f in t.from_]}
                        for t in self.site.transitions]
        category = {"new": "TODO", "indeterminate": "IN_PROGRESS", "done": "DONE"}
        statuses = [{"id": sid, "name": name, "description": "", "statusReference": sid,
                     "scope": {"type": "GLOBAL"},
                     "statusCategory": category[self._status_json(name)["statusCategory"]["key"]]}
                    for name, sid in ref.items()]
        workflow = {"id": "fake-workflow-1", "name": "Fake site workflow", "description": "", "isEditable": False,
                    "scope": {"type": "GLOBAL"}, "statuses": [{"statusReference": sid} for sid in ref.values()],
                    "transitions": transitions}
        return 200, {"statuses": statuses, "workflows": [workflow]}

    def _known_project(self, project: str) -> str:
        key = next((p for p in self.projects if project in (p, self._project_id(p))), None)
        if key is None:
            raise JiraHTTPError(404, f"No project could be found with key '{project}'.")
        return key

    def _search_jql(self, *, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        projects, since, label = _parse_jql(str(query.get("jql", "")))
        hits = sorted((i for i in self.issues.values() if i.project in projects and _minute(i.updated) >= since
                       and (label is None or label in i.labels)), key=lambda i: i.updated)
        start = int(query.get("nextPageToken") or 0)
        size = min(int(query.get("maxResults") or self.page_size), self.page_size)
        page = hits[start:start + size]
        out: dict[str, Any] = {"issues": [self._issue_json(i) for i in page], "isLast": start + size >= len(hits)}
        if not out["isLast"]:
            out["nextPageToken"] = str(start + size)
        return 200, out

    # platform: watchers, comments, transitions ------------------------------------------------------
    def _get_watchers(self, *, key: str, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        return 200, {"self": f"{self.base_url}/rest/api/2/issue/{key}/watchers", "isWatching":
                     self.bot.account_id in issue.watchers, "watchCount": len(issue.watchers),
                     "watchers": [self._user_json(a) for a in issue.watchers]}

    def _post_watcher(self, *, key: str, body: Any, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        if not isinstance(body, str) or body not in self.users:
            raise JiraHTTPError(404, f"The user with account ID '{body}' does not exist.")
        if body not in issue.watchers:
            issue.watchers.append(body)
        return 204, None

    def _get_comments(self, *, key: str, **_: Any) -> tuple[int, Any]:
        comments = [self._comment_json(key, c) for c in self._issue(key).comments]
        return 200, {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0}

    def _post_comment(self, *, key: str, body: Any, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise JiraHTTPError(400, errors={"comment": "Comment body can not be empty!"})
        internal = any(p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal") is True
                       for p in body.get("properties") or [])
        return 201, self._comment_json(key, self._add_comment(issue, text, internal))

    def _post_sd_comment(self, *, key: str, body: Any, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key, jsm=True)
        comment = self._add_comment(issue, str(body.get("body", "")), internal=not body.get("public", True))
        return 201, {
            "id": comment.id,
            "body": comment.body,
            "public": not comment.internal,
            "author": self._user_json(comment.author, jsm=True),
            "created": {"iso8601": _ts(comment.created), "epochMillis": int(comment.created.timestamp() * 1000)},
            "_links": {"self": f"{self.base_url}/rest/servicedeskapi/request/{key}/comment/{comment.id}"},
        }

    def _add_comment(self, issue: StoredIssue, text: str, internal: bool) -> StoredComment:
        comment = StoredComment(str(next(self._ids)), text, self.bot.account_id, internal, self.now)
        issue.comments.append(comment)
        issue.updated = self.now
        return comment

    def _get_transitions(self, *, key: str, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        return 200, {"transitions": [self._transition_json(t) for t in self._available(issue)]}

    def _post_transition(self, *, key: str, body: Any, **_: Any) -> tuple[int, Any]:
        issue = self._issue(key)
        wanted = str((body.get("transition") or {}).get("id"))
        chosen = next((t for t in self._available(issue) if t.id == wanted), None)
        if chosen is None:
            raise JiraHTTPError(400, f"Transition id '{wanted}' is not valid for this issue.")
        resolution = ((body.get("fields") or {}).get("resolution") or {}).get("name")
        if resolution is not None and resolution not in self.site.resolutions:
            raise JiraHTTPError(400, errors={"resolution": f"Resolution '{resolution}' is not valid."})
        if resolution:
            issue.resolution = resolution
        issue.status = chosen.to
        issue.updated = self.now
        return 204, None

    def _available(self, issue: StoredIssue) -> list[Any]:
        return [t for t in self.site.transitions if not t.from_ or issue.status in t.from_]

    # service management ------------------------------------------------------------------------------
    def _get_desks(self, *, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        desks = [{"id": d.id, "projectId": self._project_id(d.project), "projectKey": d.project,
                  "projectName": f"{d.project} service desk",
                  "_links": {"self": f"{self.base_url}/rest/servicedeskapi/servicedesk/{d.id}"}}
                 for d in self.site.service_desks]
        return 200, self._sd_page(desks, query, "servicedesk")

    def _get_request_types(self, *, desk: str, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        found = self._desk(desk)
        types = [self._request_type_json(found.id, rt_id, name) for rt_id, name in found.request_types.items()]
        return 200, self._sd_page(types, query, f"servicedesk/{desk}/requesttype")

    def _get_orgs(self, *, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        return 200, self._sd_page([self._org_json(o) for o in self.organizations], query, "organization")

    def _post_org(self, *, body: Any, **_: Any) -> tuple[int, Any]:
        name = str(body.get("name", "")).strip()
        if not 1 <= len(name) <= 200:
            raise JiraHTTPError(400, "The organization name must contain 1-200 characters.", jsm=True)
        if any(n.casefold() == name.casefold() for n in self.organizations.values()):
            raise JiraHTTPError(400, f"An organization with name '{name}' already exists.", jsm=True)
        org_id = str(max((int(o) for o in self.organizations), default=0) + 1)
        self.organizations[org_id] = name
        return 201, self._org_json(org_id)

    def set_organization_property(self, name: str, key: str, value: Any) -> None:
        """As an admin would (``PUT …/organization/{id}/property/{key}``): ``value`` on the organization ``name``."""
        self.organization_properties[(self._org_id_by_name(name), key)] = value

    def _get_org_property(self, *, org: str, prop: str, **_: Any) -> tuple[int, Any]:
        if self.organization_properties_forbidden:
            raise JiraHTTPError(403, "You do not have permission to view the properties of this organization.",
                                jsm=True)
        if org not in self.organizations:
            raise JiraHTTPError(404, f"Organization with id {org} does not exist.", jsm=True)
        if (org, prop) not in self.organization_properties:
            raise JiraHTTPError(404, f"The property '{prop}' was not found on organization {org}.", jsm=True)
        return 200, {"key": prop, "value": self.organization_properties[(org, prop)]}

    def _get_desk_orgs(self, *, desk: str, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        self._desk(desk)
        orgs = [self._org_json(o) for o in sorted(self.desk_organizations[desk], key=int)]
        return 200, self._sd_page(orgs, query, f"servicedesk/{desk}/organization")

    def _post_desk_org(self, *, desk: str, body: Any, **_: Any) -> tuple[int, Any]:
        self._desk(desk)
        org_id = str(body.get("organizationId"))
        if org_id not in self.organizations:
            raise JiraHTTPError(404, f"Organization with id {org_id} does not exist.", jsm=True)
        self.desk_organizations[desk].add(org_id)
        return 204, None

    def _get_participants(self, *, key: str, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        issue = self._issue(key, jsm=True)
        users = [self._user_json(a, jsm=True) for a in issue.participants]
        return 200, self._sd_page(users, query, f"request/{key}/participant")

    def _post_participants(self, *, key: str, body: Any, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        issue = self._issue(key, jsm=True)
        for account_id in body.get("accountIds") or []:
            if account_id not in self.users:
                raise JiraHTTPError(400, f"The user with account ID '{account_id}' does not exist.", jsm=True)
            if account_id not in issue.participants:
                issue.participants.append(account_id)
        return self._get_participants(key=key, query=query)

    def _delete_participants(self, *, key: str, body: Any, query: Mapping[str, Any], **_: Any) -> tuple[int, Any]:
        issue = self._issue(key, jsm=True)
        gone = set(body.get("accountIds") or [])
        issue.participants = [a for a in issue.participants if a not in gone]
        issue.updated = self.now
        return self._get_participants(key=key, query=query)

    # field writes (all validated before any is stored, as Jira does) ------------------------------------
    def _apply_fields(self, issue: StoredIssue, fields: Mapping[str, Any]) -> None:
        errors: dict[str, str] = {}
        setters: list[Callable[[], None]] = []
        for fid, value in fields.items():
            try:
                setters.append(self._setter(issue, fid, value))
            except ValueError as exc:
                errors[fid] = str(exc)
        if errors:
            raise JiraHTTPError(400, errors=errors)
        for set_value in setters:
            set_value()

    def _setter(self, issue: StoredIssue, fid: str, value: Any) -> Callable[[], None]:
        """Validate one field value and return how to store it (raises ValueError with Jira's words)."""
        if fid in ("summary", "description"):
            text = _expect(value, str, "Operation value must be a string", allow_none=fid == "description")
            return lambda: setattr(issue, fid, text or "")
        if fid == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) and " " not in v for v in value):
                raise ValueError("Labels must be a list of strings without spaces")
            return lambda: setattr(issue, "labels", list(value))
        if fid == "reporter":
            account = self._account_ref(value)
            return lambda: setattr(issue, "reporter", account)
        site_field = self.fields_by_id.get(fid)
        if site_field is None or fid in self.off_screens.get(issue.project, ()):
            raise ValueError(f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown.")
        return self._custom_setter(issue, site_field, value)

    def _custom_setter(self, issue: StoredIssue, f: SiteField, value: Any) -> Callable[[], None]:
        if f.type == "sd-organizations":
            orgs = self._org_refs(issue.project, value)
            return lambda: setattr(issue, "organizations", orgs)
        if f.type == "sd-request-type":
            rt = self._request_type_ref(issue.project, value)
            return lambda: setattr(issue, "request_type", rt)
        if f.type == "sd-participants":
            if not isinstance(value, list):
                raise ValueError("Request participants must be a list of users")
            people = [self._account_ref(v) for v in value]
            return lambda: setattr(issue, "participants", people)
        stored = self._custom_value(f, value)
        return lambda: issue.fields.__setitem__(f.id, stored)

    def _custom_value(self, f: SiteField, value: Any) -> Any:
        if value is None:
            return None
        if f.type == "option":
            return self._option_ref(f, value)
        if f.type == "options":
            if not isinstance(value, list):
                raise ValueError("Operation value must be an array of options")
            return [self._option_ref(f, v) for v in value]
        if f.type == "user":
            return {"accountId": self._account_ref(value)}
        if f.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("Operation value must be a number")
            return value
        return _expect(value, str, "Operation value must be a string")

    def _option_ref(self, f: SiteField, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not ({"value", "id"} & value.keys()):
            raise ValueError(f"Specify a valid 'id' or 'name' for {f.name}")
        for option in f.options:
            if value.get("value") == option or value.get("id") == self.option_ids[(f.id, option)]:
                return self._option_json(f, option)
        shown = value.get("value", value.get("id"))
        raise ValueError(f"Option value '{shown}' is not valid")

    def _account_ref(self, value: Any) -> str:
        account_id = (value or {}).get("accountId") or (value or {}).get("id") if isinstance(value, dict) else None
        if account_id not in self.users:
            raise ValueError("Specified user does not exist or you do not have required permissions")
        return str(account_id)

    def _org_refs(self, project: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError("Organizations must be a list of organization ids (numbers)")
        desk = self._desk_of(project)
        for org in map(str, value):
            if org not in self.organizations:
                raise ValueError(f"Organization with id {org} does not exist")
            if desk is None or org not in self.desk_organizations[desk.id]:
                raise ValueError(
                    f"The organization '{self.organizations[org]}' is not associated with project {project}"
                )
        return [str(v) for v in value]

    def _request_type_ref(self, project: str, value: Any) -> str:
        desk = self._desk_of(project)
        if not isinstance(value, str) or desk is None or value not in desk.request_types:
            raise ValueError(f"Request type '{value}' does not exist in the service desk of {project}")
        return value

    # lookups ---------------------------------------------------------------------------------------------
    def _issue(self, key: str, *, jsm: bool = False) -> StoredIssue:
        found = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
        if found is None:
            raise JiraHTTPError(404, "Issue does not exist or you do not have permission to see it.", jsm=jsm)
        return found

    def _issue_ref(self, ref: Mapping[str, Any]) -> StoredIssue:
        return self._issue(str(ref.get("key") or ref.get("id")))

    def _project_ref(self, ref: Any) -> str:
        key = (ref or {}).get("key") or next((p for p in self.projects if self._project_id(p) == (ref or {}).get("id")),
                                             None) if isinstance(ref, dict) else None
        if key not in self.projects:
            raise JiraHTTPError(400, errors={"project": "valid project is required"})
        return str(key)

    def _issue_type_ref(self, ref: Any) -> str:
        ref = ref if isinstance(ref, dict) else {}
        for name in self.site.issue_types:
            if ref.get("name") == name or ref.get("id") == self._issue_type_id(name):
                return name
        raise JiraHTTPError(400, errors={"issuetype": "Specify a valid issue type"})

    def _issue_type_id(self, name: str) -> str:
        return str(10000 + self.site.issue_types.index(name))

    def _project_id(self, project: str) -> str:
        return str(10000 + self.projects.index(project)) if project in self.projects else "0"

    def _desk(self, desk_id: str) -> Any:
        found = next((d for d in self.site.service_desks if d.id == desk_id), None)
        if found is None:
            raise JiraHTTPError(404, f"Service desk {desk_id} does not exist.", jsm=True)
        return found

    def _desk_of(self, project: str) -> Any:
        return next((d for d in self.site.service_desks if d.project == project), None)

    def _field_by_name(self, name: str) -> SiteField:
        found = next((f for f in self.site.fields if f.name.casefold() == name.casefold()), None)
        if found is None:
            raise KeyError(f"the site has no field {name!r}")
        return found

    def _org_id_by_name(self, name: str) -> str:
        return next(o for o, n in self.organizations.items() if n == name)

    def _request_type_id_by_name(self, project: str, name: str) -> str:
        desk = self._desk_of(project)
        return next(rt for rt, n in desk.request_types.items() if n == name)

    def _request_type_names(self) -> dict[str, str]:
        return {rt: n for d in self.site.service_desks for rt, n in d.request_types.items()}

    # JSON shapes ------------------------------------------------------------------------------------------
    def _user_json(self, account_id: str, *, jsm: bool = False) -> dict[str, Any]:
        user = self.users[account_id]
        out: dict[str, Any] = {"accountId": user.account_id, "displayName": user.display_name, "active": True,
                               "timeZone": "UTC"}
        if not self.hide_emails:
            out["emailAddress"] = user.email
        if jsm:
            out["_links"] = {"self": f"{self.base_url}/rest/api/2/user?accountId={account_id}"}
            return out
        out["self"] = f"{self.base_url}/rest/api/2/user?accountId={account_id}"
        out["accountType"] = "customer" if account_id.startswith("qm:") else "atlassian"
        return out

    def _status_json(self, name: str) -> dict[str, Any]:
        lowered = name.casefold()
        key, colour, cat_id = (("done", "green", 3) if lowered in _DONE else
                               ("new", "blue-gray", 2) if lowered in _NEW else ("indeterminate", "yellow", 4))
        status_id = str(self.site.statuses.index(name) + 1) if name in self.site.statuses else "0"
        return {"self": f"{self.base_url}/rest/api/2/status/{status_id}", "id": status_id, "name": name,
                "statusCategory": {"self": f"{self.base_url}/rest/api/2/statuscategory/{cat_id}", "id": cat_id,
                                   "key": key, "colorName": colour, "name": key.title()}}

    def _issue_type_json(self, name: str) -> dict[str, Any]:
        type_id = self._issue_type_id(name)
        return {"self": f"{self.base_url}/rest/api/2/issuetype/{type_id}", "id": type_id, "name": name,
                "description": "", "subtask": False}

    def _option_json(self, f: SiteField, option: str) -> dict[str, Any]:
        option_id = self.option_ids[(f.id, option)]
        return {"self": f"{self.base_url}/rest/api/2/customFieldOption/{option_id}", "value": option, "id": option_id}

    def _link_type_json(self, type_id: str) -> dict[str, Any]:
        t = next(t for t in self.site.link_types if t.id == type_id)
        return {"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward,
                "self": f"{self.base_url}/rest/api/2/issueLinkType/{t.id}"}

    def _org_json(self, org_id: str) -> dict[str, Any]:
        return {"id": org_id, "name": self.organizations[org_id],
                "_links": {"self": f"{self.base_url}/rest/servicedeskapi/organization/{org_id}"}}

    def _request_type_json(self, desk_id: str, rt_id: str, name: str) -> dict[str, Any]:
        return {"id": rt_id, "name": name, "description": "", "helpText": "", "issueTypeId": "10000",
                "serviceDeskId": desk_id, "groupIds": [],
                "_links": {"self": f"{self.base_url}/rest/servicedeskapi/servicedesk/{desk_id}/requesttype/{rt_id}"}}

    def _comment_json(self, key: str, c: StoredComment) -> dict[str, Any]:
        author = self._user_json(c.author)
        return {"self": f"{self.base_url}/rest/api/2/issue/{key}/comment/{c.id}", "id": c.id, "author": author,
                "body": c.body, "updateAuthor": author, "created": _ts(c.created), "updated": _ts(c.created),
                "jsdPublic": not c.internal}

    def _transition_json(self, t: Any) -> dict[str, Any]:
        return {"id": t.id, "name": t.name, "to": self._status_json(t.to), "hasScreen": False, "isGlobal": not t.from_,
                "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}

    def _field_meta(self, fid: str) -> dict[str, Any]:
        f = self.fields_by_id.get(fid)
        if f is None:
            name, schema = next((n, s) for i, n, s in _SYSTEM_FIELDS if i == fid)
            return {"required": fid == "summary", "schema": schema, "name": name, "key": fid,
                    "operations": ["set"], "hasDefaultValue": False}
        schema = {**_SD_CUSTOM[f.type], "customId": int(f.id.rsplit("_", 1)[-1])}
        meta = {"required": False, "schema": schema, "name": f.name, "key": f.id, "operations": ["set"],
                "hasDefaultValue": False}
        if f.type in ("option", "options"):
            meta["allowedValues"] = [self._option_json(f, o) for o in f.options]
        return meta

    def _issue_json(self, issue: StoredIssue) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": issue.description or None,
            "status": self._status_json(issue.status),
            "resolution": {"name": issue.resolution} if issue.resolution else None,
            "issuetype": self._issue_type_json(issue.issue_type) if issue.issue_type in self.site.issue_types
            else {"name": issue.issue_type},
            "project": {"self": f"{self.base_url}/rest/api/2/project/{issue.project}",
                        "id": self._project_id(issue.project), "key": issue.project, "name": issue.project},
            "reporter": self._user_json(issue.reporter) if issue.reporter else None,
            "creator": self._user_json(issue.creator),
            "assignee": self._user_json(issue.assignee) if issue.assignee else None,
            "labels": list(issue.labels),
            "issuelinks": [self._issue_link_json(issue, link) for link in issue.links],
            "comment": {"comments": [self._comment_json(issue.key, c) for c in issue.comments],
                        "maxResults": len(issue.comments), "total": len(issue.comments), "startAt": 0},
            "watches": {"self": f"{self.base_url}/rest/api/2/issue/{issue.key}/watchers",
                        "watchCount": len(issue.watchers), "isWatching": self.bot.account_id in issue.watchers},
            "created": _ts(issue.created),
            "updated": _ts(issue.updated),
        }
        for f in self.site.fields:
            fields[f.id] = self._custom_json(issue, f)
        return {"expand": "renderedFields,names,schema,operations,editmeta,changelog", "id": issue.id,
                "self": f"{self.base_url}/rest/api/2/issue/{issue.id}", "key": issue.key, "fields": fields}

    def _custom_json(self, issue: StoredIssue, f: SiteField) -> Any:
        if f.type == "sd-organizations":
            return [{"id": int(o), "name": self.organizations[o],
                     "_links": {"self": f"{self.base_url}/rest/servicedeskapi/organization/{o}"}}
                    for o in issue.organizations] or None
        if f.type == "sd-request-type":
            if issue.request_type is None:
                return None
            desk = self._desk_of(issue.project)
            return {"requestType": self._request_type_json(desk.id, issue.request_type,
                                                           desk.request_types[issue.request_type]),
                    "currentStatus": {"status": issue.status}}
        if f.type == "sd-participants":
            return [self._user_json(a) for a in issue.participants] or None
        value = issue.fields.get(f.id)
        if f.type == "user" and value:
            return self._user_json(value["accountId"])
        return value

    def _issue_link_json(self, issue: StoredIssue, link: StoredLink) -> dict[str, Any]:
        out: dict[str, Any] = {"id": link.id, "type": self._link_type_json(link.type_id),
                               "self": f"{self.base_url}/rest/api/2/issueLink/{link.id}"}
        if link.inward == issue.key:
            other, side = self.issues[link.outward], "outwardIssue"
        else:
            other, side = self.issues[link.inward], "inwardIssue"
        out[side] = {"id": other.id, "key": other.key, "self": f"{self.base_url}/rest/api/2/issue/{other.id}",
                     "fields": {"summary": other.summary, "status": self._status_json(other.status)}}
        return out

    def _platform_page(self, items: list[Any], query: Mapping[str, Any], key: str) -> dict[str, Any]:
        start = int(query.get("startAt") or 0)
        size = min(int(query.get("maxResults") or self.page_size), self.page_size)
        return {key: items[start:start + size], "maxResults": size, "startAt": start, "total": len(items)}

    def _sd_page(self, items: list[Any], query: Mapping[str, Any], path: str) -> dict[str, Any]:
        start = int(query.get("start") or 0)
        limit = min(int(query.get("limit") or self.page_size), self.page_size)
        values = items[start:start + limit]
        base = f"{self.base_url}/rest/servicedeskapi"
        links = {"base": base, "context": "", "self": f"{base}/{path}?start={start}&limit={limit}"}
        last = start + limit >= len(items)
        if not last:
            links["next"] = f"{base}/{path}?start={start + limit}&limit={limit}"
        return {"_expands": [], "size": len(values), "start": start, "limit": limit, "isLastPage": last,
                "values": values, "_links": links}


# small helpers ----------------------------------------------------------------------------------------
def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000%z")


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _expect(value: Any, kind: type, message: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if not isinstance(value, kind):
        raise ValueError(message)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return value.get("value", value.get("accountId", value))
    return value


_JQL = re.compile(
    r'project\s+(?:in\s*\((?P<many>[^)]*)\)|=\s*"?(?P<one>[A-Z][A-Z0-9_]*)"?)'
    r'(?:\s+AND\s+updated\s*>=\s*"(?P<since>\d{4}/\d{2}/\d{2} \d{2}:\d{2})")?'
    r'(?:\s+AND\s+labels\s*=\s*"(?P<label>[^"]+)")?'
    r"(?:\s+ORDER\s+BY\s+updated\s+ASC)?\s*", re.IGNORECASE)


def _parse_jql(jql: str) -> tuple[set[str], datetime, str | None]:
    """The JQL shapes the adapter sends (the poll; the search for a created ticket's marker label);
    anything else is a 400 (the fake is not a JQL engine)."""
    match = _JQL.fullmatch(jql.strip())
    if match is None:
        raise JiraHTTPError(400, "The fake understands only 'project in (...) AND updated >= \"...\"' and "
                                 f"'project = \"X\" AND labels = \"...\"': {jql!r}")
    names = match["many"].split(",") if match["many"] is not None else [match["one"]]
    since = datetime.strptime(match["since"], "%Y/%m/%d %H:%M").replace(tzinfo=UTC) if match["since"] else \
        datetime.min.replace(tzinfo=UTC)
    return {n.strip().strip('"') for n in names}, since, match["label"]


def site_with_tickets(site: Site, tickets: Iterable[Mapping[str, Any]]) -> Site:
    """A copy of ``site`` with ``tickets`` added (dicts shaped like ``SiteTicket``)."""
    data = site.model_dump(by_alias=True)
    data["tickets"] = [*data.get("tickets", []), *tickets]
    return Site.model_validate(data)
