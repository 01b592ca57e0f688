"""``ticketbot site export``: a snapshot of what the enabled rules use on a live site, as ``site.yaml``.

A backtest (or a replay) runs on an in-memory site described by a ``site.yaml``; writing one by hand for a
real Jira or Zendesk is slow and goes stale. This reads, with the same read-only catalog calls ``ticketbot
check`` makes (:class:`bot.trackers.base.Catalog`), every name the enabled rules declare they need
(``requirements(config)``) in the projects they name, and writes a :class:`~bot.trackers.site.Site` holding them:

* the people the rules name (and the bot's own account), with the site's account ids and display names;
* each field the rules use, with its id and type (select, multi-select, user, number, text; from the tracker's
  ``field_spec`` where it has one, else "select" when it has options) and every option it offers in those
  projects, and the site's Service Management fields (organizations, request type, participants), so that
  recorded webhooks, which carry fields by id, decode against the exported site as against the live one;
* every status of those projects, issue types, request types (Jira service desks; Zendesk forms), link types and
  the organizations of those projects (Zendesk: the account's), Zendesk groups for the projects.

What the catalog does not tell is written the permissive way, and said so in the file's header: a Jira
transition to each status that some transition of the project reaches is listed *from any status* (the catalog
lists targets, not the workflow's edges), and a link type's inward and outward descriptions are its name.
Nothing is written to the site; no ticket is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bot.check import rule_requirements
from bot.engine import BoundRule
from bot.trackers.base import Catalog, NotFound, TrackerError
from bot.trackers.site import (
    Site,
    SiteField,
    SiteForm,
    SiteGroup,
    SiteLinkType,
    SiteOrganization,
    SiteServiceDesk,
    SiteTransition,
    SiteUser,
)

#: The kinds of field a site description knows (see :class:`~bot.trackers.site.SiteField`).
FIELD_TYPES = ("text", "option", "options", "user", "number", "sd-organizations", "sd-request-type",
               "sd-participants")


@dataclass
class Export:
    """The exported site, and what could not be read (each a line for the operator)."""

    site: Site
    notes: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The site as ``site.yaml`` holds it: what differs from the defaults; a Zendesk account without the
        statuses, types and resolutions Zendesk fixes (a site description must not give them)."""
        data = self.site.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if self.site.is_zendesk:
            for fixed in ("statuses", "issue_types", "resolutions"):
                data.pop(fixed, None)
        return {"kind": self.site.kind, **data}

    def yaml_header(self, system: str, source: str) -> str:
        lines = [f"# ticketbot site export: the {system} site {source}, the names the enabled rules use (reads only).",
                 "# Written permissively where the catalog does not tell: transitions are listed from any status,",
                 "# link types' inward and outward descriptions are their names. Edit freely (examples/*/site.yaml)."]
        lines += [f"# not exported: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def export_site(rules: Sequence[BoundRule], catalog: Catalog, system: str, *, bot_email: str = "",
                base_url: str = "") -> Export:
    """The site ``catalog`` shows for what the enabled ``rules`` use on ``system`` (``jira`` or ``zendesk``)."""
    reqs = [r for b in rules if b.config.enabled for r in (rule_requirements(b) or []) if r.system == system]
    notes: list[str] = []

    def read(what: str, call: Callable[[], Any], default: Any) -> Any:
        try:
            return call()
        except NotFound as exc:
            notes.append(f"{what}: {exc}")
        except TrackerError as exc:
            notes.append(f"{what}: the site could not be read ({exc})")
        return default

    projects = list(dict.fromkeys(r.project for r in reqs if r.project))
    zendesk = system == "zendesk"
    users = _users(catalog, [r.name for r in reqs if r.kind == "user"], read)
    bot = _users(catalog, [bot_email], read) if bot_email else []
    fields = _fields(catalog, [*(r.name for r in reqs if r.kind == "field"),
                               *(r.parent for r in reqs if r.kind == "option" and r.parent)], projects, read)
    data: dict[str, Any] = {"kind": system, "base_url": base_url, "users": users, "fields": fields}
    if bot:
        data["bot_account"] = bot[0]
    if zendesk:
        data["groups"] = [SiteGroup(id=str(n), name=p) for n, p in enumerate(projects, 1)]
        forms = read("ticket forms", partial(catalog.request_types, projects[0]), []) if projects else []
        data["forms"] = [SiteForm(id=str(n), name=f) for n, f in enumerate(forms, 1)]
        data["organizations"] = [SiteOrganization(id=str(n), name=o) for n, o in enumerate(
            read("organizations", partial(catalog.organizations, projects[0] if projects else None), []), 1)]
        return Export(Site.model_validate(data), notes)
    statuses = _union(read(f"statuses of {p}", partial(catalog.statuses, p), []) for p in projects)
    issue_types = _union(read(f"issue types of {p}", partial(catalog.issue_types, p), []) for p in projects)
    desks, organizations = _service_desks(catalog, projects, read)
    link_types = read("link types", catalog.link_types, None) or []
    targets = {p: read(f"transitions of {p}", partial(catalog.transition_targets, p), []) for p in projects}
    data.update(
        statuses=statuses or ["Open"], issue_types=issue_types or ["Task"], service_desks=desks,
        organizations=organizations,
        transitions=[SiteTransition(id=str(n), name=status, to=status)
                     for n, status in enumerate(_union(targets.values()), 1)],
        link_types=[SiteLinkType(id=str(n), name=name, inward=name.casefold(), outward=name.casefold())
                    for n, name in enumerate(link_types, 1)])
    return Export(Site.model_validate(data), notes)


def _users(catalog: Catalog, emails: Iterable[str], read: Callable[..., Any]) -> list[SiteUser]:
    out: dict[str, SiteUser] = {}
    for email in dict.fromkeys(e.strip() for e in emails if e and "@" in e):
        user = read(f"user {email}", partial(catalog.find_user, email), None)
        if user is None:
            continue
        out[email.casefold()] = SiteUser(account_id=user.account_id or email, email=user.email or email,
                                         display_name=user.display_name or "")
    return list(out.values())


def _fields(catalog: Catalog, names: Iterable[str], projects: Sequence[str],
            read: Callable[..., Any]) -> list[SiteField]:
    """The fields named, and the site's Service Management fields (webhooks carry them by id), with the site's ids
    where the tracker tells them (``field_spec``), so the recorded webhooks decode against the exported site."""
    everything = read("fields", catalog.field_names, [])
    known = {n.casefold(): n for n in everything}
    spec_of: Callable[[str], tuple[str, str] | None] = getattr(catalog, "field_spec", lambda _name: None)
    specs = {n: read(f"field {n!r}", partial(spec_of, n), None) for n in everything}
    wanted = [known[n.casefold()] for n in names if n.casefold() in known]  # a missing one: the check reports it
    wanted += [n for n, spec in specs.items() if spec and spec[1].startswith("sd-")]
    out: list[SiteField] = []
    for n, name in enumerate(dict.fromkeys(wanted), 1):
        spec = specs.get(name)
        kind = spec[1] if spec else None
        options = [] if kind and kind not in ("option", "options") else _union(
            read(f"options of {name!r} in {p}", partial(catalog.field_options, name, p), []) for p in projects)
        kind = kind or ("option" if options else "text")
        out.append(SiteField(id=spec[0] if spec else f"customfield_{10000 + n}", name=name,
                             type=kind if kind in FIELD_TYPES else "text", options=options))
    return out


def _service_desks(catalog: Catalog, projects: Sequence[str], read: Callable[..., Any]
                   ) -> tuple[list[SiteServiceDesk], list[SiteOrganization]]:
    desks: list[SiteServiceDesk] = []
    organizations: dict[str, SiteOrganization] = {}
    for project in projects:
        try:
            types = catalog.request_types(project)
        except NotFound:
            continue  # not a service desk
        except TrackerError:
            read(f"request types of {project}", partial(catalog.request_types, project), None)  # noted once
            continue
        desk = SiteServiceDesk(id=str(len(desks) + 1), project=project,
                               request_types={str(n): t for n, t in enumerate(types, 1)})
        desks.append(desk)
        for name in read(f"organizations of {project}", partial(catalog.organizations, project), []):
            org = organizations.setdefault(name.casefold(), SiteOrganization(id=str(len(organizations) + 1),
                                                                              name=name))
            org.service_desks.append(desk.id)
    return desks, list(organizations.values())


def _union(lists: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))
