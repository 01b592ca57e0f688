"""Rules a misbehaving plugin package might register (tests/plugins/test_registry.py)."""

from __future__ import annotations

from rules.nfe_onboarding import NfeOnboarding


class SecondNfe(NfeOnboarding):
    """Another package's rule under an id ticketbot already has."""


class Renamed(NfeOnboarding):
    id = "renamed_rule"


NOT_A_RULE = object()


class Broken:
    def __init__(self) -> None:
        raise RuntimeError("the plugin's constructor needs a database")
