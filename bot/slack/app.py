"""The slack-bolt App: one factory, listeners registered per area, HTTP or Socket Mode.

HTTP mode: Slack POSTs commands, interactivity and events to ``/slack/events``
(:func:`bot.slack.router.slack_router`); bolt verifies each request's signature with the signing
secret before any listener runs. Socket Mode (``TICKETBOT_SLACK__APP_TOKEN``): Slack pushes the
same payloads over a websocket and no public URL is needed (:func:`socket_mode_handler`).
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import Executor

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.settings import ConfigurationError, Settings, SlackSettings
from bot.slack import actions, commands
from bot.slack.client import web_client
from bot.slack.services import Services

log = logging.getLogger(__name__)


def build_slack_app(settings: Settings | SlackSettings, services: Services, *, client: WebClient | None = None,
                    listener_executor: Executor | None = None) -> App:
    """A bolt App with every ticketbot listener registered.

    ``client`` defaults to a WebClient on the bot token and API URL with ticketbot's retry policy.
    ``listener_executor`` is where bolt runs listeners and lazy listeners (a thread pool by
    default; tests pass an inline executor so lazy work finishes before the request returns).
    The token is checked with ``auth.test`` on the first request, not here, so the daemon starts
    even while Slack is unreachable.
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
    )
    commands.register(app, services, slack.admins)
    actions.register(app, services, slack.admins)
    return app


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """A Socket Mode handler for ``app`` (``handler.connect()`` in the background, ``.start()`` blocking)."""
    if not app_token.startswith("xapp-"):
        raise ConfigurationError("TICKETBOT_SLACK__APP_TOKEN must be an app-level token (xapp-…)")
    return SocketModeHandler(app, app_token)


def _signing_secret(slack: SlackSettings) -> str:
    """The signing secret; in Socket Mode without one, a random secret so that HTTP requests fail closed."""
    if slack.signing_secret is not None and slack.signing_secret.get_secret_value():
        return slack.signing_secret.get_secret_value()
    if slack.app_token is not None and slack.app_token.get_secret_value():
        log.info("no TICKETBOT_SLACK__SIGNING_SECRET: Socket Mode only, /slack/events will refuse every request")
        return secrets.token_hex(32)
    raise ConfigurationError("TICKETBOT_SLACK__SIGNING_SECRET is not set (needed to verify requests from Slack; "
                             "or set TICKETBOT_SLACK__APP_TOKEN for Socket Mode)")
