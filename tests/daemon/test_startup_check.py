"""``ticketbot run`` checks the names the rules use before it serves (issue 14 §3): every miss is logged and
told to the admin channel; ``--strict`` / ``TICKETBOT_CHECK__STRICT`` refuses to start (exit 2, one line per
miss); an unreachable site is a warning; no configured site, or ``TICKETBOT_CHECK__AT_START=false``, skips it."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.daemon.build import check_names_at_start
from bot.settings import ConfigurationError, Settings
from rules import load_rules
from tests.support.daemon import CONFIG, ROOT, DaemonProcess, free_port
from tests.test_check import rename_field, site_data, write_site

FIELD_LINE = ("everbright_onboarding: field 'Needs Configuration?' not found on jira; closest: "
              "'Needs configuration (automation)' (rules.everbright_onboarding.needs_configuration_field)")
OPTION_LINE = ("everbright_onboarding: option 'Integrated Finance' of field 'Needs Configuration?' in SS not found on "
               "jira")


def _renamed_site(tmp_path: Path) -> Path:
    return write_site(tmp_path, site_data(rename_field("Needs Configuration?", "Needs configuration (automation)")))


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(tracker=f"memory:{_renamed_site(tmp_path)}", config=CONFIG, **kw)


def test_every_missing_name_is_logged_and_told_to_the_admin_channel(tmp_path, caplog):
    alerts: list[str] = []
    with caplog.at_level(logging.WARNING, logger="bot.daemon.core"):
        lines = check_names_at_start(_settings(tmp_path), load_rules(CONFIG), alerts.append)
    assert FIELD_LINE in lines and any(line.startswith(OPTION_LINE) for line in lines)
    assert any(FIELD_LINE in r.getMessage() for r in caplog.records)
    [alert] = alerts
    assert FIELD_LINE in alert and "ticketbot check" in alert


def test_strict_refuses_to_start_with_one_line_per_miss(tmp_path):
    alerts: list[str] = []
    with pytest.raises(ConfigurationError) as refused:
        check_names_at_start(_settings(tmp_path, check={"strict": True}), load_rules(CONFIG), alerts.append)
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("2 name(s) the rules use are missing")
    assert lines[1] == FIELD_LINE and lines[2].startswith(OPTION_LINE) and len(lines) == 3


def test_without_a_site_or_when_turned_off_the_check_is_skipped(tmp_path):
    alerts: list[str] = []
    assert check_names_at_start(Settings(config=CONFIG), load_rules(CONFIG), alerts.append) == []
    off = _settings(tmp_path, check={"at_start": False, "strict": True})
    assert check_names_at_start(off, load_rules(CONFIG), alerts.append) == []
    assert alerts == []


def test_a_site_that_cannot_be_reached_is_a_warning_even_when_strict(tmp_path, caplog):
    settings = Settings(config=CONFIG, check={"strict": True}, jira={
        "url": f"http://127.0.0.1:{free_port()}", "email": "bot@example.com", "api_token": "t", "max_retries": 0})
    alerts: list[str] = []
    with caplog.at_level(logging.WARNING, logger="bot.daemon.core"):
        assert check_names_at_start(settings, load_rules(CONFIG), alerts.append) == []
    assert any("could not ask jira" in r.getMessage() for r in caplog.records)
    assert alerts == []


def test_a_zendesk_only_site_is_checked_too(tmp_path, caplog):
    """The check is skipped only when no site at all is configured, not whenever Jira is not."""
    settings = Settings(config=CONFIG, zendesk={
        "url": f"http://127.0.0.1:{free_port()}", "email": "bot@example.com", "api_token": "t"})
    with caplog.at_level(logging.INFO, logger="bot.daemon.core"):
        check_names_at_start(settings, load_rules(CONFIG), [].append)
    messages = [r.getMessage() for r in caplog.records]
    assert not any("skipped: no tracker is configured" in m for m in messages), messages


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    process = DaemonProcess({"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
                             "TICKETBOT_TRACKER": f"memory:{_renamed_site(tmp_path)}",
                             "TICKETBOT_CHECK__AT_START": "true", **env}, tmp_path / "d.log")
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", *args], env=process.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "env"), [(["--strict"], {}), ([], {"TICKETBOT_CHECK__STRICT": "true"})],
                         ids=["flag", "setting"])
def test_ticketbot_run_strict_exits_2_naming_each_miss(tmp_path, args, env):
    result = _run(tmp_path, *args, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Needs Configuration?" in result.stderr and "Integrated Finance" in result.stderr


def test_ticketbot_run_logs_the_misses_and_serves(tmp_path):
    site = _renamed_site(tmp_path)
    daemon = DaemonProcess({"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
                            "TICKETBOT_TRACKER": f"memory:{site}", "TICKETBOT_JIRA__POLL_INTERVAL": "0",
                            "TICKETBOT_LOG_LEVEL": "INFO", "TICKETBOT_WORKER__PROCESSES": "0",
                            "TICKETBOT_CHECK__AT_START": "true"}, tmp_path / "daemon.log")
    try:
        daemon.start()
        assert daemon.health()["status"] == "ok"
    finally:
        daemon.stop()
    log = daemon.log_path.read_text()
    assert "start-up check: " + FIELD_LINE in log
    assert "ALERT: ticketbot started, but 3 name(s) the rules use were not found" in log  # no Slack: the log
