"""Nobody reaches the console without being an admin, no POST acts without its CSRF token, and every answer
carries the security headers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import VirtualClock
from bot.console.access import CONTENT_SECURITY_POLICY, CsrfTokens, Identity, TrustedHeader
from bot.inbox.queue import DEAD
from bot.ops.audit import REFUSED, AuditLog
from bot.settings import ConfigurationError, load_settings
from tests.console.conftest import ADMIN, HEADER, MIDWAY, OTHER_ADMIN, dead_letter

PAGES = ["/console/", "/console/?q=SS-101", "/console/ticket/SS-101", "/console/timers", "/console/dead-letters",
         "/console/rules", "/console/audit", "/console/static/console.css", "/console/no-such-page"]
API = ["/api/v1/session", "/api/v1/board", "/api/v1/instances/SS-101", "/api/v1/timers", "/api/v1/dead-letters",
       "/api/v1/rules", "/api/v1/audit", "/api/v1/no-such-route"]
POSTS = ["/console/dead-letters/1/retry", "/console/rules/everbright_onboarding/pause",
         "/console/rules/everbright_onboarding/resume", "/api/v1/dead-letters/1/retry",
         "/api/v1/rules/everbright_onboarding/pause", "/api/v1/rules/everbright_onboarding/resume"]
#: What no refusal may show: the demo's tickets, customers, people.
SECRETS = ("SS-101", "Sunpeak", "Helio", "david.ellis", "everbright_onboarding:")


def _no_data(response) -> None:  # noqa: ANN001
    for secret in SECRETS:
        assert secret not in response.text, (response.request.url, secret)


def _secure(response) -> None:  # noqa: ANN001
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", PAGES + API)
def test_without_a_header_every_route_is_401_with_the_hint_and_no_data(open_console, path):
    console = open_console()
    response = console.get(path, who=None)
    assert response.status_code == 401
    assert HEADER in response.text and "proxies it trusts" in response.text  # how to get in
    assert response.headers["www-authenticate"].startswith("ProxyHeader")
    _no_data(response)
    _secure(response)
    if path.startswith("/api/"):
        assert response.json()["error"] == "you are not signed in" and "hint" in response.json()


@pytest.mark.parametrize("path", POSTS)
def test_posts_without_identity_change_nothing(open_console, path):
    console = open_console()
    row = dead_letter(console.inbox)
    response = console.post(path, who=None, data={"csrf_token": "whatever"})
    assert response.status_code == 401
    assert console.guards.active_pauses() == [] and [r.id for r in console.inbox.dead_letters()] == [row]
    assert AuditLog(console.store, console.clock).entries() == []


@pytest.mark.parametrize("path", ["/console/", "/api/v1/board", "/console/ticket/SS-101"])
def test_a_header_from_an_address_that_is_no_trusted_proxy_is_not_believed(open_console, path):
    console = open_console(peer="10.0.1.7")  # outside 10.0.0.0/24
    response = console.get(path, who=ADMIN)
    assert response.status_code == 401 and "not come from one" in response.text
    _no_data(response)
    _secure(response)


def test_a_client_that_names_no_address_is_not_believed(open_console):
    console = open_console(peer="testclient")  # not an IP address (a Unix socket has none at all)
    assert console.get("/console/", who=ADMIN).status_code == 401


def test_trusted_networks_and_ipv4_mapped_addresses(open_console):
    assert open_console(peer="10.0.0.200").get("/console/").status_code == 200
    assert open_console(peer="::1").get("/console/").status_code == 200
    assert open_console(peer="::ffff:10.0.0.9").get("/console/").status_code == 200
    assert open_console(peer="::2").get("/console/").status_code == 401


@pytest.mark.parametrize("path", ["/console/", "/api/v1/board", "/console/dead-letters", "/console/no-such-page"])
def test_someone_who_is_not_an_admin_gets_403_and_no_data(open_console, path, caplog):
    console = open_console()
    response = console.get(path, who="mallory@goeverbright.example")
    assert response.status_code == 403
    assert "mallory@goeverbright.example is not a ticketbot admin" in response.text
    assert "TICKETBOT_CONSOLE__ADMINS" in response.text
    _no_data(response)
    _secure(response)
    assert "mallory@goeverbright.example" in caplog.text  # who tried is logged


def test_a_non_admin_cannot_post_either(open_console):
    console = open_console()
    token_of_an_admin = console.token()
    response = console.post("/api/v1/rules/everbright_onboarding/pause", who="mallory@goeverbright.example",
                            headers={"X-CSRF-Token": token_of_an_admin})
    assert response.status_code == 403 and console.guards.active_pauses() == []


def test_admins_are_compared_case_insensitively(open_console):
    console = open_console()  # configured as ANN.ADMIN@…
    assert console.get("/console/", who="Ann.Admin@GoEverBright.example").status_code == 200
    assert console.get("/console/", who=f"  {ADMIN}  ").status_code == 200


@pytest.mark.parametrize("value", ["not an address", "ann@@x", "a@b\x7f", ""])
def test_a_header_that_holds_no_e_mail_address_is_refused(open_console, value):
    console = open_console()
    response = console.client.get("/console/", headers={HEADER: value})
    assert response.status_code == 401
    _no_data(response)


def test_two_identity_headers_are_refused(open_console):
    console = open_console()
    response = console.client.get("/console/", headers=[(HEADER, ADMIN), (HEADER, "mallory@x.example")])
    assert response.status_code == 401 and "2 X-Forwarded-Email headers" in response.text


def test_security_headers_on_pages_api_and_the_stylesheet(open_console):
    console = open_console()
    for path in ["/console/", "/console/ticket/SS-101", "/api/v1/board", "/console/no-such-page"]:
        response = console.get(path)
        _secure(response)
        assert response.headers["cache-control"] == "no-store", path
    css = console.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    _secure(css)
    assert css.headers["cache-control"] == "private, max-age=3600"  # no data in it: the browser may keep it


def test_pages_have_no_script_and_no_inline_style(open_console):
    console = open_console()
    for path in ["/console/", "/console/ticket/SS-101", "/console/timers", "/console/rules", "/console/audit",
                 "/console/dead-letters"]:
        html = console.get(path).text.lower()
        assert "<script" not in html and "style=" not in html and "<style" not in html and " on" + "click" not in html


# CSRF ------------------------------------------------------------------------------------------------------
def _refusals(console) -> list[str]:  # noqa: ANN001
    return [e.detail for e in AuditLog(console.store, console.clock).entries(outcome=REFUSED)]


def test_a_post_without_a_token_is_refused_and_audited(open_console):
    console = open_console()
    response = console.post("/console/rules/everbright_onboarding/pause", data={})
    assert response.status_code == 403 and "no CSRF token" in response.text
    _secure(response)
    assert console.guards.active_pauses() == []
    assert _refusals(console) == ["the request carries no CSRF token: reload the page and try again"]
    api = console.post("/api/v1/rules/everbright_onboarding/pause")
    assert api.status_code == 403 and api.json()["done"] is False and console.guards.active_pauses() == []


@pytest.mark.parametrize("token", ["1793822400.AAAA", "garbage", "x" * 500, "1793822400."])
def test_a_post_with_a_wrong_token_is_refused(open_console, token):
    console = open_console()
    row = dead_letter(console.inbox)
    response = console.post(f"/console/dead-letters/{row}/retry", data={"csrf_token": token})
    assert response.status_code == 403 and "not valid" in response.text
    assert [r.status for r in console.inbox.rows()] == [DEAD]
    api = console.post(f"/api/v1/dead-letters/{row}/retry", headers={"X-CSRF-Token": token})
    assert api.status_code == 403 and [r.status for r in console.inbox.rows()] == [DEAD]


def test_a_token_is_its_persons_only_and_lasts_twelve_hours(open_console):
    console = open_console()
    bobs = console.token(OTHER_ADMIN)
    assert console.post("/api/v1/rules/everbright_onboarding/pause",
                        headers={"X-CSRF-Token": bobs}).status_code == 403  # Ann posting Bob's token
    anns = console.token()
    console.clock.advance(timedelta(hours=12, minutes=1))
    assert console.post("/api/v1/rules/everbright_onboarding/pause", headers={"X-CSRF-Token": anns}).status_code == 403
    assert console.guards.active_pauses() == []
    fresh = console.token()
    assert console.post("/api/v1/rules/everbright_onboarding/pause", headers={"X-CSRF-Token": fresh}).status_code == 200


def test_a_cross_site_post_is_refused_even_with_a_valid_token(open_console):
    console = open_console()
    response = console.post("/console/rules/everbright_onboarding/pause", data={"csrf_token": console.token()},
                            headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and "another site" in response.text
    assert console.guards.active_pauses() == []


def test_an_oversized_form_is_refused_unread(open_console):
    console = open_console()
    response = console.post("/console/rules/everbright_onboarding/pause",
                            data={"csrf_token": console.token(), "padding": "x" * 20_000})
    assert response.status_code == 403 and "too large" in response.text


def test_csrf_tokens_compare_the_mac_the_person_and_the_age():
    clock = VirtualClock(MIDWAY)
    tokens = CsrfTokens(b"k" * 32, clock)
    ann, bob = Identity("ann@x.example", "test"), Identity("bob@x.example", "test")
    token = tokens.issue(ann)
    assert tokens.valid(ann, token) and not tokens.valid(bob, token)
    assert not CsrfTokens(b"other-secret" * 3, clock).valid(ann, token)  # another secret (another deployment)
    issued, mac = token.split(".")
    assert not tokens.valid(ann, f"{int(issued) + 1}.{mac}")  # the moment is covered by the MAC
    assert not tokens.valid(ann, None) and not tokens.valid(ann, "")
    clock.advance(timedelta(hours=12))
    assert tokens.valid(ann, token)
    clock.advance(timedelta(seconds=1))
    assert not tokens.valid(ann, token)
    assert CsrfTokens(None, clock).secret != CsrfTokens(None, clock).secret  # drawn per process when not set


def test_trusted_header_reads_only_its_header_from_its_proxies():
    source = TrustedHeader("X-Auth-Request-Email", ["192.168.1.0/24"])
    scope = {"client": ("192.168.1.5", 1), "headers": [(b"x-auth-request-email", b"Ann@X.example")]}
    found = source.identify(scope)
    assert isinstance(found, Identity) and found.email == "ann@x.example" and "192.168.1.5" in found.via
    assert source.identify({"client": ("192.168.1.5", 1), "headers": [(b"x-forwarded-email", b"a@x.example")]}) is None
    assert source.identify({"client": None, "headers": [(b"x-auth-request-email", b"a@x.example")]}) is not found


# settings ----------------------------------------------------------------------------------------------------
def test_console_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("TICKETBOT_CONSOLE__ADMINS", "Ann@X.example, bob@x.example")
    monkeypatch.setenv("TICKETBOT_CONSOLE__TRUSTED_HEADER", "X-Forwarded-Email")
    monkeypatch.setenv("TICKETBOT_CONSOLE__TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]')
    monkeypatch.setenv("TICKETBOT_CONSOLE__SECRET", "s3cret")
    console = load_settings().console
    assert console.admins == ["ann@x.example", "bob@x.example"]
    assert console.trusted_header == "X-Forwarded-Email" and console.trusted_proxies == ["10.0.0.0/8", "::1"]
    assert console.secret is not None and "s3cret" not in repr(console)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ADMINS", "ann", "TICKETBOT_CONSOLE__ADMINS: 'ann' is not an e-mail address"),
    ("TRUSTED_PROXIES", "10.0.0.0/33", "TICKETBOT_CONSOLE__TRUSTED_PROXIES: '10.0.0.0/33' is not an IP address"),
    ("TRUSTED_HEADER", "X Forwarded: Email", "TICKETBOT_CONSOLE__TRUSTED_HEADER: 'X Forwarded: Email' is not an HTTP"),
    ("DUE_SOON_SECONDS", "inf", "TICKETBOT_CONSOLE__DUE_SOON_SECONDS"),
])
def test_a_bad_console_setting_names_its_key(monkeypatch, name, value, message):
    monkeypatch.setenv(f"TICKETBOT_CONSOLE__{name}", value)
    with pytest.raises(ConfigurationError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        load_settings()
