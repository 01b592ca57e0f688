"""``python -m bot.cli``: the ``ticketbot`` command (tests and benchmarks start the daemon this way)."""

from bot.cli.main import main

if __name__ == "__main__":
    main()
