"""Writes events.jsonl: the recorded webhooks of the NF-e onboarding demo (seed 004).

    python examples/nfe/make_events.py

Two customers on the virtual clock (São Paulo business days, Brazilian holidays):

- ONB-1 Padaria Pão Dourado, bought Mon 16 Nov: no contact in 5 business days (Fri 20 Nov is a
  holiday) -> follow-up Tue 24 Nov; then through every stage; warnings 10 and 3 days before the
  60-day target; closed on day 58 -> survey requested, handed over to technical support.
- ONB-2 Ferragens Horizonte, bought Wed 18 Nov, contacted the next day (no follow-up); stuck in
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
from tests.rules.webhooks import Issue, JiraWebhooks

site = Site.load(HERE / "site.yaml")
hooks = JiraWebhooks(site, site.base_url, issue_ids=30100)
def at(s): return datetime.fromisoformat(s).replace(tzinfo=UTC)
sales, ana, rafael = "vendas@nfe-onboarding.example", "ana.souza@nfe-onboarding.example", "rafael.costa@nfe-onboarding.example"
F = "Etapa do onboarding"
one = Issue(hooks, "ONB-1", summary="Onboarding NF-e: Padaria Pão Dourado", issue_type="Onboarding",
            status="Aberto", created=at("2026-11-16T13:00:00"))
two = Issue(hooks, "ONB-2", summary="Onboarding NF-e: Ferragens Horizonte", issue_type="Onboarding",
            status="Aberto", created=at("2026-11-18T14:00:00"))
stage = lambda issue, when, who, old, new: issue.change(at(when), who, {F: (old, new)})
records = [
    one.create(sales, description="Produto: NF-e. Link de agendamento e documentação enviados ao cliente.",
               fields={"Cliente": "Padaria Pão Dourado", "Consultor": ana}),
    two.create(sales, description="Produto: NF-e. Link de agendamento e documentação enviados ao cliente.",
               fields={"Cliente": "Ferragens Horizonte", "Consultor": rafael}),
    stage(two, "2026-11-19T17:00:00", rafael, None, "Primeiro contato"),
    stage(two, "2026-11-24T15:00:00", rafael, "Primeiro contato", "Avaliação"),
    # ONB-1: no contact in 5 business days (Nov 20 is a national holiday): the follow-up rings Nov 24.
    stage(one, "2026-11-25T12:30:00", ana, None, "Primeiro contato"),
    stage(one, "2026-11-27T14:00:00", ana, "Primeiro contato", "Avaliação"),
    stage(two, "2026-12-01T16:00:00", rafael, "Avaliação", "Montagem do layout"),
    stage(one, "2026-12-03T13:00:00", ana, "Avaliação", "Montagem do layout"),
    stage(two, "2026-12-15T18:00:00", rafael, "Montagem do layout", "Emissão em homologação"),
    stage(one, "2026-12-16T12:00:00", ana, "Montagem do layout", "Emissão em homologação"),
    stage(one, "2027-01-04T15:00:00", ana, "Emissão em homologação", "Produção"),
    # ONB-1 closes on day 58, after both warnings; ONB-2 misses the 60-day target in homologation.
    stage(one, "2027-01-13T16:00:00", ana, "Produção", "Encerramento"),
    stage(two, "2027-01-26T14:00:00", rafael, "Emissão em homologação", "Produção"),
]
records.sort(key=lambda r: r["timestamp"])
with open(HERE / "events.jsonl", "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
