"""Run a runbook scenario on Zendesk for real: the recorded Zendesk webhooks through the real pipeline, the
real Zendesk adapter (zenpy) talking to the stateful fake Zendesk (``responses``, spec-checked), a SQLite
store and the virtual clock on which the rules' timers fire.

What people did (a ticket submitted, a dropdown set, a status changed, a comment) is put into the fake's
store behind the adapter's back, from the same webhook record the bot then receives, exactly as Zendesk
would hold it (dropdowns as option tags, the tags they add, comments with their ``public`` flag). Tests
assert on the fake's final state.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import VirtualClock
from bot.model import Event
from bot.replay import Replay, Step, read_records, zendesk_person_change
from bot.store import Store
from bot.trackers.site import Site, option_tag, zendesk_status
from bot.trackers.zendesk.adapter import ZendeskTracker
from rules import load_rules
from tests.fakes.fake_zendesk import FakeZendesk, _iso
from tests.rules.scenario import CONFIG, EXAMPLES, SCOPE


class FakeZendeskSeed:
    """``Replay``'s seed for the fake Zendesk: what a webhook says a person did, stored in the fake."""

    def __init__(self, fake: FakeZendesk, site: Site) -> None:
        self.fake, self.site = fake, site

    def __call__(self, event: Event) -> None:
        change = zendesk_person_change(event, self.site)
        if change is None:
            return
        fake, tid = self.fake, int(change.key)
        if tid not in fake.tickets:
            if change.created:
                self._create(tid, change)
            return
        if change.created:
            return  # ticketbot's own ticket: Zendesk already has it
        ticket = fake.tickets[tid]
        updates: dict[str, Any] = {}
        attrs = change.attrs
        if "status" in attrs:
            updates["status"] = zendesk_status(attrs["status"]) or ticket["status"]
        if "subject" in attrs:
            updates["subject"] = attrs["subject"]
        if "group" in attrs:
            updates["group_id"] = self._group(attrs["group"])
        if "assignee" in attrs:
            updates["assignee_id"] = fake.user_id(attrs["assignee"]) if attrs["assignee"] else None
        tags = list(change.tags) if change.tags is not None else list(ticket["tags"])
        tags = [t for t in tags if t not in change.tags_removed] + [t for t in change.tags_added if t not in tags]
        if tags != ticket["tags"]:
            updates["tags"] = tags
        fake._apply(ticket, updates)
        for title, value in change.fields.items():
            fake._set_custom_field(ticket, {"id": self._field(title)["id"], "value": self._encode(title, value)})
        ticket["updated_at"] = _iso(fake.now())
        if change.comment is not None:
            author = change.comment.author.email if change.comment.author else ""
            fake._add_comment(tid, {"body": change.comment.body, "public": not change.comment.internal},
                              author=fake.user_id(author) if author else fake.bot_id)

    def _create(self, tid: int, change: Any) -> None:
        fake, attrs = self.fake, change.attrs
        requester = fake.user_id(attrs["requester"]) if attrs.get("requester") else fake.bot_id
        form = next((f["id"] for f in fake.forms.values() if f["name"] == attrs.get("form")), None)
        moment = _iso(fake.now())
        fake.tickets[tid] = fake._ticket_json(
            tid, subject=attrs.get("subject", ""), description=attrs.get("description", ""),
            status=zendesk_status(attrs.get("status", "")) or "new",
            type=attrs.get("type", "").casefold() or None, requester_id=requester, submitter_id=requester,
            group_id=self._group(attrs["group"]) if attrs.get("group") else None, ticket_form_id=form,
            tags=list(change.tags or ()), created_at=moment, updated_at=moment)
        fake.comments[tid] = []
        for title, value in change.fields.items():
            fake._set_custom_field(fake.tickets[tid], {"id": self._field(title)["id"],
                                                       "value": self._encode(title, value)})
        if attrs.get("description"):  # a submitted ticket's first comment: the requester's, public
            fake._add_comment(tid, {"body": attrs["description"], "public": True}, author=requester)
        fake._ticket_ids = itertools.count(max(fake.tickets) + 1)  # Zendesk numbers new tickets after it

    def _group(self, name: str) -> int:
        return next(g["id"] for g in self.fake.groups.values() if g["name"] == name)

    def _field(self, title: str) -> dict[str, Any]:
        return next(f for f in self.fake.fields.values() if f["title"] == title)

    def _encode(self, title: str, value: Any) -> Any:
        kind = self._field(title)["type"]
        if kind == "tagger":
            return option_tag(value) if value else None
        if kind == "multiselect":
            return [option_tag(v) for v in value or ()]
        return value


@dataclass
class ZendeskRun:
    player: Replay
    steps: list[Step]
    fake: FakeZendesk
    site: Site

    # the fake's stored state -------------------------------------------------------------------
    def ticket(self, key: str | int) -> dict[str, Any]:
        return self.fake.ticket(key)

    def field(self, key: str | int, title: str) -> Any:
        """A custom field's stored value (dropdowns: the option's tag)."""
        fid = next(f["id"] for f in self.fake.fields.values() if f["title"] == title)
        return next(f["value"] for f in self.ticket(key)["custom_fields"] if f["id"] == fid)

    def bot_comments(self, key: str | int) -> list[dict[str, Any]]:
        return [c for c in self.ticket(key)["comments"] if c["author_id"] == self.fake.bot_id]

    def public_bot_comments(self) -> list[tuple[int, str]]:
        """Whatever ticketbot wrote where the customer would see it (must stay empty)."""
        return [(tid, c["body"][:60]) for tid in self.fake.tickets for c in self.fake.comments[tid]
                if c["author_id"] == self.fake.bot_id and c["public"]]

    def people(self, key: str | int, which: str) -> list[str]:
        """E-mails of ``follower_ids`` or ``email_cc_ids``."""
        return [self.fake.users[u]["email"] for u in self.ticket(key)[which]]

    # what the bot did ------------------------------------------------------------------------------
    def stages(self, rule_id: str, key: str) -> list[str]:
        state = self.player.states.get(SCOPE, rule_id, key)
        return [h["stage"] for h in state.history] if state else []

    def slack_to(self, recipient: str) -> list[str]:
        return [m.text for m in self.player.notifier.sent if recipient in (m.user_email, m.channel, m.slack_user)]

    def timers(self, key: str) -> dict[str, str]:
        return {t.name: t.status for t in self.player.states.timers(SCOPE, key)}

    def errors(self) -> list[str]:
        return [f"{r.rule_id}: {r.result.error}" for s in self.steps for r in s.report.rules if r.result.error] + [
            f"{o.effect.describe()}: {o.detail}" for s in self.steps for o in s.report.outcomes
            if o.status == "failed"]


def run_on_zendesk(example: str, tmp_path: Path, records: Iterable[dict[str, Any]] | None = None, *,
                   until: datetime | None = None, config: Path = CONFIG) -> ZendeskRun:
    """Replay ``records`` (default: the example's events.jsonl) on a fake Zendesk seeded from its site."""
    site = Site.load(EXAMPLES / example / "site.yaml")
    assert site.is_zendesk, f"examples/{example} is not a Zendesk site"
    clock = VirtualClock()
    store = Store(f"sqlite:///{tmp_path / f'{example}-zendesk.sqlite3'}")
    if records is None:
        records = read_records(EXAMPLES / example / "events.jsonl")
    with FakeZendesk(site, now=clock.now, subdomain=f"{example}-demo") as fake:
        tracker = ZendeskTracker(fake.url, site.bot_account.email, "scenario-token", sleep=clock.sleep,
                                 now=clock.now)
        player = Replay(load_rules(config), site, store, scope=SCOPE, tracker=tracker,
                        seed=FakeZendeskSeed(fake, site), clock=clock)
        steps = list(player.run(records, until=until))
    assert fake.violations == [], "calls outside Zendesk's Support API spec"
    assert fake.unimplemented == []
    return ZendeskRun(player, steps, fake, site)
