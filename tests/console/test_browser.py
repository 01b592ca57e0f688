"""The console in a real browser: Debian's Chromium (``apt-get install chromium``, done by ``.ci/run``) driven by
Playwright (no browser download: ``executable_path=/usr/bin/chromium``), against the console served by uvicorn on
127.0.0.1 over the EverBright demo replayed half-way (and the NF-e demo for the charts).

The board lists the demo's onboardings by stage, a ticket page shows its timeline, Retry retries a dead letter,
a sign-in link signs in and Sign out ends the session; no page trips the Content-Security-Policy (no inline
script or style). With ``CONSOLE_SCREENSHOTS=docs`` the screenshots are also written there (the README's).

Skipped, saying why, when Chromium or Playwright is not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.inbox.queue import PENDING
from tests.console.conftest import ADMIN, HEADER, Harness, dead_letter

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")

#: What the probe found Chromium needs here: no sandbox as root, and no calls home (the network is closed).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
#: Resolved at import, before the tests move to their own folders.
SHOTS = str(Path(os.environ["CONSOLE_SCREENSHOTS"]).resolve()) if os.environ.get("CONSOLE_SCREENSHOTS") else ""
VIEWPORT = {"width": 1280, "height": 860}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A harness's console served by uvicorn in a thread."""

    def __init__(self, harness: Harness, port: int) -> None:
        self.harness = harness
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(harness.console.standalone(), host="127.0.0.1", port=port, log_config=None,
                                access_log=False, proxy_headers=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="console-under-test", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # waiting for a socket to listen, not for a timer
            if time.monotonic() > deadline:
                raise RuntimeError("the console did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        except Exception as exc:  # noqa: BLE001 - a Chromium that cannot start here: say so, do not fail
            pytest.skip(f"Chromium does not start: {exc}")
        yield launched
        launched.close()


@pytest.fixture
def serve(open_console) -> Iterator[Any]:  # noqa: ANN001
    """``serve(demo, **console_settings)`` -> a :class:`Served` console (trusted proxy 127.0.0.1, sign-in links)."""
    running: list[Served] = []

    def start(demo: str = "midway", **console: Any) -> Served:
        port = _free_port()
        settings = {"trusted_proxies": "127.0.0.1", "public_url": f"http://127.0.0.1:{port}", **console}
        harness = open_console(demo, **settings)
        served = Served(harness, port).__enter__()
        running.append(served)
        return served

    yield start
    for served in running:
        served.__exit__(None)


@pytest.fixture
def page_as_admin(browser) -> Iterator[Any]:  # noqa: ANN001
    """A page whose requests carry the proxy's header, and the CSP violations the browser reported."""
    context = browser.new_context(extra_http_headers={HEADER: ADMIN}, viewport=VIEWPORT)
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()


def _shoot(page: Any, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / name)
    return path


def test_the_board_lists_the_demo_onboardings_by_stage(serve, page_as_admin, tmp_path):
    served = serve()
    page = page_as_admin
    page.goto(f"{served.url}/console/")
    assert page.title() == "Board · ticketbot console"
    waiting = page.locator('[data-stage="awaiting-approval"]')
    sync_api.expect(waiting).to_contain_text("SS-101")
    sync_api.expect(waiting).to_contain_text("Sunpeak Solar")
    sync_api.expect(page.locator('[data-stage="approved"]')).to_contain_text("SS-103")
    sync_api.expect(page.locator('[data-stage="approved"]')).to_contain_text("Helio Homes")
    assert page.locator('[data-stage="awaiting-approval"] .card').count() == 1
    _shoot(page, "console-board.png", tmp_path)
    assert page.csp_errors == []


def test_a_ticket_page_shows_its_timeline(serve, page_as_admin, tmp_path):
    served = serve()
    page = page_as_admin
    page.goto(f"{served.url}/console/")
    page.locator('[data-stage="awaiting-approval"]').get_by_role("link", name="SS-101").click()
    page.wait_for_url(f"{served.url}/console/ticket/SS-101")
    sync_api.expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    timeline = page.locator("body")
    sync_api.expect(timeline).to_contain_text("timer.fired")
    sync_api.expect(timeline).to_contain_text("ticket.created")
    sync_api.expect(timeline).to_contain_text("awaiting-approval")
    _shoot(page, "console-ticket.png", tmp_path)
    assert page.csp_errors == []


def test_the_retry_button_retries_a_dead_letter(serve, page_as_admin):
    served = serve()
    row = dead_letter(served.harness.inbox)
    page = page_as_admin
    page.goto(f"{served.url}/console/dead-letters")
    sync_api.expect(page.locator("main")).to_contain_text("field 'X' is not on the screen")
    page.get_by_role("button", name="Retry").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text(f"Dead letter {row} is queued again")
    with served.harness.store.engine.connect() as conn:
        status, attempts = conn.exec_driver_sql(f"select status, attempts from inbox where id = {row}").one()
    assert (status, attempts) == (PENDING, 0)
    page.goto(f"{served.url}/console/audit")
    sync_api.expect(page.locator("main")).to_contain_text(f"retry dead letter {row}")
    assert page.csp_errors == []


def test_a_sign_in_link_signs_in_and_sign_out_ends_it(serve, browser):
    served = serve(trusted_header="", trusted_proxies="")  # links only
    link = served.harness.console.sign_in.issue(ADMIN, via="test")
    context = browser.new_context(viewport=VIEWPORT)  # no header: nobody, until the link
    page = context.new_page()
    assert page.goto(f"{served.url}/console/").status == 401
    page.goto(link.url)
    page.get_by_role("button", name=f"Sign in as {ADMIN.lower()}").click()
    page.wait_for_url(f"{served.url}/console/")
    sync_api.expect(page.locator('[data-stage="awaiting-approval"]')).to_contain_text("SS-101")
    [cookie] = context.cookies()
    assert cookie["name"] == "__Host-ticketbot-console" and cookie["httpOnly"] and cookie["secure"]
    assert cookie["sameSite"] == "Lax" and cookie["expires"] > 0
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
    again = context.new_page()
    assert again.goto(link.url).status == 401  # single use
    page.get_by_role("button", name="Sign out").click()
    sync_api.expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert page.goto(f"{served.url}/console/").status == 401
    context.close()


def test_the_charts_page_draws_without_script_or_inline_style(serve, page_as_admin, tmp_path):
    served = serve("nfe")
    page = page_as_admin
    page.goto(f"{served.url}/console/charts")
    target = page.locator("#target-nfe_onboarding-target svg")
    sync_api.expect(target).to_be_visible()
    assert target.get_attribute("role") == "img"
    box = page.locator("#target-nfe_onboarding-target rect.late").first.bounding_box()
    assert box is not None and box["width"] > 10  # drawn, and coloured by the stylesheet's class
    fill = page.locator("#target-nfe_onboarding-target rect.late").first.evaluate("e => getComputedStyle(e).fill")
    assert fill == "rgb(179, 38, 30)"
    _shoot(page, "console-charts.png", tmp_path)
    assert page.csp_errors == []
