"""A description of a tracker site: people, fields, workflow, service desks, tickets.

One site description seeds both the in-memory tracker (replay, tests) and the stateful
fakes used in adapter tests (fake Jira, fake Zendesk), so the same scenario runs against both.

``kind: jira`` (the default) describes a Jira Cloud site. ``kind: zendesk`` describes a Zendesk
Support account in Zendesk's own terms, the way :class:`bot.trackers.zendesk.adapter.ZendeskTracker`
maps it onto the Tracker vocabulary: ``groups`` are the "projects" (a ticket's ``group``),
``forms`` the ticket forms (request types), ``fields`` the ticket fields by title (``option`` is a
dropdown whose option values are tags, see :func:`option_tag`; ``options`` a multiselect), the
statuses are Zendesk's fixed ones (new, open, pending, hold, solved, closed) and any status can
be set from any other, a ticket's ``issue_type`` is its type (question, incident, problem, task),
``labels`` are its tags, ``watchers`` its followers and ``participants`` its e-mail CCs; ticket
keys and people's ``account_id`` are Zendesk ids (digits). ``transitions``, ``link_types``,
``service_desks`` and ``resolutions`` are Jira notions and must not be given for a Zendesk account.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Zendesk's ticket statuses (API values) and ticket types: fixed for every account.
ZENDESK_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
ZENDESK_TICKET_TYPES = ("question", "incident", "problem", "task")
_ZENDESK_STATUS_ALIASES = {"on-hold": "hold", "on hold": "hold", "onhold": "hold"}


def option_tag(name: str) -> str:
    """The tag a Zendesk dropdown option gets for its name ("Avaliação" -> "avalia_o"), as the fake does."""
    return re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")


def zendesk_status(text: str) -> str | None:
    """``"Open"``, ``"OPEN"``, ``"On-hold"`` -> the API value; None when it is no Zendesk status."""
    value = " ".join(str(text or "").split()).casefold()
    value = _ZENDESK_STATUS_ALIASES.get(value, value)
    return value if value in ZENDESK_STATUSES else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteUser(_Model):
    account_id: str
    email: str
    display_name: str = ""


class SiteField(_Model):
    """A custom field. ``type``: text | option | options | user | number, or the Service
    Management system fields sd-organizations | sd-request-type | sd-participants."""

    id: str
    name: str
    type: str = "text"
    options: list[str] = Field(default_factory=list)


class SiteTransition(_Model):
    id: str
    name: str
    to: str
    from_: list[str] = Field(default_factory=list, alias="from")  # empty: from any status

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SiteLinkType(_Model):
    id: str
    name: str
    inward: str
    outward: str


class SiteServiceDesk(_Model):
    id: str
    project: str
    request_types: dict[str, str] = Field(default_factory=dict)  # id -> name


class SiteOrganization(_Model):
    id: str
    name: str
    service_desks: list[str] = Field(default_factory=list)
    #: Service Management organization properties, key -> JSON value (e.g. ``account-manager``).
    properties: dict[str, Any] = Field(default_factory=dict)


class SiteGroup(_Model):
    """A Zendesk group: the "project" of its tickets."""

    id: str
    name: str


class SiteForm(_Model):
    """A Zendesk ticket form: the "request type" of its tickets."""

    id: str
    name: str


class SiteTicket(_Model):
    key: str
    summary: str
    description: str = ""
    status: str = "Open"
    issue_type: str = "Task"
    reporter: str | None = None  # e-mail
    assignee: str | None = None  # e-mail
    organizations: list[str] = Field(default_factory=list)
    request_type: str | None = None
    participants: list[str] = Field(default_factory=list)  # e-mails
    watchers: list[str] = Field(default_factory=list)  # e-mails
    labels: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)  # by display name
    group: str | None = None  # Zendesk: the group's name (Jira: the project is the key's prefix)


class Site(_Model):
    kind: Literal["jira", "zendesk"] = "jira"
    base_url: str = ""  # e.g. https://goeverbright.atlassian.net: tickets get <base_url>/browse/KEY
    bot_account: SiteUser = SiteUser(account_id="bot-0001", email="ticketbot@example.com", display_name="ticketbot")
    users: list[SiteUser] = Field(default_factory=list)
    fields: list[SiteField] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=lambda: ["Open"])
    transitions: list[SiteTransition] = Field(default_factory=list)
    link_types: list[SiteLinkType] = Field(default_factory=list)
    service_desks: list[SiteServiceDesk] = Field(default_factory=list)
    organizations: list[SiteOrganization] = Field(default_factory=list)
    issue_types: list[str] = Field(default_factory=lambda: ["Task"])
    resolutions: list[str] = Field(default_factory=lambda: ["Done", "Won't Do", "Duplicate", "Declined"])
    tickets: list[SiteTicket] = Field(default_factory=list)
    groups: list[SiteGroup] = Field(default_factory=list)  # Zendesk
    forms: list[SiteForm] = Field(default_factory=list)  # Zendesk

    @model_validator(mode="before")
    @classmethod
    def _zendesk_defaults(cls, data: Any) -> Any:
        """A Zendesk account has Zendesk's statuses and types; Jira-only notions are refused."""
        if not isinstance(data, dict) or data.get("kind") != "zendesk":
            return data
        jira_only = [k for k in ("transitions", "link_types", "service_desks", "resolutions", "issue_types")
                     if data.get(k)]
        if jira_only:
            raise ValueError(f"a Zendesk site has no {', '.join(jira_only)} (Zendesk's ticket types are fixed; "
                             "groups and forms take the place of projects and request types)")
        unknown = [s for s in data.get("statuses") or () if zendesk_status(s) is None]
        if unknown:
            raise ValueError(f"Zendesk has no status {unknown[0]!r}; statuses: {', '.join(ZENDESK_STATUSES)}")
        return {**data, "statuses": list(ZENDESK_STATUSES), "issue_types": list(ZENDESK_TICKET_TYPES),
                "resolutions": []}

    @model_validator(mode="after")
    def _zendesk_names(self) -> Site:
        if self.kind != "zendesk":
            if self.groups or self.forms:
                raise ValueError("groups and forms describe a Zendesk account: add `kind: zendesk`")
            return self
        groups = {g.name for g in self.groups}
        for ticket in self.tickets:
            if not ticket.key.isdigit():
                raise ValueError(f"Zendesk ticket keys are ticket ids (digits), not {ticket.key!r}")
            if zendesk_status(ticket.status) is None:
                raise ValueError(f"ticket {ticket.key}: {ticket.status!r} is not a Zendesk status")
            if ticket.group and ticket.group not in groups:
                raise ValueError(f"ticket {ticket.key}: no group named {ticket.group!r}")
        return self

    @property
    def is_zendesk(self) -> bool:
        return self.kind == "zendesk"

    def group_name(self, group_id: Any) -> str | None:
        return next((g.name for g in self.groups if g.id == str(group_id)), None)

    def form_name(self, form_id: Any) -> str | None:
        return next((f.name for f in self.forms if f.id == str(form_id)), None)

    def user_by_id(self, account_id: Any) -> SiteUser | None:
        wanted = str(account_id or "")
        return next((u for u in [*self.users, self.bot_account] if u.account_id == wanted), None)

    def field_by(self, *, title: str = "", field_id: Any = None) -> SiteField | None:
        """A field by its title (case-insensitive) or by its id (``customfield_10200``, ``360010200``)."""
        if title:
            found = next((f for f in self.fields if f.name.casefold() == title.strip().casefold()), None)
            if found is not None:
                return found
        digits = re.sub(r"\D", "", str(field_id or ""))
        return next((f for f in self.fields if digits and re.sub(r"\D", "", f.id) == digits), None)

    @classmethod
    def load(cls, path: str | Path) -> Site:
        with open(path, encoding="utf-8") as fh:
            return cls.model_validate(yaml.safe_load(fh) or {})

    def user_by_email(self, email: str) -> SiteUser | None:
        wanted = email.strip().lower()
        return next((u for u in self.users if u.email.lower() == wanted), None)


_SD_SCHEMAS = {
    "sd-organizations": ("array", "com.atlassian.servicedesk:sd-customer-organizations"),
    "sd-request-type": ("sd-customerrequesttype", "com.atlassian.servicedesk:vp-origin"),
    "sd-participants": ("array", "com.atlassian.servicedesk:sd-request-participants"),
    "option": ("option", "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "options": ("array", "com.atlassian.jira.plugin.system.customfieldtypes:multiselect"),
    "user": ("user", "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"),
    "number": ("number", "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "text": ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
}


def site_field_type(schema: dict[str, Any]) -> str:
    """A Jira field's schema (``GET /field``) -> the type a site description gives it (``text`` when unknown)."""
    custom, kind = str(schema.get("custom") or ""), str(schema.get("type") or "")
    for name, (_, known) in _SD_SCHEMAS.items():
        if custom and custom == known:
            return name
    if kind == "array":
        return "options" if schema.get("items") == "option" else "text"
    return {"option": "option", "user": "user", "number": "number"}.get(kind, "text")


def jira_field_json(site: Site) -> list[dict[str, Any]]:
    """The site's custom fields as Jira's ``GET /rest/api/2/field`` lists them."""
    out = []
    for f in site.fields:
        kind, custom = _SD_SCHEMAS.get(f.type, _SD_SCHEMAS["text"])
        out.append({"id": f.id, "key": f.id, "name": f.name, "custom": True, "orderable": True,
                    "navigable": True, "searchable": True, "clauseNames": [f"cf[{f.id.split('_')[-1]}]", f.name],
                    "schema": {"type": kind, "custom": custom, "customId": int(f.id.split("_")[-1])}})
    return out
