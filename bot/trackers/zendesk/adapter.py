"""The Zendesk Support adapter: the :class:`~bot.trackers.base.Tracker` port on ``zenpy``.

How the Tracker vocabulary maps onto Zendesk
--------------------------------------------

============================  =========================================================================
Tracker concept               Zendesk
============================  =========================================================================
ticket key                    the ticket id as a string ("123"); ``#123`` is accepted on input
project                       the ticket's **group** name ("Support", "Config"); ``default_project``
                              (``"zendesk"``) when the ticket has no group. ``create_ticket(project)``
                              assigns that group (no group for ``default_project``).
issue type                    the ticket ``type``: question, incident, problem, task ("" when unset)
summary / description         ``subject`` / ``description`` (the first comment)
status / ``transition``       the ``status`` field: new, open, pending, hold, solved, closed. Zendesk
                              has no workflow, so a transition is a status update; unknown -> NotFound
custom field by display name  ``custom_fields`` keyed by the field's TITLE (``GET /ticket_fields`` once,
                              cached). Dropdowns take an option's name *or* tag value; reads give the
                              option's name. A few system fields work too: Subject, Priority, Type,
                              Status, Group (by group name).
labels                        ``tags``; ``change_labels`` adds them with ``PUT /tickets/{id}/tags`` and
                              removes them with ``DELETE /tickets/{id}/tags`` (lower-cased, one word each)
organization                  ``organization_id``; found by exact name, created when missing, and the
                              requester is made a member (Zendesk refuses an organization the
                              requester does not belong to)
request type                  the ticket form, by name -> ``ticket_form_id``
reporter / creator            ``requester_id`` / ``submitter_id``
watchers                      followers (agents who follow the ticket)
request participants          email CCs: the people copied on the conversation. ``remove_participant``
                              removes the person from the CCs; followers are watchers and stay.
internal comment              ``comment: {body, public: false}``. Every comment this adapter writes is
                              built by :func:`_internal_note`, except one: the only public-comment
                              code path is :meth:`ZendeskTracker.add_public_reply` (``comment: {body,
                              public: true}``, built by :func:`_public_reply`), reached only through a
                              ``PublicReply`` the engine let through (``customer_replies: true``).
link                          Zendesk has no ticket links (see :meth:`ZendeskTracker.link`): both
                              tickets get an internal note and the tag ``ticketbot_link_<type>_<a>_<b>``,
                              which is read back into ``Ticket.links``. Link types named "Problem" or
                              "Incident" also use Zendesk's own problem/incident relation (``problem_id``).
============================  =========================================================================

Why the group is the project: a runbook's "projects" are queues owned by a team (the support
desk's SS tickets, the config team's CS tickets). In Zendesk that is what a group is, a rule
config can name it, and ``create_ticket`` can route the config ticket to the config team by it.
Brands are usually one per account, and forms already play the request-type role.

Rate limits: zenpy sleeps on its own (1 s at a time, for ever) when it sees a 429. This adapter
never lets it see one: it hands zenpy (``Zenpy(session=...)``) a session of its own with the trackers'
retry layer mounted (:mod:`bot.trackers.http`), so a 429 (or a 503 with Retry-After) is retried after
the injected ``sleep(Retry-After)``, at most ``max_retries`` times, then raised as :class:`RateLimited`.
zenpy's proactive limiter is left off and its object cache is switched off (the executor needs fresh
reads). The API token only ever lives in the session's auth; it is never logged or put in a message.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Organization as ZOrganization
from zenpy.lib.api_objects import OrganizationMembership as ZOrganizationMembership
from zenpy.lib.api_objects import Ticket as ZTicket
from zenpy.lib.exception import APIException, RecordNotFoundException, ZenpyException

from bot.effects import Effect, SetField, SetOrganization, SetReporter, SetRequestType, label_problem, zendesk_tag
from bot.model import Comment, Link, Ticket, User
from bot.settings import ConfigurationError, ZendeskSettings
from bot.trackers.base import NotFound, Rejected, TrackerError, Unavailable, error_for_status
from bot.trackers.base import RateLimited as BaseRateLimited
from bot.trackers.http import CountingAdapter, TrackerRetry, mount
from bot.trackers.keys import InvalidKey, normalize_key

log = logging.getLogger(__name__)

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
_STATUS_ALIASES = {"on-hold": "hold", "on hold": "hold", "onhold": "hold"}
TICKET_TYPES = ("question", "incident", "problem", "task")
PRIORITIES = ("low", "normal", "high", "urgent")
#: The incremental export serves nothing newer than one minute (Zendesk's documented lag).
EXPORT_LAG = timedelta(seconds=60)
LINK_TAG_PREFIX = "ticketbot_link_"
_LINK_TAG = re.compile(rf"^{LINK_TAG_PREFIX}([a-z0-9-]+)_(\d+)_(\d+)$")
_PROBLEM_LINK_TYPES = {"problem", "incident"}
_SHOW_MANY_LIMIT = 100


class RateLimited(BaseRateLimited):
    """Zendesk kept throttling (429) after the allowed retries, or asked for too long a wait."""


def parse_site_url(url: str) -> tuple[str, str]:
    """``https://acme.zendesk.com`` / ``acme.zendesk.com`` / ``acme`` -> ``("acme", "zendesk.com")``."""
    text = url.strip()
    if not text:
        raise TrackerError("Zendesk URL is empty")
    host = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
    if not host:
        raise TrackerError(f"not a Zendesk URL: {url!r}")
    subdomain, _, domain = host.partition(".")
    return subdomain, domain or "zendesk.com"


# -- catalogs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldDef:
    """One ticket field: id, title, type and, for dropdowns, its options as (name, tag value)."""

    id: int
    title: str
    type: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldDef:
        options = tuple((str(o.get("name", "")), str(o.get("value", "")))
                        for o in data.get("custom_field_options") or ())
        return cls(id=int(data["id"]), title=str(data.get("title") or data["id"]), type=str(data.get("type", "")),
                   options=options)

    @property
    def is_custom(self) -> bool:
        return self.type not in _SYSTEM_FIELD_TYPES

    def option_value(self, wanted: Any) -> str:
        """The tag value of the option named (or valued) ``wanted``; NotFound lists the options."""
        text = str(wanted).strip().casefold()
        for name, value in self.options:
            if text in (name.casefold(), value.casefold()):
                return value
        names = ", ".join(repr(name) for name, _ in self.options) or "none"
        raise NotFound(f"field {self.title!r} has no option {wanted!r}; options: {names}")

    def encode(self, value: Any) -> Any:
        """A rule's value as Zendesk wants it in ``custom_fields``."""
        if value is None:
            return None
        if self.type == "tagger":
            return self.option_value(value)
        if self.type == "multiselect":
            items = [value] if isinstance(value, str) else list(value)
            return [self.option_value(item) for item in items]
        if self.type == "checkbox":
            return bool(value)
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return value

    def decode(self, raw: Any) -> Any:
        """A stored value as rules compare it: dropdown tags become option names."""
        names = {value: name for name, value in self.options}
        if self.type == "tagger" and raw is not None:
            return names.get(raw, raw)
        if self.type == "multiselect" and raw is not None:
            return [names.get(v, v) for v in raw]
        return raw


#: System fields from GET /ticket_fields a rule may set by title -> the ticket attribute.
_SYSTEM_FIELD_TYPES = {
    "subject": "subject", "description": "description", "status": "status", "tickettype": "type",
    "priority": "priority", "group": "group_id", "assignee": "assignee_id", "custom_status": "custom_status_id",
}
_SETTABLE_SYSTEM_FIELDS = {"subject", "status", "tickettype", "priority", "group"}


@dataclass
class _Catalog:
    """Names <-> ids for one kind of thing (groups, forms), loaded once."""

    kind: str
    by_name: dict[str, int]
    by_id: dict[int, str]

    @classmethod
    def from_items(cls, kind: str, items: Iterable[Mapping[str, Any]]) -> _Catalog:
        pairs = [(int(i["id"]), str(i.get("name") or "")) for i in items]
        return cls(kind, {name.casefold(): ident for ident, name in pairs}, dict(pairs))

    def id_for(self, name: str) -> int:
        try:
            return self.by_name[name.strip().casefold()]
        except KeyError:
            known = ", ".join(repr(n) for n in sorted(self.by_id.values())) or "none"
            raise NotFound(f"no Zendesk {self.kind} named {name!r}; known: {known}") from None


# -- helpers ------------------------------------------------------------------------------------

def _internal_note(body: str) -> dict[str, Any]:
    """The only comment shape this adapter ever sends: an internal note, never customer-visible."""
    return {"body": body, "public": False}


def _public_reply(body: str) -> dict[str, Any]:
    """The one customer-visible comment shape, used only by :meth:`ZendeskTracker.add_public_reply`."""
    return {"body": body, "public": True}


def ticket_id(key: str) -> int:
    """``"123"`` or ``"#123"`` -> 123; anything else (``"²"``, ``"١٢"``, ``"12/../x"``) is not a Zendesk ticket.

    The grammar is :mod:`bot.trackers.keys`' (ASCII digits only: ``str.isdigit`` takes any script's digits,
    and ``int("١٢")`` is 12, another ticket); zenpy puts the id into the URL as a number.
    """
    try:
        return int(normalize_key(key, "zendesk"))
    except InvalidKey as exc:
        raise NotFound(f"refused to call Zendesk: {exc}") from None


def normalize_status(status: str) -> str:
    """``"Open"``/``"On-hold"``/``"hold"`` -> the API value; NotFound lists the statuses."""
    text = status.strip().casefold()
    text = _STATUS_ALIASES.get(text, text)
    if text not in STATUSES:
        raise NotFound(f"Zendesk has no status {status!r}; statuses: {', '.join(STATUSES)}")
    return text


def _choice(kind: str, value: Any, allowed: Sequence[str]) -> str:
    text = str(value).strip().casefold()
    if text not in allowed:
        raise NotFound(f"Zendesk has no {kind} {value!r}; {kind}s: {', '.join(allowed)}")
    return text


def link_tag(link_type: str, inward_id: int, outward_id: int) -> str:
    """The tag recording a ticketbot link on both tickets, e.g. ``ticketbot_link_duplicate_12_7``."""
    slug = re.sub(r"[^a-z0-9]+", "-", link_type.casefold()).strip("-") or "link"
    return f"{LINK_TAG_PREFIX}{slug}_{inward_id}_{outward_id}"


def links_from_ticket(data: Mapping[str, Any]) -> tuple[Link, ...]:
    """Links recorded in tags, plus the problem/incident relation."""
    links: list[Link] = []
    for tag in data.get("tags") or ():
        match = _LINK_TAG.match(tag)
        if match:
            links.append(Link(match.group(1).replace("-", " "), match.group(2), match.group(3)))
    problem = data.get("problem_id")
    if problem and not any(link.type in _PROBLEM_LINK_TYPES for link in links):
        links.append(Link("problem", str(data["id"]), str(problem)))
    return tuple(links)


def parse_time(value: Any) -> datetime | None:
    """Zendesk ISO-8601 timestamps (``2024-01-31T10:00:00Z``) -> aware datetimes."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _user(data: Mapping[str, Any]) -> User:
    return User(account_id=str(data.get("id", "")), email=str(data.get("email") or ""),
                display_name=str(data.get("name") or ""))


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _api_error_text(exc: APIException) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", "?")
    return f"Zendesk answered {status}: {exc}"


# -- the adapter --------------------------------------------------------------------------------

class ZendeskTracker:
    """The Tracker port on Zendesk Support through zenpy. See the module docstring for the mapping."""

    name = "zendesk"

    def __init__(
        self,
        url: str = "",
        email: str = "",
        api_token: str = "",
        *,
        session: requests.Session | None = None,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
        default_project: str = "zendesk",
        max_retry_after: float = 300.0,
        timeout: float = 60.0,
    ) -> None:
        """Connect with an agent e-mail and API token (``url`` may be a full URL).

        ``session``: a ``requests.Session`` to use instead of a new one (the retrying, counting transport
        is mounted on it and zenpy sets its auth).
        """
        if not (email and api_token):
            raise TrackerError("Zendesk needs an agent e-mail and an API token")
        self.now = now or (lambda: datetime.now(UTC))
        self.default_project = default_project
        self._subdomain, self._domain = parse_site_url(url)
        self._timeout = timeout
        retry = TrackerRetry(max(0, max_retries), vendor="Zendesk", sleep=sleep, now=self.now,
                             max_wait=max_retry_after, error=RateLimited)
        adapter = CountingAdapter(retry)
        #: HTTP calls, and the 429 answers among them, by (method, path): /metrics reads their totals.
        self.calls: Counter[tuple[str, str]] = adapter.calls
        self.throttled: Counter[tuple[str, str]] = adapter.throttled
        self.session = mount(session if session is not None else requests.Session(), adapter)
        self.client = Zenpy(subdomain=self._subdomain, domain=self._domain, email=email, token=api_token,
                            session=self.session, timeout=timeout, disable_cache=True)
        self._fields: dict[str, FieldDef] | None = None
        self._fields_by_id: dict[int, FieldDef] = {}
        self._groups: _Catalog | None = None
        self._forms: _Catalog | None = None
        self._org_names: dict[int, str] = {}
        self._org_ids: dict[str, int] = {}
        self._users_by_id: dict[int, User] = {}
        self._users_by_email: dict[str, User | None] = {}

    @classmethod
    def from_settings(cls, settings: ZendeskSettings, *, now: Callable[[], datetime] | None = None) -> ZendeskTracker:
        """The adapter ``TICKETBOT_ZENDESK__*`` describe (a ConfigurationError names the first one missing)."""
        for key in ("url", "email", "api_token"):
            if getattr(settings, key) in (None, ""):
                raise ConfigurationError(f"TICKETBOT_ZENDESK__{key.upper()} is not set (needed to reach Zendesk)")
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        return cls(settings.url or "", settings.email or "", token, now=now)

    def __repr__(self) -> str:  # never show credentials
        return f"ZendeskTracker({self._subdomain}.{self._domain})"

    @contextmanager
    def _api(self, what: str) -> Iterator[None]:
        """Translate zenpy / HTTP failures into TrackerError / NotFound naming the operation."""
        try:
            yield
        except TrackerError:
            raise
        except RecordNotFoundException as exc:
            raise NotFound(f"{what}: not found in Zendesk") from exc
        except APIException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise error_for_status(status)(f"{what}: {_api_error_text(exc)}") from exc
        except ZenpyException as exc:
            raise TrackerError(f"{what}: {exc}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable(f"{what}: {type(exc).__name__} talking to Zendesk (Zendesk unreachable)") from exc
        except requests.RequestException as exc:
            raise TrackerError(f"{what}: {type(exc).__name__} talking to Zendesk") from exc

    def _get_json(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET an endpoint zenpy has no binding for, on the same (retrying, counting) session."""
        with self._api(f"GET /api/v2/{path}"):
            response = self.session.get(f"https://{self._subdomain}.{self._domain}/api/v2/{path}",
                                        params=dict(params), timeout=self._timeout)
        if response.status_code == 404:
            raise NotFound(f"GET /api/v2/{path}: not found in Zendesk")
        if not response.ok:
            raise error_for_status(response.status_code)(
                f"GET /api/v2/{path}: Zendesk answered {response.status_code}: {response.text[:300]}")
        return response.json()

    # catalogs --------------------------------------------------------------------------------
    def fields(self) -> dict[str, FieldDef]:
        """Ticket fields by casefolded title (GET /api/v2/ticket_fields once, cached)."""
        if self._fields is None:
            with self._api("list ticket fields"):
                defs = [FieldDef.from_json(f.to_dict()) for f in self.client.ticket_fields()]
            self._fields = {d.title.casefold(): d for d in defs}
            self._fields_by_id = {d.id: d for d in defs}
        return self._fields

    def field(self, title: str) -> FieldDef:
        try:
            return self.fields()[title.strip().casefold()]
        except KeyError:
            known = ", ".join(sorted(repr(d.title) for d in self.fields().values()))
            raise NotFound(f"no Zendesk ticket field titled {title!r}; fields: {known}") from None

    def groups(self) -> _Catalog:
        if self._groups is None:
            with self._api("list groups"):
                self._groups = _Catalog.from_items("group", (g.to_dict() for g in self.client.groups()))
        return self._groups

    def forms(self) -> _Catalog:
        if self._forms is None:
            with self._api("list ticket forms"):
                self._forms = _Catalog.from_items("ticket form", (f.to_dict() for f in self.client.ticket_forms()))
        return self._forms

    # catalogs: the names a rule config may use (read-only; ``ticketbot check``) ---------------------
    # A "project" is a group (see the module docstring); naming one that does not exist is NotFound.
    def field_names(self) -> list[str]:
        return [d.title for d in self.fields().values()]

    def field_spec(self, field: str) -> tuple[str, str] | None:
        """The field's id and its type as a site description says it (a dropdown is ``option``, a multiselect
        ``options``)."""
        found = self.field(field)
        kind = {"tagger": "option", "multiselect": "options", "integer": "number", "decimal": "number"}.get(
            found.type, "text")
        return str(found.id), kind

    def field_options(self, field: str, project: str | None = None) -> list[str]:
        """The option names of a dropdown / multiselect field (empty for other fields)."""
        self._require_project(project)
        return [name for name, _ in self.field(field).options]

    def statuses(self, project: str | None = None) -> list[str]:
        """Every status name :meth:`transition` accepts (the API values and their spelled-out forms)."""
        self._require_project(project)
        return [*STATUSES, *_STATUS_ALIASES]

    def transition_targets(self, project: str | None = None) -> list[str]:
        """Zendesk has no workflow: every status can be set from every other."""
        return self.statuses(project)

    def request_types(self, project: str | None = None) -> list[str]:
        """Ticket forms play the request type (forms belong to the account, not to a group)."""
        self._require_project(project)
        return sorted(self.forms().by_id.values(), key=str.casefold)

    def link_types(self) -> None:
        """``None``: :meth:`link` records a link of any type name (Zendesk has no link types)."""
        return None

    def organizations(self, project: str | None = None) -> list[str]:
        """Every organization of the account (``GET /api/v2/organizations``)."""
        self._require_project(project)
        with self._api("list organizations"):
            found = [o.to_dict() for o in self.client.organizations()]
        for org in found:
            self._remember_org(int(org["id"]), str(org.get("name") or ""))
        return sorted((str(o.get("name") or "") for o in found), key=str.casefold)

    def issue_types(self, project: str | None = None) -> list[str]:
        self._require_project(project)
        return list(TICKET_TYPES)

    def projects(self) -> list[str]:
        """The groups tickets can be in, plus ``default_project`` (tickets without a group)."""
        return [self.default_project, *sorted(self.groups().by_id.values(), key=str.casefold)]

    def _require_project(self, project: str | None) -> None:
        if project and project.strip().casefold() != self.default_project.casefold():
            self.groups().id_for(project)

    # reads ------------------------------------------------------------------------------------
    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        """Read a ticket with its comments; ``with_people`` adds followers and email CCs."""
        tid = ticket_id(key)
        with self._api(f"read ticket {tid}"):
            data = self.client.tickets(id=tid).to_dict()
            comments = [c.to_dict() for c in self.client.tickets.comments(ticket=tid)]
        return self._ticket(data, comments=comments, with_people=with_people)

    def find_user(self, email: str) -> User | None:
        """Users search by e-mail (exact, case-insensitive), cached including misses."""
        wanted = email.strip().casefold()
        if not wanted:
            return None
        if wanted not in self._users_by_email:
            with self._api(f"find user {email}"):
                found = [u.to_dict() for u in self.client.users.search(query=f"email:{wanted}")]
            match = next((u for u in found if str(u.get("email") or "").casefold() == wanted), None)
            user = None
            if match:
                user = self._users_by_id[int(match["id"])] = _user(match)
            self._users_by_email[wanted] = user
        return self._users_by_email[wanted]

    def search_updated(self, since: datetime, *, cursor: str | None = None) -> tuple[list[Ticket], str | None]:
        """Tickets changed since ``since`` (or after ``cursor``) via the cursor incremental export.

        Returns the tickets and the ``after_cursor`` to pass next time. ``start_time`` is never
        later than now - 60 s: Zendesk serves nothing from the most recent minute.
        """
        with self._api("incremental ticket export"):
            if cursor:
                pages = self.client.tickets.incremental(cursor=cursor)
            else:
                pages = self.client.tickets.incremental(start_time=self._export_start(since))
            raw = [t.to_dict() for t in pages]
            next_cursor = getattr(pages, "after_cursor", None) or cursor
        self._load_users(self._people_ids(raw))
        self._load_organizations({int(t["organization_id"]) for t in raw if t.get("organization_id")})
        return [self._ticket(t, comments=(), with_people=False) for t in raw], next_cursor

    def _export_start(self, since: datetime) -> int:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        return int(min(since, self.now() - EXPORT_LAG).timestamp())

    # writes -----------------------------------------------------------------------------------
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        """Every field change of one plan in ONE ticket update (lookups and org set-up first)."""
        tid = ticket_id(key)
        payload: dict[str, Any] = {}
        requester: int | None = None
        organization: str | None = None
        for change in changes:
            match change:
                case SetField(field=title, value=value):
                    self._encode_field(payload, self.field(title), value)
                case SetReporter(email=email):
                    requester = int(self._require_user(email).account_id)
                    payload["requester_id"] = requester
                case SetOrganization(name=name):
                    organization = name
                case SetRequestType(name=name):
                    payload["ticket_form_id"] = self.forms().id_for(name)
                case _:
                    raise TrackerError(f"{change.kind} is not a field change Zendesk can make in an update")
        if organization is not None:
            payload["organization_id"] = self._organization_for(tid, organization, requester)
        if payload:
            self._put(tid, payload, f"update ticket {tid}")

    def add_watcher(self, key: str, email: str) -> None:
        """Make ``email`` a follower (followers are agents; a missing user is NotFound)."""
        tid = ticket_id(key)
        user = self._require_user(email)
        self._put(tid, {"followers": [{"user_id": user.account_id, "action": "put"}]}, f"add follower to {tid}")

    def remove_participant(self, key: str, email: str) -> None:
        """Take ``email`` off the email CCs; nothing to do when Zendesk has no such user."""
        tid = ticket_id(key)
        user = self.find_user(email)
        if user is None:
            return
        self._put(tid, {"email_ccs": [{"user_id": user.account_id, "action": "delete"}]}, f"remove CC from {tid}")

    def change_labels(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Add tags (``PUT /api/v2/tickets/{id}/tags``) and remove tags (``DELETE …/tags``), through zenpy's
        ``add_tags`` / ``delete_tags``: each is applied to the tags the ticket has at that moment, so a tag a
        person or a trigger added meanwhile stays (a ticket update with ``tags`` would replace them all).

        Zendesk lower-cases a tag and splits one with spaces into several; so tags are lower-cased here and
        one with a space is Rejected, naming it: what ticketbot writes is what ends up on the ticket, and the
        executor's check (are they there?) finds it. Both calls are safe to repeat."""
        tid = ticket_id(key)
        for label in (*add, *remove):
            if (problem := label_problem(label, "zendesk")) is not None:
                raise Rejected(f"refused to call Zendesk: {problem}", name=label)
        adding = list(dict.fromkeys(zendesk_tag(a) for a in add))
        removing = list(dict.fromkeys(zendesk_tag(r) for r in remove))
        if adding:
            with self._api(f"add tags to {tid}"):
                self.client.tickets.add_tags(tid, adding)
        if removing:
            with self._api(f"remove tags from {tid}"):
                self.client.tickets.delete_tags(tid, removing)

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        """Post an internal note (``public: false``) and return its comment id.

        Zendesk notes have no structured mention; the people are named ahead of the body.
        """
        tid = ticket_id(key)
        if not body.strip():
            raise TrackerError("refusing to post an empty internal note")
        if mentions:
            body = " ".join(f"@{m}" for m in mentions) + " " + body
        audit = self._put(tid, {"comment": _internal_note(body)}, f"comment on {tid}")
        events = (audit.get("audit") or {}).get("events") or []
        comment = next((e for e in events if e.get("type") == "Comment"), None)
        return str(comment["id"]) if comment and comment.get("id") is not None else ""

    def add_public_reply(self, key: str, body: str) -> str:
        """Post a public reply (``public: true``) the requester sees and return its comment id.

        The adapter's only public-comment code path; the executor calls it only for a ``PublicReply``
        the engine let through."""
        tid = ticket_id(key)
        if not body.strip():
            raise Rejected("refusing to post an empty public reply")
        audit = self._put(tid, {"comment": _public_reply(body)}, f"public reply on {tid}")
        events = (audit.get("audit") or {}).get("events") or []
        comment = next((e for e in events if e.get("type") == "Comment"), None)
        return str(comment["id"]) if comment and comment.get("id") is not None else ""

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        """Set the status (Zendesk has no workflow to walk, nor a resolution field: ``resolution`` is ignored)."""
        tid = ticket_id(key)
        self._put(tid, {"status": normalize_status(status)}, f"set status of {tid}")

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        """Record a link Zendesk cannot represent natively, readable back as ``Ticket.links``.

        Both tickets get an internal note naming the other and the tag from :func:`link_tag`.
        For a "Problem"/"Incident" link the inward ticket also becomes an incident of the outward
        one (``type: incident, problem_id``), which Zendesk shows and solves together. A link never
        changes a status: closing a duplicate is a separate ``transition`` the rule plans.
        """
        inward, outward = ticket_id(inward_key), ticket_id(outward_key)
        tag = link_tag(link_type, inward, outward)
        native = link_type.strip().casefold() in _PROBLEM_LINK_TYPES
        note = f"ticketbot linked #{inward} -[{link_type}]-> #{outward}. (Zendesk has no ticket links; tag {tag}.)"
        outward_update: dict[str, Any] = {"additional_tags": [tag], "comment": _internal_note(note)}
        inward_update: dict[str, Any] = {"additional_tags": [tag], "comment": _internal_note(note)}
        if native:
            outward_update["type"] = "problem"
            inward_update.update(type="incident", problem_id=outward)
        self._put(outward, outward_update, f"link {outward}")
        self._put(inward, inward_update, f"link {inward}")

    def create_ticket(self, project: str, issue_type: str, summary: str, description: str = "",
                      field_values: dict[str, Any] | None = None, marker: str = "") -> str:
        """Create a ticket in ``project``'s group; the description is an internal first note; ``marker``
        becomes its ``external_id``."""
        payload: dict[str, Any] = {"subject": summary, "comment": _internal_note(description or summary)}
        if marker:
            payload["external_id"] = marker
        if issue_type.strip():
            payload["type"] = _choice("ticket type", issue_type, TICKET_TYPES)
        if project.strip().casefold() != self.default_project.casefold():
            payload["group_id"] = self.groups().id_for(project)
        for title, value in (field_values or {}).items():
            self._encode_field(payload, self.field(title), value)
        with self._api(f"create ticket in {project}"):
            created = self.client.tickets.create(ZTicket(**payload)).to_dict()
        ticket = created.get("ticket") or created
        return str(ticket["id"])

    def find_marked(self, project: str, marker: str) -> str | None:
        """The ticket whose ``external_id`` is ``marker`` (``GET /tickets?external_id=``: no search index lag)."""
        with self._api(f"find ticket {marker}"):
            found = [t.to_dict() for t in self.client.tickets(external_id=marker)]
        return str(found[0]["id"]) if found else None

    # write helpers --------------------------------------------------------------------------------
    def _put(self, tid: int, payload: dict[str, Any], what: str) -> dict[str, Any]:
        """One PUT /api/v2/tickets/{id}; returns the answer (ticket + audit) as plain JSON."""
        with self._api(what):
            return self.client.tickets.update(ZTicket(id=tid, **payload)).to_dict()

    def _encode_field(self, payload: dict[str, Any], field: FieldDef, value: Any) -> None:
        if field.is_custom:
            payload.setdefault("custom_fields", []).append({"id": field.id, "value": field.encode(value)})
            return
        if field.type not in _SETTABLE_SYSTEM_FIELDS:
            raise TrackerError(f"Zendesk field {field.title!r} ({field.type}) cannot be set by ticketbot")
        if field.type == "group":
            payload["group_id"] = self.groups().id_for(str(value))
        elif field.type == "status":
            payload["status"] = normalize_status(str(value))
        elif field.type == "priority":
            payload["priority"] = _choice("priority", value, PRIORITIES)
        elif field.type == "tickettype":
            payload["type"] = _choice("ticket type", value, TICKET_TYPES)
        else:
            payload[_SYSTEM_FIELD_TYPES[field.type]] = value

    def _require_user(self, email: str) -> User:
        user = self.find_user(email)
        if user is None:
            raise NotFound(f"no Zendesk user with e-mail {email}")
        return user

    def _organization_for(self, tid: int, name: str, requester: int | None) -> int:
        """The organization's id (created when missing), with the requester made a member."""
        org_id = self._find_or_create_organization(name)
        if requester is None:
            with self._api(f"read ticket {tid}"):
                requester = self.client.tickets(id=tid).requester_id
        if requester:
            self._ensure_membership(int(requester), org_id)
        return org_id

    def _find_or_create_organization(self, name: str) -> int:
        wanted = name.strip()
        if wanted.casefold() in self._org_ids:
            return self._org_ids[wanted.casefold()]
        found = self._get_json("organizations/search.json", {"name": wanted}).get("organizations") or []
        match = next((o for o in found if str(o.get("name", "")).casefold() == wanted.casefold()), None)
        if match is None:
            with self._api(f"create organization {wanted!r}"):
                match = self.client.organizations.create(ZOrganization(name=wanted)).to_dict()
            log.info("created Zendesk organization %r (id %s)", wanted, match.get("id"))
        self._remember_org(int(match["id"]), str(match.get("name") or wanted))
        return int(match["id"])

    def _ensure_membership(self, user_id: int, org_id: int) -> None:
        """Zendesk answers 422 when the user already belongs to the organization: that is fine."""
        membership = ZOrganizationMembership(user_id=user_id, organization_id=org_id)
        with self._api(f"add user {user_id} to organization {org_id}"):
            try:
                self.client.organization_memberships.create(membership)
            except APIException as exc:
                if getattr(exc.response, "status_code", None) != 422:
                    raise

    def _remember_org(self, org_id: int, name: str) -> None:
        self._org_names[org_id] = name
        self._org_ids[name.casefold()] = org_id

    # read helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _people_ids(tickets: Iterable[Mapping[str, Any]], *, with_people: bool = False,
                    comments: Iterable[Mapping[str, Any]] = ()) -> set[int]:
        ids: set[int] = set()
        for t in tickets:
            ids.update(i for i in (t.get("requester_id"), t.get("submitter_id"), t.get("assignee_id")) if i)
            if with_people:
                ids.update(t.get("follower_ids") or ())
                ids.update(t.get("email_cc_ids") or ())
        ids.update(c["author_id"] for c in comments if c.get("author_id"))
        return {int(i) for i in ids}

    def _load_users(self, ids: Iterable[int]) -> None:
        missing = sorted(set(ids) - set(self._users_by_id))
        for chunk in _chunks(missing, _SHOW_MANY_LIMIT):
            with self._api("read users"):
                for u in self.client.users(ids=chunk):
                    data = u.to_dict()
                    self._users_by_id[int(data["id"])] = _user(data)

    def _load_organizations(self, ids: Iterable[int]) -> None:
        missing = sorted(set(ids) - set(self._org_names))
        for chunk in _chunks(missing, _SHOW_MANY_LIMIT):
            with self._api("read organizations"):
                for o in self.client.organizations(ids=chunk):
                    data = o.to_dict()
                    self._remember_org(int(data["id"]), str(data.get("name") or ""))

    def _person(self, user_id: Any) -> User | None:
        if not user_id:
            return None
        return self._users_by_id.get(int(user_id)) or User(account_id=str(user_id))

    def _ticket(self, data: Mapping[str, Any], *, comments: Sequence[Mapping[str, Any]],
                with_people: bool) -> Ticket:
        """Zendesk ticket JSON -> the normalized Ticket rules see."""
        self._load_users(self._people_ids([data], with_people=with_people, comments=comments))
        org_id = data.get("organization_id")
        if org_id:
            self._load_organizations([int(org_id)])
        group_id, form_id = data.get("group_id"), data.get("ticket_form_id")
        return Ticket(
            key=str(data["id"]),
            id=str(data["id"]),
            project=self._project(group_id),
            summary=str(data.get("subject") or ""),
            description=str(data.get("description") or ""),
            status=str(data.get("status") or ""),
            issue_type=str(data.get("type") or ""),
            tracker="zendesk",
            reporter=self._person(data.get("requester_id")),
            creator=self._person(data.get("submitter_id")),
            assignee=self._person(data.get("assignee_id")),
            organizations=self._organization_names(org_id),
            request_type=self.forms().by_id.get(int(form_id)) if form_id else None,
            labels=tuple(data.get("tags") or ()),
            fields=self._decode_fields(data.get("custom_fields") or ()),
            watchers=self._people(data.get("follower_ids")) if with_people else None,
            participants=self._people(data.get("email_cc_ids")) if with_people else None,
            links=links_from_ticket(data),
            comments=tuple(self._comment(c) for c in comments),
            created=parse_time(data.get("created_at")),
            updated=parse_time(data.get("updated_at")),
        )

    def _organization_names(self, org_id: Any) -> tuple[str, ...]:
        name = self._org_names.get(int(org_id)) if org_id else None
        return (name,) if name else ()

    def _project(self, group_id: Any) -> str:
        if not group_id:
            return self.default_project
        return self.groups().by_id.get(int(group_id)) or self.default_project

    def _people(self, ids: Iterable[Any] | None) -> tuple[User, ...]:
        return tuple(p for p in (self._person(i) for i in ids or ()) if p is not None)

    def _decode_fields(self, custom_fields: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        self.fields()
        decoded: dict[str, Any] = {}
        for item in custom_fields:
            definition = self._fields_by_id.get(int(item["id"]))
            if definition is not None and item.get("value") not in (None, "", []):
                decoded[definition.title] = definition.decode(item["value"])
        return decoded

    def _comment(self, data: Mapping[str, Any]) -> Comment:
        return Comment(id=str(data.get("id", "")), body=str(data.get("body") or data.get("plain_body") or ""),
                       author=self._person(data.get("author_id")), internal=not data.get("public", True),
                       created=parse_time(data.get("created_at")))


class ZendeskSearcher:
    """The poller's ``search_updated(projects, since) -> list[Ticket]`` on the incremental export.

    Keeps the export cursor between polls (in memory: after a restart it starts again from the
    poller's ``since``) and keeps only tickets of the projects (group names) asked for.
    """

    def __init__(self, tracker: ZendeskTracker) -> None:
        self.tracker = tracker
        self.cursor: str | None = None

    def search_updated(self, projects: Iterable[str], since: datetime) -> list[Ticket]:
        tickets, self.cursor = self.tracker.search_updated(since, cursor=self.cursor)
        wanted = {p.casefold() for p in projects}
        return [t for t in tickets if t.project.casefold() in wanted]
