"""Slack in ``ticketbot run``: the notifier, ``POST /slack/events`` and Socket Mode.

Nothing here runs without ``TICKETBOT_SLACK__BOT_TOKEN``: the daemon then starts, serves
webhooks and applies plans exactly as before, and SlackMessage effects are reported as skipped.

With the token:

* every process that applies plans (the HTTP process and each worker process) has a
  :class:`~bot.notify.SlackNotifier`, so SlackMessage effects are sent and the guards' alerts
  (a rule paused by a cap) go to the admin channel;
* the HTTP process serves ``POST /slack/events`` (verified with ``TICKETBOT_SLACK__SIGNING_SECRET``)
  through :class:`~bot.services.BotServices`;
* with ``TICKETBOT_SLACK__APP_TOKEN`` it also connects over Socket Mode, in the background once the
  daemon has started (Slack being unreachable never delays the webhooks), and disconnects at
  shutdown (SIGTERM).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol

from bot.settings import Settings

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.daemon import Daemon
    from bot.notify import SlackNotifier
    from bot.services import BotServices

log = logging.getLogger(__name__)

#: Seconds between Socket Mode connection attempts while Slack cannot be reached (doubling, capped).
CONNECT_RETRY = 5.0
CONNECT_RETRY_MAX = 300.0


class SocketHandler(Protocol):
    """What the daemon needs of bolt's SocketModeHandler."""

    def connect(self) -> None: ...

    def close(self) -> None: ...


def slack_enabled(settings: Settings) -> bool:
    token = settings.slack.bot_token
    return token is not None and bool(token.get_secret_value())


def build_notifier(settings: Settings) -> SlackNotifier | None:
    """A SlackNotifier on the bot token, or None when Slack is not configured."""
    if not slack_enabled(settings):
        return None
    from bot.notify import SlackNotifier

    return SlackNotifier.from_settings(settings.slack)


def slack_alert(settings: Settings) -> Callable[[str], None] | None:
    """An ``AlertFactory`` (module-level, so it can be sent to worker processes): the admin channel."""
    notifier = build_notifier(settings)
    return notifier.alert if notifier is not None else None


class SlackMount:
    """Slack served by one daemon: the bolt app, its services and, in Socket Mode, the connection."""

    def __init__(self, app: App, services: BotServices, socket: SocketHandler | None) -> None:
        self.app = app
        self.services = services
        self.socket = socket
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect Socket Mode in the background (retrying while Slack is unreachable)."""
        if self.socket is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._connect, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        delay = CONNECT_RETRY
        while not self._stop.is_set():
            try:
                self.socket.connect()  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - Slack unreachable or refusing: try again later, the rest runs on
                log.warning("Slack Socket Mode connection failed (%s); retrying in %.0fs",
                            type(exc).__name__, delay)
                if self._stop.wait(delay):
                    return
                delay = min(CONNECT_RETRY_MAX, delay * 2)
                continue
            self.connected.set()
            log.info("connected to Slack over Socket Mode")
            return

    def stop(self) -> None:
        """Stop connecting and close the Socket Mode connection (at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.socket is not None:
            try:
                self.socket.close()
            except Exception:  # shutting down: log it and let the rest stop
                log.warning("closing the Slack Socket Mode connection failed", exc_info=True)
        self.connected.clear()


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
    from bot.services import BotServices
    from bot.slack import build_slack_app, slack_router, socket_mode_handler

    services = BotServices.for_daemon(daemon)
    client = getattr(daemon.notifier, "client", None)  # one WebClient: one set of API counters
    app = build_slack_app(settings, services, client=client, listener_executor=listener_executor)
    secret = settings.slack.signing_secret.get_secret_value() if settings.slack.signing_secret else None
    daemon.app.include_router(slack_router(app, signing_secret=secret or None,  # verified before bolt parses
                                           max_body_bytes=settings.http.max_body_bytes))
    socket = None
    app_token = settings.slack.app_token
    if app_token is not None and app_token.get_secret_value():
        socket = (socket_factory or socket_mode_handler)(app, app_token.get_secret_value())
    mount = SlackMount(app, services, socket)
    daemon.on_started.append(mount.start)
    daemon.on_stopped.append(mount.stop)
    log.info("Slack: /slack/events mounted%s", ", Socket Mode on start" if socket else "")
    return mount
