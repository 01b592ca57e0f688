"""Zendesk webhook bodies for runbook scenarios, shaped as Zendesk sends them.

A scenario is written as what people did, with the same calls as :class:`bot.testing.jira.Issue`
(create, change, move, comment); :class:`ZendeskTicket` turns each into what a Zendesk account
configured as the README says would POST to ``/webhooks/zendesk``:

- a new ticket: the trigger body ``bot.sources.zendesk_webhook`` documents (``"event":
  "ticket.created"``), rendered, with the optional ``fields`` section (custom fields by title);
- a custom field set (``change``): the event-webhook envelope ``zen:event-type:ticket.custom_field_changed``
  (dropdowns carry their option tags, a multiselect the list of tags), one field per call;
- a status set (``move``): the rendered trigger body ``"event": "ticket.updated"`` with the new status;
- a comment: the rendered trigger body ``"event": "comment.created"`` with ``"public"``.

Ids come from the site (users, groups, forms, fields are Zendesk ids there), so the replay reads
them exactly as it reads a recorded file.
"""

from __future__ import annotations

import html
import itertools
from datetime import UTC, datetime
from typing import Any

from bot.trackers.site import Site, option_tag

ACCOUNT_ID = 16788001
EVENT_VERSION = "2022-11-06"


def zendesk_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskWebhooks:
    """Builds webhook bodies for one Zendesk site description (``kind: zendesk``)."""

    def __init__(self, site: Site, *, first_event: int = 1) -> None:
        assert site.is_zendesk, "a Zendesk site description (kind: zendesk)"
        self.site = site
        self._events = itertools.count(first_event)

    def user(self, email: str) -> tuple[str, str, str]:
        """(id, e-mail, name) of a person of the site."""
        found = next((u for u in [*self.site.users, self.site.bot_account] if u.email.casefold() == email.casefold()),
                     None)
        if found is None:
            raise KeyError(f"{email} is not a user of the site")
        return found.account_id, found.email, found.display_name

    def field(self, title: str) -> Any:
        found = self.site.field_by(title=title)
        if found is None:
            raise KeyError(f"{title!r} is not a ticket field of the site")
        return found

    def tags_of(self, title: str, value: Any) -> list[str]:
        """The tags a dropdown / multiselect value puts on a ticket (none for other fields)."""
        spec = self.field(title)
        if spec.type not in ("option", "options") or value in (None, ""):
            return []
        return [option_tag(v) for v in ([value] if isinstance(value, str) else value)]

    def rendered(self, title: str, value: Any) -> Any:
        """``{{ticket.ticket_field_<id>}}`` as Zendesk renders it: a dropdown's tag, a multiselect's tags."""
        spec = self.field(title)
        if spec.type == "option":
            return option_tag(value) if value else ""
        if spec.type == "options":
            return " ".join(option_tag(v) for v in value or ())
        return "" if value is None else str(value)

    def next_id(self) -> str:
        return f"01J9ZD{next(self._events):020d}"


class ZendeskTicket:
    """One ticket of a scenario: remembers what Zendesk would render for it in later webhooks."""

    def __init__(self, hooks: ZendeskWebhooks, key: str, *, subject: str, form: str = "", group: str = "",
                 ticket_type: str = "", status: str = "new", created: datetime, tags: tuple[str, ...] = ()) -> None:
        self.hooks, self.key, self.subject, self.form, self.group = hooks, key, subject, form, group
        self.type, self.status, self.created, self.tags = ticket_type, status, created, list(tags)
        self.requester = ""
        self.updated = created

    # rendering ---------------------------------------------------------------------------------
    def _ticket(self) -> dict[str, Any]:
        """The documented trigger body's ``ticket`` section, rendered."""
        return {"id": self.key, "title": self.subject, "status": self.status.capitalize(),
                "type": self.type.capitalize(), "group": self.group, "form": self.form, "organization": "",
                "requester_email": self.requester, "tags": " ".join(self.tags),
                "updated_at": zendesk_time(self.updated)}

    def _trigger(self, event: str, by: str, *, comment_html: str = "", public: bool | None = None,
                 fields: dict[str, Any] | None = None) -> dict[str, Any]:
        _, email, name = self.hooks.user(by)
        comment: dict[str, Any] = {"html": comment_html}
        if public is not None:
            comment["public"] = public
        body: dict[str, Any] = {"ticketbot": "zendesk-trigger/1", "event": event, "ticket": self._ticket(),
                                "comment": comment, "actor": {"email": email, "name": name}}
        if fields:
            body["fields"] = {title: self.hooks.rendered(title, value) for title, value in fields.items()}
        return body

    def _envelope(self, event_type: str, at: datetime, by: str, event: dict[str, Any]) -> dict[str, Any]:
        actor, _, _ = self.hooks.user(by)
        site = self.hooks.site
        group = next((g.id for g in site.groups if g.name == self.group), None)
        form = next((f.id for f in site.forms if f.name == self.form), None)
        requester = next((u.account_id for u in site.users if u.email == self.requester), None)
        return {"type": f"zen:event-type:{event_type}", "account_id": ACCOUNT_ID, "id": self.hooks.next_id(),
                "time": zendesk_time(at), "zendesk_event_version": EVENT_VERSION, "subject": f"zen:ticket:{self.key}",
                "detail": {"actor_id": actor, "id": self.key, "subject": self.subject, "status": self.status.upper(),
                           "type": self.type.upper() or None, "group_id": group, "form_id": form,
                           "requester_id": requester, "tags": list(self.tags), "is_public": True,
                           "created_at": zendesk_time(self.created), "updated_at": zendesk_time(at),
                           "via": {"channel": "web_service"}},
                "event": event}

    # what people did ------------------------------------------------------------------------------
    def create(self, by: str, *, description: str = "", fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ticket was submitted (trigger ``ticket.created``), with its custom fields."""
        self.requester = self.hooks.user(by)[1]
        for title, value in (fields or {}).items():
            self.tags += [t for t in self.hooks.tags_of(title, value) if t not in self.tags]
        text = "".join(f"<p>{html.escape(line)}</p>" for line in description.splitlines())
        return self._trigger("ticket.created", by, comment_html=text, fields=fields)

    def change(self, at: datetime, by: str, changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        """One custom field set (envelope ``ticket.custom_field_changed``)."""
        ((title, (old, new)),) = changes.items()
        self.updated = at
        spec = self.hooks.field(title)
        old_tags, new_tags = self.hooks.tags_of(title, old), self.hooks.tags_of(title, new)
        self.tags = [t for t in self.tags if t not in old_tags] + [t for t in new_tags if t not in self.tags]

        def value(v: Any) -> Any:
            if spec.type == "options":
                return [option_tag(x) for x in v or ()]
            return self.hooks.rendered(title, v) or None

        return self._envelope("ticket.custom_field_changed", at, by, {
            "current": value(new), "previous": value(old), "custom_field": {"id": spec.id, "title": spec.name}})

    def move(self, at: datetime, by: str, status: str) -> dict[str, Any]:
        """The status was set (trigger ``ticket.updated``: the ticket as it is now)."""
        self.status, self.updated = status, at
        return self._trigger("ticket.updated", by)

    def comment(self, at: datetime, by: str, body: str, *, internal: bool = True) -> dict[str, Any]:
        """A comment was added (trigger ``comment.created``; ``public`` says which kind)."""
        self.updated = at
        text = "".join(f"<p>{html.escape(line)}</p>" for line in body.splitlines())
        return self._trigger("comment.created", by, comment_html=text, public=not internal)
