"""Procountor's words (seed 003): every text is a named template in English, the seed's Swedish and Finnish; the
shipped block speaks Swedish, ``language: fi`` Finnish, ``en`` English; a block rewords one template; a template
naming a value it cannot have stops the rules from loading; delays are the locale's; ticket values stay escaped."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import ConfigurationError
from bot.text import untrusted
from bot.trackers.site import Site
from rules import load_rules
from rules.procountor_einvoicing import TEXTS, Config
from tests.rules.scenario import CONFIG, EXAMPLES, Run, run
from tests.rules.zendesk_webhooks import ZendeskTicket, ZendeskWebhooks

RULE = "procountor_einvoicing"
OWNER, KEEPER = "liisa.koski@kotileipomo.example", "aino.virtanen@kotileipomo.example"
LEAD, PROCOUNTOR = "mikko.laine@kotileipomo.example", "procountor@kotileipomo.example"
BOT = "ticketbot@kotileipomo.example"


def block_config(tmp_path: Path, **changes: Any) -> Path:
    """config/ticketbot.yaml with the Procountor block changed (a key set to None is removed)."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    block = data["rules"][RULE]
    for key, value in changes.items():
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    path = tmp_path / "ticketbot.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def never_allocated(tmp_path: Path, config: Path = CONFIG, *, summary: str = "E-invoice order: Ville Nieminen"
                    ) -> Run:
    """An order that nobody allocates, on the demo's Zendesk account: reminders, then the escalation."""
    tmp_path.mkdir(exist_ok=True)
    hooks = ZendeskWebhooks(Site.load(EXAMPLES / "procountor" / "site.yaml"))
    start = datetime(2027, 2, 8, 9, tzinfo=UTC)  # Monday 11:00 in Helsinki
    order = ZendeskTicket(hooks, "300", subject=summary, form="E-invoice order", group="Bookkeeping", created=start)
    task = ZendeskTicket(hooks, "301", subject="(the bot's task)", group="Bookkeeping", ticket_type="task",
                         created=start)
    records = [order.create(PROCOUNTOR), task.create(BOT, fields={"E-invoice order": "300"})]
    return run("procountor", tmp_path, records, until=start + timedelta(days=14), config=config)


# the catalogue -----------------------------------------------------------------------------------------------
def _values(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", ["sv", "fi"])
def test_every_text_is_translated_with_the_same_values(language: str) -> None:
    """No template falls back to English in the team's languages, and no translation drops or adds a value (a
    reminder in Finnish without the order's key would be useless)."""
    for name, t in TEXTS.templates.items():
        assert language in t.texts, f"{name} has no {language} text"
        assert t.texts[language] != t.texts["en"], f"{name}: the {language} text is the English one"
        assert _values(t.texts[language]) == _values(t.texts["en"]) == set(t.values), name


def test_the_module_ships_swedish_by_default_and_the_shipped_block_says_so() -> None:
    assert Config().language == "sv"
    block = next(b for b in load_rules(CONFIG) if b.id == RULE)
    assert (block.config.language, block.config.templates) == ("sv", {})


# the three languages through the runbook -----------------------------------------------------------------------
def test_the_shipped_block_writes_the_seeds_swedish(tmp_path: Path) -> None:
    result = run("procountor", tmp_path)
    assert result.errors() == []
    first, second = result.comments("201")[:2]
    assert first.startswith("ticketbot: aktiveringen av konsumentnätfakturering har startat. Härnäst, steg 1: avtala "
                            "med banken om att skicka nätfakturor och konsumentnätfakturor (e-faktura)")
    assert "(Administration > Uppgifter om företaget > Adresser för nätfaktura och skanningstjänst)" in first
    assert "steg 2: skicka ett Fakturerarmeddelande från Procountor" in second
    stalled = result.slack_to(OWNER)[0]
    assert "har väntat 10 arbetsdagar eller mer på steg 5 (5. CRM/ERP uppdaterat): uppdatera " \
           "e-fakturabeställningens fakturakanal och dess uppgifter i CRM/ERP-programmets kundregister." in stalled
    task = result.ticket("203")
    assert task.summary == "Allokera e-fakturabeställning 202 till en kund"
    assert "Allokera mottagarinfon till kunden i kundregistret (steg 4)" in task.description
    assert result.comments("202")[-1].startswith("ticketbot: allokerad till kund 10042. Härnäst (steg 5)")


def test_finnish(tmp_path: Path) -> None:
    config = block_config(tmp_path, language="fi")
    result = run("procountor", tmp_path, config=config)
    assert result.errors() == []
    first, second = result.comments("201")[:2]
    assert first.startswith("ticketbot: kuluttajan e-laskutuksen käyttöönotto on aloitettu. Seuraavaksi vaihe 1: "
                            "tee pankin kanssa sopimus verkkolaskujen ja kuluttajan e-laskujen lähettämisestä")
    assert "Seuraavaksi vaihe 2: lähetä laskuttajailmoitus Procountorista" in second
    assert "on odottanut vaihetta 5 (5. CRM/ERP uppdaterat) vähintään 10 arkipäivää: päivitä e-laskutilauksen " \
           "laskutuskanava" in result.slack_to(OWNER)[0]
    assert result.ticket("203").summary == "Kohdista e-laskutilaus 202 asiakkaalle"
    assert "asiakasrekisterin asiakkaalle (vaihe 4)" in result.ticket("203").description
    assert result.comments("202")[-1].startswith("ticketbot: kohdistettu asiakkaalle 10042. Seuraavaksi (vaihe 5)")
    escalated = never_allocated(tmp_path / "never", config)
    assert escalated.slack_to(LEAD) == [
        "E-laskutilaus 300 (E-invoice order: Ville Nieminen) on odottanut kohdistusta asiakkaalle jo 5 arkipäivää: "
        "kuluttaja ei saa e-laskua ennen kuin se on kohdistettu ja kenttä ”Customer number” täytetty. Huom: "
        "kohdistustehtävällä 301 ei ole vastuuhenkilöä."]


def test_english(tmp_path: Path) -> None:
    config = block_config(tmp_path, language="en")
    result = run("procountor", tmp_path, config=config)
    assert result.comments("201")[1].startswith("ticketbot: step 1 (1. Avtal med banken) is done. Next, step 2: send "
                                                "the biller notice (Fakturerarmeddelande) from Procountor")
    assert "has been waiting 10 business days or more for step 5 (5. CRM/ERP uppdaterat)" in result.slack_to(OWNER)[0]
    assert result.ticket("203").summary == "Allocate e-invoice order 202 to a customer"
    assert result.comments("201")[-1] == "ticketbot: all eight steps are done: consumer e-invoicing is active."


def test_delays_are_the_locales_business_time(tmp_path: Path) -> None:
    """A reconfigured escalation (2 business days 4 business hours) is said in Finnish, not as configured."""
    config = block_config(tmp_path, language="fi", allocation={"due": "1bd", "remind_every": "1bd",
                                                               "escalate_after": "2bd 4bh"})
    [escalation] = never_allocated(tmp_path, config).slack_to(LEAD)
    assert "jo 2 arkipäivää 4 työtuntia:" in escalation


# the block's own wording -----------------------------------------------------------------------------------------
def test_a_block_rewords_one_template(tmp_path: Path) -> None:
    config = block_config(tmp_path, templates={"escalation_slack": "Eskalering: {order} ({summary}) efter {after}."})
    result = never_allocated(tmp_path, config)
    assert result.slack_to(LEAD) == ["Eskalering: 300 (E-invoice order: Ville Nieminen) efter 5 arbetsdagar."]
    assert result.slack_to(KEEPER)[0].startswith("Påminnelse 1: e-fakturabeställningen 300")  # the others unchanged


def test_a_template_naming_a_value_it_cannot_have_stops_the_rules_loading(tmp_path: Path) -> None:
    config = block_config(tmp_path, templates={"escalation_slack": "{order} är sen, fråga {customer}"})
    with pytest.raises(ConfigurationError) as caught:
        load_rules(config)
    assert "rules.procountor_einvoicing" in str(caught.value)
    assert "templates.escalation_slack: unknown value(s) {customer}; template 'escalation_slack' has {order}" \
        in str(caught.value)


# escaping ---------------------------------------------------------------------------------------------------------
def test_values_from_tickets_keep_their_escaping_whatever_the_language(tmp_path: Path) -> None:
    """A summary and a customer number with tracker and Slack markup: escaped in what goes on the tickets
    (untrusted), one line for Slack (the notifier escapes Slack's own markup)."""
    hooks = ZendeskWebhooks(Site.load(EXAMPLES / "procountor" / "site.yaml"))
    start = datetime(2027, 2, 8, 9, tzinfo=UTC)
    summary = "E-invoice order: <!channel> *Matti*\n[~accountid:evil] {html}"
    order = ZendeskTicket(hooks, "300", subject=summary, form="E-invoice order", group="Bookkeeping", created=start)
    task = ZendeskTicket(hooks, "301", subject="task", group="Bookkeeping", ticket_type="task", created=start)
    customer = "10042 [click|https://evil.example]"
    records = [order.create(PROCOUNTOR), task.create(BOT, fields={"E-invoice order": "300"}),
               order.change(start + timedelta(days=2), KEEPER, {"Customer number": (None, customer)})]
    result = run("procountor", tmp_path, records, config=block_config(tmp_path, language="fi"))
    description = result.ticket("301").description
    assert untrusted(summary) in description and "[~accountid:evil]" not in description
    assert f"kohdistettu asiakkaalle {untrusted(customer)}." in result.comments("300")[-1]
    assert "[click|" not in result.comments("300")[-1]
    reminder = result.slack_to(KEEPER)[0]
    assert "(E-invoice order: <!channel> *Matti* [~accountid:evil] {html})" in reminder  # one line, as given
