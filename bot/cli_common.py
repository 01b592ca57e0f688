"""What every ``ticketbot`` command module shares: consoles, the --config option, settings loading."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.settings import Settings, load_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Rules YAML (default: TICKETBOT_CONFIG).")]


def load_cli_settings(config: Path | None = None) -> Settings:
    """Settings for a command, with ``--config`` overriding TICKETBOT_CONFIG, and logging set up."""
    settings = load_settings(**({"config": config} if config else {}))
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings
