"""``ticketbot dry-run KEY``: a Jira key reads Jira, a Zendesk ticket number reads Zendesk; nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from bot.cli.main import app
from bot.trackers.site import Site, SiteTicket
from tests.fakes.fake_zendesk import FakeZendesk
from tests.support.paths import CONFIG, EXAMPLES

NOW = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)


def test_a_zendesk_ticket_number_is_dry_run_on_zendesk_and_nothing_is_written(monkeypatch):
    site = Site.load(EXAMPLES / "nfe" / "site.yaml")
    site = site.model_copy(update={"tickets": [SiteTicket(
        key="101", summary="Onboarding NF-e: Padaria Pão Dourado", status="new", issue_type="question",
        request_type="Onboarding", group="Onboarding", fields={"Cliente": "Padaria Pão Dourado"})]})
    with FakeZendesk(site, now=lambda: NOW, groups=["Onboarding"]) as zendesk:
        monkeypatch.setenv("TICKETBOT_ZENDESK__URL", zendesk.url)
        monkeypatch.setenv("TICKETBOT_ZENDESK__EMAIL", site.bot_account.email)
        monkeypatch.setenv("TICKETBOT_ZENDESK__API_TOKEN", "zendesk-token")
        result = CliRunner().invoke(app, ["dry-run", "101", "--config", str(CONFIG)])
        assert result.exit_code == 0, (result.output, result.exception)
        assert zendesk.writes() == []
    lines = result.output.splitlines()
    assert "nfe_onboarding: would act" in lines  # the runbook would start: its first stage, its timers
    assert any(line.strip().startswith("→ would-apply: start timer nfe_onboarding:101:follow_up") for line in lines)
    assert "everbright_onboarding: no action" in lines  # a Jira runbook sees a Zendesk ticket and passes


def test_a_zendesk_ticket_without_zendesk_configured_is_one_line():
    result = CliRunner().invoke(app, ["dry-run", "101", "--config", str(CONFIG)])
    assert result.exit_code == 2
    assert "TICKETBOT_ZENDESK__URL is not set (needed to reach Zendesk)" in result.output
