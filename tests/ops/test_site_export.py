"""`ticketbot site export`: a site description of what the rules use, read from the live site through the real
adapters (on the stateful fakes), that replays the demos exactly as the hand-written one does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli.main import app
from bot.clock import VirtualClock
from bot.ops.backtest import compare, describe, play
from bot.ops.site_export import Export, export_site
from bot.replay import read_records
from bot.trackers.base import TrackerError
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site, SiteTicket
from bot.trackers.zendesk.adapter import ZendeskTracker
from rules import load_rules
from tests.fakes.fake_zendesk import FakeZendesk
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.support.paths import CONFIG, EVERBRIGHT_ONLY, EXAMPLES

EVERBRIGHT, NFE = EXAMPLES / "everbright", EXAMPLES / "nfe"


def _replays_alike(events: Path, original: Site, exported: Site, config: Path) -> None:
    rules = load_rules(config)
    a, end = play(rules, original, read_records(events), until=None)
    b, _ = play(rules, exported, read_records(events), until=end)
    comparison = compare(a, b)
    assert comparison.identical, "\n".join(describe(comparison))
    assert len(a.done) > 10


def test_a_jira_site_exported_through_the_adapter_replays_the_demo_alike() -> None:
    original = Site.load(EVERBRIGHT / "site.yaml")
    live = original.model_copy(update={"tickets": [SiteTicket(key="CS-1", summary="Configure Sunpeak Solar",
                                                              status="To Do", issue_type="Task")]})
    with spec_checked_jira(live) as fake:  # the live site: the demo's, and the config team's project CS
        tracker = tracker_on(fake, "ticketbot@goeverbright.com", "token", slept=[])
        exported = export_site(load_rules(EVERBRIGHT_ONLY), tracker, "jira",
                               bot_email="ticketbot@goeverbright.com", base_url=original.base_url)  # the live URL
    assert exported.notes == []
    site = exported.site
    assert {u.email for u in site.users} >= {"david.ellis@goeverbright.com", "onboarding@goeverbright.com"}
    assert site.bot_account.email == "ticketbot@goeverbright.com"
    needs = next(f for f in site.fields if f.name == "Needs Configuration?")
    assert (needs.type, "Integrated Finance" in needs.options) == ("option", True)
    assert {f.type for f in site.fields} >= {"sd-organizations", "sd-request-type", "sd-participants"}
    assert {"On Hold", "Waiting for support", "Closed"} <= set(site.statuses)
    assert {"Duplicate", "Relates"} <= {t.name for t in site.link_types}
    desk = next(d for d in site.service_desks if d.project == "SS")
    assert "Company-specific Data Change" in desk.request_types.values()
    _replays_alike(EVERBRIGHT / "events.jsonl", original, _round_trip(exported), EVERBRIGHT_ONLY)


def test_a_zendesk_account_exported_through_the_adapter_replays_the_demo_alike() -> None:
    original = Site.load(NFE / "site.yaml")
    clock = VirtualClock()
    with FakeZendesk(original, now=clock.now, subdomain="nfe-demo") as fake:
        tracker = ZendeskTracker(fake.url, "bot@nfe.example", "token", now=clock.now, max_retries=0)
        exported = export_site([b for b in load_rules(CONFIG) if b.id == "nfe_onboarding"], tracker, "zendesk")
    assert exported.notes == []
    site = exported.site
    stage = next(f for f in site.fields if f.name == "Etapa do onboarding")
    assert stage.type == "option" and "Avaliação" in stage.options
    assert [g.name for g in site.groups] == ["Onboarding"]
    _replays_alike(NFE / "events.jsonl", original, _round_trip(exported), CONFIG)


def _round_trip(exported: Export) -> Site:
    """As the command writes it (YAML) and a replay reads it back."""
    return Site.model_validate(yaml.safe_load(yaml.safe_dump(exported.document(), allow_unicode=True)))


class _Flaky(MemoryTracker):
    def statuses(self, project: str | None = None) -> list[str]:
        raise TrackerError("HTTP 503 from the site")


def test_what_cannot_be_read_is_named_and_the_rest_exported() -> None:
    exported = export_site(load_rules(EVERBRIGHT_ONLY), _Flaky(Site.load(EVERBRIGHT / "site.yaml")), "jira")
    assert any("statuses of SS" in note and "503" in note for note in exported.notes)
    assert exported.site.users and exported.site.fields  # the rest is there
    assert "# not exported: statuses of SS" in exported.yaml_header("jira", "test")


@pytest.fixture
def memory_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETBOT_TRACKER", f"memory:{EVERBRIGHT / 'site.yaml'}")


def test_the_command_writes_a_site_description_replay_reads(memory_site, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("TICKETBOT_CONFIG", str(EVERBRIGHT_ONLY))
    result = CliRunner().invoke(app, ["site", "export"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "site.yaml"
    written.write_text(result.stdout)
    assert result.stdout.startswith("# ticketbot site export: the jira site memory:")
    _replays_alike(EVERBRIGHT / "events.jsonl", Site.load(EVERBRIGHT / "site.yaml"), Site.load(written),
                   EVERBRIGHT_ONLY)


def test_the_command_asks_which_site_when_the_rules_use_two(memory_site, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TICKETBOT_CONFIG", str(CONFIG))  # Jira and Zendesk runbooks
    result = CliRunner().invoke(app, ["site", "export"])
    assert result.exit_code == 2 and "--system jira or --system zendesk" in result.output
    bad = CliRunner().invoke(app, ["site", "export", "--system", "servicenow"])
    assert bad.exit_code == 2 and "'servicenow' is no tracker" in bad.output and "Traceback" not in bad.output
