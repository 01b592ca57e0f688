"""An in-memory tracker: the replay's Jira, and the reference the contract suite checks.

Seeded from a :class:`~bot.trackers.site.Site`. Every change is also recorded as a short,
readable line (``"SS-1: watcher + david.ellis@goeverbright.com"``), as Prow's fakegithub
does, which makes tests and the replay timeline easy to read.

It enforces what a real site enforces: unknown fields, options, statuses, link types,
request types and people are :class:`~bot.trackers.base.NotFound`; transitions must
exist from the current status.

Seeded from a Zendesk account (``kind: zendesk``), it behaves as
:class:`~bot.trackers.zendesk.adapter.ZendeskTracker` maps Zendesk: keys are ticket ids, the project is
the ticket's group (``"zendesk"`` without one), the request type its form, a transition sets one of
Zendesk's statuses from any status (no resolution), dropdowns take an option's name or tag and put
the option's tag on the ticket, comments are internal notes with the people named ahead
(``@e-mail``), a created ticket's description is its first internal note, and a link is recorded
as the tag ``ticketbot_link_<type>_<a>_<b>`` and an internal note on both tickets.

Every comment it stores is internal except those of :meth:`MemoryTracker.add_public_reply`
(``internal=False``), the one customer-visible write, reached only through a
:class:`~bot.effects.PublicReply` the engine let through.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.effects import Effect, SetField, SetOrganization, SetReporter, SetRequestType, label_problem, zendesk_tag
from bot.model import Comment, Link, Ticket, User
from bot.trackers.base import NotFound, Rejected, TrackerError
from bot.trackers.site import ZENDESK_STATUSES, Site, SiteUser, option_tag, zendesk_status

#: The project of a Zendesk ticket without a group (as ``ZendeskTracker.default_project``).
ZENDESK_DEFAULT_PROJECT = "zendesk"


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
    assignee: str = ""  # e-mail
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
        self._ids: Iterator[int] = itertools.count(10000)
        self._users = {u.email.lower(): u for u in [*self.site.users, self.site.bot_account]}
        #: The same people as ``User`` values, made once (every ticket read makes its reporter, watchers …).
        self._people = {key: _user(u) for key, u in self._users.items()}
        self._bot = _user(self.site.bot_account)  # the author of its comments
        self._orgs = {o.name.casefold(): o.name for o in self.site.organizations}
        self._fields = {f.name.casefold(): f for f in self.site.fields}
        self.zendesk = self.site.is_zendesk
        for seeded in self.site.tickets:
            self.tickets[seeded.key] = _Stored(
                key=seeded.key, project=self._seed_project(seeded.key, seeded.group), summary=seeded.summary,
                description=seeded.description,
                status=(zendesk_status(seeded.status) or "open") if self.zendesk else seeded.status,
                issue_type=seeded.issue_type.casefold() if self.zendesk else seeded.issue_type,
                reporter=seeded.reporter or "", assignee=seeded.assignee or "",
                organizations=list(seeded.organizations),
                request_type=seeded.request_type, participants=list(seeded.participants),
                watchers=list(seeded.watchers), labels=list(seeded.labels), fields=dict(seeded.fields))

    # reads ---------------------------------------------------------------------------
    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        stored = self._stored(key)
        return Ticket(
            key=stored.key,
            id=stored.key,
            project=stored.project,
            summary=stored.summary,
            description=stored.description,
            status=stored.status,
            resolution=stored.resolution,
            issue_type=stored.issue_type,
            tracker="zendesk" if self.zendesk else self.name,
            reporter=self._person(stored.reporter),
            creator=self._person(stored.creator),
            assignee=self._person(stored.assignee),
            organizations=tuple(stored.organizations),
            request_type=stored.request_type,
            labels=tuple(stored.labels),
            fields=dict(stored.fields),
            watchers=self._persons(stored.watchers) if with_people else None,
            participants=self._persons(stored.participants) if with_people else None,
            links=tuple(stored.links),
            comments=tuple(stored.comments),
            created=stored.created,
            updated=stored.updated,
            url=f"{self.site.base_url.rstrip('/')}/{'agent/tickets' if self.zendesk else 'browse'}/{stored.key}"
            if self.site.base_url
            else "",
        )

    def find_user(self, email: str) -> User | None:
        return self._people.get(email.strip().lower())

    def search_updated(self, projects: Sequence[str], since: datetime) -> list[Ticket]:
        """Tickets of ``projects`` updated at or after ``since`` (the polling fallback's query)."""
        return [self.get_ticket(t.key) for t in self.tickets.values()
                if t.project in projects and t.updated is not None and t.updated >= since]

    # catalogs: the names a rule config may use (read-only; ``ticketbot check``) --------
    # The in-memory site has one workflow and one set of fields for every project.
    def field_names(self) -> list[str]:
        return [f.name for f in self.site.fields]

    def field_spec(self, field: str) -> tuple[str, str] | None:
        """The field's id and type in the site's vocabulary (``option``, ``options``, ``user``, ``number``, ``text``,
        ``sd-…``); None for an unknown field."""
        spec = self._fields.get(field.casefold())
        return (spec.id, spec.type) if spec else None

    def field_options(self, field: str, project: str | None = None) -> list[str]:
        """The options of a select field (empty for a field that has none)."""
        spec = self._fields.get(field.casefold())
        if spec is None:
            raise NotFound(f"field {field!r} not found")
        return list(spec.options)

    def statuses(self, project: str | None = None) -> list[str]:
        if self.zendesk:  # as ZendeskTracker: the API values and their spelled-out forms
            self._require_group(project)
            return [*ZENDESK_STATUSES, "on-hold", "on hold"]
        return list(self.site.statuses)

    def transition_targets(self, project: str | None = None) -> list[str]:
        """Every status some transition leads to (from any status); Zendesk: every status."""
        if self.zendesk:
            return self.statuses(project)
        return list(dict.fromkeys(t.to for t in self.site.transitions))

    def request_types(self, project: str) -> list[str]:
        if self.zendesk:  # ticket forms belong to the account
            self._require_group(project)
            return [f.name for f in self.site.forms]
        for desk in self.site.service_desks:
            if desk.project == project:
                return list(desk.request_types.values())
        raise NotFound(f"project {project} is not a service desk")

    def link_types(self) -> list[str] | None:
        """None on Zendesk: it has no link types, a link of any type name is recorded (see ``link``)."""
        if self.zendesk:
            return None
        return [t.name for t in self.site.link_types]

    def organizations(self, project: str | None = None) -> list[str]:
        """Every organization, including those created since the site was loaded."""
        return sorted(self._orgs.values(), key=str.casefold)

    def issue_types(self, project: str | None = None) -> list[str]:
        return list(self.site.issue_types)

    def organization_property(self, organization: str, key: str) -> Any:
        """A property of a Service Management organization, as ``site.yaml`` gives it (``properties:``);
        None for an organization without it, or one created since the site was loaded."""
        if self.zendesk:
            raise Rejected("Zendesk organizations have no properties (a Jira Service Management feature)")
        wanted = " ".join(organization.split()).casefold()
        found = next((o for o in self.site.organizations if " ".join(o.name.split()).casefold() == wanted), None)
        return None if found is None else found.properties.get(key)

    # writes --------------------------------------------------------------------------
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        stored = self._stored(key)
        # Validate the whole edit first: Jira rejects an edit with one bad field entirely.
        for change in changes:
            self._check_field_change(change)
        for change in changes:
            match change:
                case SetField(field=name, value=value):
                    spec = self._fields[name.casefold()]
                    value = self._option_names(spec, value) if self.zendesk else value
                    if self.zendesk:
                        self._swap_option_tags(stored, spec, stored.fields.get(spec.name), value)
                    stored.fields[spec.name] = value
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

    def change_labels(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """As the adapters: each label checked first (Rejected, nothing changed), Zendesk tags lower-cased."""
        stored = self._stored(key)
        system = "zendesk" if self.zendesk else "jira"
        for label in (*add, *remove):
            if (problem := label_problem(label, system)) is not None:
                raise Rejected(problem, name=label)
        if self.zendesk:
            add, remove = [zendesk_tag(a) for a in add], [zendesk_tag(r) for r in remove]
        gone = set(remove)
        labels = [t for t in stored.labels if t not in gone]
        labels += [a for a in dict.fromkeys(add) if a not in labels and a not in gone]
        if labels != stored.labels:
            added = [a for a in labels if a not in stored.labels]
            removed = [t for t in stored.labels if t not in labels]
            stored.labels = labels
            self._note(key, "labels" + (f" + {', '.join(added)}" if added else "")
                       + (f" - {', '.join(removed)}" if removed else ""))
            self._touch(stored)

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        stored = self._stored(key)
        if mentions and self.zendesk:  # Zendesk notes have no structured mention: named ahead, as the adapter does
            body = " ".join(f"@{m}" for m in mentions) + " " + body
        elif mentions:  # rendered as Jira wiki mentions, as the Jira adapter posts them
            body = " ".join(f"[~accountid:{self._require_user(m).account_id}]" for m in mentions) + " " + body
        comment_id = str(next(self._ids))
        stored.comments.append(Comment(id=comment_id, body=body, author=self._bot,
                                       internal=True, created=self._clock()))
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        self._note(key, f"internal comment: {first_line[:80]}")
        self._touch(stored)
        return comment_id

    def add_public_reply(self, key: str, body: str) -> str:
        """A public reply (``internal=False``): the only comment this tracker stores as customer-visible."""
        stored = self._stored(key)
        if not body.strip():
            raise Rejected("refusing to post an empty public reply")
        comment_id = str(next(self._ids))
        stored.comments.append(Comment(id=comment_id, body=body, author=self._bot,
                                       internal=False, created=self._clock()))
        first_line = body.strip().splitlines()[0]
        self._note(key, f"public reply: {first_line[:80]}")
        self._touch(stored)
        return comment_id

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        stored = self._stored(key)
        if self.zendesk:  # no workflow and no resolution: the status is set, from any status
            target = zendesk_status(status)
            if target is None:
                raise NotFound(f"Zendesk has no status {status!r}; statuses: {', '.join(ZENDESK_STATUSES)}")
            if target != stored.status:
                old, stored.status = stored.status, target
                self._note(key, f"status {old} -> {target}")
                self._touch(stored)
            return
        for t in self.site.transitions:
            if t.to.casefold() == status.casefold() and (not t.from_ or stored.status in t.from_):
                if resolution and resolution not in self.site.resolutions:  # Jira refuses the whole transition
                    raise NotFound(f"resolution {resolution!r} not found; known: {self.site.resolutions}")
                old, stored.status = stored.status, t.to
                if resolution:
                    stored.resolution = resolution
                self._note(key, f"status {old} -> {t.to}" + (f" (resolution {resolution})" if resolution else ""))
                self._touch(stored)
                return
        targets = sorted({t.to for t in self.site.transitions if not t.from_ or stored.status in t.from_})
        raise NotFound(f"{key}: no transition to {status!r} from {stored.status!r}; available: {targets}")

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        if self.zendesk:
            self._zendesk_link(link_type, inward_key, outward_key)
            return
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
        if self.zendesk:
            return self._zendesk_create(project, issue_type, summary, description, field_values)
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
        return self._add_created(stored, f"created {issue_type} {summary!r}", field_values)

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
            assignee=ticket.assignee.email if ticket.assignee else "",
            organizations=list(ticket.organizations), request_type=ticket.request_type,
            participants=[p.email for p in ticket.participants or () if p.email],
            watchers=[w.email for w in ticket.watchers or () if w.email],
            labels=list(ticket.labels), fields=dict(ticket.fields),
            links=list(ticket.links), comments=list(ticket.comments),
            created=ticket.created, updated=ticket.updated or ticket.created)

    def apply_external_change(self, key: str, field_name: str, value: Any) -> None:
        """A change a person made (recorded in a replayed changelog or webhook), applied without checks.

        Zendesk names work too: ``tags`` (the whole list, or space-separated), ``group`` (the project),
        ``form`` (the request type), ``type``, ``subject``; a status such as ``"OPEN"`` is normalized.
        """
        stored = self._stored(key)
        match field_name.casefold():
            case "status":
                text = str(value or "")
                stored.status = (zendesk_status(text) or stored.status) if self.zendesk else (text or stored.status)
            case "labels" | "tags":
                stored.labels = list(value) if isinstance(value, list | tuple) else str(value or "").split()
            case "summary" | "subject":
                stored.summary = str(value or "")
            case "description":
                stored.description = str(value or "")
            case "assignee" | "assignee_id":
                stored.assignee = self._email_of(value)
            case "group" if self.zendesk:
                stored.project = str(value or "") or ZENDESK_DEFAULT_PROJECT
            case "form" | "request type":
                stored.request_type = str(value) if value else None
            case "type" | "issue type":
                stored.issue_type = str(value or "").casefold() if self.zendesk else str(value or "")
            case _:
                spec = self._fields.get(field_name.casefold())
                stored.fields[spec.name if spec else field_name] = value
        self._touch(stored)

    def add_external_comment(self, key: str, comment: Comment) -> None:
        stored = self._stored(key)
        if all(c.id != comment.id for c in stored.comments):
            stored.comments.append(comment)
            self._touch(stored)

    # Zendesk ----------------------------------------------------------------------------
    def _seed_project(self, key: str, group: str | None) -> str:
        if self.zendesk:
            return group or ZENDESK_DEFAULT_PROJECT
        return key.rsplit("-", 1)[0]

    def _require_group(self, project: str | None) -> None:
        if project and project.casefold() != ZENDESK_DEFAULT_PROJECT and \
                all(g.name.casefold() != project.casefold() for g in self.site.groups):
            known = ", ".join(repr(g.name) for g in self.site.groups) or "none"
            raise NotFound(f"no Zendesk group named {project!r}; known: {known}")

    def _group_name(self, project: str) -> str:
        self._require_group(project)
        return next((g.name for g in self.site.groups if g.name.casefold() == project.casefold()),
                    ZENDESK_DEFAULT_PROJECT)

    @staticmethod
    def _option_names(spec: Any, value: Any) -> Any:
        """A dropdown / multiselect value given by option name or tag -> the option name(s)."""
        if spec.type not in ("option", "options") or value is None:
            return value
        by_key = {k: o for o in spec.options for k in (o.casefold(), option_tag(o))}

        def name(item: Any) -> str:
            found = by_key.get(str(item).strip().casefold())
            if found is None:
                raise NotFound(f"field {spec.name!r} has no option {item!r}; options: {spec.options}")
            return found

        if spec.type == "options":
            return [name(v) for v in ([value] if isinstance(value, str) else value)]
        return name(value)

    @staticmethod
    def _swap_option_tags(stored: _Stored, spec: Any, old: Any, new: Any) -> None:
        """Zendesk puts a dropdown option's tag on the ticket (and takes the old one off)."""
        if spec.type not in ("option", "options"):
            return
        old_tags = {option_tag(o) for o in _as_list(old)}
        new_tags = [option_tag(o) for o in _as_list(new)]
        kept = [t for t in stored.labels if t not in old_tags]
        stored.labels = kept + [t for t in dict.fromkeys(new_tags) if t not in kept]

    def _zendesk_link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        # The adapter's tag format; imported here, so that only Zendesk sites load zenpy.
        from bot.trackers.zendesk.adapter import link_tag

        inward, outward = self._stored(inward_key), self._stored(outward_key)
        link = Link(link_type, inward_key, outward_key)
        if link in inward.links:
            return
        tag = link_tag(link_type, int(inward_key), int(outward_key))
        note = (f"ticketbot linked #{inward_key} -[{link_type}]-> #{outward_key}. "
                f"(Zendesk has no ticket links; tag {tag}.)")
        for stored in (outward, inward):
            stored.links.append(link)
            if tag not in stored.labels:
                stored.labels.append(tag)
            stored.comments.append(Comment(id=str(next(self._ids)), body=note, author=self._bot,
                                           internal=True, created=self._clock()))
            self._touch(stored)
        self._note(inward_key, f"link #{inward_key} -[{link_type}]-> #{outward_key} (tag {tag}, notes on both)")

    def _zendesk_create(self, project: str, issue_type: str, summary: str, description: str,
                        field_values: dict[str, Any] | None) -> str:
        kind = issue_type.strip().casefold()
        if kind and kind not in self.site.issue_types:
            raise NotFound(f"Zendesk has no ticket type {issue_type!r}; ticket types: {self.site.issue_types}")
        group = self._group_name(project)
        for name, value in (field_values or {}).items():  # all or nothing
            self._check_field_change(SetField(rule_id="create", ticket_key="", step=name, field=name, value=value))
        key = str(1 + max((int(k) for k in self.tickets if k.isdigit()), default=0))
        body = description or summary
        stored = _Stored(key=key, project=group, summary=summary, description=body, status="new",
                         issue_type=kind, reporter=self.site.bot_account.email,
                         creator=self.site.bot_account.email, created=self._clock())
        stored.comments.append(Comment(id=str(next(self._ids)), body=body, author=self._bot,
                                       internal=True, created=self._clock()))
        return self._add_created(stored, f"created {kind or 'ticket'} #{key} in {group} {summary!r}", field_values)

    def _add_created(self, stored: _Stored, note: str, field_values: dict[str, Any] | None) -> str:
        """Store a ticket just created, log it, then set its fields as the create call carried them."""
        key = stored.key
        self.tickets[key] = stored
        self._note(key, note)
        if field_values:
            self.update_fields(key, [SetField(rule_id="create", ticket_key=key, step=name, field=name, value=value)
                                     for name, value in field_values.items()])
        self._touch(stored)
        return key

    # helpers -------------------------------------------------------------------------
    def _stored(self, key: str) -> _Stored:
        try:
            return self.tickets[key]
        except KeyError:
            raise NotFound(f"ticket {key} does not exist") from None

    def _email_of(self, value: Any) -> str:
        """A person as an event names them (a user, an e-mail, an account or user id) -> e-mail ("": nobody)."""
        if isinstance(value, User):
            return value.email or ""
        text = str(value or "").strip()
        if "@" in text:
            return text
        return next((u.email for u in self.site.users if text and u.account_id == text), "")

    def _person(self, email: str) -> User | None:
        if not email:
            return None
        return self.find_user(email) or User(email=email)

    def _persons(self, emails: Iterable[str]) -> tuple[User, ...]:
        return tuple(p for p in map(self._person, emails) if p is not None)

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
                if self.zendesk:
                    self._option_names(spec, value)  # NotFound for an unknown option name or tag
                elif spec.type == "option" and value not in spec.options:
                    raise NotFound(f"{name!r} has no option {value!r}; options: {spec.options}")
            case SetReporter(email=email):
                self._require_user(email)
            case SetRequestType(ticket_key=key, name=name):
                self._request_type(self._stored(key).project, name)
            case SetOrganization():
                pass  # created when missing, as the Jira adapter does
            case _:
                raise TrackerError(f"{change.kind} is not a field change")

    def _request_type(self, project: str, name: str) -> str:
        if self.zendesk:
            form = next((f.name for f in self.site.forms if f.name.casefold() == name.strip().casefold()), None)
            if form is None:
                raise NotFound(f"no Zendesk ticket form named {name!r}; known: {[f.name for f in self.site.forms]}")
            return form
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


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _user(u: SiteUser) -> User:
    return User(account_id=u.account_id, email=u.email, display_name=u.display_name)

