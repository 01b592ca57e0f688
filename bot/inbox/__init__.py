"""Every event the bot acts on goes through here, durably, once.

- :mod:`bot.inbox.queue`: the inbox table, its writer and its claims;
- :mod:`bot.inbox.spool`: on SQLite, the intake file the HTTP process commits webhooks to;
- :mod:`bot.inbox.workers`: the worker pool and the handler that puts an event through the pipeline;
- :mod:`bot.inbox.guards`: loop and blast-radius guards;
- :mod:`bot.inbox.outage`: a vendor that is down holds events without spending their attempts;
- :mod:`bot.inbox.timers`, :mod:`bot.inbox.poller`: due timers and polled tickets become inbox rows;
- :mod:`bot.inbox.scheduler`, :mod:`bot.inbox.leader`: the leader's periodic jobs;
- :mod:`bot.inbox.metrics`: what is counted on the way in and through the workers (Prometheus).
"""
