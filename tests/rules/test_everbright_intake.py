"""Step 2 of the EverBright runbook, as a table of tickets and the plan each must produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot import effects as fx
from bot.clock import VirtualClock
from bot.engine import RuleContext, StateView
from bot.model import COMMENT_CREATED, MANUAL, TICKET_CREATED, TICKET_UPDATED, Event, Ticket, User
from bot.state import StateStore
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from rules.everbright_onboarding import EverBrightOnboarding
from tests.support.paths import EXAMPLES

RULE = EverBrightOnboarding()
FORM = "* Installer name: Sunpeak Solar\n* Installer contact email: ops@sunpeaksolar.example\n"


@dataclass
class Case:
    name: str
    description: str = FORM
    summary: str = "EverBright Partner Onboarding"
    project: str = "SS"
    kind: str = TICKET_CREATED
    ticket_extra: dict = field(default_factory=dict)
    fires: bool = True
    failed_verdict: str | None = None
    organization: str | None = "Sunpeak Solar"
    contact: str | None = "ops@sunpeaksolar.example"
    comment_contains: tuple[str, ...] = ()
    watchers: tuple[str, ...] = ("tom.becker@goeverbright.com", "david.ellis@goeverbright.com")
    state: str | None = None  # the rule's recorded stage for the ticket before the event


CASES = [
    Case("positive"),
    Case("manual evaluation (dry-run)", kind=MANUAL),
    Case("wrong project", project="HR", fires=False, failed_verdict="project"),
    # (a CS ticket *created* while none awaits it arms a look-again timer: tests/rules/test_everbright_runbook.py)
    Case(
        "a CS ticket edited while no onboarding awaits one",
        project="CS",
        kind=TICKET_UPDATED,
        fires=False,
        failed_verdict="onboarding in intake naming this CS ticket",
    ),
    Case("wrong subject", summary="EverBright onboarding question", fires=False, failed_verdict="summary"),
    Case("comment event is not an intake", kind=COMMENT_CREATED, fires=False, failed_verdict="event kind"),
    Case("subject case and whitespace", summary="  everbright   PARTNER onboarding "),
    Case(
        "odd formatting: label and value on separate lines",
        description="Installer name\n\n   Sunpeak   Solar  \nInstaller contact email\n ops@sunpeaksolar.example",
    ),
    Case(
        "odd formatting: bold labels, dashes, numbering",
        description="1. **Installer name** - Sunpeak Solar\n2. **Installer contact email** = ops@sunpeaksolar.example",
    ),
    Case(
        "odd formatting: bullets and tabs",
        description="•\tInstaller Name:\tSunpeak Solar\n•\tINSTALLER CONTACT EMAIL:\tops@sunpeaksolar.example",
    ),
    Case(
        "missing installer name ⇒ internal comment only",
        description="Installer contact email: ops@sunpeaksolar.example",
        organization=None,
        comment_contains=("'Installer name'",),
        watchers=(),
    ),
    Case(
        "empty installer name value counts as missing",
        description="Installer name:\nInstaller contact email: ops@sunpeaksolar.example",
        organization=None,
        comment_contains=("'Installer name'",),
        watchers=(),
    ),
    Case(
        "missing contact e-mail ⇒ internal comment only",
        description="Installer name: Sunpeak Solar",
        organization=None,
        contact=None,
        comment_contains=("'Installer contact email'",),
        watchers=(),
    ),
    Case(
        "installer from a custom field when not in the description",
        description="Installer contact email: ops@sunpeaksolar.example",
        ticket_extra={"fields": {"Installer name": "Sunpeak Solar"}},
    ),
    Case(
        "account manager unknown ⇒ rest applies, comment says so",
        description="Installer name: Ridgeline Roofing\nInstaller contact email: a@ridgeline.example",
        organization="Ridgeline Roofing",
        contact="a@ridgeline.example",
        comment_contains=("no account manager", "Ridgeline Roofing"),
        watchers=("david.ellis@goeverbright.com",),
    ),
    Case(
        "already processed: the rule state says intake",
        fires=False,
        state="intake",
        failed_verdict="SS moved to 'Waiting for support'",
    ),
    Case(
        "fields already as the runbook says but no state (a crash before the commit point): plans again",
        ticket_extra={
            "organizations": ("Sunpeak Solar",),
            "request_type": "Company-specific Data Change",
            "fields": {"Needs Configuration?": "Integrated Finance"},
        },
    ),
    Case(
        "reported by the approver: an approval, not an onboarding",
        kind=MANUAL,
        fires=False,
        failed_verdict="names one open onboarding",
        ticket_extra={"reporter": User(email="david.ellis@goeverbright.com")},
    ),
]


def _evaluate(case: Case, rules):
    bound = next(b for b in rules if b.id == RULE.id)
    ticket = Ticket(key=f"{case.project}-7", project=case.project, summary=case.summary,
                    description=case.description, **case.ticket_extra)
    when = datetime(2026, 11, 2, tzinfo=UTC)
    event = Event(id="e1", source="test", kind=case.kind, ticket_key=ticket.key, occurred_at=when)
    states = StateStore(Store("sqlite://"))
    if case.state:
        states.put("test", RULE.id, ticket.key, stage=case.state, data={"installer": "Sunpeak Solar"}, at=when)
    ctx = RuleContext(reader=MemoryTracker(Site.load(EXAMPLES / "everbright" / "site.yaml")),
                      clock=VirtualClock(when), config=bound.config, state=StateView(states, "test", RULE.id))
    return RULE.evaluate(event, ticket, ctx)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_intake_plan(case: Case, rules) -> None:
    evaluation = _evaluate(case, rules)
    if not case.fires:
        assert evaluation.effects == []
        failed = [v.name for v in evaluation.verdicts if not v.passed]
        assert failed == [case.failed_verdict]
        return
    assert evaluation.matched
    by_kind = {}
    for effect in evaluation.effects:
        by_kind.setdefault(type(effect), []).append(effect)
    comments = " ".join(e.body for e in by_kind.get(fx.InternalComment, []))
    for fragment in case.comment_contains:
        assert fragment in comments
    if case.organization is None:
        # A required value missing: one internal comment, nothing else.
        assert list(by_kind) == [fx.InternalComment] and len(by_kind[fx.InternalComment]) == 1
        return
    assert [e.name for e in by_kind[fx.SetOrganization]] == [case.organization]
    assert [e.email for e in by_kind[fx.SetReporter]] == ["onboarding@goeverbright.com"]
    assert [e.name for e in by_kind[fx.SetRequestType]] == ["Company-specific Data Change"]
    assert [(e.field, e.value) for e in by_kind[fx.SetField]] == [("Needs Configuration?", "Integrated Finance")]
    assert sorted(e.email for e in by_kind[fx.AddWatcher]) == sorted(case.watchers)
    assert [e.email for e in by_kind[fx.RemoveParticipant]] == [case.contact]
    if not case.comment_contains:
        assert fx.InternalComment not in by_kind
    # The commit point comes last: the onboarding is recorded only after every write went through.
    assert isinstance(evaluation.effects[-1], fx.SetState) and evaluation.effects[-1].stage == "intake"


def test_effect_keys_are_stable_and_distinct(rules) -> None:
    first = _evaluate(CASES[0], rules).effects
    again = _evaluate(CASES[0], rules).effects
    assert [e.key for e in first] == [e.key for e in again]
    assert len({e.key for e in first}) == len(first)


def test_installer_name_cannot_smuggle_markup_into_the_comment(rules) -> None:
    case = Case("hostile", description="Installer name: [~accountid:557058:evil] {html}<b>x</b>{html}\n"
                                       "Installer contact email: a@b.example", organization="x")
    comment = next(e for e in _evaluate(case, rules).effects if isinstance(e, fx.InternalComment))
    assert "[~accountid" not in comment.body and "{html}" not in comment.body
    assert r"\[\~accountid" in comment.body
