"""Writes events.jsonl: the recorded Zendesk webhooks of the NF-e onboarding demo (seed 004).

    python examples/nfe/make_events.py

The help centre is a Zendesk account (site.yaml, ``kind: zendesk``). Tickets arrive as the trigger body
ticketbot documents (``ticket.created``, with the custom fields in its ``fields`` section); the consultant's
stage changes arrive as event-webhook envelopes (``zen:event-type:ticket.custom_field_changed``, the
dropdown's option tags); status changes and comments as the trigger body (``ticket.updated``,
``comment.created``). Built by tests/rules/zendesk_webhooks.py with this site's ids. Two customers on the
virtual clock (São Paulo business days, Brazilian holidays):

- #101 Padaria Pão Dourado, bought Mon 16 Nov: no contact in 5 business days (Fri 20 Nov is a
  holiday) -> follow-up Tue 24 Nov; then through every stage; warnings 10 and 3 days before the
  60-day target; closed on day 58 -> survey requested, handed over to technical support.
- #102 Ferragens Horizonte, bought Wed 18 Nov, contacted the next day (no follow-up); stuck in
  homologation -> warnings, target missed 17 Jan (lead and consultant told), weekly reminder.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository: bot/, rules/, tests/

from bot.trackers.site import Site
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks

site = Site.load(HERE / "site.yaml")
hooks = ZendeskWebhooks(site)
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
sales, ana, rafael = (
    "vendas@nfe-onboarding.example",
    "ana.souza@nfe-onboarding.example",
    "rafael.costa@nfe-onboarding.example",
)
F = "Etapa do onboarding"
one = ZendeskTicket(hooks, "101", subject="Onboarding NF-e: Padaria Pão Dourado", form="Onboarding",
                    group="Onboarding", created=at("2026-11-16T13:00:00"))
two = ZendeskTicket(hooks, "102", subject="Onboarding NF-e: Ferragens Horizonte", form="Onboarding",
                    group="Onboarding", created=at("2026-11-18T14:00:00"))
def stage(ticket, when, who, old, new):
    return ticket.change(at(when), who, {F: (old, new)})
records = [
    one.create(sales, description="Produto: NF-e. Link de agendamento e documentação enviados ao cliente.",
               fields={"Cliente": "Padaria Pão Dourado", "Consultor": ana}),
    two.create(sales, description="Produto: NF-e. Link de agendamento e documentação enviados ao cliente.",
               fields={"Cliente": "Ferragens Horizonte", "Consultor": rafael}),
    stage(two, "2026-11-19T17:00:00", rafael, None, "Primeiro contato"),
    two.move(at("2026-11-19T17:05:00"), rafael, "open"),
    stage(two, "2026-11-24T15:00:00", rafael, "Primeiro contato", "Avaliação"),
    # 101: no contact in 5 business days (Nov 20 is a national holiday): the follow-up rings Nov 24.
    stage(one, "2026-11-25T12:30:00", ana, None, "Primeiro contato"),
    one.move(at("2026-11-25T12:35:00"), ana, "open"),
    stage(one, "2026-11-27T14:00:00", ana, "Primeiro contato", "Avaliação"),
    stage(two, "2026-12-01T16:00:00", rafael, "Avaliação", "Montagem do layout"),
    stage(one, "2026-12-03T13:00:00", ana, "Avaliação", "Montagem do layout"),
    stage(two, "2026-12-15T18:00:00", rafael, "Montagem do layout", "Emissão em homologação"),
    two.comment(at("2026-12-15T18:10:00"), rafael, "Cliente aguardando o certificado digital A1 para homologar."),
    stage(one, "2026-12-16T12:00:00", ana, "Montagem do layout", "Emissão em homologação"),
    stage(one, "2027-01-04T15:00:00", ana, "Emissão em homologação", "Produção"),
    # 101 closes on day 58, after both warnings; 102 misses the 60-day target in homologation.
    stage(one, "2027-01-13T16:00:00", ana, "Produção", "Encerramento"),
    # the dropdowns ticketbot set at closing put their option tags on #101, which the trigger renders
    (one.tags.extend(hooks.tags_of("Pesquisa de satisfação", "Solicitada")
                     + hooks.tags_of("Equipe responsável", "Suporte técnico")),
     one.move(at("2027-01-13T16:30:00"), ana, "solved"))[1],
    stage(two, "2027-01-26T14:00:00", rafael, "Emissão em homologação", "Produção"),
]
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
