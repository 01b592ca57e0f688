"""Jira Cloud webhook bodies for runbook scenarios, shaped like the recorded ones in examples/.

A scenario is written as what people did (created a ticket, moved its status, set a field,
commented); :class:`JiraWebhooks` turns each into the body Jira would send, with the site's
custom field ids, so the replay reads it exactly as it reads a recorded file.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bot.trackers.site import Site


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def jira_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class JiraWebhooks:
    """Builds webhook bodies for one site (``base_url`` gives the ``self`` links)."""

    def __init__(self, site: Site, base_url: str, *, issue_ids: int = 10100, changelog_ids: int = 40000) -> None:
        self.site = site
        self.base_url = base_url.rstrip("/")
        self._field_ids = {f.name.casefold(): f.id for f in site.fields}
        self._field_types = {f.name.casefold(): f.type for f in site.fields}
        self._issue_ids: dict[str, str] = {}
        self._next_issue = itertools.count(issue_ids)
        self._changelog = itertools.count(changelog_ids)
        self._comment = itertools.count(70000)

    # pieces -------------------------------------------------------------------------------------
    def user(self, email: str) -> dict[str, Any]:
        known = next((u for u in [*self.site.users, self.site.bot_account] if u.email.lower() == email.lower()), None)
        if known is None:
            raise KeyError(f"{email} is not a user of the site")
        return {"self": f"{self.base_url}/rest/api/2/user?accountId={known.account_id}", "accountId": known.account_id,
                "emailAddress": known.email, "displayName": known.display_name, "active": True,
                "timeZone": "UTC", "accountType": "atlassian"}

    def _issue_id(self, key: str) -> str:
        if key not in self._issue_ids:
            self._issue_ids[key] = str(next(self._next_issue))
        return self._issue_ids[key]

    def _field_value(self, name: str, value: Any) -> Any:
        kind = self._field_types.get(name.casefold(), "text")
        if value is None:
            return None
        if kind == "user":
            return self.user(value)
        if kind == "option":
            return {"self": f"{self.base_url}/rest/api/2/customFieldOption/1", "value": value, "id": "1"}
        if kind == "options":
            return [{"value": v, "id": str(i)} for i, v in enumerate(value, 1)]
        return value

    def _issue(self, key: str, *, summary: str, issue_type: str, status: str, at: datetime, created: datetime,
               reporter: str, description: str = "", labels: tuple[str, ...] = (),
               fields: dict[str, Any] | None = None) -> dict[str, Any]:
        project = key.rsplit("-", 1)[0]
        body: dict[str, Any] = {
            "summary": summary, "description": description,
            "issuetype": {"id": "10001", "name": issue_type, "subtask": False},
            "project": {"id": "10000", "key": project, "name": project, "projectTypeKey": "software"},
            "status": {"name": status, "id": "1", "statusCategory": {"key": "new", "name": "To Do"}},
            "reporter": self.user(reporter), "creator": self.user(reporter),
            "created": jira_time(created), "updated": jira_time(at), "labels": list(labels), "issuelinks": [],
            "priority": {"name": "Medium", "id": "3"}, "assignee": None,
            "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
        }
        for name, value in (fields or {}).items():
            body[self._field_ids[name.casefold()]] = self._field_value(name, value)
        return {"id": self._issue_id(key), "self": f"{self.base_url}/rest/api/2/issue/{self._issue_id(key)}",
                "key": key, "fields": body}

    # events -------------------------------------------------------------------------------------
    def created(self, key: str, at: datetime, by: str, *, summary: str, issue_type: str, status: str,
                description: str = "", labels: tuple[str, ...] = (), fields: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        return {"timestamp": epoch_ms(at), "webhookEvent": "jira:issue_created",
                "issue_event_type_name": "issue_created", "user": self.user(by),
                "issue": self._issue(key, summary=summary, issue_type=issue_type, status=status, at=at, created=at,
                                     reporter=by, description=description, labels=labels, fields=fields),
                "changelog": {"id": str(next(self._changelog)), "items": [
                    {"field": "summary", "fieldtype": "jira", "fieldId": "summary", "from": None,
                     "fromString": None, "to": None, "toString": summary}]}}

    def updated(self, key: str, at: datetime, by: str, changes: dict[str, tuple[Any, Any]], *, summary: str,
                issue_type: str, status: str, created: datetime) -> dict[str, Any]:
        """``changes``: field display name (or status, labels) -> (from, to) as Jira's changelog writes them."""
        items = []
        for name, (old, new) in changes.items():
            system = name.casefold() in ("status", "labels", "summary", "description", "resolution")
            items.append({"field": name, "fieldtype": "jira" if system else "custom",
                          "fieldId": name.casefold() if system else self._field_ids[name.casefold()],
                          "from": None, "fromString": _text(old), "to": None, "toString": _text(new)})
        return {"timestamp": epoch_ms(at), "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": "issue_generic", "user": self.user(by),
                "issue": self._issue(key, summary=summary, issue_type=issue_type, status=status, at=at,
                                     created=created, reporter=by),
                "changelog": {"id": str(next(self._changelog)), "items": items}}

    def commented(self, key: str, at: datetime, by: str, body: str, *, summary: str, issue_type: str, status: str,
                  created: datetime, internal: bool = True) -> dict[str, Any]:
        comment_id = str(next(self._comment))
        return {"timestamp": epoch_ms(at), "webhookEvent": "comment_created",
                "issue": self._issue(key, summary=summary, issue_type=issue_type, status=status, at=at,
                                     created=created, reporter=by),
                "comment": {"self": f"{self.base_url}/rest/api/2/issue/{self._issue_id(key)}/comment/{comment_id}",
                            "id": comment_id, "author": self.user(by), "updateAuthor": self.user(by), "body": body,
                            "created": jira_time(at), "updated": jira_time(at), "jsdPublic": not internal}}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class Issue:
    """One ticket of a scenario: remembers its summary, type, status and creation for later events."""

    def __init__(self, hooks: JiraWebhooks, key: str, *, summary: str, issue_type: str, status: str,
                 created: datetime) -> None:
        self.hooks, self.key, self.summary, self.issue_type = hooks, key, summary, issue_type
        self.status, self.created = status, created

    def _same(self) -> dict[str, Any]:
        return {"summary": self.summary, "issue_type": self.issue_type, "status": self.status, "created": self.created}

    def create(self, by: str, **kw: Any) -> dict[str, Any]:
        return self.hooks.created(self.key, self.created, by, summary=self.summary, issue_type=self.issue_type,
                                  status=self.status, **kw)

    def change(self, at: datetime, by: str, changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        if "status" in changes:
            self.status = str(changes["status"][1])
        return self.hooks.updated(self.key, at, by, changes, **self._same())

    def move(self, at: datetime, by: str, status: str) -> dict[str, Any]:
        return self.change(at, by, {"status": (self.status, status)})

    def comment(self, at: datetime, by: str, body: str, *, internal: bool = True) -> dict[str, Any]:
        return self.hooks.commented(self.key, at, by, body, internal=internal, **self._same())
