"""``ticketbot run``: the long-running process and its parts.

- :mod:`bot.daemon.core`: :class:`~bot.daemon.core.Daemon`, the parts wired together;
- :mod:`bot.daemon.build`: building a Daemon from settings (trackers, pollers, the start-up check);
- :mod:`bot.daemon.serve`: serving it: the HTTP process and the worker processes;
- :mod:`bot.daemon.http`: the FastAPI app (webhooks in, health and metrics out);
- :mod:`bot.daemon.slack`: Slack served by a daemon (``/slack/events``, Socket Mode);
- :mod:`bot.daemon.health`: what it tells the orchestrator (its metrics: :mod:`bot.inbox.metrics`).
"""
