"""The Jira Cloud (+ Service Management) adapter: the Tracker port on the ``jira`` library.

It translates names into ids and effects into REST calls, nothing more: no rule logic.
Every names->ids lookup (fields, options, users, link types, service desks, request
types, organizations) is resolved once and cached for the life of the adapter; the
available transitions are read each time because they depend on the current status.

HTTP: the ``jira`` library's public API where it has one (``issue``, ``fields``, ``add_comment`` as an
internal comment, ``transitions``), and a plainly owned ``requests.Session`` with the same credentials
for the rest (Service Management's servicedeskapi, editmeta, workflows, watchers, links, search …).
Both carry the trackers' one retry layer (:mod:`bot.trackers.http`: ``Retry-After`` honoured through an
injected ``sleep``, every call counted so ``/metrics`` and the benchmarks report calls per operation);
the library's own retries are off. ``jira.JIRA`` (3.10) takes no session, so mounting the layer on the
library's session is the one place the adapter touches a private attribute of the library
(:func:`_library_session`); if an upgrade removes it, the library keeps its own retries and a warning says so.

Comments are posted internal (``sd.public.comment`` internal=true), with one exception: the only
public-comment code path is :meth:`JiraTracker.add_public_reply` (Service Management's
``POST /rest/servicedeskapi/request/{key}/comment`` with ``public: true``), which the executor reaches
only through a :class:`~bot.effects.PublicReply` the engine let through (the rule's config block says
``customer_replies: true``).

Every ticket key is checked against Jira's key grammar (:mod:`bot.trackers.keys`) before it is used, and
every part of a request path that comes from outside (a key, a project, an id Jira gave) is
percent-quoted: a key such as ``../../../rest/api/2/myself`` from a signed webhook would otherwise
make the bot call another resource with its credentials (requests resolves ``..`` segments).
The ``jira`` library puts ``issue(key)``'s key into the URL as it is, so it only ever gets checked keys.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from jira import JIRA, JIRAError

from bot.effects import Effect, SetField, SetOrganization, SetReporter, SetRequestType, label_problem
from bot.model import Ticket, User
from bot.settings import ConfigurationError, JiraSettings
from bot.trackers.base import NotFound, Rejected, TrackerError, Unavailable, error_for_status
from bot.trackers.base import RateLimited as BaseRateLimited
from bot.trackers.http import CountingAdapter, TrackerRetry, mount
from bot.trackers.jira.model import FieldCatalog, ticket_from_json, user_from_json
from bot.trackers.keys import InvalidKey, normalize_key
from bot.trackers.site import site_field_type

log = logging.getLogger(__name__)

_PAGE = 50
_NO_BODY = object()

#: Field kinds as far as writing a value is concerned (from the field's schema).
_SINGLE_OPTION = (":select", ":radiobuttons")
_MULTI_OPTION = (":multiselect", ":multicheckboxes")

OptionsLoader = Callable[[], dict[str, list[str]]]


class RateLimited(BaseRateLimited):
    """Jira kept answering 429/503 after the allowed number of retries, or asked for a longer wait
    than :data:`MAX_WAIT`."""


#: The longest Retry-After the adapter sleeps through; a longer one fails the call at once, and the
#: worker retries the event after that long (never sooner).
MAX_WAIT = 60.0
#: Sent on every request (as the ``jira`` library did): JSON both ways, and no XSRF check on writes.
_HEADERS = {"Accept": "application/json", "Content-Type": "application/json",
            "X-Atlassian-Token": "no-check", "Cache-Control": "no-cache"}


# the adapter -----------------------------------------------------------------------------------
class JiraTracker:
    """Tracker port for Jira Cloud and Jira Service Management (REST v2 + servicedeskapi)."""

    name = "jira"

    def __init__(
        self,
        url: str | None = None,
        email: str | None = None,
        api_token: str | None = None,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        max_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Connect to ``url`` with ``email``/``api_token`` (``token`` is an alias).

        ``session``: a ``requests.Session`` to use instead of a new one (its auth is set to the
        e-mail and token, and the retrying, counting transport is mounted on it).
        """
        secret = api_token or token
        if not (url and email and secret):
            raise ValueError("JiraTracker needs url, email and api token")
        self._server = url.rstrip("/")
        self._timeout = timeout
        retry = TrackerRetry(max(0, max_retries), vendor="Jira", sleep=sleep, max_wait=MAX_WAIT,
                             error=RateLimited, **({"now": now} if now else {}))
        adapter = CountingAdapter(retry)
        #: HTTP calls, and the 429 answers among them, by (method, path): /metrics reads their totals.
        self.calls: Counter[tuple[str, str]] = adapter.calls
        self.throttled: Counter[tuple[str, str]] = adapter.throttled
        self.session = mount(session if session is not None else requests.Session(), adapter)
        self.session.auth = (email, secret)
        self.session.headers.update(_HEADERS)
        #: The ``jira`` library, for the calls its public API has (on the same retry layer).
        self.client = JIRA(server=self._server, basic_auth=(email, secret), max_retries=0,
                           get_server_info=False, timeout=timeout)
        library = _library_session(self.client)
        if library is not None:
            mount(library, adapter)
        self.clear_caches()

    @classmethod
    def from_settings(cls, settings: JiraSettings) -> JiraTracker:
        """The adapter ``TICKETBOT_JIRA__*`` describe (a ConfigurationError names the first one missing)."""
        url, email, token = settings.url, settings.email, settings.api_token
        if not url or not email or token is None or not token.get_secret_value():
            missing = "URL" if not url else "EMAIL" if not email else "API_TOKEN"
            raise ConfigurationError(f"TICKETBOT_JIRA__{missing} is not set (needed to reach Jira)")
        return cls(url=str(url), email=email, api_token=token.get_secret_value(), max_retries=settings.max_retries)

    def __repr__(self) -> str:  # never the token
        return f"JiraTracker({self._server!r})"

    def clear_caches(self) -> None:
        """Forget every names->ids lookup (e.g. after an admin renamed things)."""
        self._catalog: FieldCatalog | None = None
        self._users: dict[str, User | None] = {}
        self._options: dict[str, list[str]] = {}
        self._link_types: dict[str, dict[str, Any]] | None = None
        self._desks: dict[str, str] | None = None
        self._request_types: dict[str, dict[str, str]] = {}
        self._organizations: dict[str, str] | None = None
        self._desk_organizations: dict[str, set[str]] = {}
        self._issue_types: dict[str, dict[str, str]] = {}

    # reads ---------------------------------------------------------------------------------------
    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        """One GET of the issue; ``with_people`` adds one GET of its watchers."""
        key = jira_key(key)  # checked against Jira's key grammar: the library puts it in the path as it is
        with self._errors(f"GET /rest/api/2/issue/{key}"):
            raw = self.client.issue(key).raw
        watchers = self._watchers(key) if with_people else None
        ticket = self._ticket(raw, watchers=watchers)
        if with_people and ticket.participants is None:
            ticket = replace(ticket, participants=())  # loaded, and nobody is there
        return ticket

    def find_user(self, email: str) -> User | None:
        """The user with this e-mail (cached, misses too); ``None`` when Jira has none."""
        wanted = email.strip().lower()
        if wanted not in self._users:
            found = self._request("GET", self._api("user/search"), params={"query": wanted})
            self._users[wanted] = _pick_user(found or [], wanted)
        return self._users[wanted]

    def search_updated(self, projects: Iterable[str], since: datetime) -> list[Ticket]:
        """Tickets of ``projects`` updated at or after ``since`` (minute precision), oldest first.

        Jira reads the JQL date in the bot account's time zone; we send UTC, so that
        account's profile should be set to UTC (or overlap is absorbed by deduplication).
        """
        projects = list(projects)
        if not projects:
            return []
        moment = since.astimezone(UTC) if since.tzinfo else since
        names = ", ".join(f'"{p}"' for p in projects)
        jql = f'project in ({names}) AND updated >= "{moment:%Y/%m/%d %H:%M}" ORDER BY updated ASC'
        return [self._ticket(issue) for issue in self._search(jql)]

    # catalogs: the names a rule config may use (read-only; ``ticketbot check``) ---------------------
    def field_names(self) -> list[str]:
        """Every field's display name, system and custom (``GET /field``, cached)."""
        return list(dict.fromkeys(self._fields().names.values()))

    def field_spec(self, field: str) -> tuple[str, str] | None:
        """The field's id and its type as a site description says it (``option``, ``options``, ``user``,
        ``number``, ``text``, or a Service Management ``sd-…`` field), from ``GET /field``."""
        fid = self._field_id(field)
        return fid, site_field_type(self._fields().schemas.get(fid) or {})

    def field_options(self, field: str, project: str) -> list[str]:
        """The options ``field`` offers when creating an issue of any type in ``project`` (createmeta)."""
        field_id = self._field_id(field)
        options: dict[str, None] = {}
        for issue_type in self.issue_types(project):
            options.update(dict.fromkeys(self._create_options(project, issue_type).get(field_id, [])))
        return list(options)

    def statuses(self, project: str) -> list[str]:
        """The statuses of ``project``'s workflows, over all its issue types (``GET /project/{key}/statuses``)."""
        per_type = self._request("GET", self._api(f"project/{_part(project)}/statuses")) or []
        names = (s.get("name", "") for t in per_type for s in t.get("statuses") or [])
        return list(dict.fromkeys(n for n in names if n))

    def transition_targets(self, project: str) -> list[str]:
        """Statuses some transition of ``project``'s workflows leads to (``POST /workflows``, a read).

        The create transition (type INITIAL) does not count: no issue can be moved back through it.
        """
        project_id = str((self._request("GET", self._api(f"project/{_part(project)}")) or {}).get("id", ""))
        pairs = [{"projectId": project_id, "issueTypeId": self._issue_type_id(project, name)}
                 for name in self.issue_types(project)]
        if not pairs:
            return []
        found = self._request("POST", self._api("workflows"), body={"projectAndIssueTypes": pairs}) or {}
        names = {s.get("statusReference") or s.get("id"): s.get("name", "") for s in found.get("statuses") or []}
        targets = (names.get(t.get("toStatusReference"), "") for w in found.get("workflows") or []
                   for t in w.get("transitions") or [] if t.get("type") != "INITIAL")
        return list(dict.fromkeys(n for n in targets if n))

    def request_types(self, project: str) -> list[str]:
        """The request types of ``project``'s service desk (NotFound when it has none)."""
        desk = self._service_desk_id(project)
        pages = self._sd_pages(f"servicedesk/{_part(desk)}/requesttype")
        self._request_types[desk] = {t["name"].casefold(): str(t["id"]) for t in pages}
        return [t["name"] for t in pages]

    def link_types(self) -> list[str]:
        if self._link_types is None:
            data = self._request("GET", self._api("issueLinkType")) or {}
            self._link_types = {t["name"].casefold(): t for t in data.get("issueLinkTypes", [])}
        return [t["name"] for t in self._link_types.values()]

    def organizations(self, project: str | None = None) -> list[str]:
        """Every Service Management organization, or only those of ``project``'s service desk."""
        path = f"servicedesk/{_part(self._service_desk_id(project))}/organization" if project else "organization"
        return [o["name"] for o in self._sd_pages(path)]

    def organization_property(self, organization: str, key: str) -> Any:
        """``GET /rest/servicedeskapi/organization/{id}/property/{key}``: the property's ``value``.

        The organization is found by name (any case, as the Organizations field is set) in the cached
        listing, read again once when the name is not in it (it may have been created since). None when
        there is no such organization, or Jira answers 404 (it has no such property). The value is read
        afresh on every call: people change it."""
        org_id = self._organization_id_if_any(organization)
        if org_id is None:
            return None
        try:
            found = self._request("GET", self._sd(f"organization/{_part(org_id)}/property/{_part(key)}"))
        except NotFound:
            return None
        return found.get("value") if isinstance(found, dict) else None

    def _organization_id_if_any(self, name: str) -> str | None:
        wanted = " ".join(name.split()).casefold()  # any case, runs of spaces as one
        for fresh in (False, True):
            if self._organizations is None or fresh:  # keyed as _organization_id keys them
                self._organizations = {o["name"].casefold(): str(o["id"]) for o in self._sd_pages("organization")}
            found = next((i for n, i in self._organizations.items() if " ".join(n.split()) == wanted), None)
            if found is not None:
                return found
        return None

    def issue_types(self, project: str) -> list[str]:
        """The issue types one can create in ``project`` (createmeta)."""
        types = self._platform_pages(f"issue/createmeta/{_part(project)}/issuetypes", "issueTypes")
        self._issue_types[project] = {t["name"].casefold(): str(t["id"]) for t in types}
        return [t["name"] for t in types]

    # writes --------------------------------------------------------------------------------------
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        """All field changes of one plan in ONE ``PUT /issue/{key}``."""
        key = jira_key(key)
        project = _project_of(key)
        options = cache(lambda: self._edit_options(key))
        fields: dict[str, Any] = {}
        for effect in changes:
            field_id, value = self._field_change(effect, project, options)
            fields[field_id] = value
        if fields:
            self._request("PUT", self._api(f"issue/{_part(key)}"), body={"fields": fields})

    def add_watcher(self, key: str, email: str) -> None:
        key = jira_key(key)
        # The body is the bare account id as a JSON string, as the API wants.
        self._request("POST", self._api(f"issue/{_part(key)}/watchers"), body=self._account_id(email))

    def remove_participant(self, key: str, email: str) -> None:
        """Make sure ``email`` is not a request participant; nothing to do for an unknown person."""
        key = jira_key(key)
        user = self.find_user(email)
        if user is None or not user.account_id:
            return
        self._request("DELETE", self._sd(f"request/{_part(key)}/participant"), body={"accountIds": [user.account_id]})

    def change_labels(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """ONE ``PUT /issue/{key}`` with the labels field's update verbs (``{"update": {"labels": [{"add": …},
        {"remove": …}]}}``): Jira adds and removes them against the labels the issue has at that moment, so a
        label a person added meanwhile stays (a ``fields`` edit would replace the whole list). A label Jira
        would refuse (a space, over 255 characters) is Rejected here, naming it, instead of Jira's 400."""
        key = jira_key(key)
        for label in (*add, *remove):
            if (problem := label_problem(label, "jira")) is not None:
                raise Rejected(f"refused to call Jira: {problem}", name=label)
        verbs = [*({"add": label} for label in dict.fromkeys(add)),
                 *({"remove": label} for label in dict.fromkeys(remove))]
        if verbs:
            self._request("PUT", self._api(f"issue/{_part(key)}"), body={"update": {"labels": verbs}})

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        """Post an internal comment; returns its id.

        The body is wiki text (the ``jira`` library posts to REST v2); mentions become ``[~accountid:…]``.
        """
        key = jira_key(key)
        if mentions:
            body = " ".join(f"[~accountid:{self._account_id(m)}]" for m in mentions) + " " + body
        with self._errors(f"POST /rest/api/2/issue/{key}/comment"):
            comment = self.client.add_comment(key, body, is_internal=True)  # sd.public.comment internal=true
        return str(comment.id)

    def add_public_reply(self, key: str, body: str) -> str:
        """Post a public reply the requester sees; returns its id. The adapter's only public-comment path.

        ``POST /rest/servicedeskapi/request/{key}/comment`` with ``{"body": …, "public": true}`` (JSM's
        CommentCreateDTO); the body is wiki text, as for internal comments. Jira answers a request that is
        no service desk request with 4xx (a :class:`Rejected`)."""
        key = jira_key(key)
        if not body.strip():
            raise Rejected("refusing to post an empty public reply")
        created = self._request("POST", self._sd(f"request/{_part(key)}/comment"), body={"body": body, "public": True})
        return str((created or {}).get("id", ""))

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        """Find the transition whose target status is ``status`` (any case) and perform it."""
        key = jira_key(key)
        with self._errors(f"GET /rest/api/2/issue/{key}/transitions"):
            available: list[dict[str, Any]] = self.client.transitions(key)
        chosen = next((t for t in available if (t.get("to") or {}).get("name", "").casefold() == status.casefold()),
                      None)
        if chosen is None:
            targets = sorted({(t.get("to") or {}).get("name", "?") for t in available})
            raise NotFound(f"{key} has no transition to {status!r} from its current status; "
                           f"available targets: {', '.join(targets) or 'none'}")
        body: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
        if resolution:
            body["fields"] = {"resolution": {"name": resolution}}
        self._request("POST", self._api(f"issue/{_part(key)}/transitions"), body=body)

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        inward_key, outward_key = jira_key(inward_key), jira_key(outward_key)
        link = self._link_type(link_type)
        body = {"type": {"id": str(link["id"])}, "inwardIssue": {"key": inward_key},
                "outwardIssue": {"key": outward_key}}
        self._request("POST", self._api("issueLink"), body=body)

    def create_ticket(self, project: str, issue_type: str, summary: str, description: str = "",
                      field_values: dict[str, Any] | None = None, marker: str = "") -> str:
        """Create an issue; ``field_values`` by display name, translated as in :meth:`update_fields`;
        ``marker`` is added to its labels."""
        options = cache(lambda: self._create_options(project, issue_type))
        self._issue_type_id(project, issue_type)  # an unknown type is NotFound (cached), not Jira's 400 after the POST
        fields: dict[str, Any] = {"project": {"key": project}, "issuetype": {"name": issue_type}, "summary": summary}
        if description:
            fields["description"] = description  # v2: wiki text, not ADF
        for name, value in (field_values or {}).items():
            field_id = self._field_id(name)
            fields[field_id] = self._field_value(field_id, value, project, options)
        if marker:
            fields["labels"] = [*fields.get("labels", []), marker]
        created = self._request("POST", self._api("issue"), body={"fields": fields})
        return str(created["key"])

    def find_marked(self, project: str, marker: str) -> str | None:
        """The issue of ``project`` labelled ``marker`` (JQL search; Jira indexes a new issue within seconds)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]+", marker):
            raise TrackerError(f"not a marker label: {marker!r}")
        found = next(self._search(f'project = "{project}" AND labels = "{marker}"'), None)
        return str(found["key"]) if found else None

    # field translation ---------------------------------------------------------------------------
    def _field_change(self, effect: Effect, project: str, options: OptionsLoader) -> tuple[str, Any]:
        catalog = self._fields()
        match effect:
            case SetField(field=name, value=value):
                field_id = self._field_id(name)
                return field_id, self._field_value(field_id, value, project, options)
            case SetReporter(email=email):
                return "reporter", {"accountId": self._account_id(email)}
            case SetOrganization(name=name):
                field_id = _require(catalog.organizations_id, "an Organizations field (Service Management)")
                return field_id, [int(self._organization_id(project, name))]
            case SetRequestType(name=name):
                field_id = _require(catalog.request_type_id, "a Request Type field (Service Management)")
                return field_id, self._request_type_id(project, name)
        raise TrackerError(f"{effect.kind} is not a field change")

    def _field_id(self, name: str) -> str:
        catalog = self._fields()
        field_id = catalog.id_for(name) or (name if name in catalog.names else None)
        if field_id is None:
            raise NotFound(f"Jira has no field named {name!r}")
        return field_id

    def _field_value(self, field_id: str, value: Any, project: str, options: OptionsLoader) -> Any:
        """The JSON Jira wants for ``value`` in this field, from the field's schema."""
        catalog = self._fields()
        if field_id == catalog.organizations_id:
            return [int(self._organization_id(project, n)) for n in _as_list(value)]
        if field_id == catalog.request_type_id:
            return self._request_type_id(project, str(value))
        if field_id == catalog.participants_id:
            return [{"accountId": self._account_id(e)} for e in _as_list(value)]
        schema = catalog.schemas.get(field_id, {})
        kind, custom, items = schema.get("type", ""), schema.get("custom", ""), schema.get("items", "")
        if custom.endswith(_MULTI_OPTION) or (kind == "array" and items == "option"):
            return [{"value": self._option(field_id, v, options)} for v in _as_list(value)]
        if custom.endswith(_SINGLE_OPTION) or kind == "option":
            return None if value is None else {"value": self._option(field_id, value, options)}
        if kind == "option-with-child":
            parent, _, child = str(value).partition(" / ")
            return {"value": parent, "child": {"value": child}} if child else {"value": parent}
        if kind == "user":
            return None if value is None else {"accountId": self._account_id(_email_of(value))}
        if kind == "array" and items == "user":
            return [{"accountId": self._account_id(_email_of(v))} for v in _as_list(value)]
        if kind == "number" and isinstance(value, str):
            return float(value)
        if kind in {"priority", "resolution", "version", "component"}:
            return {"name": value}
        return value

    def _option(self, field_id: str, wanted: Any, options: OptionsLoader) -> str:
        """The option's exact value; reloads the metadata once before saying it does not exist."""
        match = _pick_option(self._options.get(field_id), str(wanted))
        if match is None:
            self._options.update(options())  # the cache may be stale or from another context
            match = _pick_option(self._options.get(field_id), str(wanted))
        if match is not None:
            return match
        name = self._fields().name_for(field_id)
        known = self._options.get(field_id)
        if known is None:
            raise NotFound(f"field {name!r} ({field_id}) offers no options here (is it on the issue's screen?)")
        raise NotFound(f"field {name!r} has no option {wanted!r}; options are: {', '.join(known)}")

    def _edit_options(self, key: str) -> dict[str, list[str]]:
        meta = self._request("GET", self._api(f"issue/{_part(key)}/editmeta")) or {}
        return _options_from_meta((meta.get("fields") or {}).items())

    def _create_options(self, project: str, issue_type: str) -> dict[str, list[str]]:
        type_id = self._issue_type_id(project, issue_type)
        fields = self._platform_pages(f"issue/createmeta/{_part(project)}/issuetypes/{_part(type_id)}", "fields")
        return _options_from_meta((str(f.get("fieldId") or f.get("key") or ""), f) for f in fields)

    def field_catalog(self) -> FieldCatalog:
        """Every field's id, name and schema (``GET /field`` once, cached): how webhook bodies, which
        carry field ids, are read with the names the rules use."""
        return self._fields()

    # cached lookups --------------------------------------------------------------------------------
    def _fields(self) -> FieldCatalog:
        if self._catalog is None:
            with self._errors("GET /rest/api/2/field"):
                fields = self.client.fields()
            self._catalog = FieldCatalog.from_fields(fields or [])
        return self._catalog

    def _account_id(self, email: str) -> str:
        user = self.find_user(email)
        if user is None or not user.account_id:
            raise NotFound(f"Jira has no user with e-mail {email!r}")
        return user.account_id

    def _link_type(self, name: str) -> dict[str, Any]:
        if self._link_types is None:
            data = self._request("GET", self._api("issueLinkType")) or {}
            self._link_types = {t["name"].casefold(): t for t in data.get("issueLinkTypes", [])}
        found = self._link_types.get(name.casefold())
        if found is None:
            names = ", ".join(t["name"] for t in self._link_types.values())
            raise NotFound(f"Jira has no issue link type {name!r}; types are: {names}")
        return found

    def _issue_type_id(self, project: str, name: str) -> str:
        if project not in self._issue_types:
            types = self._platform_pages(f"issue/createmeta/{_part(project)}/issuetypes", "issueTypes")
            self._issue_types[project] = {t["name"].casefold(): str(t["id"]) for t in types}
        found = self._issue_types[project].get(name.casefold())
        if found is None:
            raise NotFound(f"project {project} has no issue type {name!r}")
        return found

    def _service_desk_id(self, project: str) -> str:
        if self._desks is None:
            self._desks = {d["projectKey"]: str(d["id"]) for d in self._sd_pages("servicedesk")}
        found = self._desks.get(project)
        if found is None:
            raise NotFound(f"project {project} has no service desk (organizations and request types need one)")
        return found

    def _request_type_id(self, project: str, name: str) -> str:
        desk = self._service_desk_id(project)
        if desk not in self._request_types:
            pages = self._sd_pages(f"servicedesk/{_part(desk)}/requesttype")
            self._request_types[desk] = {t["name"].casefold(): str(t["id"]) for t in pages}
        found = self._request_types[desk].get(name.casefold())
        if found is None:
            raise NotFound(f"service desk of {project} has no request type {name!r}; "
                           f"types are: {', '.join(sorted(self._request_types[desk]))}")
        return found

    def _organization_id(self, project: str, name: str) -> str:
        """The organization's id: found by name, created when missing, and on the project's desk."""
        desk = self._service_desk_id(project)
        if self._organizations is None:
            self._organizations = {o["name"].casefold(): str(o["id"]) for o in self._sd_pages("organization")}
        org_id = self._organizations.get(name.casefold())
        if org_id is None:
            created = self._request("POST", self._sd("organization"), body={"name": name})
            org_id = self._organizations[name.casefold()] = str(created["id"])
        if desk not in self._desk_organizations:
            pages = self._sd_pages(f"servicedesk/{_part(desk)}/organization")
            self._desk_organizations[desk] = {str(o["id"]) for o in pages}
        if org_id not in self._desk_organizations[desk]:
            self._request("POST", self._sd(f"servicedesk/{_part(desk)}/organization"),
                          body={"organizationId": int(org_id)})
            self._desk_organizations[desk].add(org_id)
        return org_id

    # reading helpers -------------------------------------------------------------------------------
    def _ticket(self, raw: Mapping[str, Any], *, watchers: tuple[User, ...] | None = None) -> Ticket:
        return ticket_from_json(raw, self._fields(), watchers=watchers)

    def _watchers(self, key: str) -> tuple[User, ...]:
        data = self._request("GET", self._api(f"issue/{_part(key)}/watchers")) or {}
        return tuple(u for u in (user_from_json(w) for w in data.get("watchers", [])) if u)

    def _search(self, jql: str) -> Iterator[Mapping[str, Any]]:
        """Every issue matching ``jql`` (enhanced search, paged by ``nextPageToken``)."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": "*all", "maxResults": _PAGE}
            if token:
                params["nextPageToken"] = token
            page = self._request("GET", self._api("search/jql"), params=params) or {}
            yield from page.get("issues", [])
            token = page.get("nextPageToken")
            if page.get("isLast", True) or not token:
                return

    def _platform_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        """All items of a ``startAt``/``maxResults``/``total`` paged platform resource."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._request("GET", self._api(path), params={"startAt": len(items), "maxResults": _PAGE}) or {}
            batch = page.get(key) or page.get("values") or []
            items.extend(batch)
            if not batch or len(items) >= int(page.get("total", len(items))):
                return items

    def _sd_pages(self, path: str) -> list[dict[str, Any]]:
        """All values of a Service Management ``start``/``limit``/``isLastPage`` paged resource."""
        values: list[dict[str, Any]] = []
        while True:
            page = self._request("GET", self._sd(path), params={"start": len(values), "limit": _PAGE}) or {}
            batch = page.get("values") or []
            values.extend(batch)
            if page.get("isLastPage", True) or not batch:
                return values

    # HTTP ------------------------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return f"{self._server}/rest/api/2/{path}"

    def _sd(self, path: str) -> str:
        return f"{self._server}/rest/servicedeskapi/{path}"

    def _request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                 body: Any = _NO_BODY) -> Any:
        """One call on the owned session; JSON in, JSON (or ``None``) out; a 4xx/5xx answer raises."""
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if params:
            kwargs["params"] = dict(params)
        if body is not _NO_BODY:
            kwargs["data"] = json.dumps(body)
        what = f"{method} {urlsplit(url).path}"
        with self._errors(what):
            response = self.session.request(method, url, **kwargs)
            if not response.ok:
                detail = _error_text(response) or "no details"
                cls = error_for_status(response.status_code)
                raise cls(f"Jira {what} failed (HTTP {response.status_code}): {detail}")
        if not response.content:
            return None
        try:
            with self._errors(what):
                return response.json()
        except ValueError:
            raise TrackerError(f"Jira {what} answered {response.status_code} with a body that is not JSON") from None

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn requests' errors into TrackerError / Unavailable with a clear message."""
        try:
            yield
        except TrackerError:
            raise
        except JIRAError as exc:  # the library's calls; str(exc) would dump the response headers
            status = exc.status_code or 0
            text = _error_text(exc.response) if exc.response is not None else (exc.text or "").strip()
            detail = text or "no details"
            if not status:
                raise Unavailable(f"Jira {what} failed: {detail} (Jira unreachable)") from None
            raise error_for_status(status)(f"Jira {what} failed (HTTP {status}): {detail}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable(f"Jira {what} failed: {exc.__class__.__name__} (Jira unreachable)") from None
        except requests.RequestException as exc:
            raise TrackerError(f"Jira {what} failed: {exc.__class__.__name__}") from None
        except RecursionError:  # the JSON parser recurses per level: an answer can outnest it (asking again won't help)
            raise Rejected(f"Jira {what}: the answer is nested too deeply to be read") from None


def _library_session(client: JIRA) -> requests.Session | None:
    """The ``jira`` library's session, its own retries switched off, for mounting the retry layer on.

    The one reach into the library: ``JIRA`` (3.10) has no public way to take or expose its session."""
    session = getattr(client, "_session", None)
    if not isinstance(session, requests.Session):
        log.warning("the jira library no longer exposes its session: its calls keep the library's own retries")
        return None
    session.max_retries = 0  # type: ignore[attr-defined]  # ResilientSession's own loop (it sleeps for real)
    return session



def _error_text(response: requests.Response) -> str:
    """Jira's error messages in an answer (``errorMessages``, ``errors``, ``message``), else its text.

    No headers: they would carry the request's Authorization header."""
    denied = response.headers.get("X-Authentication-Denied-Reason")
    if response.status_code == 403 and denied:
        return denied
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()
    if not isinstance(data, dict):
        return response.text.strip()
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        return ", ".join(str(e) for e in errors.values())
    messages = data.get("errorMessages")
    if messages:
        return ", ".join(str(m) for m in messages) if isinstance(messages, list | tuple) else str(messages)
    for key in ("errorMessage", "message"):
        if data.get(key):
            return str(data[key])
    return ""


# small pure helpers --------------------------------------------------------------------------------
def jira_key(key: str) -> str:
    """``key`` as Jira writes it (``ss-1`` -> ``SS-1``), or Rejected before any request is made."""
    try:
        return normalize_key(key, "jira")
    except InvalidKey as exc:
        raise Rejected(f"refused to call Jira: {exc}") from None


def _part(value: object) -> str:
    """One path segment, percent-quoted (``/``, ``?``, ``#``, ``%`` included); an empty or dots-only
    one (``..``: a server may decode ``%2E%2E`` and walk up) is Rejected."""
    text = str(value)
    if text.strip(".") == "":
        raise Rejected(f"refused to call Jira with {text!r} as part of a path", name=text)
    return quote(text, safe="")


def _project_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def _require(field_id: str | None, what: str) -> str:
    if field_id is None:
        raise NotFound(f"this Jira site has no {what}")
    return field_id


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _email_of(value: Any) -> str:
    return value.email if isinstance(value, User) else str(value)


def _pick_user(found: Sequence[Mapping[str, Any]], email: str) -> User | None:
    """The search hit whose e-mail is ``email``; a lone hit with a hidden e-mail counts too."""
    users = [u for u in (user_from_json(raw) for raw in found) if u]
    exact = next((u for u in users if u.is_email(email)), None)
    if exact is not None:
        return exact
    hidden = [u for u in users if not u.email]
    if len(users) == 1 and hidden:
        return replace(hidden[0], email=email)  # Jira hides addresses; the query was exact
    return None


def _pick_option(options: list[str] | None, wanted: str) -> str | None:
    if not options:
        return None
    return next((o for o in options if o.casefold() == wanted.strip().casefold()), None)


def _options_from_meta(fields: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """``{field id: [option values]}`` from editmeta/createmeta field descriptions."""
    out: dict[str, list[str]] = {}
    for field_id, meta in fields:
        allowed = meta.get("allowedValues") or []
        values = [v["value"] for v in allowed if isinstance(v, Mapping) and "value" in v]
        if field_id and values:
            out[field_id] = values
    return out
