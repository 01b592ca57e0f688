"""The ``ticketbot`` command line: one typer app (:mod:`bot.cli.main`), the subcommands in modules by area.

- :mod:`bot.cli.main`: the app, ``dry-run``, ``replay``, ``why``, ``rules``;
- :mod:`bot.cli.daemon`: ``run``, ``db upgrade``, ``dead-letters``, ``rules pause|resume``;
- :mod:`bot.cli.ops`: ``status`` and ``timers``;
- :mod:`bot.cli.check`: ``check``;
- :mod:`bot.cli.common`: what they share (settings loading, one-line errors).

``python -m bot.cli`` is ``ticketbot``.
"""
