"""The operations console: every runbook instance in flight on one page, each one's timeline, the timers, the
dead letters, the rules and the audit log, as server-rendered pages under ``/console`` and as JSON under
``/api/v1`` (issue 17).

* :mod:`bot.console.queries`: the read model over the bot's own tables (nothing here writes to a tracker);
* :mod:`bot.console.stages`: each rule's stages in order, its final stages, its deadlines;
* :mod:`bot.console.access`: who is asking (a header from a trusted proxy), admins only, CSRF tokens,
  security headers;
* :mod:`bot.console.actions`: retry a dead letter, pause and resume a rule, each audited with the person;
* :mod:`bot.console.pages` and :mod:`bot.console.api`: the routes; :mod:`bot.console.app` puts them together.

``ticketbot run`` mounts it (:mod:`bot.daemon.console`) when ``TICKETBOT_CONSOLE__ADMINS`` is set;
``ticketbot console`` serves it alone against the configured database.
"""
