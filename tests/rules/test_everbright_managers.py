"""Where EverBright's account managers come from (issue 15 §3.1): the block's map, a CSV file, the JSM
organization's property, in the order ``account_manager_sources`` lists them.

Real parts: the Jira adapter on the stateful fake Jira (the property read is spec-checked), the Slack
notifier on the fake Slack, the virtual clock. Assertions are on SS's watchers and comments and the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.check import run_check
from bot.settings import ConfigurationError
from bot.state import RuleState
from bot.store import LIVE
from rules import load_rules
from rules.everbright_onboarding import EverBrightOnboarding
from tests.fakes.fake_jira import FakeJira
from tests.rules.test_everbright_approvers import block, make, world, write_config
from tests.rules.test_everbright_runbook import RULE, Runbook, arrive_ss101

__all__ = ["world"]  # the fixture, used by the tests below

TOM, MARIA = "tom.becker@goeverbright.com", "maria.lopez@goeverbright.com"
PROPERTY = "account-manager"


def csv_file(tmp_path: Path, text: str, name: str = "managers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def existing_organization(jira: FakeJira, name: str, value: Any = None) -> None:
    """An organization already on the site (the partner is known), with the property ``value`` when given."""
    org_id = str(max(int(o) for o in jira.organizations) + 1)
    jira.organizations[org_id] = name
    if value is not None:
        jira.set_organization_property(name, PROPERTY, value)


def watchers(book: Runbook) -> set[str]:
    ids = {book.jira.account_id(e): e for e in (TOM, MARIA, "david.ellis@goeverbright.com",
                                                "sam.stone@goeverbright.com")}
    return {ids[w] for w in book.jira.ticket("SS-101").watchers if w in ids}


def missing_notes(book: Runbook) -> list[str]:
    return [c for c in book.comments("SS-101") if "no account manager is configured" in c]


def record(book: Runbook) -> RuleState:
    state = book.states.get(LIVE, RULE, "SS-101")
    assert state is not None
    return state


# each source finds the manager --------------------------------------------------------------------------
def test_the_map_as_today(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, account_managers={"Sunpeak Solar": TOM})  # sources default to [map]
    arrive_ss101(book)
    assert TOM in watchers(book) and missing_notes(book) == []
    assert record(book).get("account_manager_source") == "the account_managers map"


def test_a_csv_file(tmp_path: Path, world: Any) -> None:
    path = csv_file(tmp_path, "organization,email\nBrightside Installers,maria.lopez@goeverbright.com\n"
                              "  sunpeak   SOLAR ,tom.becker@goeverbright.com\n")
    book = make(tmp_path, world, account_managers={}, account_manager_sources=[{"csv": str(path)}])
    arrive_ss101(book)
    assert TOM in watchers(book) and missing_notes(book) == []
    assert record(book).get("account_manager_source") == str(path)


@pytest.mark.parametrize("value", [TOM, {"email": TOM}, f"  {TOM} "])
def test_the_organizations_property(tmp_path: Path, world: Any, value: Any) -> None:
    book = make(tmp_path, world, account_managers={}, account_manager_sources=[{"organization_property": PROPERTY}])
    existing_organization(book.jira, "Sunpeak Solar", value)
    arrive_ss101(book)
    assert TOM in watchers(book) and missing_notes(book) == []
    assert record(book).get("account_manager") == TOM
    assert ("GET", f"/rest/servicedeskapi/organization/{book.jira._org_id_by_name('Sunpeak Solar')}"
                   f"/property/{PROPERTY}") in book.jira.calls


def test_the_first_source_that_knows_wins_in_the_listed_order(tmp_path: Path, world: Any) -> None:
    path = csv_file(tmp_path, "organization,email\nSunpeak Solar,maria.lopez@goeverbright.com\n")
    book = make(tmp_path, world, account_managers={"Brightside Installers": MARIA},
                account_manager_sources=["map", {"organization_property": PROPERTY}, {"csv": str(path)}])
    existing_organization(book.jira, "Sunpeak Solar", TOM)
    arrive_ss101(book)  # the map has no Sunpeak Solar; the property has; the CSV is not needed
    assert TOM in watchers(book) and MARIA not in watchers(book)
    assert record(book).get("account_manager_source") == "the organization's property 'account-manager' of " \
                                                         "'Sunpeak Solar'"


# no source finds one: one comment on SS, as before, naming where it looked ------------------------------
@pytest.mark.parametrize("sources", [["map"], ["csv"], ["organization_property"]])
def test_an_unknown_organization_is_said_once_per_onboarding_whatever_the_source(
        tmp_path: Path, world: Any, sources: list[str]) -> None:
    path = csv_file(tmp_path, "organization,email\nBrightside Installers,maria.lopez@goeverbright.com\n")
    spelled = {"map": "map", "csv": {"csv": str(path)}, "organization_property": {"organization_property": PROPERTY}}
    book = make(tmp_path, world, account_managers={"Brightside Installers": MARIA} if "map" in sources else {},
                account_manager_sources=[spelled[s] for s in sources])
    if "organization_property" in sources:
        existing_organization(book.jira, "Sunpeak Solar")  # an organization without the property
    report = arrive_ss101(book)
    [note] = missing_notes(book)
    looked = {"map": "the account_managers map", "csv": str(path),
              "organization_property": "the organization's property 'account-manager'"}[sources[0]]
    assert f"(looked in: {looked})" in note and "Sunpeak Solar" in note
    assert watchers(book) == {"david.ellis@goeverbright.com", "sam.stone@goeverbright.com"}  # the rest applied
    assert record(book).stage == "intake"
    [alert] = book.slack.in_channel("CADMIN")  # the admins hear it too: a source to fix
    assert "SS-101" in alert["text"] and "no account manager" in alert["text"] and looked in alert["text"]
    book._process(report.event)  # the same webhook delivered again
    assert len(missing_notes(book)) == 1 and len(book.slack.in_channel("CADMIN")) == 1  # once per onboarding


def test_a_refused_property_read_is_said_and_the_next_source_asked(tmp_path: Path, world: Any) -> None:
    path = csv_file(tmp_path, "organization,email\nSunpeak Solar,tom.becker@goeverbright.com\n")
    book = make(tmp_path, world, account_managers={},
                account_manager_sources=[{"organization_property": PROPERTY}, {"csv": str(path)}])
    existing_organization(book.jira, "Sunpeak Solar", MARIA)
    book.jira.organization_properties_forbidden = True
    report = arrive_ss101(book)
    assert TOM in watchers(book) and missing_notes(book) == []  # the CSV had it
    notes = [n for r in report.rules for n in r.result.evaluation.notes]
    assert any("could not be read" in n and "403" in n for n in notes), notes


def test_a_refused_property_read_with_no_other_source_says_what_to_fix(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, account_managers={}, account_manager_sources=[{"organization_property": PROPERTY}])
    existing_organization(book.jira, "Sunpeak Solar", TOM)
    book.jira.organization_properties_forbidden = True
    arrive_ss101(book)
    [note] = missing_notes(book)
    assert "could not be read" in note and "may see the organization's properties" in note
    assert book.stage("SS-101") == "intake"


def test_a_property_that_is_no_email_is_said(tmp_path: Path, world: Any) -> None:
    book = make(tmp_path, world, account_managers={}, account_manager_sources=[{"organization_property": PROPERTY}])
    existing_organization(book.jira, "Sunpeak Solar", {"name": "Tom"})
    arrive_ss101(book)
    [note] = missing_notes(book)
    assert "is not an e-mail address" in note and "Tom" in note


# configuration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "error"), [
    ("org,mail\nSunpeak Solar,tom@x.example\n", r"managers\.csv line 1: the header must name the columns"),
    ("organization,email\nSunpeak Solar,tom@x.example\n\nRidgeline,not-an-email\n",
     r"managers\.csv line 4: 'not-an-email' is not an e-mail address"),
    ("organization,email\n,tom@x.example\n", r"managers\.csv line 2: the organization is empty"),
    ("organization,email\nSunpeak Solar\n", r"managers\.csv line 2: expected the columns organization and email"),
    ("organization,email\nSunpeak Solar,a@x.example\nsunpeak solar,b@x.example\n",
     r"managers\.csv line 3: 'sunpeak solar' already has a@x\.example \(line 2\)"),
    ("", r"managers\.csv: empty"),
])
def test_a_bad_csv_file_is_a_configuration_error_naming_the_file_and_line(tmp_path: Path, text: str,
                                                                          error: str) -> None:
    path = csv_file(tmp_path, text)
    with pytest.raises(ConfigurationError, match=r"rules\.everbright_onboarding\.account_manager_sources\.0.*" + error):
        load_rules(write_config(tmp_path, block(account_managers={}, account_manager_sources=[{"csv": str(path)}])))


def test_a_missing_csv_file_and_a_misspelt_source_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nowhere\.csv: file not found"):
        nowhere = str(tmp_path / "nowhere.csv")
        load_rules(write_config(tmp_path, block(account_manager_sources=["map", {"csv": nowhere}])))
    with pytest.raises(ConfigurationError, match=r"a source is map, \{csv: PATH\} or \{organization_property: KEY\}"):
        load_rules(write_config(tmp_path, block(account_manager_sources=[{"jsm": "account-manager"}])))
    with pytest.raises(ConfigurationError, match="account_managers is set, but account_manager_sources does not list"):
        load_rules(write_config(tmp_path, block(account_manager_sources=[{"organization_property": "am"}])))


def test_check_lists_each_manager_with_its_source(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "organization,email\nSunpeak Solar,tom.becker@goeverbright.com\n")
    [bound] = load_rules(write_config(tmp_path, block(
        account_managers={"Brightside Installers": MARIA},
        account_manager_sources=["map", {"csv": str(path)}, {"organization_property": PROPERTY}])))
    reqs = EverBrightOnboarding().requirements(bound.config)  # type: ignore[arg-type]
    users = {(r.name, r.source) for r in reqs if r.kind == "user"}
    assert (MARIA, "rules.everbright_onboarding.account_managers['brightside installers']") in users
    assert (TOM, f"rules.everbright_onboarding.account_manager_sources[1] ({path} line 2)") in users

    class Everyone:
        def resolve(self, requirement: Any) -> Any:
            from bot.check import RESOLVED, Answer
            return Answer(RESOLVED)

    report = run_check([bound], lambda systems: dict.fromkeys(systems, Everyone()))
    assert any(r["source"].endswith(f"({path} line 2)") for r in report.as_dict()["requirements"])
