"""The Notifier port: what the executor needs to reach people, and the error it raises.

Apart from the Slack adapter (:mod:`bot.slack.sender`): the executor and the replay import this
without importing ``slack_sdk``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.effects import SlackMessage


class NotifyError(Exception):
    """A message could not be delivered; the message says to whom and why (never the token)."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        #: Slack's error code (``users_not_found``, ``channel_not_found``, ``ratelimited`` …), if any.
        self.code = code
        #: Seconds Slack asked us to wait, when the failure was a rate limit we did not wait out.
        self.retry_after = retry_after
        #: Slack is unavailable (unreachable, 5xx, rate limited, ``fatal_error``…), nothing is wrong with the
        #: message: the worker holds the event until Slack is back instead of spending its attempts.
        self.transient = transient


#: Slack error codes that say Slack itself is in trouble, not the request (see Slack's Web API docs).
TRANSIENT_CODES = frozenset({"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable",
                             "request_timeout"})


@runtime_checkable
class Notifier(Protocol):
    """What the executor needs to reach people."""

    def send(self, message: SlackMessage) -> str:
        """Deliver the message (DM or channel); return the posted message's ``ts``."""
        ...

    def alert(self, text: str) -> None:
        """Tell the operators (the admin channel); a logged no-op when none is configured. Never raises."""
        ...
