"""The Slack Web API client ticketbot uses everywhere, with a retry policy that never really sleeps in tests.

slack_sdk's built-in ``RateLimitErrorRetryHandler`` and ``ConnectionErrorRetryHandler`` call
``time.sleep`` themselves. :class:`RateLimitRetry` and :class:`ConnectionRetry` do the same job
through an injected ``sleep`` callable, and the rate-limit one is bounded: at most
``max_retry_count`` retries, and a ``Retry-After`` longer than ``max_wait`` is not waited out
(the call fails with the 429 and the caller's own backoff decides).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, HttpRequest, HttpResponse, RetryHandler, RetryState

from bot.settings import ConfigurationError, SlackSettings

Sleep = Callable[[float], None]


@dataclass
class ApiStats:
    """Web API traffic for metrics: HTTP requests per method (retries included) and 429 answers.

    ``calls`` and ``throttled`` have the shape ``bot.inbox.metrics.api_counts`` reads from adapters."""

    calls: Counter[str] = field(default_factory=Counter)
    throttled: int = 0


def _method_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def retry_after(response: HttpResponse | None) -> float:
    """Seconds from the ``Retry-After`` header (1 when absent or unreadable)."""
    if response is None:
        return 1.0
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class RateLimitRetry(RetryHandler):
    """Retry a 429 after ``Retry-After`` seconds, slept through ``sleep``; at most ``max_retry_count`` times.

    A wait longer than ``max_wait`` is not slept at all: the call fails with the 429 and the
    caller (the executor's retry/backoff) decides, instead of a worker hanging for minutes.
    """

    def __init__(self, sleep: Sleep, *, max_retry_count: int = 3, max_wait: float = 30.0,
                 stats: ApiStats | None = None) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep
        self.max_wait = max_wait
        self.stats = stats if stats is not None else ApiStats()

    def can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        """Count every 429 (also the ones not retried), then decide."""
        if response is not None and response.status_code == 429:
            self.stats.throttled += 1
        return super().can_retry(state=state, request=request, response=response, error=error)

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code == 429 and retry_after(response) <= self.max_wait

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        self._sleep(retry_after(response))
        self.stats.calls[_method_of(request.url)] += 1
        state.increment_current_attempt()


class ConnectionRetry(ConnectionErrorRetryHandler):
    """slack_sdk's connection-reset retry, with its back-off slept through ``sleep``."""

    def __init__(self, sleep: Sleep, *, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        self._sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


def retry_handlers(sleep: Sleep, *, max_retries: int = 3, max_wait: float = 30.0,
                   stats: ApiStats | None = None) -> list[RetryHandler]:
    """The retry policy of every WebClient ticketbot builds."""
    return [ConnectionRetry(sleep),
            RateLimitRetry(sleep, max_retry_count=max_retries, max_wait=max_wait, stats=stats)]


def web_client(settings: SlackSettings, *, sleep: Sleep = time.sleep, max_retries: int = 3,
               max_wait: float = 30.0, stats: ApiStats | None = None) -> WebClient:
    """A WebClient on the configured bot token and API URL, with ticketbot's retry policy."""
    if settings.bot_token is None or not settings.bot_token.get_secret_value():
        raise ConfigurationError("TICKETBOT_SLACK__BOT_TOKEN is not set (needed to reach Slack)")
    return WebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url,
                     retry_handlers=retry_handlers(sleep, max_retries=max_retries, max_wait=max_wait, stats=stats))
