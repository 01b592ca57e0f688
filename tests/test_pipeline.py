"""The one path: event → rules → plan → executor → traces, on the in-memory site."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import RuleBlock
from bot.engine import BoundRule, Evaluation, Rule
from bot.executor import ALREADY, APPLIED, WOULD_APPLY
from bot.model import TICKET_CREATED, Event, Ticket
from bot.pipeline import Processor
from bot.trackers.site import SiteTicket

FORM = "Installer name: Sunpeak Solar\nInstaller contact email: ops@sunpeaksolar.example"


def _onboarding(site, key="SS-1", description=FORM, participants=("ops@sunpeaksolar.example",)):
    site.tickets.append(SiteTicket(key=key, summary="EverBright Partner Onboarding", description=description,
                                   status="Waiting for support", issue_type="Service Request",
                                   reporter="ops@sunpeaksolar.example", participants=list(participants)))
    return site


def _event(key="SS-1", kind=TICKET_CREATED, n=1):
    return Event(id=f"ev-{n}", source="test", kind=kind, ticket_key=key,
                 occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC))


def _processor(rules, tracker, store, clock, **kw):
    return Processor(rules, tracker, store, clock, **kw)


def test_intake_sets_the_ticket_as_the_runbook_says(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site), now=clock.now)
    report = _processor(rules, tracker, store, clock).process(_event())
    assert not report.failed
    ticket = tracker.get_ticket("SS-1", with_people=True)
    assert ticket.organizations == ("Sunpeak Solar",)
    assert ticket.reporter.email == "onboarding@goeverbright.com"
    assert ticket.request_type == "Company-specific Data Change"
    assert ticket.field("Needs Configuration?") == "Integrated Finance"
    assert sorted(w.email for w in ticket.watchers) == ["david.ellis@goeverbright.com", "tom.becker@goeverbright.com"]
    assert [p.email for p in ticket.participants] == []  # the installer is not copied
    assert ticket.comments == ()  # nothing to say: the account manager was known


def test_second_delivery_writes_nothing(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site), now=clock.now)
    processor = _processor(rules, tracker, store, clock)
    processor.process(_event(n=1))
    changes = list(tracker.log)
    report = processor.process(_event(n=2))
    assert tracker.log == changes
    assert all(o.status != APPLIED for o in report.outcomes)


def test_effects_already_true_are_not_written_even_without_a_record(site, rules, store, clock, tmp_path):
    """A crash after the write but before the record: the state check prevents a repeat."""
    from bot.store import Store
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site), now=clock.now)
    tracker.add_watcher("SS-1", "david.ellis@goeverbright.com")
    before = list(tracker.log)
    report = _processor(rules, tracker, Store(f"sqlite:///{tmp_path}/other.db"), clock).process(_event())
    watcher = next(o for o in report.outcomes if o.effect.step == "intake:watcher-approver")
    assert watcher.status == ALREADY
    assert tracker.log[: len(before)] == before
    assert sum("watcher + david.ellis" in line for line in tracker.log) == 1


def test_dry_run_reports_and_changes_nothing(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site), now=clock.now)
    report = _processor(rules, tracker, store, clock, dry_run=True).process(_event())
    assert tracker.log == []
    statuses = [o.status for o in report.outcomes]
    assert set(statuses) <= {WOULD_APPLY, ALREADY} and statuses.count(WOULD_APPLY) >= 6
    assert store.applied("SS-1") == []


def test_a_trace_is_stored_even_when_nothing_fired(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    site.tickets.append(SiteTicket(key="SS-9", summary="VPN is down"))
    tracker = MemoryTracker(site, now=clock.now)
    _processor(rules, tracker, store, clock).process(_event("SS-9"))
    [trace] = store.traces("SS-9")
    assert trace.rule_id == "everbright_onboarding" and not trace.matched
    failed = [v for v in trace.verdicts if not v["passed"]]
    assert failed[0]["name"] == "summary" and failed[0]["observed"] == "VPN is down"


class _Exploding(Rule):
    id = "exploding"
    title = "raises on every event"

    def evaluate(self, event: Event, ticket: Ticket, ctx) -> Evaluation:
        raise ZeroDivisionError("boom")


def test_one_rules_exception_is_recorded_and_never_stops_the_others(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site), now=clock.now)
    bound = [BoundRule(_Exploding(), RuleBlock()), *rules]
    report = _processor(bound, tracker, store, clock).process(_event())
    assert [r.rule_id for r in report.rules] == ["exploding", "everbright_onboarding"]
    assert "ZeroDivisionError: boom" in report.rules[0].result.error
    assert tracker.get_ticket("SS-1").organizations == ("Sunpeak Solar",)
    traces = {t.rule_id: t for t in store.traces("SS-1")}
    assert "boom" in traces["exploding"].error and traces["everbright_onboarding"].matched


def test_missing_installer_name_posts_one_internal_comment_and_changes_nothing_else(site, rules, store, clock):
    from bot.trackers.memory import MemoryTracker

    tracker = MemoryTracker(_onboarding(site, description="Installer contact email: ops@sunpeaksolar.example"),
                            now=clock.now)
    processor = _processor(rules, tracker, store, clock)
    processor.process(_event(n=1))
    processor.process(_event(n=2))
    ticket = tracker.get_ticket("SS-1", with_people=True)
    assert len(ticket.comments) == 1 and ticket.comments[0].internal
    assert "Installer name" in ticket.comments[0].body
    assert ticket.organizations == () and ticket.reporter.email == "ops@sunpeaksolar.example"
    [trace, _] = store.traces("SS-1")
    assert any("missing Installer name" in n for n in trace.notes)
