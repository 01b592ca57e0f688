"""Where the tests find the project's files."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONFIG = ROOT / "config" / "ticketbot.yaml"
EVERBRIGHT_ONLY = ROOT / "tests" / "everbright_only.yaml"  # the shipped block of that one rule
SHARED = Path(os.environ.get("TICKETBOT_SHARED_DIR", ROOT.parent / "shared"))
