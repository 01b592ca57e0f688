"""The bot as its operators see it, from Slack and from the command line.

- :mod:`bot.ops.services`: status, why, dry-run, approve/reject, pause/resume over the bot's records;
- :mod:`bot.ops.audit`: what people asked the bot to do, and what became of it.
"""
