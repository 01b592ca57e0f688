"""Run a runbook scenario as ``ticketbot replay`` does: the real rules from config/ticketbot.yaml, an
in-memory site, a SQLite store and a virtual clock on which the rules' timers fire.

The NF-e and Procountor demos run on Zendesk accounts; their Jira-hosted variants (``JIRA_SITES``) run
with :func:`jira_config`, the shipped config with those two runbooks bound back to Jira projects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.replay import Replay, read_records
from bot.store import Store
from bot.testing.run import Run
from bot.trackers.site import Site
from rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONFIG = ROOT / "config" / "ticketbot.yaml"
SCOPE = "scenario"
#: Jira-hosted variants of the demos that ship on Zendesk (site.yaml and events.jsonl each).
JIRA_SITES = Path(__file__).resolve().parent / "jira_sites"
#: The keys that bind a runbook block to its Zendesk account; without them the block is the seed's Jira defaults.
ZENDESK_BINDING = ("tracker", "project", "done_status", "done_resolution")


def jira_config(tmp_path: Path) -> Path:
    """config/ticketbot.yaml with every Zendesk-bound runbook moved back to its Jira project (the defaults)."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for block in data["rules"].values():
        if (block or {}).get("tracker") == "zendesk":
            for key in ZENDESK_BINDING:
                block.pop(key, None)
    path = tmp_path / "jira-ticketbot.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run(example: str, tmp_path: Path, records: Iterable[dict[str, Any]] | None = None, *,
        until: datetime | None = None, config: Path = CONFIG, root: Path = EXAMPLES) -> Run:
    """Replay ``records`` (default: the example's events.jsonl) on the example's site (under ``root``)."""
    site = Site.load(root / example / "site.yaml")
    store = Store(f"sqlite:///{tmp_path / f'{example}.sqlite3'}")
    player = Replay(load_rules(config), site, store, scope=SCOPE)
    if records is None:
        records = read_records(root / example / "events.jsonl")
    steps = list(player.run(records, until=until))
    return Run(player, steps)
