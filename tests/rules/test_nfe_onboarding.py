"""The NF-e onboarding journey (seed 004) on the virtual clock: the demo end to end on its Zendesk help centre
(in-memory replay, and the real Zendesk adapter on the fake Zendesk), then the Jira-hosted run and variants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.trackers.site import Site
from tests.rules.scenario import EXAMPLES, JIRA_SITES, Run, jira_config, run
from tests.rules.webhooks import Issue, JiraWebhooks
from tests.rules.zendesk_scenario import run_on_zendesk
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks


def run_jira(tmp_path, records=None, **kw) -> Run:
    """The runbook on its Jira-hosted variant (the shipped demo runs on Zendesk)."""
    return run("nfe", tmp_path, records, config=jira_config(tmp_path), root=JIRA_SITES, **kw)


RULE = "nfe_onboarding"
SALES = "vendas@nfe-onboarding.example"
ANA, RAFAEL = "ana.souza@nfe-onboarding.example", "rafael.costa@nfe-onboarding.example"
LEAD = "carla.mendes@nfe-onboarding.example"
FIELD = "Etapa do onboarding"
ALL_STAGES = ["purchased", "first_contact", "evaluation", "layout", "homologation", "production", "closing"]


# on Zendesk (the shipped demo) ------------------------------------------------------------------------------
def test_zendesk_demo_replays_both_journeys_in_memory(tmp_path):
    result = run("nfe", tmp_path)  # examples/nfe: a Zendesk account, Zendesk webhooks
    assert result.errors() == []
    assert {s.event.source for s in result.steps} == {"zendesk", "timer"}
    assert result.stages(RULE, "101") == ALL_STAGES and result.stages(RULE, "102") == ALL_STAGES[:-1]
    one = result.ticket("101")
    assert (one.tracker, one.project, one.request_type, one.status) == ("zendesk", "Onboarding", "Onboarding", "solved")
    assert one.field("Pesquisa de satisfação") == "Solicitada" and one.field("Equipe responsável") == "Suporte técnico"
    assert {"encerramento", "solicitada", "suporte_t_cnico"} <= set(one.labels)  # the dropdowns' option tags
    to_ana = result.slack_to(ANA)
    assert len(to_ana) == 3 and "Padaria Pão Dourado (101) comprou o produto há 5 dias úteis" in to_ana[0]
    assert result.comments("101")[0].startswith("@ana.souza@nfe-onboarding.example ticketbot: sem primeiro contato")
    assert len(result.slack_to(LEAD)) == 2 and len(result.slack_to(RAFAEL)) == 4
    # the consultant's own note on 102 (a trigger comment.created, public false) is seeded as internal
    assert result.ticket("102").comments[0].body == "Cliente aguardando o certificado digital A1 para homologar."


def test_zendesk_demo_on_the_fake_zendesk(tmp_path):
    """The shipped recording through the real Zendesk adapter: the fake's final tickets are the runbook's."""
    result = run_on_zendesk("nfe", tmp_path)
    assert result.errors() == []
    assert result.stages(RULE, "101") == ALL_STAGES and result.stages(RULE, "102") == ALL_STAGES[:-1]
    one, two = result.ticket(101), result.ticket(102)
    # closing on 101: survey requested and handed over, as dropdown tags; the consultant solved it
    assert result.field(101, "Pesquisa de satisfação") == "solicitada"
    assert result.field(101, "Equipe responsável") == "suporte_t_cnico"
    assert {"encerramento", "solicitada", "suporte_t_cnico"} <= set(one["tags"])
    assert one["status"] == "solved" and two["status"] == "open"
    # every note ticketbot wrote is internal (public: false); the follow-up names the consultant ahead
    notes = [c["body"] for c in result.bot_comments(101)]
    assert len(notes) == 2 and notes[0].startswith("@ana.souza@nfe-onboarding.example ticketbot: sem primeiro contato")
    assert "58 dias, dentro do prazo ideal de 60 dias" in notes[1]
    [missed] = result.bot_comments(102)
    assert "o prazo ideal de implementação de 60 dias (17 de janeiro de 2027) foi ultrapassado na etapa " \
        "Emissão em homologação" \
        in missed["body"]
    assert result.public_bot_comments() == []
    assert all(not c["public"] for c in result.bot_comments(101) + result.bot_comments(102))
    # nobody was copied: no e-mail CCs, no followers added
    assert result.people(101, "email_cc_ids") == [] and result.people(102, "email_cc_ids") == []
    assert result.field(102, "Pesquisa de satisfação") is None
    assert {n: status for n, status in result.timers("102").items() if not n.startswith("deliver:")} == \
        {"follow_up": "cancelled", "target": "pending"}
    assert len(result.slack_to(LEAD)) == 2 and len(result.slack_to("#suporte-tecnico")) == 1


def test_zendesk_follow_up_without_consultant_and_an_envelope_created_ticket(tmp_path):
    """A ticket announced by the event-webhook envelope (ids, no fields); the consultant never set: the lead
    is asked after 5 business days, in a note without a mention."""
    site = Site.load(EXAMPLES / "nfe" / "site.yaml")
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    ticket = ZendeskTicket(ZendeskWebhooks(site), "150", subject="Onboarding NF-e: Loja Azul", form="Onboarding",
                           group="Onboarding", created=created)
    ticket.requester = SALES
    created_envelope = ticket._envelope("ticket.created", created, SALES, {})
    result = run_on_zendesk("nfe", tmp_path, [created_envelope], until=created + timedelta(days=10))
    assert result.errors() == []
    assert result.stages(RULE, "150") == ["purchased"]
    assert len([t for t in result.slack_to(LEAD) if "ainda não entrou em contato" in t]) == 1
    [note] = result.bot_comments(150)
    assert not note["public"] and note["body"].startswith("ticketbot: sem primeiro contato em 5 dias úteis")
    assert "nenhum consultor definido" in note["body"]


# on Jira -------------------------------------------------------------------------------------------------
def test_demo_runs_both_journeys(tmp_path):
    result = run_jira(tmp_path)
    assert result.errors() == []
    # ONB-1: no contact within 5 business days -> one follow-up; closed on day 58 after two warnings.
    assert result.stages(RULE, "ONB-1") == ALL_STAGES
    to_ana = result.slack_to(ANA)
    assert len(to_ana) == 3
    assert "há 5 dias úteis e ainda não entrou em contato" in to_ana[0]
    assert "faltam 10 dias" in to_ana[1] and "faltam 3 dias" in to_ana[2]
    one = result.ticket("ONB-1")
    assert one.field("Pesquisa de satisfação") == "Solicitada"
    assert one.field("Equipe responsável") == "Suporte técnico"
    assert len(result.comments("ONB-1")) == 2
    assert "sem primeiro contato em 5 dias úteis" in result.comments("ONB-1")[0]
    assert "58 dias, dentro do prazo ideal de 60 dias" in result.comments("ONB-1")[1]
    handover = result.slack_to("#suporte-tecnico")
    assert len(handover) == 1 and "Padaria Pão Dourado (ONB-1)" in handover[0]
    # ONB-2: contacted on day 1 (no follow-up), missed the target in homologation: lead and consultant told.
    assert result.stages(RULE, "ONB-2") == ALL_STAGES[:-1]
    to_lead = result.slack_to(LEAD)
    assert len(to_lead) == 2
    assert "passou do prazo ideal de implementação de 60 dias (17 de janeiro de 2027); etapa atual: " \
        "Emissão em homologação" \
        in to_lead[0]
    assert "7 dias além do prazo" in to_lead[1]
    assert len(result.slack_to(RAFAEL)) == 4  # two warnings, the miss, the first weekly reminder
    assert len(result.comments("ONB-2")) == 1
    assert "foi ultrapassado na etapa Emissão em homologação; carla.mendes" in result.comments("ONB-2")[0]
    assert result.ticket("ONB-2").field("Pesquisa de satisfação") is None
    timers = {t.name: t for t in result.timers("ONB-2")}
    assert {n: t.status for n, t in timers.items() if not n.startswith("deliver:")} == \
        {"follow_up": "cancelled", "target": "pending"}
    # The 60 days end on Sunday 17 January: the missed-target messages wait for Monday 09:00 in São Paulo.
    assert timers["deliver:target:due:lead"].due_at == datetime(2027, 1, 18, 12, tzinfo=UTC)
    assert timers["deliver:target:due:lead"].status == "fired"


def _journey(*, created: datetime, contact_after: timedelta | None, stages=(), consultant=ANA):
    site = Site.load(JIRA_SITES / "nfe" / "site.yaml")
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
    result = run_jira(tmp_path, _journey(created=created, contact_after=None), until=created + timedelta(days=20))
    fired = [s.event for s in result.steps if s.event.kind == "timer.fired" and s.event.payload["timer"] == "follow_up"]
    assert [e.occurred_at for e in fired] == [expected_follow_up]
    assert len([t for t in result.slack_to(ANA) if "ainda não entrou em contato" in t]) == 1


def test_contact_within_five_business_days_means_no_follow_up(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    result = run_jira(tmp_path, _journey(created=created, contact_after=timedelta(days=3),
                                           stages=["Primeiro contato"]), until=created + timedelta(days=20))
    assert not any("ainda não entrou em contato" in t for t in result.slack_to(ANA))
    assert {t.name: t.status for t in result.timers("ONB-7")}["follow_up"] == "cancelled"


def test_a_skipped_stage_is_caught_up_and_closing_hands_over(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    records = _journey(created=created, contact_after=timedelta(days=2), stages=["Avaliação", "Encerramento"])
    result = run_jira(tmp_path, records, until=created + timedelta(days=90))
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
    result = run_jira(tmp_path, records)
    assert result.state(RULE, "ONB-7").stage == "evaluation"


def test_without_a_consultant_the_lead_is_asked_to_follow_up(tmp_path):
    created = datetime(2026, 11, 16, 13, tzinfo=UTC)
    result = run_jira(tmp_path, _journey(created=created, contact_after=None, consultant=None),
                 until=created + timedelta(days=10))
    assert len([t for t in result.slack_to(LEAD) if "ainda não entrou em contato" in t]) == 1
    assert "nenhum consultor definido" in result.comments("ONB-7")[0]
