"""Signing in without a proxy: a personal link, single use and short-lived, starts a session held in a cookie that
is Secure, HttpOnly and SameSite, ends on time and can be ended on the server; everything else is 401 (with the
hint) or 403, never data, and audited."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from bot.inbox.queue import DEAD, PENDING
from bot.ops.audit import DONE, REFUSED, AuditLog
from tests.console.conftest import ADMIN, OTHER_ADMIN, dead_letter, press_sign_in, set_cookie
from tests.console.test_access import SECRETS, _secure

PUBLIC = "https://ticketbot.goeverbright.example"


@pytest.fixture
def console(open_console):  # noqa: ANN001
    """A console whose admins sign in by link only (no proxy header configured)."""
    return open_console(trusted_header="", trusted_proxies="", public_url=PUBLIC)


def _path(url: str) -> str:
    assert url.startswith(PUBLIC + "/console/sign-in/")
    return url.removeprefix(PUBLIC)


def _cookie(response, name: str = "ticketbot-console") -> tuple[str, str]:  # noqa: ANN001
    return set_cookie(response, name)


def _press(console, path: str, **kwargs):  # noqa: ANN001, ANN202
    return press_sign_in(console.client, path, **kwargs)


def _signed_in(console, email: str = ADMIN) -> str:  # noqa: ANN001
    """Follow a fresh link as a browser would (the page, then its button); the Cookie header it leaves."""
    response = _press(console, _path(console.console.sign_in.issue(email, via="test").url))
    assert response.status_code == 303, response.text
    return _cookie(response)[0]


def _audit(console) -> list[tuple[str, str, str, str]]:  # noqa: ANN001
    return [(e.actor, e.via, e.command, e.outcome) for e in AuditLog(console.store, console.clock).entries()]


def _no_data(response) -> None:  # noqa: ANN001
    for secret in SECRETS:
        assert secret not in response.text, secret


def test_a_link_shows_whom_it_signs_in_then_its_button_starts_a_session(console):
    link = console.console.sign_in.issue(ADMIN, via="Slack U0ADMIN")
    path = _path(link.url)
    page = console.get(path, who=None)
    assert page.status_code == 200 and ADMIN.lower() in page.text and 'method="post"' in page.text
    _secure(page)
    _no_data(page)
    assert isinstance(console.console.sign_in.pending(path.rsplit("/", 1)[1]), tuple)  # looking did not spend it
    nonce, nonce_attributes = _cookie(page, "ticketbot-console-sign-in")
    assert nonce.startswith("__Host-ticketbot-console-sign-in=")
    assert {"Path=/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=600"} <= set(nonce_attributes.split("; "))
    response = _press(console, path)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    assert "Max-Age=0" in _cookie(response, "ticketbot-console-sign-in")[1]  # the page's cookie is done with
    value, attributes = _cookie(response)
    assert value.startswith("__Host-ticketbot-console=")
    parts = attributes.split("; ")
    assert {"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} <= set(parts)
    assert f"Max-Age={10 * 60 * 6 * 12}" in parts  # 12 hours
    assert any(p.startswith("Expires=") for p in parts)
    board = console.get("/console/", who=None, headers={"cookie": value})
    assert board.status_code == 200 and "SS-101" in board.text and "Sign out" in board.text
    session = console.get("/api/v1/session", who=None, headers={"cookie": value}).json()
    assert session["email"] == ADMIN.lower() and session["via"].startswith("session until ")
    assert console.get("/api/v1/board", who=None, headers={"cookie": value}).json()["in_flight"] == 2
    assert ("ann.admin@goeverbright.example", "console", "sign in", DONE) in _audit(console)


def test_the_token_is_not_kept_in_the_database(console):
    link = console.console.sign_in.issue(ADMIN, via="test")
    token = link.url.rsplit("/", 1)[1]
    with console.store.engine.connect() as conn:
        rows = [str(r) for r in conn.exec_driver_sql("select * from console_sign_in_links")]
    assert rows and not any(token in row for row in rows)
    cookie = _signed_in(console)
    with console.store.engine.connect() as conn:
        rows = [str(r) for r in conn.exec_driver_sql("select * from console_sessions")]
    assert rows and not any(cookie.split("=", 1)[1] in row for row in rows)


def test_a_used_link_is_refused_with_the_hint_and_no_data(console):
    link = console.console.sign_in.issue(ADMIN, via="test")
    path = _path(link.url)
    assert _press(console, path).status_code == 303
    for again in (console.get(path, who=None), console.post(path, who=None)):
        assert again.status_code == 401 and "used already" in again.text
        assert "/ticketbot console" in again.text  # how to get a new one
        assert "set-cookie" not in again.headers
        _no_data(again)
        _secure(again)
    assert ("ann.admin@goeverbright.example", "console", "sign in", REFUSED) not in _audit(console)  # unknown who
    assert ("unknown", "console", "sign in", REFUSED) in _audit(console)


def test_an_expired_link_is_refused(console):
    link = console.console.sign_in.issue(ADMIN, via="test")
    console.clock.advance(timedelta(minutes=10))
    response = console.post(_path(link.url), who=None)
    assert response.status_code == 401 and "expired" in response.text and "set-cookie" not in response.headers
    _no_data(response)


def test_the_link_lifetime_is_configurable(open_console):
    console = open_console(trusted_header="", trusted_proxies="", public_url=PUBLIC, sign_in_minutes="2")
    link = console.console.sign_in.issue(ADMIN, via="test")
    assert link.expires_at - console.clock.now() == timedelta(minutes=2)
    console.clock.advance(timedelta(minutes=1, seconds=59))
    assert console.get(_path(link.url), who=None).status_code == 200
    console.clock.advance(timedelta(seconds=1))
    assert console.get(_path(link.url), who=None).status_code == 401


@pytest.mark.parametrize("token", [secrets.token_urlsafe(32), "short", "x" * 43 + "!", "../../api/v1/board"])
def test_a_forged_link_is_refused(console, token):
    for response in (console.get(f"/console/sign-in/{token}", who=None),
                     console.post(f"/console/sign-in/{token}", who=None)):
        assert response.status_code in (401, 404)
        _no_data(response)
        assert "set-cookie" not in response.headers


def test_a_link_for_someone_who_is_no_longer_an_admin_is_403(console):
    link = console.console.sign_in.issue("carol@goeverbright.example", via="test")
    for response in (console.get(_path(link.url), who=None), console.post(_path(link.url), who=None)):
        assert response.status_code == 403 and "not a ticketbot admin" in response.text
        _no_data(response)
        assert "set-cookie" not in response.headers
    assert ("carol@goeverbright.example", "console", "sign in", REFUSED) in _audit(console)


def test_a_cross_site_post_does_not_spend_the_link(console):
    link = console.console.sign_in.issue(ADMIN, via="test")
    response = _press(console, _path(link.url), headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert _press(console, _path(link.url)).status_code == 303  # still good


@pytest.mark.parametrize(("cookie", "token"), [(False, False), (True, False), (False, True)])
def test_a_post_without_the_pages_cookie_and_csrf_token_does_not_spend_the_link(console, cookie, token):
    """Login CSRF: another site holding a link of its own cannot make a browser sign in with it."""
    link = console.console.sign_in.issue(ADMIN, via="test")
    response = _press(console, _path(link.url), cookie=cookie, token=token)
    assert response.status_code == 403 and "CSRF token" in response.text and "still good" in response.text
    assert not any(c.startswith(("__Host-ticketbot-console=", "ticketbot-console="))
                   for c in response.headers.get_list("set-cookie"))
    _no_data(response)
    assert ("ann.admin@goeverbright.example", "console", "sign in", REFUSED) in _audit(console)
    assert _press(console, _path(link.url)).status_code == 303  # the link was not spent


def test_a_csrf_token_from_another_browser_or_another_link_is_refused(console):
    """The attacker opens its own link to get a token for its own cookie; the victim's browser holds another."""
    mine, theirs = (_path(console.console.sign_in.issue(ADMIN, via="test").url) for _ in range(2))
    attacker_page = console.get(theirs, who=None)
    stolen = re.search(r'name="csrf_token" value="([^"]+)"', attacker_page.text)[1]
    victim_cookie = _cookie(console.get(mine, who=None), "ticketbot-console-sign-in")[0]
    forged = console.post(theirs, who=None, headers={"cookie": victim_cookie}, data={"csrf_token": stolen})
    assert forged.status_code == 403
    # a token made for one link does not open another, even in the same browser
    same_browser = _cookie(attacker_page, "ticketbot-console-sign-in")[0]
    reused = console.post(mine, who=None, headers={"cookie": same_browser}, data={"csrf_token": stolen})
    assert reused.status_code == 403
    assert _press(console, mine).status_code == 303 and _press(console, theirs).status_code == 303


def test_a_second_link_opened_in_the_same_browser_keeps_the_first_ones_button(console):
    first, second = (_path(console.console.sign_in.issue(ADMIN, via="test").url) for _ in range(2))
    page = console.get(first, who=None)
    cookie = _cookie(page, "ticketbot-console-sign-in")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    other = console.get(second, who=None, headers={"cookie": cookie})
    assert _cookie(other, "ticketbot-console-sign-in")[0] == cookie  # the browser's value is kept
    response = console.post(first, who=None, headers={"cookie": cookie}, data={"csrf_token": token})
    assert response.status_code == 303


def test_two_tabs_racing_get_one_session(console):
    link = console.console.sign_in.issue(ADMIN, via="test")
    token = link.url.rsplit("/", 1)[1]
    sign_in = console.console.sign_in
    first, second = sign_in.redeem(token), sign_in.redeem(token)
    assert hasattr(first, "token") and not hasattr(second, "token")


def test_a_session_ends_when_it_expires(console):
    cookie = _signed_in(console)
    console.clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert console.get("/console/", who=None, headers={"cookie": cookie}).status_code == 200
    console.clock.advance(timedelta(seconds=1))
    response = console.get("/console/", who=None, headers={"cookie": cookie})
    assert response.status_code == 401 and "session has ended" in response.text
    assert "/ticketbot console" in response.text
    _no_data(response)
    assert console.get("/api/v1/board", who=None, headers={"cookie": cookie}).status_code == 401


def test_a_forged_or_unknown_cookie_is_401(console):
    for value in ("__Host-ticketbot-console=" + secrets.token_urlsafe(32), "__Host-ticketbot-console=\"x\";;",
                  "ticketbot-console=" + secrets.token_urlsafe(32)):
        response = console.get("/console/", who=None, headers={"cookie": value})
        assert response.status_code == 401
        _no_data(response)


def test_sign_out_needs_the_csrf_token_then_ends_the_session_on_the_server(console):
    cookie = _signed_in(console)
    assert console.post("/console/sign-out", who=None, headers={"cookie": cookie}).status_code == 403
    assert console.get("/console/", who=None, headers={"cookie": cookie}).status_code == 200
    page = console.get("/console/", who=None, headers={"cookie": cookie}).text
    token = re.search(r'action="/console/sign-out"><input type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert token
    response = console.post("/console/sign-out", who=None, headers={"cookie": cookie}, data={"csrf_token": token[1]})
    assert response.status_code == 200 and "Signed out" in response.text
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert console.get("/console/", who=None, headers={"cookie": cookie}).status_code == 401  # the old cookie is dead
    assert ("ann.admin@goeverbright.example", "console", "sign out", DONE) in _audit(console)


def test_revoking_a_person_ends_their_sessions_and_spends_their_links(console):
    cookie = _signed_in(console)
    other = _signed_in(console, OTHER_ADMIN)
    unused = console.console.sign_in.issue(ADMIN, via="test")
    assert console.console.sign_in.revoke(ADMIN.upper()) == 1
    assert console.get("/console/", who=None, headers={"cookie": cookie}).status_code == 401
    assert console.get("/console/", who=None, headers={"cookie": other}).status_code == 200
    assert console.get(_path(unused.url), who=None).status_code == 401


def test_posts_in_a_session_still_need_the_csrf_token(console):
    row = dead_letter(console.inbox)
    cookie = _signed_in(console)
    bare = console.post(f"/api/v1/dead-letters/{row}/retry", who=None, headers={"cookie": cookie})
    assert bare.status_code == 403 and bare.json()["done"] is False
    form = console.post(f"/console/dead-letters/{row}/retry", who=None, headers={"cookie": cookie},
                        data={"csrf_token": "1.forged"})
    assert form.status_code == 403
    assert [r.status for r in console.inbox.dead_letters()] == [DEAD]
    token = console.get("/api/v1/session", who=None, headers={"cookie": cookie}).json()["csrf_token"]
    done = console.post(f"/api/v1/dead-letters/{row}/retry", who=None,
                        headers={"cookie": cookie, "x-csrf-token": token})
    assert done.status_code == 200 and done.json()["done"] is True
    with console.store.engine.connect() as conn:
        status = conn.exec_driver_sql(f"select status from inbox where id = {row}").scalar()
    assert status == PENDING
    assert ("ann.admin@goeverbright.example", "console", f"retry dead letter {row}", DONE) in _audit(console)


def test_a_session_of_someone_removed_from_the_admins_is_refused(open_console):
    console = open_console(trusted_header="", trusted_proxies="", public_url=PUBLIC)
    cookie = _signed_in(console, OTHER_ADMIN)
    console.console.admins = frozenset({ADMIN.lower()})  # as a restart with a shorter TICKETBOT_CONSOLE__ADMINS
    response = TestClient(console.console.standalone()).get("/console/", headers={"cookie": cookie})
    assert response.status_code == 403 and "not a ticketbot admin" in response.text
    _no_data(response)


def test_a_plain_http_cookie_for_localhost_and_strict_same_site(open_console):
    console = open_console(trusted_header="", trusted_proxies="", public_url="http://127.0.0.1:8081",
                           cookie_secure="false", cookie_samesite="strict", session_hours="1")
    link = console.console.sign_in.issue(ADMIN, via="test")
    response = _press(console, link.url.removeprefix("http://127.0.0.1:8081"))
    value, attributes = _cookie(response)
    assert _cookie(response, "ticketbot-console-sign-in")[0].startswith("ticketbot-console-sign-in=")
    assert value.startswith("ticketbot-console=") and "Secure" not in attributes.split("; ")
    assert "SameSite=Strict" in attributes and "Max-Age=3600" in attributes
    assert console.get("/console/", who=None, headers={"cookie": value}).status_code == 200


def test_both_sources_at_once_the_header_and_the_session(open_console):
    console = open_console(public_url=PUBLIC)  # the proxy header too
    assert console.get("/console/").status_code == 200  # through the header
    cookie = _signed_in(console, OTHER_ADMIN)
    assert console.get("/api/v1/session", who=None, headers={"cookie": cookie}).json()["email"] == OTHER_ADMIN
    hint = console.get("/console/", who=None).text
    assert "X-Forwarded-Email" in hint and "/ticketbot console" in hint


def test_sign_out_without_a_session_is_refused(console, open_console):
    assert console.post("/console/sign-out", who=None).status_code == 401
    proxied = open_console(public_url=PUBLIC)  # signed in through the proxy: no session to end here
    token = proxied.form_token("/console/rules")
    response = proxied.post("/console/sign-out", data={"csrf_token": token})
    assert response.status_code == 409 and "through the proxy" in response.text
