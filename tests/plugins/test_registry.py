"""Rules come from the entry-point group ``ticketbot.rules``; what a bad plugin does is one clear start-up error."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from bot.settings import ConfigurationError
from rules.registry import BUILT_IN, GROUP, discover, registered


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_the_built_in_rules_come_from_ticketbots_own_entry_points_in_order() -> None:
    known = registered()
    assert list(known)[: len(BUILT_IN)] == list(BUILT_IN)
    first = known["everbright_onboarding"]
    assert (first.package, first.built_in, first.source) == ("ticketbot", True, BUILT_IN["everbright_onboarding"])
    assert first.version and first.version != "checkout"  # the installed distribution's version


def test_without_ticketbots_entry_points_a_checkout_still_knows_its_rules() -> None:
    known = discover(found=[])
    assert list(known) == list(BUILT_IN) and {k.version for k in known.values()} == {"checkout"}


def test_two_packages_registering_one_id_is_an_error_naming_both() -> None:
    with pytest.raises(ConfigurationError) as error:
        discover(found=[_ep("nfe_onboarding", "tests.plugins.clash_rules:SecondNfe")])
    message = str(error.value)
    assert "rule id 'nfe_onboarding' is registered twice" in message
    assert "rules.nfe_onboarding:NfeOnboarding" in message and "tests.plugins.clash_rules:SecondNfe" in message
    assert "uninstall one" in message


@pytest.mark.parametrize(("value", "expected"), [
    ("tests.plugins.clash_rules:NOT_A_RULE", "is no ticketbot rule"),
    ("tests.plugins.clash_rules:Broken", "cannot be loaded: RuntimeError: the plugin's constructor needs a database"),
    ("tests.plugins.no_such_module:Rule", "cannot be loaded: ModuleNotFoundError"),
    ("tests.plugins.clash_rules:Renamed", "the entry point is named 'other' but the rule's id is 'renamed_rule'"),
])
def test_a_bad_plugin_is_one_line_naming_it(value: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match="rule plugin 'other' of package") as error:
        discover(found=[_ep("other", value)])
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_plugins_come_after_the_built_in_rules() -> None:
    known = discover(found=[_ep("renamed_rule", "tests.plugins.clash_rules:Renamed")])
    assert list(known) == [*BUILT_IN, "renamed_rule"]
    assert known["renamed_rule"].source == "tests.plugins.clash_rules:Renamed"
