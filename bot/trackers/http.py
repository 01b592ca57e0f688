"""The one HTTP retry layer of both trackers: a ``urllib3`` :class:`Retry` mounted on a requests session.

Policy (the same for Jira and Zendesk):

* **429** is always retried: the request was not processed. The wait is ``Retry-After`` (seconds or an
  HTTP date), else an exponential backoff (1, 2, 4 … s, at most :data:`MAX_BACKOFF`).
* **503** is retried only when it carries ``Retry-After``: then the system says it did not do the work and
  when to come back; without it we cannot tell whether a write went through.
* **Other 5xx** (500, 502, 504 …) are not retried here: they come back to the adapter, which raises
  :class:`~bot.trackers.base.Unavailable`, and the worker retries the whole event later (a write
  may have happened, so the event's idempotent plan, not the transport, decides).
* Connection errors and timeouts are not retried here either (``connect=read=0``): same reason.

Every wait goes through the injected ``sleep`` (tests record it; the daemon passes ``time.sleep``).
A wait longer than ``max_wait``, or a throttling answer after ``max_retries`` retries, raises
:class:`RateLimited` carrying the last asked wait, so the worker retries the event no sooner.

:class:`CountingAdapter` also counts every HTTP call (and the 429 answers among them) by
``(method, path)``: ``/metrics`` reads their totals (``bot.inbox.metrics.api_counts``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.util.retry import Retry

from bot.trackers.base import RateLimited

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 429
SERVICE_UNAVAILABLE = 503
#: The longest backoff when a 429 says nothing about when to come back.
MAX_BACKOFF = 60.0

Sleep = Callable[[float], None]
Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (a number or an HTTP date), ``None`` when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


class TrackerRetry(Retry):
    """429 always, 503 only with ``Retry-After``; waits through an injected ``sleep`` and ``now``.

    ``vendor`` names the system in messages ("Jira", "Zendesk"); ``error`` is the :class:`RateLimited`
    subclass raised when the retries run out or a wait is longer than ``max_wait``.
    """

    def __init__(self, total: int = 3, *, vendor: str = "the tracker", sleep: Sleep = time.sleep,
                 now: Now = _utcnow, max_wait: float = 60.0, error: type[RateLimited] = RateLimited,
                 **kwargs: Any) -> None:
        kwargs.setdefault("connect", 0)
        kwargs.setdefault("read", 0)
        kwargs.setdefault("other", 0)
        kwargs.setdefault("redirect", 0)
        kwargs.setdefault("status_forcelist", (TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE))
        kwargs.setdefault("allowed_methods", None)  # every method: a 429/503+Retry-After did no work
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("raise_on_redirect", False)
        kwargs.setdefault("respect_retry_after_header", True)
        kwargs.setdefault("backoff_factor", 1.0)
        kwargs.setdefault("backoff_max", MAX_BACKOFF)
        super().__init__(total=total, **kwargs)
        self.vendor = vendor
        self.sleep_func = sleep
        self.now = now
        self.max_wait = max_wait
        self.error = error
        self.max_retries = total
        #: Retries made, and the 429 answers that caused them, by (method, path); :class:`CountingAdapter` adds the
        #: first try of each request and a 429 left at the end.
        self.calls: Counter[tuple[str, str]] = Counter()
        self.throttled: Counter[tuple[str, str]] = Counter()

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.vendor, fresh.sleep_func, fresh.now = self.vendor, self.sleep_func, self.now
        fresh.max_wait, fresh.error, fresh.max_retries = self.max_wait, self.error, self.max_retries
        fresh.calls, fresh.throttled = self.calls, self.throttled
        return fresh

    # what is retried ----------------------------------------------------------------------------
    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == TOO_MANY_REQUESTS:
            return True
        return status_code == SERVICE_UNAVAILABLE and has_retry_after

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = retry_after_seconds(retry_after, self.now())
        if seconds is None:  # unreadable: urllib3 would raise InvalidHeader; back off instead
            return self.get_backoff_time()
        return seconds

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = response.headers.get("Retry-After")
        return None if value is None else self.parse_retry_after(value)

    def get_backoff_time(self) -> float:
        # urllib3 gives 0 for the first retry; ticketbot waits 1, 2, 4 … s (capped).
        consecutive = len(self.history)
        return float(min(self.backoff_max, self.backoff_factor * 2 ** max(0, consecutive - 1)))

    def wait_for(self, response: BaseHTTPResponse) -> float:
        """Seconds before the next try: ``Retry-After``, else the backoff."""
        asked = self.get_retry_after(response)
        return asked if asked is not None else self.get_backoff_time()

    # the waiting ----------------------------------------------------------------------------------
    def increment(self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any) -> Self:
        """Count the throttled answer, then wait for it (here, not in :meth:`sleep`: ``responses``, which the
        tests run the real clients on, calls ``increment`` but never ``sleep``)."""
        fresh = super().increment(method, url, *args, **kwargs)  # MaxRetryError when exhausted: not counted here
        response = kwargs.get("response")
        if response is None:  # a connection-level retry (switched off by default)
            self.sleep_func(fresh.get_backoff_time())
            return fresh
        key = ((method or "GET").upper(), urlsplit(url or "").path)
        if response.status == TOO_MANY_REQUESTS:
            self.throttled[key] += 1
        wait = fresh.wait_for(response)
        if wait > self.max_wait:
            raise self.error(f"{self.vendor} asked to wait {wait:.0f}s before {key[0]} {key[1]}; more than the "
                             f"{self.max_wait:.0f}s ticketbot waits", retry_after=wait)
        self.calls[key] += 1  # the try about to be made
        # No headers in the log: the request's would carry the Authorization header.
        log.warning("%s answered %s to %s %s; retrying in %.1fs (%d/%d)", self.vendor, response.status,
                    key[0], key[1], wait, len(fresh.history), self.max_retries)
        self.sleep_func(wait)
        return fresh

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Nothing: :meth:`increment` already waited."""


class CountingAdapter(HTTPAdapter):
    """An HTTPAdapter with :class:`TrackerRetry` that counts calls and 429s by ``(method, path)``
    and turns a throttling answer left after the retries into :class:`RateLimited`."""

    def __init__(self, retry: TrackerRetry) -> None:
        self.retry = retry
        self.calls = retry.calls
        self.throttled = retry.throttled
        super().__init__(max_retries=retry)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: None | float | tuple[float, float] | tuple[float, None] = None,
             verify: bool | str = True, cert: None | bytes | str | tuple[bytes | str, bytes | str] = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        key = ((request.method or "GET").upper(), urlsplit(request.url or "").path)
        self.calls[key] += 1  # the first try (one that fails to connect counts too); each retry is counted by the retry
        response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        if response.status_code == TOO_MANY_REQUESTS:
            self.throttled[key] += 1
        if self.retry.is_retry(key[0], response.status_code, bool(response.headers.get("Retry-After"))):
            wait = retry_after_seconds(response.headers.get("Retry-After"), self.retry.now())
            if wait is None:  # the backoff the next retry would have waited
                wait = float(min(self.retry.backoff_max, self.retry.backoff_factor * 2**self.retry.max_retries))
            response.close()
            raise self.retry.error(f"{self.retry.vendor} answered {response.status_code} to {key[0]} {key[1]}; "
                                   f"gave up after {self.retry.max_retries} retries", retry_after=wait)
        return response


def mount(session: requests.Session, adapter: CountingAdapter) -> requests.Session:
    """Mount ``adapter`` for http and https on ``session``; returns the session."""
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
