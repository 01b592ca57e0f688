"""Words: named templates with the module's defaults, the block's language and its own wording; a template
that names an unknown value is a configuration error at load time and in `ticketbot check`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.calendar import BusinessDuration
from bot.cli.main import app
from bot.settings import ConfigurationError
from rules import load_rules
from rules.nfe_onboarding import TEXTS, Config
from rules.runbook.words import Catalogue, Words, template
from tests.rules.scenario import CONFIG, run

NFE = "  nfe_onboarding:"


def _config(tmp_path: Path, extra: str) -> Path:
    """The shipped rules with ``extra`` lines added to the NF-e block (in place of its language line)."""
    text = CONFIG.read_text(encoding="utf-8")
    shipped = next(line for line in text.splitlines() if line.startswith("    language: pt-BR"))
    text = text.replace(shipped + "\n", "")
    head, _, rest = text.partition(NFE + "                     # seed 004")
    path = tmp_path / "ticketbot.yaml"
    path.write_text(head + NFE + "\n" + extra + rest.split("\n", 1)[1], encoding="utf-8")
    return path


def test_a_template_override_is_what_the_runbook_says(tmp_path: Path) -> None:
    config = _config(tmp_path, '    templates:\n      follow_up_slack: "Ligue para {customer} hoje ({key}, {after})"\n')
    result = run("nfe", tmp_path, config=config)
    to_ana = result.slack_to("ana.souza@nfe-onboarding.example")
    assert "Ligue para Padaria Pão Dourado hoje (101, 5 dias úteis)" in to_ana


def test_the_english_texts_with_english_dates(tmp_path: Path) -> None:
    result = run("nfe", tmp_path, config=_config(tmp_path, "    language: en\n"))
    to_lead = result.slack_to("carla.mendes@nfe-onboarding.example")
    assert "missed the onboarding target of 60 days (due January 17, 2027); current stage" in to_lead[0]


@pytest.mark.parametrize(("extra", "expected"), [
    ('    templates:\n      follow_up_slack: "{customer} {consultant}"\n',
     "templates.follow_up_slack: unknown value(s) {consultant}; template 'follow_up_slack' has {customer}, {key}, "
     "{after}"),
    ('    templates:\n      follow_up: "x"\n', "templates.follow_up: no such template (known: admin_channel"),
    ('    templates:\n      follow_up_slack: "{customer!r}"\n', "{customer!r} is not a plain {value}"),
    ('    templates:\n      follow_up_slack: "{customer"\n', "write a literal brace as {{ or }}"),
    ("    language: klingon\n", "unknown language 'klingon' (a tag such as en, pt-BR, sv, fi)"),
])
def test_a_bad_template_is_a_configuration_error_naming_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    config = _config(tmp_path, extra)
    with pytest.raises(ConfigurationError) as caught:
        load_rules(config)
    assert "rules.nfe_onboarding" in str(caught.value) and expected in str(caught.value)

    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output, result.output


def test_every_shipped_text_exists_in_the_teams_language_and_uses_only_its_values() -> None:
    assert TEXTS.languages() == {"en", "pt-BR"}
    assert all(set(t.texts) == {"en", "pt-BR"} for t in TEXTS.templates.values())
    assert Config().words.language == "pt-BR"


def test_dates_numbers_and_delays_follow_the_locale() -> None:
    catalogue = Catalogue(template("t", "when day n wait clock", "{when} | {day} | {n} | {wait} | {clock}"))
    values = {"when": datetime(2027, 1, 17, 15, tzinfo=UTC), "day": date(2027, 1, 17), "n": 1234.5,
              "wait": BusinessDuration(days=5), "clock": timedelta(hours=48)}
    from zoneinfo import ZoneInfo
    say = {lang: Words(catalogue, lang, zone=ZoneInfo("America/Sao_Paulo")) for lang in ("en", "pt-BR", "sv", "fi")}
    assert say["en"]("t", **values).replace("\u202f", " ") == \
        "Jan 17, 2027 12:00 PM | January 17, 2027 | 1,234.5 | 5 business days | 48 hours"
    assert say["pt-BR"]("t", **values) == "17 de jan. de 2027 12:00 | 17 de janeiro de 2027 | 1.234,5 | 5 dias úteis " \
                                          "| 48 horas"
    assert say["sv"]("t", **values).endswith("| 5 arbetsdagar | 48 timmar")
    assert say["fi"]("t", **values).endswith("| 5 arkipäivää | 48 tuntia")


def test_a_module_text_that_names_a_value_it_does_not_declare_fails_at_import() -> None:
    with pytest.raises(ValueError, match=r"unknown value\(s\) \{who\}"):
        template("t", "customer", "{customer} and {who}")
