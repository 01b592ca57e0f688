"""A description of a tracker site: people, fields, workflow, service desks, tickets.

One site description seeds both the in-memory tracker (replay, tests) and the stateful
fake Jira used in adapter tests, so the same scenario runs against both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


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


class SiteTicket(_Model):
    key: str
    summary: str
    description: str = ""
    status: str = "Open"
    issue_type: str = "Task"
    reporter: str | None = None  # e-mail
    organizations: list[str] = Field(default_factory=list)
    request_type: str | None = None
    participants: list[str] = Field(default_factory=list)  # e-mails
    watchers: list[str] = Field(default_factory=list)  # e-mails
    labels: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)  # by display name


class Site(_Model):
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


def jira_field_json(site: Site) -> list[dict[str, Any]]:
    """The site's custom fields as Jira's ``GET /rest/api/2/field`` lists them."""
    out = []
    for f in site.fields:
        kind, custom = _SD_SCHEMAS.get(f.type, _SD_SCHEMAS["text"])
        out.append({"id": f.id, "key": f.id, "name": f.name, "custom": True, "orderable": True,
                    "navigable": True, "searchable": True, "clauseNames": [f"cf[{f.id.split('_')[-1]}]", f.name],
                    "schema": {"type": kind, "custom": custom, "customId": int(f.id.split("_")[-1])}})
    return out
