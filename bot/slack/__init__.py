"""Slack for people: the ``/ticketbot`` command, Approve/Reject buttons, and how Slack reaches the bot.

- :func:`build_slack_app` builds the bolt App and registers every listener area;
- :func:`slack_router` exposes it as ``POST /slack/events`` on the daemon's FastAPI app;
- :func:`socket_mode_handler` runs it over Socket Mode instead (:mod:`bot.slack.socket_mode`);
- :mod:`bot.slack.deliveries` makes each request act once, however often Slack delivers it;
- :class:`Services` is what the listeners need from the rest of the bot.
"""

from bot.slack.app import build_slack_app, socket_mode_handler
from bot.slack.router import slack_router
from bot.slack.services import ServiceError, Services

__all__ = ["ServiceError", "Services", "build_slack_app", "slack_router", "socket_mode_handler"]
