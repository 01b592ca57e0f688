"""One tracker contract, three trackers: the in-memory site, Jira on the fake Jira, Zendesk on the fake Zendesk.

The ``backend`` fixture is parametrized over the three. Each :class:`Backend` seeds the same site
(translated where a vendor has no such thing: Zendesk statuses are its own), gives the tracker under
test, and reads the *stored* state behind it (the fake's records, the memory site's records), so
the tests assert what really changed, not only what the adapter reads back. Things a tracker
legitimately cannot do are listed in ``Backend.cannot`` with the reason; tests skip on them naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import VirtualClock
from bot.model import Ticket
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from bot.trackers.zendesk.adapter import ZendeskSearcher, ZendeskTracker
from tests.fakes.fake_zendesk import FakeZendesk
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.support.sites import BOT, CUSTOMER, DAVID, JSM_FIELDS, JSM_TRANSITIONS, MARIA, ONBOARDING

TOKEN = "contract-token"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MAX_RETRIES = 2

#: Workflow statuses: the ones on a Jira-like site, and what Zendesk calls the same stage.
JIRA_STATUSES = {"start": "Waiting for support", "next": "Waiting for customer", "done": "Closed",
                 "new": "Open", "todo": "To Do"}
ZENDESK_STATUSES = {"start": "open", "next": "pending", "done": "solved", "new": "new", "todo": "open"}


def contract_site(statuses: dict[str, str]) -> Site:
    """The EverBright-like site every tracker is seeded with."""
    return Site.model_validate({
        "bot_account": {"account_id": "500", "email": BOT, "display_name": "ticketbot"},
        "users": [
            {"account_id": "501", "email": DAVID, "display_name": "David Ellis"},
            {"account_id": "502", "email": MARIA, "display_name": "Maria Lopez"},
            {"account_id": "qm:onboarding", "email": ONBOARDING, "display_name": "EverBright Onboarding"},
            {"account_id": "qm:sunpeak", "email": CUSTOMER, "display_name": "Sunpeak Solar Ops"},
        ],
        "fields": JSM_FIELDS,
        "issue_types": ["Service Request", "Task"],
        "statuses": ["Open", "Waiting for support", "Waiting for customer", "Closed", "To Do", "Done"],
        "transitions": JSM_TRANSITIONS,
        "link_types": [
            {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
            {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
            {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
        ],
        "service_desks": [{"id": "2", "project": "SS",
                           "request_types": {"10": "Get IT help", "17": "Company-specific Data Change"}}],
        "organizations": [{"id": "1", "name": "Brightside Installers", "service_desks": ["2"]}],
        "tickets": [
            {"key": "SS-1", "summary": "EverBright Partner Onboarding", "description": "Installer name: Sunpeak Solar",
             "status": statuses["start"], "issue_type": "Service Request", "reporter": CUSTOMER,
             "request_type": "Get IT help", "participants": [CUSTOMER], "watchers": [MARIA],
             "fields": {"Installer name": "Sunpeak Solar"}},
            {"key": "SS-2", "summary": "Re: approval", "status": statuses["new"], "issue_type": "Service Request",
             "reporter": DAVID},
            {"key": "CS-1", "summary": "Configure Sunpeak Solar", "status": statuses["todo"], "issue_type": "Task",
             "reporter": DAVID, "assignee": MARIA},
        ],
    })


@dataclass
class StoredComment:
    body: str
    internal: bool
    by_bot: bool


@dataclass
class Backend:
    """A tracker under contract, the store behind it, and the backend's own vocabulary."""

    name: str
    tracker: Any
    clock: VirtualClock
    statuses: dict[str, str]
    #: Feature -> why this tracker legitimately cannot do it.
    cannot: dict[str, str] = field(default_factory=dict)
    slept: list[float] = field(default_factory=list)
    fake: Any = None

    def key(self, site_key: str) -> str:
        """The tracker's key for a seeded ticket ("SS-1"; Zendesk: its numeric id)."""
        return str(self.fake.id_for(site_key)) if self.name == "zendesk" else site_key

    def require(self, feature: str) -> None:
        if feature in self.cannot:
            pytest.skip(f"{self.name} cannot: {self.cannot[feature]}")

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        if self.name == "jira":
            self.fake.now = self.clock.now()

    def search_updated(self, projects: list[str], since: datetime) -> list[Ticket]:
        if self.name == "zendesk":
            return ZendeskSearcher(self.tracker).search_updated(projects, since)
        return self.tracker.search_updated(projects, since)

    def throttle(self, times: int, retry_after: int) -> None:
        if self.name == "jira":
            self.fake.throttle(times, status=429, retry_after=str(retry_after))
        else:
            self.fake.throttle(times, retry_after=retry_after)

    # the stored state, read behind the tracker's back -------------------------------------------------
    def stored_comments(self, key: str) -> list[StoredComment]:
        if self.name == "memory":
            return [StoredComment(c.body, c.internal, bool(c.author and c.author.email == BOT))
                    for c in self.tracker.tickets[key].comments]
        if self.name == "jira":
            return [StoredComment(c.body, c.internal, c.author == self.fake.bot.account_id)
                    for c in self.fake.ticket(key).comments]
        return [StoredComment(c["body"], not c["public"], c["author_id"] == self.fake.bot_id)
                for c in self.fake.ticket(key)["comments"]]

    def all_stored_comments(self) -> list[StoredComment]:
        keys = (self.tracker.tickets if self.name == "memory" else
                self.fake.issues if self.name == "jira" else [str(t) for t in self.fake.tickets])
        return [c for k in keys for c in self.stored_comments(k)]

    def stored_watchers(self, key: str) -> list[str]:
        """E-mails of the ticket's watchers (Zendesk: followers), with repeats if any."""
        if self.name == "memory":
            return [w.lower() for w in self.tracker.tickets[key].watchers]
        if self.name == "jira":
            return [self.fake.users[a].email.lower() for a in self.fake.ticket(key).watchers]
        return [self.fake.users[u]["email"].lower() for u in self.fake.ticket(key)["follower_ids"]]

    def stored_participants(self, key: str) -> list[str]:
        if self.name == "memory":
            return [p.lower() for p in self.tracker.tickets[key].participants]
        if self.name == "jira":
            return [self.fake.users[a].email.lower() for a in self.fake.ticket(key).participants]
        return [self.fake.users[u]["email"].lower() for u in self.fake.ticket(key)["email_cc_ids"]]

    def stored_labels(self, key: str) -> list[str]:
        """The ticket's labels (Zendesk: tags) as the backend keeps them, in order."""
        if self.name == "memory":
            return list(self.tracker.tickets[key].labels)
        if self.name == "jira":
            return list(self.fake.ticket(key).labels)
        return list(self.fake.ticket(key)["tags"])

    def stored_status(self, key: str) -> str:
        if self.name == "memory":
            return self.tracker.tickets[key].status
        if self.name == "jira":
            return self.fake.ticket(key).status
        return self.fake.ticket(key)["status"]

    def stored_field(self, key: str, name: str) -> Any:
        """A custom field's stored value as the backend keeps it (Zendesk dropdowns: the option's tag)."""
        if self.name == "memory":
            return self.tracker.tickets[key].fields.get(name)
        if self.name == "jira":
            return self.fake.field(key, name)
        definition = next(f for f in self.fake.fields.values() if f["title"] == name)
        return next(f["value"] for f in self.fake.ticket(key)["custom_fields"] if f["id"] == definition["id"])

    def ticket_count(self) -> int:
        if self.name == "memory":
            return len(self.tracker.tickets)
        return len(self.fake.issues if self.name == "jira" else self.fake.tickets)


@pytest.fixture(params=["memory", "jira", "zendesk"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    clock = VirtualClock(START)
    if request.param == "memory":
        yield Backend("memory", MemoryTracker(contract_site(JIRA_STATUSES), now=clock.now), clock, JIRA_STATUSES,
                      cannot={"rate limits": "the in-memory tracker makes no HTTP calls, so nothing throttles it"})
    elif request.param == "jira":
        with spec_checked_jira(contract_site(JIRA_STATUSES), now=START) as fake:
            slept: list[float] = []
            tracker = tracker_on(fake, BOT, TOKEN, max_retries=MAX_RETRIES, slept=slept)
            yield Backend("jira", tracker, clock, JIRA_STATUSES, slept=slept, fake=fake)
    else:
        with FakeZendesk(contract_site(ZENDESK_STATUSES), now=clock.now) as fake:
            slept = []
            tracker = ZendeskTracker(fake.url, BOT, TOKEN, max_retries=MAX_RETRIES, sleep=slept.append,
                                     now=clock.now)
            yield Backend("zendesk", tracker, clock, ZENDESK_STATUSES, slept=slept, fake=fake, cannot={
                "workflow": "Zendesk has no workflow: any status can be set from any other",
                "link types": "Zendesk has no link types; a link of any type name is recorded as tags and notes",
                "resolution": "Zendesk tickets have no resolution field",
            })
            assert fake.violations == [], "calls outside Zendesk's Support API spec"
            assert fake.unimplemented == []
