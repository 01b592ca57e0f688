"""The NF-e onboarding journey (seed 004) on the virtual clock: the demo end to end, then its variants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.trackers.site import Site
from tests.rules.scenario import EXAMPLES, run
from tests.rules.webhooks import Issue, JiraWebhooks

RULE = "nfe_onboarding"
SALES = "vendas@nfe-onboarding.example"
ANA, RAFAEL = "ana.souza@nfe-onboarding.example", "rafael.costa@nfe-onboarding.example"
LEAD = "carla.mendes@nfe-onboarding.example"
FIELD = "Etapa do onboarding"
ALL_STAGES = ["purchased", "first_contact", "evaluation", "layout", "homologation", "production", "closing"]


def test_demo_runs_both_journeys(tmp_path):
    result = run("nfe", tmp_path)
    assert result.errors() == []
    # ONB-1: no contact within 5 business days -> one follow-up; closed on day 58 after two warnings.
    assert result.stages(RULE, "ONB-1") == ALL_STAGES
    to_ana = result.slack_to(ANA)
    assert len(to_ana) == 3
    assert "5 business days ago and has not been in touch" in to_ana[0]
    assert "10 days left" in to_ana[1] and "3 days left" in to_ana[2]
    one = result.ticket("ONB-1")
    assert one.field("Pesquisa de satisfação") == "Solicitada"
    assert one.field("Equipe responsável") == "Suporte técnico"
    assert len(result.comments("ONB-1")) == 2
    assert "no first contact within 5 business days" in result.comments("ONB-1")[0]
    assert "58 days, within the target of 60 days" in result.comments("ONB-1")[1]
    handover = result.slack_to("#suporte-tecnico")
    assert len(handover) == 1 and "Padaria Pão Dourado (ONB-1)" in handover[0]
    # ONB-2: contacted on day 1 (no follow-up), missed the target in homologation: lead and consultant told.
    assert result.stages(RULE, "ONB-2") == ALL_STAGES[:-1]
    to_lead = result.slack_to(LEAD)
    assert len(to_lead) == 2
    assert "missed the onboarding target of 60 days (due 2027-01-17); current stage: Emissão em homologação" \
        in to_lead[0]
    assert "7 days past the target" in to_lead[1]
    assert len(result.slack_to(RAFAEL)) == 4  # two warnings, the miss, the first weekly reminder
    assert len(result.comments("ONB-2")) == 1
    assert "was missed at stage Emissão em homologação; carla.mendes" in result.comments("ONB-2")[0]
    assert result.ticket("ONB-2").field("Pesquisa de satisfação") is None
    assert {t.name: t.status for t in result.timers("ONB-2")} == {"follow_up": "cancelled", "target": "pending"}


def _journey(*, created: datetime, contact_after: timedelta | None, stages=(), consultant=ANA):
    site = Site.load(EXAMPLES / "nfe" / "site.yaml")
    ticket = Issue(JiraWebhooks(site, site.base_url), "ONB-7", summary="Onboarding NF-e: Loja Azul",
                   issue_type="Onboarding", status="Aberto", created=created)
    fields = {"Cliente": "Loja Azul", **({"Consultor": consultant} if consultant else {})}
    records = [ticket.create(SALES, fields=fields)]
    previous, moment = None, created + (contact_after or timedelta(0))
    for name in stages:
        records.append(ticket.change(moment, ANA, {FIELD: (previous, name)}))
        previous, moment = name, moment + timedelta(days=1)
    return records


@pytest.mark.parametrize(("created", "expected_follow_up"), [
    # Monday 10:00 in São Paulo: Tue, Wed, Thu, (Fri 20 Nov is Black Awareness Day), Mon, Tue.
    (datetime(2026, 11, 16, 13, tzinfo=UTC), datetime(2026, 11, 24, 13, tzinfo=UTC)),
    # Friday 17:00: five working days later at the same time of day, next Friday 17:00.
    (datetime(2026, 11, 6, 20, tzinfo=UTC), datetime(2026, 11, 13, 20, tzinfo=UTC)),
    # Saturday: counting starts Monday 09:00.
    (datetime(2026, 11, 7, 15, tzinfo=UTC), datetime(2026, 11, 16, 12, tzinfo=UTC)),
])
def test_follow_up_after_five_business_days_on_the_brazilian_calendar(tmp_path, created, expected_follow_up):
    result = run("nfe", tmp_path, _journey(created=created, contact_after=None), until=created + timedelta(days=20))
    fired = [s.event for s in result.steps if s.event.kind == "timer.fired" and s.event.payload["timer"] == "follow_up"]
    assert [e.occurred_at for e in fired] == [expected_follow_up]
    assert len([t for t in result.slack_to(ANA) if "has not been in touch" in t]) == 1


def test_contact_within_five_business_days_means_no_follow_up(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    result = run("nfe", tmp_path, _journey(created=created, contact_after=timedelta(days=3),
                                           stages=["Primeiro contato"]), until=created + timedelta(days=20))
    assert not any("has not been in touch" in t for t in result.slack_to(ANA))
    assert {t.name: t.status for t in result.timers("ONB-7")}["follow_up"] == "cancelled"


def test_a_skipped_stage_is_caught_up_and_closing_hands_over(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    records = _journey(created=created, contact_after=timedelta(days=2), stages=["Avaliação", "Encerramento"])
    result = run("nfe", tmp_path, records, until=created + timedelta(days=90))
    assert result.stages(RULE, "ONB-7") == ["purchased", "first_contact", "evaluation", "layout", "homologation",
                                            "production", "closing"]
    assert result.ticket("ONB-7").field("Equipe responsável") == "Suporte técnico"
    # Closed before any alarm of the target: no warning, no miss, timers stopped.
    assert not any("target" in t for t in result.slack_to(ANA)) and result.slack_to(LEAD) == []
    assert {t.status for t in result.timers("ONB-7")} == {"cancelled"}


def test_the_journey_never_goes_back(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    records = _journey(created=created, contact_after=timedelta(days=1),
                       stages=["Primeiro contato", "Avaliação", "Primeiro contato"])
    result = run("nfe", tmp_path, records)
    assert result.state(RULE, "ONB-7").stage == "evaluation"


def test_without_a_consultant_the_lead_is_asked_to_follow_up(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    result = run("nfe", tmp_path, _journey(created=created, contact_after=None, consultant=None),
                 until=created + timedelta(days=10))
    assert len([t for t in result.slack_to(LEAD) if "has not been in touch" in t]) == 1
    assert "nobody is set as consultant" in result.comments("ONB-7")[0]
