"""The ``ticketbot`` command line never shows a traceback: each error a user can meet is one line naming the
problem (``FILE:LINE`` for replay input) and exit code 2 (issue 14 §6).

Most cases run the real CLI through typer's CliRunner; the ones that need the installed script's own
process (the HTTP port, the ``main()`` entry point) run it as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot.replay
from bot.cli.main import app
from bot.settings import misspelt_settings
from bot.store import Store
from tests.support.paths import CONFIG, EXAMPLES, ROOT

SITE = EXAMPLES / "everbright" / "site.yaml"
NOT_A_KEY = "is not a Jira or Zendesk ticket key (a Jira key looks like SS-101"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A database file and the shipped rules; no stray TICKETBOT_* variable of the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith("TICKETBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    values = {"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "TICKETBOT_CONFIG": str(CONFIG)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def one_line_error(args: list[str], expected: str, env: dict[str, str] | None = None) -> str:
    """Run ``ticketbot ARGS``: exit 2, one line holding ``expected``, no traceback."""
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected in lines[0], result.output
    assert "Traceback" not in result.output
    return lines[0]


def jsonl(tmp_path: Path, *records: object, name: str = "events.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def replay(path: str, *more: str) -> list[str]:
    return ["replay", path, "--site", str(SITE), *more]


# replay input -----------------------------------------------------------------------------------------
JIRA_ISSUE = {"key": "SS-1", "id": "1", "fields": {"summary": "s", "project": {"key": "SS"}}}


@pytest.mark.parametrize(("record", "expected"), [
    ({"issue": JIRA_ISSUE}, ":2: cannot read this Jira webhook: Jira webhook body has no 'webhookEvent'"),
    ({"webhookEvent": "jira:issue_created"}, ":2: cannot read this Jira webhook: jira:issue_created webhook has no 'issue'"),  # noqa: E501 - one case a line
    ({"webhookEvent": 1}, ":2: cannot read this Jira webhook"),
    ({"hello": "world"}, ":2: not a recorded event replay reads: a Jira webhook has 'webhookEvent'"),
    ({"ticketbot": "zendesk-trigger/1", "event": "ticket.created", "ticket": {"id": "PC-1"}},
     ":2: cannot read this Zendesk trigger webhook: ticket.id must be a Zendesk ticket id"),
    ({"type": "zen:event-type:ticket.created", "detail": {}}, ":2: cannot read this Zendesk event webhook"),
    ({"source": "zendesk", "headers": {}, "body": {"ticketbot": "zendesk-trigger/1"}},
     ":2: cannot read this inbox envelope of a Zendesk trigger webhook"),
    ({"source": "jira", "body": []}, ":2: cannot read this inbox envelope of a Jira webhook: its 'body' is a JSON list"),  # noqa: E501 - one case a line
    ({"source": "github", "body": {}}, ":2: an inbox envelope from source 'github', which replay does not play"),
    ({"type": "block_actions", "actions": [{"action_id": "approve"}]}, ":2: a Slack payload, which replay does not play"),  # noqa: E501 - one case a line
    ({"command": "/ticketbot", "text": "approve SS-1"}, ":2: a Slack payload, which replay does not play"),
    ({"source": "slack", "event": {"kind": "approval"}}, ":2: cannot read a Slack event record"),
    ("[[[[", ":2: not JSON"),
    ("[1, 2]", ":2: expected a JSON object, got list"),
    ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", ":2: JSON nested too deeply to read"),
])
def test_a_record_replay_cannot_read_is_named_with_its_file_line_and_kind(tmp_path: Path, record: object,
                                                                          expected: str) -> None:
    path = jsonl(tmp_path, "// recorded by hand", record)
    line = one_line_error(replay(path), expected)
    assert line.startswith(f"replay error: {path}:2: ")


def test_the_hook_s_odd_file_is_one_line(tmp_path: Path) -> None:
    path = jsonl(tmp_path, {"webhookEvent": 1}, "[[[[", name="odd.jsonl")
    one_line_error(replay(path), f"{path}:1: cannot read this Jira webhook")


def test_an_array_file_names_the_element(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"hello": 1}]))
    one_line_error(replay(str(path)), f"{path}[1]: not a recorded event replay reads")
    path.write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(replay(str(path)), f"{path}: JSON nested too deeply to read")


def test_a_binary_events_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"webhookEvent": "\xff\xfe"}\n')
    one_line_error(replay(str(path)), f"{path}:1: not UTF-8 text")


def test_a_description_nested_300_levels_deep_plays_or_is_one_line(tmp_path: Path) -> None:
    """An ADF description 300 blocks deep: played (the converters need no recursion) or, where anything on
    the way still recurses, one line naming the record; never a traceback."""
    node: dict = {"type": "text", "text": "deep"}
    for _ in range(300):
        node = {"type": "blockquote", "content": [node]}
    issue = {"id": "1", "key": "SS-1", "fields": {"summary": "s", "project": {"key": "SS"},
                                                  "description": {"type": "doc", "version": 1, "content": [node]},
                                                  "created": "2026-11-02T09:00:00.000+0000"}}
    path = jsonl(tmp_path, {"webhookEvent": "jira:issue_created", "timestamp": 1793610000000, "issue": issue})
    result = CliRunner().invoke(app, replay(path))
    assert "Traceback" not in result.output and result.exit_code in (0, 2), (result.output, result.exception)
    if result.exit_code == 2:
        assert result.output.strip() == f"replay error: {path}:1: this record is nested too deeply to read"


def test_any_recursion_left_on_the_replay_path_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def recurse(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(bot.replay, "parse_jira_webhook", recurse)
    path = jsonl(tmp_path, {"webhookEvent": "jira:issue_created", "issue": JIRA_ISSUE})
    one_line_error(replay(path), f"{path}:1: this record is nested too deeply to read")


def test_replay_of_dev_zero_stops_at_the_line_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's read grows to 24 GB: a line is read with a bound (a smaller one here, to keep the test light)."""
    monkeypatch.setattr(bot.replay, "MAX_LINE_BYTES", 1024 * 1024)
    one_line_error(replay("/dev/zero"), "/dev/zero:1: a line longer than 1 MiB: not a recorded event")


def test_an_array_file_is_read_with_a_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.replay, "MAX_ARRAY_BYTES", 1024 * 1024)
    path = tmp_path / "big.json"
    path.write_text("[" + ",".join(['{"webhookEvent": "x"}'] * 60_000) + "]")
    one_line_error(replay(str(path)), f"{path}: a JSON array larger than 1 MiB; write the events as JSON lines")


@pytest.mark.parametrize(("site", "expected"), [
    (sys.executable, "is not UTF-8 text (a binary file?)"),
    ("/tmp", "/tmp is not a file"),
    ("/dev/zero", "/dev/zero is not a file"),
    ("list.yaml", "list.yaml: the whole file: Input should be a valid dictionary"),
    ("missing.yaml", "file not found: missing.yaml"),
])
def test_replay_site_that_cannot_be_read(tmp_path: Path, site: str, expected: str) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    events = jsonl(tmp_path, {"hello": 1})
    line = one_line_error(["replay", events, "--site", site], expected)
    assert line.startswith("configuration error: --site: ")


# keys and markup ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["why", "[/]"], ["status", "../x"], ["timers", "../x"], ["why", "[bold]SS-1"]])
def test_a_key_argument_that_is_no_ticket_key(args: list[str]) -> None:
    line = one_line_error(args, NOT_A_KEY)
    assert line.startswith(f"error: {args[1]!r} ")


def test_dry_run_wants_a_ticket_key() -> None:
    one_line_error(["dry-run", "../../etc"], "'../../etc' is not a Jira or Zendesk ticket key (a Jira key looks like "
                                            "SS-101; a Zendesk key is a ticket id such as 123)")


def test_values_holding_rich_markup_are_printed_as_they_are(env: dict[str, str]) -> None:
    store = Store(env["TICKETBOT_DATABASE_URL"])
    store.add_trace(scope="live", event_id="e1", event_kind="[/]", ticket_key="SS-1", rule_id="[bold]rule",
                    at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC), matched=False,
                    verdicts=[{"name": "[/red]", "passed": False, "observed": "[/]", "expected": "[link=x]"}],
                    effects=[{"outcome": "[/]", "summary": "[red]s", "detail": "[/]"}], notes=["[/]note"],
                    error="[/] broke")
    result = CliRunner().invoke(app, ["why", "ss-1"])
    assert result.exit_code == 0, (result.output, result.exception)
    for text in ("2026-11-02 09:00:00 [live] [/] → [bold]rule: error", "✗ [/red]: observed '[/]', expected '[link=x]'",
                 "note: [/]note", "→ [/]: [red]s — [/]", "  [/] broke"):
        assert text in result.output, result.output


def test_an_unknown_rule_id_with_markup_is_one_line() -> None:
    one_line_error(["rules", "pause", "[/]"], "unknown rule id '[/]' (known: ")


# settings ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "expected"), [
    ("TICKETBOT_LOG_LEVEL", "LOUD", "TICKETBOT_LOG_LEVEL: 'LOUD' is not a log level (one of CRITICAL, ERROR"),
    ("TICKETBOT_JIRA", "{not json", "TICKETBOT_JIRA is not valid JSON: Expecting property name"),
    ("TICKETBOT_JIRA", "{bad", "TICKETBOT_JIRA is not valid JSON"),
    ("TICKETBOT_JIRA__POLL_INTERVAL", "inf", "TICKETBOT_JIRA__POLL_INTERVAL: Input should be a finite number"),
    ("TICKETBOT_WORKER__LEASE_SECONDS", "nan", "TICKETBOT_WORKER__LEASE_SECONDS: Input should be a finite number"),
    ("TICKETBOT_ZENDESK__POLL_INTERVAL", "1e300", "TICKETBOT_ZENDESK__POLL_INTERVAL: must be at most 31536000 seconds"),
    ("TICKETBOT_JIRA__POLL_INTERVAL", "-1", "TICKETBOT_JIRA__POLL_INTERVAL: Input should be greater than or equal to 0"),  # noqa: E501 - one case a line
    ("TICKETBOT_CONFIG", sys.executable, "is not UTF-8 text (a binary file?)"),
    ("TICKETBOT_CONFIG", "/tmp", "TICKETBOT_CONFIG: /tmp is not a file"),
    ("TICKETBOT_DATABASE_URL", "nonsense://x", "TICKETBOT_DATABASE_URL: not a database URL SQLAlchemy can open"),
    ("TICKETBOT_DATABASE_URL", "::::", "TICKETBOT_DATABASE_URL: not a database URL SQLAlchemy can open"),
])
def test_a_setting_that_is_wrong(name: str, value: str, expected: str) -> None:
    line = one_line_error(["timers"], expected, env={name: value})
    assert line.startswith("configuration error: ")


@pytest.mark.parametrize("command", [["status", "SS-1"], ["why", "SS-1"], ["timers"]])
@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////nonexistent/x.db", "database error: sqlite:////nonexistent/x.db: unable to open database file"),
    ("postgresql+psycopg://bot:s3cret@127.0.0.1:1/x",
     "database error: postgresql+psycopg://bot:***@127.0.0.1:1/x: connection failed"),
])
def test_a_database_that_cannot_be_reached(command: list[str], url: str, expected: str) -> None:
    line = one_line_error(command, expected, env={"TICKETBOT_DATABASE_URL": url})
    assert "s3cret" not in line and line.endswith("(check TICKETBOT_DATABASE_URL)")


def test_a_database_file_that_is_no_database(tmp_path: Path) -> None:
    path = tmp_path / "binary.db"
    path.write_bytes(Path(sys.executable).read_bytes()[:4096])
    one_line_error(["why", "SS-1"], "file is not a database", env={"TICKETBOT_DATABASE_URL": f"sqlite:///{path}"})


def test_a_misspelt_variable_is_a_warning_naming_the_closest_setting(caplog: pytest.LogCaptureFixture) -> None:
    result = CliRunner().invoke(app, ["timers"], env={"TICKETBOT_JIRA__POLL_INTERVALL": "30"})
    assert result.exit_code == 0, result.output
    warnings = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.settings"]
    assert warnings == [("WARNING", "TICKETBOT_JIRA__POLL_INTERVALL (in the environment) is not a ticketbot setting "
                                    "and is ignored; did you mean TICKETBOT_JIRA__POLL_INTERVAL?")]


def test_misspelt_keys_of_env_files_too(tmp_path: Path) -> None:
    dotenv = tmp_path / "settings.env"
    dotenv.write_text("TICKETBOT_LOG_LEVL=DEBUG\nTICKETBOT_HTTP__PORT=8081\nOTHER=1\n")
    environ = {"TICKETBOT_SLACK__BOT_TOKEN": "xoxb", "TICKETBOT_SHARED_DIR": "/x", "TICKETBOT_NOPE": "1", "PATH": "/"}
    assert misspelt_settings(environ, dotenv) == [
        "TICKETBOT_NOPE (in the environment) is not a ticketbot setting and is ignored (see README: Configuration)",
        f"TICKETBOT_LOG_LEVL (in {dotenv}) is not a ticketbot setting and is ignored; did you mean TICKETBOT_LOG_LEVEL?",  # noqa: E501 - one case a line
    ]


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"ticketbot {version('ticketbot')}\n")


# the script itself ---------------------------------------------------------------------------------------------
def script(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=timeout, start_new_session=True)


def test_the_script_prints_one_line_for_the_hook_s_cases(tmp_path: Path, env: dict[str, str]) -> None:
    odd = jsonl(tmp_path, {"webhookEvent": 1}, "[[[[", name="odd.jsonl")
    cases = [(["replay", odd, "--site", str(SITE)], {}), (["why", "[/]"], {}),
             (["timers"], {"TICKETBOT_LOG_LEVEL": "LOUD"}), (["timers"], {"TICKETBOT_JIRA": "{bad"}),
             (["timers"], {"TICKETBOT_DATABASE_URL": "sqlite:////nonexistent/x.db"})]
    for args, extra in cases:
        done = script(*args, env={**env, **extra})
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)


def test_run_with_the_port_in_use_is_one_line_and_leaves_no_worker(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                **env,
                "TICKETBOT_HTTP__PORT": str(port),
                "TICKETBOT_TRACKER": f"memory:{SITE}:{Path(env['TICKETBOT_DATABASE_URL'][10:]).parent / 'site.db'}",
                "TICKETBOT_LOG_LEVEL": "WARNING",
            },
        )
        try:
            _, stderr = done.communicate(timeout=60)
        finally:
            left_behind = _kill_group(done.pid)
    assert done.returncode == 2, stderr
    assert stderr.strip() == (f"configuration error: 127.0.0.1:{port} is already in use: set TICKETBOT_HTTP__PORT "
                              "to a free port, or stop what listens there (another ticketbot?)")
    assert not left_behind  # nothing of its process group outlived it (no worker process)


def _kill_group(pgid: int) -> bool:
    """Kill what is left of the test's ``ticketbot run`` (its own process group, by id); whether anything was."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True
