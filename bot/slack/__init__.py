"""Slack for people: the ``/ticketbot`` command, Approve/Reject buttons, and how Slack reaches the bot.

- :mod:`bot.slack.app`: the bolt App (``build_slack_app``), listeners registered per area
  (:mod:`~bot.slack.commands`, :mod:`~bot.slack.actions`), over HTTP or Socket Mode;
- :mod:`bot.slack.router`: ``POST /slack/events`` on the daemon's FastAPI app;
- :mod:`bot.slack.socket_mode`: the Socket Mode connection;
- :mod:`bot.slack.deliveries`: each request acts once, however often Slack delivers it;
- :mod:`bot.slack.services`: what the listeners need from the rest of the bot (one Protocol);
- :mod:`bot.slack.notifier`: the Notifier port the executor sends through; :mod:`bot.slack.sender` its
  Slack adapter (Web API client in :mod:`bot.slack.client`, Block Kit in :mod:`bot.slack.blocks`).
"""
