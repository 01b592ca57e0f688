"""The slack-bolt App: one factory, listeners registered per area, HTTP or Socket Mode.

HTTP mode: Slack POSTs commands, interactivity and events to ``/slack/events``
(:func:`bot.slack.router.slack_router`); bolt verifies each request's signature with the signing
secret before any listener runs. Socket Mode (``TICKETBOT_SLACK__APP_TOKEN``): Slack pushes the
same payloads over a websocket and no public URL is needed (:func:`socket_mode_handler`).

Whichever way a request comes, it is acted on once (:mod:`bot.slack.deliveries`): a redelivery is
answered 200 / acked without running a listener. Events API callbacks ticketbot has no listener for,
and ``app_rate_limited`` notices, are answered 200 too: Slack retries anything else and disables the
event subscriptions of an app that keeps failing them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk import WebClient

from bot.settings import ConfigurationError, Settings, SlackSettings
from bot.slack import actions, commands
from bot.slack.client import web_client
from bot.slack.deliveries import Deliveries, MemoryDeliveries, request_keys
from bot.slack.services import Services
from bot.slack.socket_mode import SocketMode

log = logging.getLogger(__name__)


def build_slack_app(settings: Settings | SlackSettings, services: Services, *, client: WebClient | None = None,
                    listener_executor: Executor | None = None, deliveries: Deliveries | None = None) -> App:
    """A bolt App with every ticketbot listener registered.

    ``client`` defaults to a WebClient on the bot token and API URL with ticketbot's retry policy.
    ``listener_executor`` is where bolt runs listeners and lazy listeners (a thread pool by
    default; tests pass an inline executor so lazy work finishes before the request returns).
    The token is checked with ``auth.test`` on the first request, not here, so the daemon starts
    even while Slack is unreachable. ``deliveries`` remembers the requests acted on (in memory by
    default; the daemon keeps them in the inbox).
    """
    slack = settings.slack if isinstance(settings, Settings) else settings
    app = App(
        name="ticketbot",
        signing_secret=_signing_secret(slack),
        client=client or web_client(slack),
        process_before_response=False,
        token_verification_enabled=False,
        listener_executor=listener_executor,
        logger=logging.getLogger("bot.slack.bolt"),
        raise_error_for_unhandled_request=True,  # see _answer_unhandled
    )
    deliveries = deliveries if deliveries is not None else MemoryDeliveries()
    app.middleware(_once(deliveries))
    commands.register(app, services, slack.admins)
    actions.register(app, services, slack.admins)
    app.error(_answer_unhandled)
    return app


def socket_mode_handler(app: App, app_token: str, *, deliveries: Deliveries | None = None) -> SocketMode:
    """A Socket Mode connection for ``app`` (``connect()`` once, ``close()`` at shutdown).

    See :mod:`bot.slack.socket_mode`."""
    if not app_token.startswith("xapp-"):
        raise ConfigurationError("TICKETBOT_SLACK__APP_TOKEN must be an app-level token (xapp-…)")
    return SocketMode(app, app_token, deliveries=deliveries)


def _once(deliveries: Deliveries) -> Callable[..., BoltResponse | None]:
    """Global middleware (after bolt has verified the request): a request seen before is answered
    200 and goes no further; ``app_rate_limited`` is noted in the log and answered 200."""

    def act_once(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - bolt's name
        if body.get("type") == "app_rate_limited":
            log.warning("Slack is dropping this app's events for a minute (app_rate_limited, minute %s)",
                        body.get("minute_rate_limited"))
            return BoltResponse(status=200, body="")
        keys = request_keys(body)
        if keys and not all([deliveries.first(k) for k in keys]):  # every key recorded, then judged
            log.info("Slack delivered %s again; answered without acting again", ", ".join(keys))
            return BoltResponse(status=200, body="")
        next()
        return None

    return act_once


def _answer_unhandled(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
    """Bolt's error handler: an Events API callback no listener takes is acknowledged (200), so Slack
    neither retries it nor disables the subscription; other unhandled requests stay 404; a listener's
    exception is logged as bolt would."""
    if isinstance(error, BoltUnhandledRequestError):
        if body.get("type") == "event_callback":
            log.debug("Slack event %s not acted on (no listener)", (body.get("event") or {}).get("type"))
            return BoltResponse(status=200, body="")
        return None
    log.error("a Slack listener failed: %s", type(error).__name__, exc_info=error)
    return None


def _signing_secret(slack: SlackSettings) -> str:
    """The signing secret; in Socket Mode without one, a random secret so that HTTP requests fail closed."""
    if slack.signing_secret is not None and slack.signing_secret.get_secret_value():
        return slack.signing_secret.get_secret_value()
    if slack.app_token is not None and slack.app_token.get_secret_value():
        log.info("no TICKETBOT_SLACK__SIGNING_SECRET: Socket Mode only, /slack/events will refuse every request")
        return secrets.token_hex(32)
    raise ConfigurationError("TICKETBOT_SLACK__SIGNING_SECRET is not set (needed to verify requests from Slack; "
                             "or set TICKETBOT_SLACK__APP_TOKEN for Socket Mode)")
