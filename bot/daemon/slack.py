"""Slack in ``ticketbot run``: the notifier, ``POST /slack/events`` and Socket Mode.

Nothing here runs without ``TICKETBOT_SLACK__BOT_TOKEN``: the daemon then starts, serves
webhooks and applies plans exactly as before, and SlackMessage effects are reported as skipped.

With the token:

* every process that applies plans (the HTTP process and each worker process) has a
  :class:`~bot.slack.sender.SlackNotifier`, so SlackMessage effects are sent and the guards' alerts
  (a rule paused by a cap) go to the admin channel;
* the HTTP process serves ``POST /slack/events`` (verified with ``TICKETBOT_SLACK__SIGNING_SECRET``)
  through :class:`~bot.ops.services.BotServices`;
* with ``TICKETBOT_SLACK__APP_TOKEN`` it also connects over Socket Mode, in the background once the
  daemon has started (Slack being unreachable never delays the webhooks), reconnects with backoff
  when the connection is lost (and tells the admin channel how long Slack was unreachable), and
  disconnects at shutdown (SIGTERM);
* each Slack request is acted on once, across restarts: the deliveries acted on are recorded in the
  inbox (:mod:`bot.slack.deliveries`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.clock import Clock, SystemClock
from bot.inbox.queue import Inbox
from bot.model import Event
from bot.slack.sender import slack_enabled

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.daemon.core import Daemon
    from bot.ops.services import BotServices

log = logging.getLogger(__name__)

#: Seconds between Socket Mode connection attempts while Slack cannot be reached (doubling, capped).
CONNECT_RETRY = 5.0
CONNECT_RETRY_MAX = 300.0


class SocketHandler(Protocol):
    """What the daemon needs of a Socket Mode connection (bot.slack.socket_mode.SocketMode).

    Optional: ``wait_lost() -> bool``, blocking until the connection is lost (True) or closed (False);
    without it the daemon connects once."""

    def connect(self) -> None: ...

    def close(self) -> None: ...


class SlackMount:
    """Slack served by one daemon: the bolt app, its services and, in Socket Mode, the connection.

    The connection is kept in a thread: connected again after it is lost, every ``CONNECT_RETRY``
    seconds at first and doubling up to ``CONNECT_RETRY_MAX`` while Slack cannot be reached; once
    back, the admin channel is told how long Slack was unreachable (``clock`` measures it).
    """

    def __init__(self, app: App, services: BotServices, socket: SocketHandler | None, *,
                 clock: Clock | None = None, alert: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.services = services
        self.socket = socket
        self.clock = clock or SystemClock()
        self.alert = alert
        self.connected = threading.Event()
        #: The wait after each failed connection attempt since the daemon started (seconds).
        self.retry_delays: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect Socket Mode in the background (retrying while Slack is unreachable)."""
        if self.socket is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep_connected, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def _keep_connected(self) -> None:
        down_since: datetime | None = None
        while not self._stop.is_set():
            if not self._connect():
                return
            self.connected.set()
            log.info("connected to Slack over Socket Mode")
            if down_since is not None:
                self._report_outage(down_since)
            wait_lost = getattr(self.socket, "wait_lost", None)
            if wait_lost is None or not wait_lost() or self._stop.is_set():
                return
            self.connected.clear()
            down_since = self.clock.now()

    def _connect(self) -> bool:
        """Try until connected (True) or stopping (False), backing off while Slack cannot be reached."""
        delay = CONNECT_RETRY
        while not self._stop.is_set():
            try:
                self.socket.connect()  # type: ignore[union-attr]
                return True
            except Exception as exc:  # noqa: BLE001 - Slack unreachable or refusing: try again later, the rest runs on
                self.retry_delays.append(delay)
                log.warning("Slack Socket Mode connection failed (%s); retrying in %.0fs", type(exc).__name__, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(CONNECT_RETRY_MAX, delay * 2)
        return False

    def _report_outage(self, since: datetime) -> None:
        text = (f"ticketbot could not reach Slack over Socket Mode for {_duration(self.clock.now() - since)} "
                f"(since {since:%Y-%m-%d %H:%M} UTC); connected again. Commands and clicks made meanwhile "
                "were not received: Slack told the people who tried.")
        log.warning("%s", text)
        if self.alert is not None:
            self.alert(text)

    def stop(self) -> None:
        """Stop connecting and close the Socket Mode connection (at shutdown)."""
        self._stop.set()
        if self.socket is not None:
            try:
                self.socket.close()  # also wakes the thread waiting for a lost connection
            except Exception:  # shutting down: log it and let the rest stop
                log.warning("closing the Slack Socket Mode connection failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.connected.clear()


def _duration(delta: timedelta) -> str:
    """``2h 5m``, ``7m 30s``, ``45s``."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def mount_slack(daemon: Daemon, *, listener_executor: Executor | None = None,
                socket_factory: Callable[[Any, str], SocketHandler] | None = None) -> SlackMount | None:
    """Serve Slack from ``daemon`` when ``TICKETBOT_SLACK__BOT_TOKEN`` is set; None (and nothing done) otherwise.

    ``listener_executor`` is where bolt runs listeners (tests run them inline);
    ``socket_factory(app, app_token)`` builds the Socket Mode handler (bolt's by default).
    """
    settings = daemon.settings
    if not slack_enabled(settings):
        log.info("Slack is not configured (TICKETBOT_SLACK__BOT_TOKEN): no /slack/events, no Slack messages")
        return None
    from bot.console.app import off_reason, sign_in_of
    from bot.ops.services import BotServices, People
    from bot.slack.app import build_slack_app, socket_mode_handler
    from bot.slack.router import slack_router

    notifier = daemon.notifier  # it also finds people's Slack ids, when it is Slack's
    # /ticketbot console hands out sign-in links when the console is served and says where (PUBLIC_URL)
    sign_in = sign_in_of(settings, daemon.store, daemon.clock) if not off_reason(settings.console) else None
    services = BotServices(store=daemon.store, inbox=daemon.inbox, rules=daemon.rules, clock=daemon.clock,
                           guards=daemon.guards, trackers=daemon.handler.trackers,
                           people=notifier if isinstance(notifier, People) else None, sign_in=sign_in,
                           console_admins=settings.console.admins)
    client = getattr(daemon.notifier, "client", None)  # one WebClient: one set of API counters
    deliveries = InboxDeliveries(daemon.inbox, daemon.clock)  # acted on once, across restarts
    app = build_slack_app(settings, services, client=client, listener_executor=listener_executor,
                          deliveries=deliveries)
    secret = settings.slack.signing_secret.get_secret_value() if settings.slack.signing_secret else None
    daemon.app.include_router(slack_router(app, signing_secret=secret or None,  # verified before bolt parses
                                           max_body_bytes=settings.http.max_body_bytes))
    socket = None
    app_token = settings.slack.app_token
    if app_token is not None and app_token.get_secret_value():
        socket = (socket_factory(app, app_token.get_secret_value()) if socket_factory is not None
                  else socket_mode_handler(app, app_token.get_secret_value(), deliveries=deliveries))
    alert = getattr(daemon.notifier, "alert", None)
    mount = SlackMount(app, services, socket, clock=daemon.clock, alert=alert)
    daemon.on_started.append(mount.start)
    daemon.on_stopped.append(mount.stop)
    log.info("Slack: /slack/events mounted%s", ", Socket Mode on start" if socket else "")
    return mount


#: The inbox ``source`` of delivery records (never claimed by a worker: they are stored as ignored).
DELIVERY_SOURCE = "slack_delivery"


DELIVERY_KIND = "slack_delivery"


DELIVERY_NOTE = "Slack delivery record (a redelivery with this id is answered without acting again)"


class InboxDeliveries:
    """Deliveries recorded in the inbox: one ignored row per key, committed before the request is acted on."""

    def __init__(self, inbox: Inbox, clock: Clock) -> None:
        self.inbox = inbox
        self.clock = clock

    def first(self, key: str) -> bool:
        event = Event(id=key, source=DELIVERY_SOURCE, kind=DELIVERY_KIND, ticket_key="", occurred_at=self.clock.now())
        return self.inbox.add(key=key, source=DELIVERY_SOURCE, event=event,
                              envelope={"source": DELIVERY_SOURCE, "key": key}, ignored=DELIVERY_NOTE)
