"""``ticketbot console``: the console alone against the configured database, or one line saying why not."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli.main import app as ticketbot
from tests.console.conftest import ADMIN, HEADER, columns, copy_database, press_sign_in, set_cookie
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


def test_on_a_laptop_a_sign_in_link_from_the_command_line_opens_the_console(monkeypatch, tmp_path, served, demo_files):
    source, _, _ = demo_files["midway"]
    db = copy_database(source, tmp_path / "demo.sqlite3")
    _env(monkeypatch, f"sqlite:///{db}", admins=ADMIN)  # no proxy, no public address: links to this console
    made = CliRunner().invoke(ticketbot, ["console", "--port", "8099", "--sign-in", ADMIN.upper()])
    assert made.exit_code == 0, made.output
    url = next(word for word in made.output.split() if word.startswith("http://"))
    assert url.startswith("http://127.0.0.1:8099/console/sign-in/") and f"for {ADMIN} alone" in made.output
    assert served == []  # it printed the link and stopped
    result = CliRunner().invoke(ticketbot, ["console", "--port", "8099"])
    assert result.exit_code == 0, result.output
    http = TestClient(served[0]["app"], client=("127.0.0.1", 1234))
    signed_in = press_sign_in(http, url.removeprefix("http://127.0.0.1:8099"))
    assert signed_in.status_code == 303
    value, attributes = set_cookie(signed_in)
    assert value.startswith("ticketbot-console=") and "Secure" not in attributes.split("; ")  # plain http here
    assert http.get("/api/v1/board", headers={"cookie": value}).json()["in_flight"] == 2
    out = CliRunner().invoke(ticketbot, ["console", "--sign-out", ADMIN])
    assert out.exit_code == 0 and "1 console session(s)" in out.output
    assert http.get("/api/v1/board", headers={"cookie": value}).status_code == 401


def test_no_link_for_someone_who_is_not_an_admin(monkeypatch, tmp_path, served):
    _env(monkeypatch, f"sqlite:///{tmp_path / 'db.sqlite3'}", admins=ADMIN)
    result = CliRunner().invoke(ticketbot, ["console", "--sign-in", "mallory@example.com"])
    assert result.exit_code == 2 and "mallory@example.com is not in TICKETBOT_CONSOLE__ADMINS" in result.output
