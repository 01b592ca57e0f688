"""Reading a Service Management organization's property (the EverBright account manager lives there).

The Jira adapter over the stateful fake Jira (spec-checked: the request and the fake's answer must fit
Atlassian's JSM spec), and the memory tracker seeded from a site description.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.trackers.base import OrganizationProperties, Rejected, Unavailable
from bot.trackers.jira.adapter import JiraTracker
from bot.trackers.memory import MemoryTracker
from bot.trackers.site import Site
from tests.fakes.fake_jira import FakeJira
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on

KEY = "account-manager"
SITE = {
    "bot_account": {"account_id": "bot-1", "email": "ticketbot@goeverbright.com", "display_name": "ticketbot"},
    "service_desks": [{"id": "2", "project": "SS"}],
    "organizations": [
        {"id": "1", "name": "Brightside Installers", "service_desks": ["2"],
         "properties": {KEY: "maria.lopez@goeverbright.com"}},
        {"id": "2", "name": "Sunpeak Solar", "properties": {KEY: {"email": "tom.becker@goeverbright.com"}}},
        {"id": "3", "name": "Ridgeline Roofing"},
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    with spec_checked_jira(Site.model_validate(SITE)) as fake:
        yield fake


@pytest.fixture
def jira(fake: FakeJira) -> JiraTracker:
    return tracker_on(fake, "ticketbot@goeverbright.com", "token", slept=[])


def test_the_jira_adapter_reads_an_organizations_property_by_the_organizations_name(
        jira: JiraTracker, fake: FakeJira) -> None:
    assert isinstance(jira, OrganizationProperties)
    assert jira.organization_property("brightside  installers", KEY) == "maria.lopez@goeverbright.com"
    assert jira.organization_property("Sunpeak Solar", KEY) == {"email": "tom.becker@goeverbright.com"}
    assert ("GET", "/rest/servicedeskapi/organization/2/property/account-manager") in fake.calls


def test_no_property_or_no_organization_is_none(jira: JiraTracker, fake: FakeJira) -> None:
    assert jira.organization_property("Ridgeline Roofing", KEY) is None  # Jira answers 404
    assert jira.organization_property("Nobody Ltd", KEY) is None  # no organization: no property read
    assert not any("/property/" in path and "Nobody" in path for _, path in fake.calls)


def test_an_organization_created_after_the_listing_was_cached_is_found(jira: JiraTracker, fake: FakeJira) -> None:
    assert jira.organization_property("Brightside Installers", KEY)  # the listing is now cached
    fake.organizations["9"] = "Helio Homes"
    fake.set_organization_property("Helio Homes", KEY, "tom.becker@goeverbright.com")
    assert jira.organization_property("Helio Homes", KEY) == "tom.becker@goeverbright.com"


def test_the_value_is_read_afresh_each_time(jira: JiraTracker, fake: FakeJira) -> None:
    assert jira.organization_property("Sunpeak Solar", KEY) == {"email": "tom.becker@goeverbright.com"}
    fake.set_organization_property("Sunpeak Solar", KEY, "maria.lopez@goeverbright.com")
    assert jira.organization_property("Sunpeak Solar", KEY) == "maria.lopez@goeverbright.com"


def test_a_refusal_is_rejected_and_an_outage_unavailable(jira: JiraTracker, fake: FakeJira) -> None:
    fake.organization_properties_forbidden = True
    with pytest.raises(Rejected, match="403"):
        jira.organization_property("Sunpeak Solar", KEY)
    fake.organization_properties_forbidden = False
    fake.throttle(5, status=500, retry_after=None)
    with pytest.raises(Unavailable):
        jira.organization_property("Sunpeak Solar", KEY)


def test_the_memory_tracker_reads_properties_from_the_site_description() -> None:
    memory = MemoryTracker(Site.model_validate(SITE))
    assert isinstance(memory, OrganizationProperties)
    assert memory.organization_property("SUNPEAK SOLAR", KEY) == {"email": "tom.becker@goeverbright.com"}
    assert memory.organization_property("Ridgeline Roofing", KEY) is None
    assert memory.organization_property("Nobody Ltd", KEY) is None


def test_a_zendesk_memory_site_has_no_organization_properties() -> None:
    memory = MemoryTracker(Site.model_validate({"kind": "zendesk"}))
    with pytest.raises(Rejected, match="Zendesk organizations have no properties"):
        memory.organization_property("Sunpeak Solar", KEY)
