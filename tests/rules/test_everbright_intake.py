"""Step 2 of the EverBright runbook, as a table of tickets and the plan each must produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot.effects import AddWatcher, InternalComment, RemoveParticipant, SetField, SetOrganization, SetReporter, SetRequestType
from bot.engine import RuleContext
from bot.model import COMMENT_CREATED, MANUAL, TICKET_CREATED, Event, Ticket
from rules.everbright_onboarding import EverBrightOnboarding

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


CASES = [
    Case("positive"),
    Case("manual evaluation (dry-run)", kind=MANUAL),
    Case("wrong project", project="CS", fires=False, failed_verdict="project"),
    Case("wrong subject", summary="EverBright onboarding question", fires=False, failed_verdict="summary"),
    Case("comment event is not an intake", kind=COMMENT_CREATED, fires=False, failed_verdict="event kind"),
    Case("subject case and whitespace", summary="  everbright   PARTNER onboarding "),
    Case("odd formatting: label and value on separate lines",
         description="Installer name\n\n   Sunpeak   Solar  \nInstaller contact email\n ops@sunpeaksolar.example"),
    Case("odd formatting: bold labels, dashes, numbering",
         description="1. **Installer name** - Sunpeak Solar\n2. **Installer contact email** = ops@sunpeaksolar.example"),
    Case("odd formatting: bullets and tabs",
         description="•\tInstaller Name:\tSunpeak Solar\n•\tINSTALLER CONTACT EMAIL:\tops@sunpeaksolar.example"),
    Case("missing installer name ⇒ internal comment only",
         description="Installer contact email: ops@sunpeaksolar.example", organization=None,
         comment_contains=("'Installer name'",), watchers=()),
    Case("empty installer name value counts as missing",
         description="Installer name:\nInstaller contact email: ops@sunpeaksolar.example", organization=None,
         comment_contains=("'Installer name'",), watchers=()),
    Case("missing contact e-mail ⇒ internal comment only",
         description="Installer name: Sunpeak Solar", organization=None, contact=None,
         comment_contains=("'Installer contact email'",), watchers=()),
    Case("installer from a custom field when not in the description",
         description="Installer contact email: ops@sunpeaksolar.example",
         ticket_extra={"fields": {"Installer name": "Sunpeak Solar"}}),
    Case("account manager unknown ⇒ rest applies, comment says so",
         description="Installer name: Ridgeline Roofing\nInstaller contact email: a@ridgeline.example",
         organization="Ridgeline Roofing", contact="a@ridgeline.example",
         comment_contains=("no account manager", "Ridgeline Roofing"), watchers=("david.ellis@goeverbright.com",)),
    Case("already processed", fires=False, failed_verdict="intake not yet applied",
         ticket_extra={"organizations": ("Sunpeak Solar",), "request_type": "Company-specific Data Change",
                       "fields": {"Needs Configuration?": "Integrated Finance"}}),
]


def _evaluate(case: Case, rules):
    bound = next(b for b in rules if b.id == RULE.id)
    ticket = Ticket(key=f"{case.project}-7", project=case.project, summary=case.summary,
                    description=case.description, **case.ticket_extra)
    event = Event(id="e1", source="test", kind=case.kind, ticket_key=ticket.key,
                  occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
    ctx = RuleContext(reader=None, clock=None, config=bound.config)  # type: ignore[arg-type] - the intake reads nothing
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
    comments = " ".join(e.body for e in by_kind.get(InternalComment, []))
    for fragment in case.comment_contains:
        assert fragment in comments
    if case.organization is None:
        # A required value missing: one internal comment, nothing else.
        assert list(by_kind) == [InternalComment] and len(by_kind[InternalComment]) == 1
        return
    assert [e.name for e in by_kind[SetOrganization]] == [case.organization]
    assert [e.email for e in by_kind[SetReporter]] == ["onboarding@goeverbright.com"]
    assert [e.name for e in by_kind[SetRequestType]] == ["Company-specific Data Change"]
    assert [(e.field, e.value) for e in by_kind[SetField]] == [("Needs Configuration?", "Integrated Finance")]
    assert sorted(e.email for e in by_kind[AddWatcher]) == sorted(case.watchers)
    assert [e.email for e in by_kind[RemoveParticipant]] == [case.contact]
    if not case.comment_contains:
        assert InternalComment not in by_kind


def test_effect_keys_are_stable_and_distinct(rules) -> None:
    first = _evaluate(CASES[0], rules).effects
    again = _evaluate(CASES[0], rules).effects
    assert [e.key for e in first] == [e.key for e in again]
    assert len({e.key for e in first}) == len(first)


def test_installer_name_cannot_smuggle_markup_into_the_comment(rules) -> None:
    case = Case("hostile", description="Installer name: [~accountid:557058:evil] {html}<b>x</b>{html}\n"
                                       "Installer contact email: a@b.example", organization="x")
    comment = next(e for e in _evaluate(case, rules).effects if isinstance(e, InternalComment))
    assert "[~accountid" not in comment.body and "{html}" not in comment.body
    assert r"\[\~accountid" in comment.body
