"""The Slack adapter of the Notifier port (:mod:`bot.slack.notifier`), and its pacing.

The executor hands a :class:`~bot.effects.SlackMessage` to :meth:`Notifier.send`; operational
trouble goes to :meth:`Notifier.alert`. :class:`SlackNotifier` talks to the Slack Web API
through ``slack_sdk.WebClient``; it translates people and HTTP, and holds no rule logic.

Rate limits: Slack answers 429 with ``Retry-After``; the WebClient from
:func:`bot.slack.client.web_client` waits it out through an injected ``sleep`` (bounded), and a
429 it gives up on becomes a :class:`NotifyError` carrying ``retry_after``. Slack also allows
chat.postMessage about one message a second per conversation: :class:`ChannelPacer` spaces a
burst (fifty reminders to one channel) to that pace, so Slack is not made to refuse them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import HttpResponse

from bot.effects import SlackMessage
from bot.settings import Settings, SlackSettings
from bot.slack.blocks import decision_message, sent_marker, text_message
from bot.slack.client import ApiStats, Sleep, retry_after, web_client
from bot.slack.notifier import TRANSIENT_CODES, NotifyError, Posted, SlackStatus
from bot.slack.text import escape

log = logging.getLogger(__name__)

#: Slack's limit for the top-level ``text`` of chat.postMessage.
TEXT_LIMIT = 40_000
#: How many recent messages of a conversation :meth:`SlackNotifier.find_sent` reads.
HISTORY_LOOK_BACK = 100
#: A conversation id (``C…``, ``G…``, ``D…``) and a message ``ts``, as Slack writes them: what a permalink is made of.
_CONVERSATION_ID = re.compile(r"[A-Z0-9]+")
_TS = re.compile(r"[0-9]+\.[0-9]+")


    # Optional: ``find_sent(message) -> str | Posted | None``, the message if it was already posted
    # (see SlackNotifier.find_sent); a notifier without it gets the message sent again.


# --- pacing ----------------------------------------------------------------------------------


class ChannelPacer:
    """At most one message per ``interval`` seconds to each conversation (Slack's per-channel limit).

    A sender reserves the conversation's next slot under a lock and sleeps until it outside the lock,
    so senders on other threads keep their order and other conversations are not held up. Time is
    ``monotonic`` and waits go through ``sleep`` (both injected in tests).
    """

    FORGET_AFTER = 1000  # conversations remembered before the idle ones are forgotten

    def __init__(self, interval: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, conversation: str) -> float:
        """Wait for the conversation's next slot; the seconds waited."""
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next.get(conversation, now))
            self._next[conversation] = slot + self.interval
            if len(self._next) > self.FORGET_AFTER:
                self._next = {c: t for c, t in self._next.items() if t > now}
        if slot > now:
            self._sleep(slot - now)
        return slot - now


# --- the adapter -----------------------------------------------------------------------------


class SlackNotifier:
    """Notifier on the Slack Web API: chat.postMessage, users.lookupByEmail, users.info, users.profile.get,
    and auth.test once for the workspace's address (the messages' permalinks).

    ``calls`` counts HTTP requests per Web API method (429 retries included, when ``stats`` is the
    one given to the client's retry handler, as :meth:`from_settings` does); ``throttled`` counts
    429 answers. E-mail ↔ Slack id look-ups are cached for the life of the notifier.
    """

    #: How long a person's time zone is trusted before Slack is asked again (people travel).
    ZONE_TTL = 6 * 3600.0
    #: How long a person's status is trusted (``users.profile.get``), and after a failure how long Slack
    #: is not asked again for it (the status is then unknown: :meth:`status_of` returns None).
    STATUS_TTL = 600.0
    STATUS_FAILURE_TTL = 120.0
    #: After auth.test failed, how long messages go without a permalink before Slack is asked again (a
    #: link is a convenience: not worth a call per message while Slack or the token is in trouble).
    WORKSPACE_FAILURE_TTL = 300.0

    def __init__(self, client: WebClient, *, admin_channel: str | None = None,
                 stats: ApiStats | None = None, pacer: ChannelPacer | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.admin_channel = admin_channel
        self.stats = stats if stats is not None else ApiStats()
        self.pacer = pacer
        self._ids_by_email: dict[str, str] = {}
        self._emails_by_id: dict[str, str | None] = {}
        self._zones: dict[str, tuple[float, str | None]] = {}  # user id -> (when read, IANA zone)
        self._statuses: dict[str, tuple[float, SlackStatus | None]] = {}  # id or e-mail -> (until when, status)
        self._quick: WebClient | None = None
        self._monotonic = monotonic
        self._workspace: str | None = None  # auth.test's url, once known
        self._workspace_retry_at = 0.0  # after a failed auth.test: not asked again before this (monotonic)

    @classmethod
    def from_settings(cls, settings: SlackSettings, *, sleep: Sleep = time.sleep, max_retries: int = 3,
                      max_wait: float = 30.0, monotonic: Callable[[], float] = time.monotonic,
                      per_channel_interval: float = 1.0) -> SlackNotifier:
        """The notifier the daemon uses (bot token, API URL and admin channel from settings).

        ``sleep`` waits out a 429's Retry-After (at most ``max_retries`` times, each at most
        ``max_wait`` seconds; beyond that the send fails with ``NotifyError.retry_after``), and
        spaces messages to one conversation ``per_channel_interval`` seconds apart (on ``monotonic``)."""
        stats = ApiStats()
        client = web_client(settings, sleep=sleep, max_retries=max_retries, max_wait=max_wait, stats=stats)
        pacer = ChannelPacer(per_channel_interval, monotonic=monotonic, sleep=sleep)
        return cls(client, admin_channel=settings.admin_channel, stats=stats, pacer=pacer, monotonic=monotonic)

    @property
    def calls(self) -> Counter[str]:
        """HTTP requests per Web API method."""
        return self.stats.calls

    @property
    def throttled(self) -> int:
        """429 answers received."""
        return self.stats.throttled

    # Notifier ------------------------------------------------------------------------------

    def send(self, message: SlackMessage) -> Posted:
        """Post the message to its channel or person; buttons when it asks for actions. Returns its ``ts``, the
        conversation Slack put it in (chat.postMessage's ``channel``: a DM's ``D…`` id for a person) and its
        permalink (empty when the workspace's address is not known, see :meth:`permalink`)."""
        channel = self._destination(message)
        text = escape(message.text)
        blocks = decision_message(text, message.ticket_key, message.actions, message.marker) if message.actions \
            else text_message(text, message.marker)
        self._pace(channel)
        response = self._call("chat.postMessage", self.client.chat_postMessage, channel=channel,
                              text=text[:TEXT_LIMIT], blocks=blocks)
        ts, conversation = str(response["ts"]), str(response.get("channel") or "")
        return Posted(ts, conversation, self.permalink(conversation, ts))

    def find_sent(self, message: SlackMessage, *, look_back: int = HISTORY_LOOK_BACK) -> Posted | None:
        """This message if it was posted already (its marker in the last ``look_back`` messages of its
        conversation: its ``ts``, that conversation and its permalink), else None. The executor asks after a
        send whose record is missing: a crash came between Slack's answer and the record."""
        channel = self._destination(message)
        if channel[:1] in ("U", "W"):  # a person: the app's DM with them
            opened = self._call("conversations.open", self.client.conversations_open, users=channel)
            channel = str(opened["channel"]["id"])
        history = self._call("conversations.history", self.client.conversations_history, channel=channel,
                             limit=look_back)
        ts = next((str(m["ts"]) for m in history.get("messages") or () if sent_marker(m) == message.marker), None)
        return None if ts is None else Posted(ts, channel, self.permalink(channel, ts))

    def alert(self, text: str) -> None:
        """Post to the admin channel, or log when there is none or Slack fails.

        Never raises: alerts are sent from error paths, and must not hide the error they report."""
        if not self.admin_channel:
            log.warning("no admin channel configured (TICKETBOT_SLACK__ADMIN_CHANNEL); alert: %s", text)
            return
        try:
            self._pace(self.admin_channel)
            self._call("chat.postMessage", self.client.chat_postMessage, channel=self.admin_channel,
                       text=escape(text)[:TEXT_LIMIT])
        except NotifyError as exc:
            log.error("alert to %s not delivered (%s): %s", self.admin_channel, exc, text)

    # permalinks ----------------------------------------------------------------------------

    def permalink(self, channel: str, ts: str) -> str:
        """The link to a message people can open: ``<workspace url>archives/<channel id>/p<ts without the dot>``,
        the form chat.getPermalink answers, made here so that a message costs no second call. Empty when the
        workspace's address is not known (auth.test failed: see :meth:`workspace_url`) or ``channel`` is no
        conversation id (a ``#name``). Never raises: the message is in Slack already, and a missing link
        must not make the executor think the send failed, nor send it again."""
        if not _CONVERSATION_ID.fullmatch(channel) or not _TS.fullmatch(ts):
            return ""
        workspace = self.workspace_url()
        return f"{workspace}archives/{channel}/p{ts.replace('.', '')}" if workspace else ""

    def workspace_url(self) -> str:
        """The workspace's web address (auth.test's ``url``, ``https://acme.slack.com/``), asked the first time a
        permalink is made and kept for the life of the notifier; empty while it is not known.

        One try, without waiting out a 429 (the quick client): a failed auth.test (a revoked token, Slack
        down) is logged and not asked again for :attr:`WORKSPACE_FAILURE_TTL` seconds. Two workers sending
        their first messages at once may both ask; that is harmless, and no sender waits on another."""
        if self._workspace is not None:
            return self._workspace
        now = self._monotonic()
        if now < self._workspace_retry_at:
            return ""
        try:
            url = str(self._call("auth.test", self._quick_client().auth_test).get("url") or "")
            if not url.startswith("https://"):
                raise NotifyError(f"Slack auth.test answered no https workspace url ({url[:80]!r})")
        except Exception as exc:  # the message went; only its link is missing
            self._workspace_retry_at = now + self.WORKSPACE_FAILURE_TTL
            log.warning("Slack messages are recorded without a permalink for %g s: %s", self.WORKSPACE_FAILURE_TTL,
                        exc if isinstance(exc, NotifyError) else type(exc).__name__)
            return ""
        self._workspace = url if url.endswith("/") else url + "/"
        return self._workspace

    # people --------------------------------------------------------------------------------

    def slack_id_for(self, email: str) -> str | None:
        """The Slack user id registered with ``email``, or None when Slack knows nobody by it."""
        key = email.strip().lower()
        if key in self._ids_by_email:
            return self._ids_by_email[key]
        try:
            response = self._call("users.lookupByEmail", self.client.users_lookupByEmail, email=key)
        except NotifyError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        user_id = str(response["user"]["id"])
        self._ids_by_email[key] = user_id
        self._emails_by_id.setdefault(user_id, key)
        self._keep_zone(user_id, response["user"])
        return user_id

    def time_zone_of(self, message: SlackMessage) -> str | None:
        """The IANA time zone the recipient set in Slack (``users.info`` → ``tz``), None for a channel or when
        Slack does not say. Read again after :attr:`ZONE_TTL`."""
        if message.channel:
            return None
        user_id = message.slack_user or self.slack_id_for(message.user_email)
        if user_id is None:
            return None
        known = self._zones.get(user_id)
        if known is not None and self._monotonic() - known[0] < self.ZONE_TTL:
            return known[1]
        try:
            response = self._call("users.info", self.client.users_info, user=user_id)
        except NotifyError as exc:
            if exc.code == "user_not_found":
                return None
            raise
        return self._keep_zone(user_id, response["user"])

    def status_of(self, email: str, slack_user: str = "") -> SlackStatus | None:
        """The person's Slack status (``users.profile.get``: ``status_text``, ``status_emoji``,
        ``status_expiration``), remembered :attr:`STATUS_TTL` seconds. None when Slack knows nobody by that
        id or e-mail, and for :attr:`STATUS_FAILURE_TTL` seconds after Slack failed to answer (a
        :class:`NotifyError` the first time: the caller decides what an unknown status means)."""
        key = slack_user or email.strip().lower()
        known = self._statuses.get(key)
        if known is not None and self._monotonic() < known[0]:
            return known[1]
        try:
            status = self._read_status(slack_user, email)
        except NotifyError as exc:
            self._statuses[key] = (self._monotonic() + self.STATUS_FAILURE_TTL, None)
            raise exc from None
        self._statuses[key] = (self._monotonic() + self.STATUS_TTL, status)
        return status

    def _read_status(self, slack_user: str, email: str) -> SlackStatus | None:
        """One read, without waiting out a 429 or retrying (a status is never worth holding up a runbook)."""
        quick = self._quick_client()
        user_id = slack_user or self._ids_by_email.get(email.strip().lower())
        if not user_id:
            try:
                found = self._call("users.lookupByEmail", quick.users_lookupByEmail, email=email.strip().lower())
            except NotifyError as exc:
                if exc.code == "users_not_found":
                    return None
                raise
            user_id = str(found["user"]["id"])
            self._ids_by_email[email.strip().lower()] = user_id
        try:
            response = self._call("users.profile.get", quick.users_profile_get, user=user_id)
        except NotifyError as exc:
            if exc.code == "user_not_found":
                return None
            raise
        profile = response.get("profile") or {}
        try:
            expiration = int(profile.get("status_expiration") or 0)
        except (TypeError, ValueError):
            expiration = 0
        return SlackStatus(text=str(profile.get("status_text") or ""), emoji=str(profile.get("status_emoji") or ""),
                           expiration=expiration)

    def _quick_client(self) -> WebClient:
        """The bot's WebClient without retry handlers (same token and API URL)."""
        if self._quick is None:
            self._quick = WebClient(token=self.client.token, base_url=self.client.base_url, retry_handlers=[])
        return self._quick

    def _keep_zone(self, user_id: str, user: Any) -> str | None:
        zone = user.get("tz") or None if isinstance(user, dict) else None
        self._zones[user_id] = (self._monotonic(), zone)
        return zone

    def email_for(self, slack_user_id: str) -> str | None:
        """The e-mail address of a Slack user (who clicked), None when hidden or unknown."""
        if slack_user_id in self._emails_by_id:
            return self._emails_by_id[slack_user_id]
        try:
            response = self._call("users.info", self.client.users_info, user=slack_user_id)
        except NotifyError as exc:
            if exc.code == "user_not_found":
                return None
            raise
        email = (response["user"].get("profile") or {}).get("email") or None
        self._keep_zone(slack_user_id, response["user"])
        self._emails_by_id[slack_user_id] = email
        if email:
            self._ids_by_email.setdefault(email.lower(), slack_user_id)
        return email

    # internals -----------------------------------------------------------------------------

    def _destination(self, message: SlackMessage) -> str:
        """Channel id, or the person's user id (chat.postMessage to a user id posts in the app's DM)."""
        if message.channel:
            return message.channel
        if message.slack_user:
            return message.slack_user
        if message.user_email:
            user_id = self.slack_id_for(message.user_email)
            if user_id is None:
                raise NotifyError(f"no Slack user has the e-mail address {message.user_email} "
                                  f"(message {message.key} not sent)")
            return user_id
        raise NotifyError(f"message {message.key} has no channel, Slack user or e-mail address")

    def _pace(self, conversation: str) -> None:
        if self.pacer is not None:
            self.pacer.wait(conversation)

    def _call(self, method: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        """Call one Web API method, turning slack_sdk's errors into NotifyError (token-free)."""
        self.stats.calls[method] += 1
        try:
            return function(**kwargs)
        except SlackApiError as exc:
            raise _api_error(method, exc) from None
        except (SlackClientError, OSError) as exc:
            # No answer (connection refused, reset, timeout): Slack is unreachable, not the message wrong.
            raise NotifyError(f"Slack {method} failed: {type(exc).__name__}", transient=True) from None


def _api_error(method: str, exc: SlackApiError) -> NotifyError:
    """A NotifyError naming the method and Slack's error code (and the wait, for a 429)."""
    response = exc.response
    code = str(response.get("error", "unknown_error")) if response is not None else "no_response"
    if response is not None and response.status_code == 429:
        wait = retry_after(HttpResponse(status_code=429, headers=dict(response.headers or {})))
        return NotifyError(f"Slack {method} rate limited (retry after {wait:g} s)", code=code or "ratelimited",
                           retry_after=wait, transient=True)
    status = response.status_code if response is not None else None
    transient = code in TRANSIENT_CODES or status is None or status >= 500 or status == 408
    return NotifyError(f"Slack {method} failed: {code}", code=code, transient=transient)


def slack_enabled(settings: Settings) -> bool:
    token = settings.slack.bot_token
    return token is not None and bool(token.get_secret_value())


def build_notifier(settings: Settings) -> SlackNotifier | None:
    """A SlackNotifier on the bot token, or None when Slack is not configured."""
    if not slack_enabled(settings):
        return None
    return SlackNotifier.from_settings(settings.slack)
