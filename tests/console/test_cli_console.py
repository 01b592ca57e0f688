"""``ticketbot console``: the console alone against the configured database, or one line saying why not."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli.main import app as ticketbot
from tests.console.conftest import ADMIN, HEADER, columns, copy_database
from tests.support.paths import EVERBRIGHT_ONLY


@pytest.fixture
def served(monkeypatch) -> list[dict[str, Any]]:  # noqa: ANN001
    """What ``uvicorn.run`` was asked to serve (it is not started)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    return calls


def _env(monkeypatch, db: str, **console: str) -> None:  # noqa: ANN001
    monkeypatch.setenv("TICKETBOT_DATABASE_URL", db)
    monkeypatch.setenv("TICKETBOT_CONFIG", str(EVERBRIGHT_ONLY))
    for name, value in console.items():
        monkeypatch.setenv(f"TICKETBOT_CONSOLE__{name.upper()}", value)


def test_without_admins_it_refuses_in_one_line(monkeypatch, tmp_path, served):
    _env(monkeypatch, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = CliRunner().invoke(ticketbot, ["console"])
    assert result.exit_code == 2 and served == []
    assert result.output.strip() == ("configuration error: the console cannot be served: "
                                     "TICKETBOT_CONSOLE__ADMINS is not set")


def test_it_serves_the_console_on_the_configured_database(monkeypatch, tmp_path, served, demo_files):
    source, _, _ = demo_files["midway"]
    db = copy_database(source, tmp_path / "demo.sqlite3")
    _env(monkeypatch, f"sqlite:///{db}", admins=ADMIN, trusted_header=HEADER, trusted_proxies="127.0.0.1")
    result = CliRunner().invoke(ticketbot, ["console", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "ticketbot console on http://127.0.0.1:0/console/ (scope live)" in result.output
    [call] = served
    assert (call["host"], call["port"], call["proxy_headers"]) == ("127.0.0.1", 0, False)
    http = TestClient(call["app"], client=("127.0.0.1", 1234))
    assert http.get("/", follow_redirects=False).headers["location"] == "/console/"
    board = http.get("/console/", headers={HEADER: ADMIN})
    assert board.status_code == 200 and "SS-101" in columns(board.text)["awaiting-approval"]
    assert http.get("/api/v1/board").status_code == 401
    assert http.get("/api/v1/board", headers={HEADER: ADMIN}).json()["in_flight"] == 2


def test_scope_and_host_options(monkeypatch, tmp_path, served, demo_files):
    source, _, _ = demo_files["midway"]
    db = copy_database(source, tmp_path / "demo.sqlite3")
    _env(monkeypatch, f"sqlite:///{db}", admins=ADMIN, trusted_header=HEADER, trusted_proxies="127.0.0.1")
    result = CliRunner().invoke(ticketbot, ["console", "--host", "127.0.0.1", "--port", "0", "--scope", "replay-x"])
    assert result.exit_code == 0, result.output
    [call] = served
    http = TestClient(call["app"], client=("127.0.0.1", 1234))
    board = http.get("/api/v1/board", headers={HEADER: ADMIN}).json()
    assert board["in_flight"] == 0  # no replay of that name in the database
    assert http.get("/api/v1/session", headers={HEADER: ADMIN}).json()["scope"] == "replay-x"
