"""The trackers' one retry layer (bot/trackers/http.py), through the real clients.

The adapters run on ``responses`` (real requests/zenpy calls, answered in-process); the last tests run a
bare session against a local HTTP server, so urllib3's own retry loop (which ``responses`` replaces) is
exercised too. No test sleeps: every wait is recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses

from bot.trackers.base import NotFound, RateLimited, Unavailable
from bot.trackers.http import CountingAdapter, TrackerRetry, mount, retry_after_seconds
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.zendesk.adapter import ZendeskTracker

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
JIRA_URL = "https://acme.atlassian.net"
ZENDESK_URL = "https://acme.zendesk.com"
OK = {
    "jira": ("GET", f"{JIRA_URL}/rest/api/2/issueLinkType", {"issueLinkTypes": [{"id": "1", "name": "Blocks"}]}),
    "zendesk": ("GET", f"{ZENDESK_URL}/api/v2/organizations.json",
                {"organizations": [{"id": 1, "name": "Blocks"}], "next_page": None, "count": 1}),
}
PATH = {"jira": "/rest/api/2/issueLinkType", "zendesk": "/api/v2/organizations.json"}


class Vendor:
    """One adapter on ``responses``: ``answer`` queues answers, ``call`` makes one read that lists names."""

    def __init__(self, kind: str, mocked: responses.RequestsMock, *, max_retries: int = 2,
                 max_wait: float = 60.0) -> None:
        self.kind, self.mocked, self.slept = kind, mocked, []
        now: Callable[[], datetime] = lambda: NOW  # noqa: E731
        self.tracker: JiraTracker | ZendeskTracker
        if kind == "jira":
            self.tracker = JiraTracker(JIRA_URL, "bot@acme.example", "token", max_retries=max_retries,
                                       sleep=self.slept.append, now=now)
        else:
            self.tracker = ZendeskTracker(ZENDESK_URL, "bot@acme.example", "token", max_retries=max_retries,
                                          sleep=self.slept.append, now=now, max_retry_after=max_wait)

    def answer(self, status: int, retry_after: str | None = None) -> None:
        method, url, body = OK[self.kind]
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status == 200:
            self.mocked.add(method, url, json=body)
        else:
            self.mocked.add(method, url, status=status, headers=headers, json={"error": "busy"})

    def call(self) -> list[str]:
        if isinstance(self.tracker, JiraTracker):
            return self.tracker.link_types()
        return self.tracker.organizations()

    @property
    def calls(self) -> int:
        return self.tracker.calls[("GET", PATH[self.kind])]

    @property
    def throttled(self) -> int:
        return self.tracker.throttled[("GET", PATH[self.kind])]


@pytest.fixture(params=["jira", "zendesk"])
def vendor(request: pytest.FixtureRequest) -> Iterator[Vendor]:
    with responses.RequestsMock() as mocked:
        yield Vendor(request.param, mocked)


def test_retry_after_in_seconds_is_slept_through_the_injected_sleep(vendor: Vendor) -> None:
    vendor.answer(429, "7")
    vendor.answer(200)
    assert vendor.call() == ["Blocks"]
    assert vendor.slept == [7.0]
    assert (vendor.calls, vendor.throttled) == (2, 1)


def test_retry_after_as_an_http_date_waits_until_then(vendor: Vendor) -> None:
    vendor.answer(429, format_datetime(NOW + timedelta(seconds=12), usegmt=True))
    vendor.answer(200)
    assert vendor.call() == ["Blocks"]
    assert vendor.slept == [12.0]


def test_a_429_without_retry_after_backs_off(vendor: Vendor) -> None:
    vendor.answer(429)
    vendor.answer(429)
    vendor.answer(200)
    assert vendor.call() == ["Blocks"]
    assert vendor.slept == [1.0, 2.0]
    assert (vendor.calls, vendor.throttled) == (3, 2)


def test_a_503_with_retry_after_is_retried_and_is_not_throttling(vendor: Vendor) -> None:
    vendor.answer(503, "3")
    vendor.answer(200)
    assert vendor.call() == ["Blocks"]
    assert vendor.slept == [3.0]
    assert (vendor.calls, vendor.throttled) == (2, 0)


@pytest.mark.parametrize("status", [503, 500, 502])
def test_a_5xx_without_retry_after_is_not_retried(vendor: Vendor, status: int) -> None:
    vendor.answer(status)
    with pytest.raises(Unavailable) as raised:
        vendor.call()
    assert not isinstance(raised.value, RateLimited)
    assert vendor.slept == [] and vendor.calls == 1


def test_retries_are_bounded_and_the_last_asked_wait_is_kept(vendor: Vendor) -> None:
    for _ in range(3):
        vendor.answer(429, "4")
    with pytest.raises(RateLimited, match="gave up after 2 retries") as raised:
        vendor.call()
    assert raised.value.retry_after == 4.0
    assert vendor.slept == [4.0, 4.0]
    assert (vendor.calls, vendor.throttled) == (3, 3)


def test_giving_up_on_a_bare_429_still_says_how_long_to_wait(vendor: Vendor) -> None:
    for _ in range(3):
        vendor.answer(429)
    with pytest.raises(RateLimited) as raised:
        vendor.call()
    assert vendor.slept == [1.0, 2.0]
    assert raised.value.retry_after == 4.0  # the next step of the backoff: the worker waits at least that


def test_a_wait_longer_than_the_adapter_waits_fails_at_once(vendor: Vendor) -> None:
    vendor.answer(429, "3600")
    with pytest.raises(RateLimited, match="asked to wait 3600s") as raised:
        vendor.call()
    assert raised.value.retry_after == 3600.0
    assert vendor.slept == [] and (vendor.calls, vendor.throttled) == (1, 1)


def test_a_call_that_cannot_connect_is_counted_and_not_retried(vendor: Vendor) -> None:
    method, url, _ = OK[vendor.kind]
    vendor.mocked.add(method, url, body=requests.ConnectionError("refused"))
    with pytest.raises(Unavailable, match="unreachable"):
        vendor.call()
    assert vendor.slept == [] and vendor.calls == 1


def test_a_date_in_the_past_or_garbage() -> None:
    assert retry_after_seconds(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(" 2.5 ", NOW) == 2.5
    assert retry_after_seconds(None, NOW) is None


# urllib3's own loop (not replaced by ``responses``) ----------------------------------------------------
class _Script(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict[str, str]]] = []
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(self.command)
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = b'{"ok": true}'
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Script.answers, _Script.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Script)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _session(slept: list[float], retries: int = 2) -> tuple[requests.Session, CountingAdapter]:
    adapter = CountingAdapter(TrackerRetry(retries, vendor="Test", sleep=slept.append, now=lambda: NOW))
    return mount(requests.Session(), adapter), adapter


def test_urllib3_retries_a_post_after_an_http_date_and_sleeps_once_per_retry(server: str) -> None:
    slept: list[float] = []
    session, adapter = _session(slept)
    _Script.answers = [(429, {"Retry-After": format_datetime(NOW + timedelta(seconds=5), usegmt=True)}),
                       (503, {"Retry-After": "2"})]
    response = session.post(f"{server}/x", json={}, timeout=5)
    assert response.json() == {"ok": True}
    assert slept == [5.0, 2.0]  # waited in increment(); urllib3's own sleep() does nothing more
    assert _Script.seen == ["POST"] * 3
    assert adapter.calls[("POST", "/x")] == 3 and adapter.throttled[("POST", "/x")] == 1


def test_urllib3_gives_up_with_rate_limited(server: str) -> None:
    slept: list[float] = []
    session, adapter = _session(slept, retries=1)
    _Script.answers = [(429, {"Retry-After": "1"})] * 3
    with pytest.raises(RateLimited, match="Test answered 429 to GET /y; gave up after 1 retries"):
        session.get(f"{server}/y", timeout=5)
    assert slept == [1.0]
    assert len(_Script.seen) == 2 and adapter.calls[("GET", "/y")] == 2


def test_urllib3_leaves_a_bare_503_alone(server: str) -> None:
    slept: list[float] = []
    session, _ = _session(slept)
    _Script.answers = [(503, {})]
    assert session.get(f"{server}/z", timeout=5).status_code == 503
    assert slept == [] and len(_Script.seen) == 1


def test_the_jira_librarys_own_calls_go_through_the_same_retry_layer() -> None:
    """get_ticket is the ``jira`` library's ``issue()``: a 429 on it is waited out (recorded, not slept) and
    counted with the owned session's calls, and the library's own retry loop is off."""
    slept: list[float] = []
    tracker = JiraTracker(JIRA_URL, "bot@acme.example", "token", max_retries=2, sleep=slept.append, now=lambda: NOW)
    issue = {"id": "10001", "key": "SS-1", "self": f"{JIRA_URL}/rest/api/2/issue/10001",
             "fields": {"summary": "EverBright Partner Onboarding", "status": {"name": "Open"},
                        "project": {"key": "SS"}, "labels": []}}
    with responses.RequestsMock() as mocked:
        mocked.add("GET", f"{JIRA_URL}/rest/api/2/issue/SS-1", status=429, headers={"Retry-After": "7"},
                   json={"errorMessages": ["slow down"]})
        mocked.add("GET", f"{JIRA_URL}/rest/api/2/issue/SS-1", json=issue)
        mocked.add("GET", f"{JIRA_URL}/rest/api/2/field", json=[])  # the library's fields(): names of fields
        ticket = tracker.get_ticket("ss-1")
    assert ticket.key == "SS-1" and ticket.summary == "EverBright Partner Onboarding"
    assert slept == [7.0]
    assert tracker.calls[("GET", "/rest/api/2/issue/SS-1")] == 2
    assert tracker.throttled[("GET", "/rest/api/2/issue/SS-1")] == 1


def test_a_jira_library_call_refused_for_good_names_the_call_and_jiras_message() -> None:
    tracker = JiraTracker(JIRA_URL, "bot@acme.example", "token", sleep=lambda _s: None, now=lambda: NOW)
    with responses.RequestsMock() as mocked:
        mocked.add("GET", f"{JIRA_URL}/rest/api/2/issue/SS-404", status=404,
                   json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
        with pytest.raises(NotFound) as refused:
            tracker.get_ticket("SS-404")
    assert str(refused.value) == ("Jira GET /rest/api/2/issue/SS-404 failed (HTTP 404): "
                                  "Issue does not exist or you do not have permission to see it.")
