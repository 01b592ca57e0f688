"""Where events come from, each made a normalized :class:`~bot.model.Event`.

- :mod:`bot.sources.base`: what a source is (decode an inbox envelope into an Event);
- :mod:`bot.sources.jira_webhook`, :mod:`bot.sources.zendesk_webhook`: the vendors' webhooks;
- :mod:`bot.sources.signatures`: their signature checks;
- :mod:`bot.sources.internal`: events the bot makes itself (Slack decisions, fired timers).
"""
