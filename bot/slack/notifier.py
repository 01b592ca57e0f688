"""The Notifier port: what the executor needs to reach people, and the error it raises.

Apart from the Slack adapter (:mod:`bot.slack.sender`): the executor and the replay import this
without importing ``slack_sdk``.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Posted:
    """Where a message went: its ``ts``, the conversation Slack put it in (a DM's ``D…`` id when it was
    sent to a person) and its permalink, so the trace can say which message it was and the console can
    link to it. ``channel`` and ``permalink`` are empty when not known: the message went all the same."""

    ts: str
    channel: str = ""
    permalink: str = ""


def posted(answer: str | Posted) -> Posted:
    """A notifier's answer as a :class:`Posted` (one that records, in replays and tests, answers a plain ``ts``)."""
    return answer if isinstance(answer, Posted) else Posted(str(answer))


@runtime_checkable
class Notifier(Protocol):
    """What the executor needs to reach people."""

    def send(self, message: SlackMessage) -> str | Posted:
        """Deliver the message (DM or channel); return the posted message's ``ts``, or a :class:`Posted` that
        also says where it went."""
        ...

    def alert(self, text: str) -> None:
        """Tell the operators (the admin channel); a logged no-op when none is configured. Never raises."""
        ...


@dataclass(frozen=True)
class SlackStatus:
    """What a person shows as their Slack status (``users.profile.get``): text, emoji, and when it expires
    (epoch seconds; 0: it does not)."""

    text: str = ""
    emoji: str = ""
    expiration: int = 0


@runtime_checkable
class StatusReader(Protocol):
    """A notifier that can read people's Slack status (the rules get it, read-only, in their context)."""

    def status_of(self, email: str, slack_user: str = "") -> SlackStatus | None:
        """The status of the person (by Slack id, else by e-mail); None when Slack knows nobody by them.
        Raises :class:`NotifyError` when Slack cannot say."""
        ...
