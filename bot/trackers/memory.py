"""An in-memory tracker: the replay's Jira, and the reference the contract suite checks.

Seeded from a :class:`~bot.trackers.site.Site`. Every change is also recorded as a short,
readable line (``"SS-1: watcher + david.ellis@goeverbright.com"``), as Prow's fakegithub
does, which makes tests and the replay timeline easy to read.

It enforces what a real site enforces: unknown fields, options, statuses, link types,
request types and people are :class:`~bot.trackers.base.NotFound`; transitions must
exist from the current status.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.effects import Effect, SetField, SetOrganization, SetReporter, SetRequestType
from bot.model import Comment, Link, Ticket, User
from bot.trackers.base import NotFound, TrackerError
from bot.trackers.site import Site, SiteUser


@dataclass
class _Stored:
    """Mutable state of one ticket; :meth:`MemoryTracker.get_ticket` freezes it into a Ticket."""

    key: str
    project: str
    summary: str
    description: str = ""
    status: str = "Open"
    resolution: str = ""
    issue_type: str = "Task"
    reporter: str = ""  # e-mail
    creator: str = ""
    organizations: list[str] = field(default_factory=list)
    request_type: str | None = None
    participants: list[str] = field(default_factory=list)
    watchers: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    created: datetime | None = None
    updated: datetime | None = None


class MemoryTracker:
    """A Tracker that keeps everything in dictionaries; ``log`` lists every change made."""

    name = "memory"

    def __init__(self, site: Site | None = None, *, now: Callable[[], datetime] | None = None) -> None:
        self.site = site or Site()
        self._now = now
        self.log: list[str] = []
        self.tickets: dict[str, _Stored] = {}
        self._ids = itertools.count(10000)
        self._users = {u.email.lower(): u for u in [*self.site.users, self.site.bot_account]}
        self._orgs = {o.name.casefold(): o.name for o in self.site.organizations}
        self._fields = {f.name.casefold(): f for f in self.site.fields}
        for seeded in self.site.tickets:
            self.tickets[seeded.key] = _Stored(
                key=seeded.key, project=seeded.key.rsplit("-", 1)[0], summary=seeded.summary,
                description=seeded.description, status=seeded.status, issue_type=seeded.issue_type,
                reporter=seeded.reporter or "", organizations=list(seeded.organizations),
                request_type=seeded.request_type, participants=list(seeded.participants),
                watchers=list(seeded.watchers), labels=list(seeded.labels), fields=dict(seeded.fields))

    # reads ---------------------------------------------------------------------------
    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        stored = self._stored(key)
        return Ticket(
            key=stored.key, id=stored.key, project=stored.project, summary=stored.summary,
            description=stored.description, status=stored.status, resolution=stored.resolution,
            issue_type=stored.issue_type,
            tracker=self.name, reporter=self._person(stored.reporter), creator=self._person(stored.creator),
            organizations=tuple(stored.organizations), request_type=stored.request_type,
            labels=tuple(stored.labels), fields=dict(stored.fields),
            watchers=tuple(self._person(e) for e in stored.watchers) if with_people else None,
            participants=tuple(self._person(e) for e in stored.participants) if with_people else None,
            links=tuple(stored.links), comments=tuple(stored.comments),
            created=stored.created, updated=stored.updated,
            url=f"{self.site.base_url.rstrip('/')}/browse/{stored.key}" if self.site.base_url else "",
        )

    def find_user(self, email: str) -> User | None:
        found = self._users.get(email.strip().lower())
        return _user(found) if found else None

    def search_updated(self, projects: Sequence[str], since: datetime) -> list[Ticket]:
        """Tickets of ``projects`` updated at or after ``since`` (the polling fallback's query)."""
        return [self.get_ticket(t.key) for t in self.tickets.values()
                if t.project in projects and t.updated is not None and t.updated >= since]

    # catalogs: the names a rule config may use (read-only; ``ticketbot check``) --------
    # The in-memory site has one workflow and one set of fields for every project.
    def field_names(self) -> list[str]:
        return [f.name for f in self.site.fields]

    def field_options(self, field: str, project: str | None = None) -> list[str]:
        """The options of a select field (empty for a field that has none)."""
        spec = self._fields.get(field.casefold())
        if spec is None:
            raise NotFound(f"field {field!r} not found")
        return list(spec.options)

    def statuses(self, project: str | None = None) -> list[str]:
        return list(self.site.statuses)

    def transition_targets(self, project: str | None = None) -> list[str]:
        """Every status some transition leads to (from any status)."""
        return list(dict.fromkeys(t.to for t in self.site.transitions))

    def request_types(self, project: str) -> list[str]:
        for desk in self.site.service_desks:
            if desk.project == project:
                return list(desk.request_types.values())
        raise NotFound(f"project {project} is not a service desk")

    def link_types(self) -> list[str]:
        return [t.name for t in self.site.link_types]

    def organizations(self, project: str | None = None) -> list[str]:
        """Every organization, including those created since the site was loaded."""
        return sorted(self._orgs.values(), key=str.casefold)

    def issue_types(self, project: str | None = None) -> list[str]:
        return list(self.site.issue_types)

    # writes --------------------------------------------------------------------------
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        stored = self._stored(key)
        # Validate the whole edit first: Jira rejects an edit with one bad field entirely.
        for change in changes:
            self._check_field_change(change)
        for change in changes:
            match change:
                case SetField(field=name, value=value):
                    stored.fields[self._fields[name.casefold()].name] = value
                    self._note(key, f"{name} = {value!r}")
                case SetReporter(email=email):
                    stored.reporter = email
                    self._note(key, f"reporter = {email}")
                case SetOrganization(name=name):
                    if name.casefold() not in self._orgs:
                        self._orgs[name.casefold()] = name
                        self._note(key, f"organization {name!r} created")
                    stored.organizations = [self._orgs[name.casefold()]]
                    self._note(key, f"organizations = [{name!r}]")
                case SetRequestType(name=name):
                    stored.request_type = self._request_type(stored.project, name)
                    self._note(key, f"request type = {name!r}")
                case _:
                    raise TrackerError(f"{change.kind} is not a field change")
        self._touch(stored)

    def add_watcher(self, key: str, email: str) -> None:
        stored = self._stored(key)
        self._require_user(email)
        if email.lower() not in (w.lower() for w in stored.watchers):
            stored.watchers.append(email)
            self._note(key, f"watcher + {email}")
            self._touch(stored)

    def remove_participant(self, key: str, email: str) -> None:
        stored = self._stored(key)
        before = len(stored.participants)
        stored.participants = [p for p in stored.participants if p.lower() != email.lower()]
        if len(stored.participants) != before:
            self._note(key, f"participant - {email}")
            self._touch(stored)

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        stored = self._stored(key)
        if mentions:  # rendered as Jira wiki mentions, as the Jira adapter posts them
            body = " ".join(f"[~accountid:{self._require_user(m).account_id}]" for m in mentions) + " " + body
        comment_id = str(next(self._ids))
        stored.comments.append(Comment(id=comment_id, body=body, author=_user(self.site.bot_account),
                                       internal=True, created=self._clock()))
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        self._note(key, f"internal comment: {first_line[:80]}")
        self._touch(stored)
        return comment_id

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        stored = self._stored(key)
        for t in self.site.transitions:
            if t.to.casefold() == status.casefold() and (not t.from_ or stored.status in t.from_):
                old, stored.status = stored.status, t.to
                if resolution:
                    if resolution not in self.site.resolutions:
                        raise NotFound(f"resolution {resolution!r} not found; known: {self.site.resolutions}")
                    stored.resolution = resolution
                self._note(key, f"status {old} -> {t.to}" + (f" (resolution {resolution})" if resolution else ""))
                self._touch(stored)
                return
        targets = sorted({t.to for t in self.site.transitions if not t.from_ or stored.status in t.from_})
        raise NotFound(f"{key}: no transition to {status!r} from {stored.status!r}; available: {targets}")

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        lt = next((t for t in self.site.link_types if t.name.casefold() == link_type.casefold()), None)
        if lt is None:
            raise NotFound(f"link type {link_type!r} not found; known: {[t.name for t in self.site.link_types]}")
        inward, outward = self._stored(inward_key), self._stored(outward_key)
        link = Link(lt.name, inward_key, outward_key)
        if link not in inward.links:
            inward.links.append(link)
            outward.links.append(link)
            self._note(inward_key, f"link {inward_key} -[{lt.name}]-> {outward_key}")
            self._touch(inward)
            self._touch(outward)

    def create_ticket(self, project: str, issue_type: str, summary: str, description: str = "",
                      field_values: dict[str, Any] | None = None, marker: str = "") -> str:
        key = self._create(project, issue_type, summary, description, field_values)
        if marker:  # a label on Jira; on Zendesk the real tracker uses external_id, a tag here
            self.tickets[key].labels.append(marker)
        return key

    def find_marked(self, project: str, marker: str) -> str | None:
        return next((k for k, t in self.tickets.items() if marker in t.labels), None)

    def _create(self, project: str, issue_type: str, summary: str, description: str,
                field_values: dict[str, Any] | None) -> str:
        if issue_type not in self.site.issue_types:
            raise NotFound(f"issue type {issue_type!r} not found; known: {self.site.issue_types}")
        for name, value in (field_values or {}).items():  # all or nothing, as Jira creates
            self._check_field_change(SetField(rule_id="create", ticket_key="", step=name, field=name, value=value))
        number = 1 + max((int(k.rsplit("-", 1)[1]) for k in self.tickets if k.startswith(f"{project}-")), default=0)
        key = f"{project}-{number}"
        stored = _Stored(key=key, project=project, summary=summary, description=description,
                         status=self.site.statuses[0] if self.site.statuses else "Open", issue_type=issue_type,
                         reporter=self.site.bot_account.email, creator=self.site.bot_account.email,
                         created=self._clock())
        self.tickets[key] = stored
        self._note(key, f"created {issue_type} {summary!r}")
        if field_values:
            self.update_fields(key, [SetField(rule_id="create", ticket_key=key, step=name, field=name, value=value)
                                     for name, value in field_values.items()])
        self._touch(stored)
        return key

    # seeding from recorded events (replay) -------------------------------------------
    def upsert(self, ticket: Ticket) -> None:
        """Make a ticket known from an event's snapshot; an existing ticket keeps its state."""
        if ticket.key in self.tickets:
            return
        self.tickets[ticket.key] = _Stored(
            key=ticket.key, project=ticket.project, summary=ticket.summary, description=ticket.description,
            status=ticket.status or "Open", issue_type=ticket.issue_type or "Task",
            reporter=ticket.reporter.email if ticket.reporter else "",
            creator=ticket.creator.email if ticket.creator else "",
            organizations=list(ticket.organizations), request_type=ticket.request_type,
            participants=[p.email for p in ticket.participants or () if p.email],
            watchers=[w.email for w in ticket.watchers or () if w.email],
            labels=list(ticket.labels), fields=dict(ticket.fields),
            links=list(ticket.links), comments=list(ticket.comments),
            created=ticket.created, updated=ticket.updated or ticket.created)

    def apply_external_change(self, key: str, field_name: str, value: str | None) -> None:
        """A change a person made (recorded in a replayed changelog), applied without checks."""
        stored = self._stored(key)
        match field_name.casefold():
            case "status":
                stored.status = value or stored.status
            case "labels":
                stored.labels = (value or "").split()
            case "summary":
                stored.summary = value or ""
            case "description":
                stored.description = value or ""
            case _:
                stored.fields[field_name] = value
        self._touch(stored)

    def add_external_comment(self, key: str, comment: Comment) -> None:
        stored = self._stored(key)
        if all(c.id != comment.id for c in stored.comments):
            stored.comments.append(comment)
            self._touch(stored)

    # helpers -------------------------------------------------------------------------
    def _stored(self, key: str) -> _Stored:
        try:
            return self.tickets[key]
        except KeyError:
            raise NotFound(f"ticket {key} does not exist") from None

    def _person(self, email: str) -> User | None:
        if not email:
            return None
        return self.find_user(email) or User(email=email)

    def _require_user(self, email: str) -> User:
        user = self.find_user(email)
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        return user

    def _check_field_change(self, change: Effect) -> None:
        match change:
            case SetField(field=name, value=value):
                spec = self._fields.get(name.casefold())
                if spec is None:
                    raise NotFound(f"field {name!r} not found")
                if spec.type == "option" and value not in spec.options:
                    raise NotFound(f"{name!r} has no option {value!r}; options: {spec.options}")
            case SetReporter(email=email):
                self._require_user(email)
            case SetRequestType(ticket_key=key, name=name):
                self._request_type(self._stored(key).project, name)

    def _request_type(self, project: str, name: str) -> str:
        for desk in self.site.service_desks:
            if desk.project == project:
                for rt_name in desk.request_types.values():
                    if rt_name.casefold() == name.casefold():
                        return rt_name
                raise NotFound(f"request type {name!r} not found in {project}; known: "
                               f"{sorted(desk.request_types.values())}")
        raise NotFound(f"project {project} is not a service desk")

    def _clock(self) -> datetime | None:
        return self._now() if self._now else None

    def _touch(self, stored: _Stored) -> None:
        stored.updated = self._clock() or stored.updated

    def _note(self, key: str, text: str) -> None:
        self.log.append(f"{key}: {text}")


def _user(u: SiteUser) -> User:
    return User(account_id=u.account_id, email=u.email, display_name=u.display_name)

