"""``ticketbot run`` serves the console when it is configured, beside the webhooks, over the daemon's own records."""

from __future__ import annotations

import logging

import httpx
from fastapi.testclient import TestClient

from bot.daemon.console import mount_console
from tests.console.conftest import ADMIN, HEADER, columns, press_sign_in, set_cookie
from tests.support import daemon as harness

CREATED_MS = 1793610000000
CONSOLE = {"admins": ADMIN, "trusted_header": HEADER, "trusted_proxies": "127.0.0.1"}


def test_the_daemon_mounts_the_console_and_it_shows_what_the_workers_did(make_daemon, caplog):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]), console=CONSOLE)
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        assert mount_console(daemon) is not None
    assert ("console: at http://127.0.0.1:8080/console/ (JSON API /api/v1); 1 admin(s), identity from "
            "X-Forwarded-Email via 1 trusted proxy") in caplog.messages
    http = TestClient(daemon.app, client=("127.0.0.1", 40000))
    raw = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
    assert http.post("/webhooks/jira", content=raw, headers=harness.jira_headers(raw)).status_code == 202
    daemon.workers.drain()
    board = http.get("/console/", headers={HEADER: ADMIN})
    assert board.status_code == 200
    assert "SS-1" in columns(board.text)["intake"] and "Sunpeak Solar" in columns(board.text)["intake"]
    assert http.get("/console/", headers={HEADER: "someone@else.example"}).status_code == 403
    assert http.get("/api/v1/board").status_code == 401
    assert http.get("/livez").status_code == 200 and "content-security-policy" not in http.get("/livez").headers
    assert http.get("/console", headers={HEADER: ADMIN}, follow_redirects=False).status_code in (301, 307, 308)


def test_without_admins_there_is_no_console_and_one_line_says_so(make_daemon, caplog):
    daemon = make_daemon(harness.onboarding_site([]))
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        assert mount_console(daemon) is None
    assert caplog.messages == ["console: off: TICKETBOT_CONSOLE__ADMINS is not set"]
    http = TestClient(daemon.app, client=("127.0.0.1", 40000))
    assert http.get("/console/", headers={HEADER: ADMIN}).status_code == 404
    assert http.get("/api/v1/board", headers={HEADER: ADMIN}).status_code == 404


def test_half_a_configuration_is_a_warning(make_daemon, caplog):
    daemon = make_daemon(harness.onboarding_site([]), console={"admins": ADMIN})
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        assert mount_console(daemon) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("console: off: nobody can sign in: set TICKETBOT_CONSOLE__PUBLIC_URL")
    assert "TICKETBOT_CONSOLE__TRUSTED_HEADER" in record.getMessage()
    no_proxies = make_daemon(harness.onboarding_site([]), console={"admins": ADMIN, "trusted_header": HEADER})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        assert mount_console(no_proxies) is None
    assert "TICKETBOT_CONSOLE__TRUSTED_PROXIES is empty" in caplog.text


def test_ticketbot_run_serves_the_console_and_believes_the_peer_not_x_forwarded_for(tmp_path):
    site = harness.onboarding_site(["SS-1"])
    harness.write_site(tmp_path / "site.yaml", site)
    env = {"TICKETBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}",
           "TICKETBOT_JIRA__WEBHOOK_SECRET": harness.SECRET,
           "TICKETBOT_TRACKER": f"memory:{tmp_path / 'site.yaml'}:{tmp_path / 'site-state.sqlite3'}",
           "TICKETBOT_JIRA__POLL_INTERVAL": "0", "TICKETBOT_WORKER__IDLE_POLL": "0.05",
           "TICKETBOT_CONFIG": str(harness.CONFIG), "TICKETBOT_LOG_LEVEL": "INFO",
           "TICKETBOT_CONSOLE__ADMINS": ADMIN, "TICKETBOT_CONSOLE__TRUSTED_HEADER": HEADER,
           "TICKETBOT_CONSOLE__TRUSTED_PROXIES": "127.0.0.1"}
    daemon = harness.DaemonProcess(env, tmp_path / "daemon.log").start()
    try:
        raw = harness.encode(harness.onboarding_created("SS-1", CREATED_MS))
        assert httpx.post(f"{daemon.url}/webhooks/jira", content=raw,
                          headers=harness.jira_headers(raw)).status_code == 202
        me = {HEADER: ADMIN}
        harness.wait_until(lambda: "SS-1" in columns(httpx.get(f"{daemon.url}/console/", headers=me).text)
                           .get("intake", ""))
        # uvicorn's proxy_headers would make 10.9.9.9 the peer of this request from 127.0.0.1: it is off
        session = httpx.get(f"{daemon.url}/api/v1/session", headers={**me, "X-Forwarded-For": "10.9.9.9"})
        assert session.status_code == 200 and session.json()["via"] == f"{HEADER} from 127.0.0.1"
        assert httpx.get(f"{daemon.url}/api/v1/board").status_code == 401
    finally:
        daemon.stop()
    assert f"console: at http://127.0.0.1:{daemon.port}/console/ (JSON API /api/v1)" in \
        (tmp_path / "daemon.log").read_text()


def test_under_ticketbot_run_a_sign_in_link_starts_a_session(make_daemon, caplog):
    daemon = make_daemon(harness.onboarding_site(["SS-1"]),
                         console={"admins": ADMIN, "public_url": "https://tb.example"})
    with caplog.at_level(logging.INFO, logger="bot.daemon.console"):
        console = mount_console(daemon)
    assert console is not None and console.sign_in is not None
    assert "sign-in links from /ticketbot console (https://tb.example)" in caplog.text
    http = TestClient(daemon.app, client=("127.0.0.1", 40000))
    assert http.get("/console/").status_code == 401
    link = console.sign_in.issue(ADMIN, via="test")
    path = link.url.removeprefix("https://tb.example")
    signed_in = press_sign_in(http, path)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/"
    cookie = set_cookie(signed_in)[0]
    assert http.get("/console/", headers={"cookie": cookie}).status_code == 200
    assert http.get("/api/v1/session", headers={"cookie": cookie}).json()["email"] == ADMIN
    assert http.post(path, follow_redirects=False).status_code == 401  # used
