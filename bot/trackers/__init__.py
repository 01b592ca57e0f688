"""Where tickets live: the port every adapter implements, and the adapters.

- :mod:`bot.trackers.base`: the Tracker port and the error taxonomy every adapter raises;
- :mod:`bot.trackers.keys`: ticket keys, checked before they are used;
- :mod:`bot.trackers.jira`, :mod:`bot.trackers.zendesk`: the real adapters;
- :mod:`bot.trackers.memory`, :mod:`bot.trackers.shared_memory`, :mod:`bot.trackers.site`: an in-memory site
  (the replay's and the tests'), optionally kept in a SQLite file.
"""
