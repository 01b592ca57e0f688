"""The Tracker contract: what every tracker (memory, Jira, Zendesk) does, tested once for all three.

Each test runs against the three backends of the ``backend`` fixture (see conftest.py) and asserts
on the stored state behind the tracker as well as on what the tracker reads back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.effects import SetField, SetOrganization, SetReporter, SetRequestType
from bot.trackers.base import NotFound, Rejected, Tracker, TrackerError
from tests.contract.conftest import CUSTOMER, DAVID, MARIA, MAX_RETRIES, ONBOARDING, Backend, StoredComment


def field(name: str, value: object, key: str = "SS-1") -> SetField:
    return SetField(rule_id="contract", ticket_key=key, step=f"set {name}", field=name, value=value)


def test_is_a_tracker(backend: Backend) -> None:
    assert isinstance(backend.tracker, Tracker)


# get_ticket --------------------------------------------------------------------------------------
def test_get_ticket_reads_the_normalized_ticket(backend: Backend) -> None:
    ticket = backend.tracker.get_ticket(backend.key("SS-1"))
    assert ticket.key == backend.key("SS-1")
    assert ticket.project == "SS"
    assert ticket.summary == "EverBright Partner Onboarding"
    assert "Installer name: Sunpeak Solar" in ticket.description
    assert ticket.status.casefold() == backend.statuses["start"].casefold()
    assert ticket.reporter is not None and ticket.reporter.is_email(CUSTOMER)
    assert ticket.request_type == "Get IT help"
    assert ticket.fields["Installer name"] == "Sunpeak Solar"  # custom fields by display name
    assert ticket.watchers is None  # not loaded unless asked (participants may come for free with the fields)


def test_get_ticket_reads_the_assignee(backend: Backend) -> None:
    task = backend.tracker.get_ticket(backend.key("CS-1"))
    assert task.assignee is not None and task.assignee.is_email(MARIA)
    assert backend.tracker.get_ticket(backend.key("SS-1")).assignee is None  # unassigned


def test_get_ticket_with_people(backend: Backend) -> None:
    ticket = backend.tracker.get_ticket(backend.key("SS-1"), with_people=True)
    assert [w.email.lower() for w in ticket.watchers or ()] == [MARIA]
    assert [p.email.lower() for p in ticket.participants or ()] == [CUSTOMER]


def test_get_ticket_of_an_unknown_key_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        backend.tracker.get_ticket("SS-999" if backend.name != "zendesk" else "999999")


# find_user ---------------------------------------------------------------------------------------
def test_find_user_by_email_any_case(backend: Backend) -> None:
    user = backend.tracker.find_user("David.Ellis@GoEverBright.com")
    assert user is not None and user.is_email(DAVID) and user.account_id
    assert user.display_name == "David Ellis"
    assert backend.tracker.find_user("nobody@goeverbright.com") is None


# update_fields -----------------------------------------------------------------------------------
def test_update_fields_sets_a_select_field_by_name_and_option(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.update_fields(key, [field("Needs Configuration?", "Integrated Finance", key),
                                        field("Installer name", "Sunpeak Solar Inc.", key)])
    stored = backend.stored_field(key, "Needs Configuration?")
    assert stored == ("integrated_finance" if backend.name == "zendesk" else "Integrated Finance")
    assert backend.stored_field(key, "Installer name") == "Sunpeak Solar Inc."
    ticket = backend.tracker.get_ticket(key)
    assert ticket.fields["Needs Configuration?"] == "Integrated Finance"
    assert ticket.fields["Installer name"] == "Sunpeak Solar Inc."


def test_update_fields_sets_reporter_organization_and_request_type_in_one_edit(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.update_fields(key, [
        SetReporter(rule_id="contract", ticket_key=key, step="reporter", email=ONBOARDING),
        SetOrganization(rule_id="contract", ticket_key=key, step="org", name="Sunpeak Solar"),  # a new organization
        SetRequestType(rule_id="contract", ticket_key=key, step="rt", name="company-specific data change"),
    ])
    ticket = backend.tracker.get_ticket(key)
    assert ticket.reporter is not None and ticket.reporter.is_email(ONBOARDING)
    assert ticket.organizations == ("Sunpeak Solar",)
    assert ticket.request_type == "Company-specific Data Change"


@pytest.mark.parametrize(("name", "value"), [("Needs Configuration?", "Integrated Everything"),
                                             ("No Such Field", "x")])
def test_an_edit_with_one_bad_value_changes_nothing(backend: Backend, name: str, value: str) -> None:
    key = backend.key("SS-1")
    with pytest.raises(NotFound):
        backend.tracker.update_fields(key, [field("Installer name", "Changed", key), field(name, value, key)])
    assert backend.stored_field(key, "Installer name") == "Sunpeak Solar"


def test_unknown_request_type_and_reporter_are_not_found(backend: Backend) -> None:
    key = backend.key("SS-1")
    with pytest.raises(NotFound):
        backend.tracker.update_fields(key, [SetRequestType(rule_id="c", ticket_key=key, step="rt", name="Teleport")])
    with pytest.raises(NotFound):
        backend.tracker.update_fields(key, [SetReporter(rule_id="c", ticket_key=key, step="r",
                                                        email="nobody@goeverbright.com")])
    assert backend.tracker.get_ticket(key).request_type == "Get IT help"


# labels (Zendesk: tags) -----------------------------------------------------------------------------
def test_change_labels_adds_and_removes_keeping_the_others(backend: Backend) -> None:
    key = backend.key("SS-2")
    backend.tracker.change_labels(key, ["needs-triage", "vip", "keep"])
    backend.tracker.change_labels(key, ["needs-triage"], ["vip", "never-there"])  # again: nothing more
    assert sorted(backend.stored_labels(key)) == ["keep", "needs-triage"]
    assert sorted(backend.tracker.get_ticket(key).labels) == ["keep", "needs-triage"]


def test_a_label_with_a_space_is_rejected_and_nothing_changes(backend: Backend) -> None:
    key = backend.key("SS-2")
    with pytest.raises(Rejected, match="'needs triage' has a space") as caught:
        backend.tracker.change_labels(key, ["ok", "needs triage"])
    assert caught.value.name == "needs triage"
    assert backend.stored_labels(key) == []


# watchers and participants -----------------------------------------------------------------------
def test_add_watcher_is_idempotent(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.add_watcher(key, DAVID)
    backend.tracker.add_watcher(key, DAVID)
    backend.tracker.add_watcher(key, MARIA)  # already watching
    assert sorted(backend.stored_watchers(key)) == [DAVID, MARIA]
    ticket = backend.tracker.get_ticket(key, with_people=True)
    assert sorted(w.email.lower() for w in ticket.watchers or ()) == [DAVID, MARIA]


def test_add_watcher_of_an_unknown_person_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        backend.tracker.add_watcher(backend.key("SS-1"), "nobody@goeverbright.com")
    assert backend.stored_watchers(backend.key("SS-1")) == [MARIA]


def test_remove_participant_keeps_the_watchers(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.remove_participant(key, CUSTOMER)
    backend.tracker.remove_participant(key, CUSTOMER)  # already gone: nothing to do
    backend.tracker.remove_participant(key, "nobody@goeverbright.com")  # unknown person: nothing to do
    assert backend.stored_participants(key) == []
    assert backend.stored_watchers(key) == [MARIA]


# comments ----------------------------------------------------------------------------------------
def test_internal_comment_is_internal(backend: Backend) -> None:
    key = backend.key("SS-2")
    comment_id = backend.tracker.add_internal_comment(key, "Approved to push live?")
    assert comment_id
    (stored,) = [c for c in backend.stored_comments(key) if c.body.endswith("Approved to push live?")]
    assert stored.internal and stored.by_bot
    last = backend.tracker.get_ticket(key).comments[-1]
    assert last.internal and last.body.endswith("Approved to push live?")


def test_public_reply_is_the_one_public_comment(backend: Backend) -> None:
    key = backend.key("SS-1")
    comment_id = backend.tracker.add_public_reply(key, "Your installer account is ready.")
    assert comment_id
    (stored,) = [c for c in backend.stored_comments(key) if c.by_bot]
    assert stored == StoredComment("Your installer account is ready.", internal=False, by_bot=True)
    last = backend.tracker.get_ticket(key).comments[-1]
    assert not last.internal and last.body == "Your installer account is ready."


def test_nothing_the_tracker_writes_is_ever_public(backend: Backend) -> None:
    """Comments are the only customer-visible channel: every write below (all but ``add_public_reply``)
    must leave only internal ones."""
    before = {id(c) for c in backend.all_stored_comments()}
    ss1, ss2 = backend.key("SS-1"), backend.key("SS-2")
    backend.tracker.add_internal_comment(ss1, "internal note")
    backend.tracker.link("Duplicate", ss2, ss1)
    created = backend.tracker.create_ticket("CS", "Task", "Configure EverBright", "config steps")
    backend.tracker.transition(ss2, backend.statuses["done"])
    backend.tracker.add_internal_comment(created, "second note")
    written = [c for c in backend.all_stored_comments() if c.by_bot and id(c) not in before]
    assert written, "the writes above stored no comment at all"
    assert [c.body for c in written if not c.internal] == []


# transitions -------------------------------------------------------------------------------------
def test_transition_by_target_status(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.transition(key, backend.statuses["next"].upper())  # the target, in any case
    assert backend.stored_status(key).casefold() == backend.statuses["next"].casefold()
    assert backend.tracker.get_ticket(key).status.casefold() == backend.statuses["next"].casefold()


def test_transition_to_an_unknown_status_is_not_found(backend: Backend) -> None:
    key = backend.key("SS-1")
    with pytest.raises(NotFound):
        backend.tracker.transition(key, "Teleported")
    assert backend.stored_status(key) == backend.statuses["start"]


def test_transition_follows_the_workflow(backend: Backend) -> None:
    backend.require("workflow")
    key = backend.key("SS-1")
    backend.tracker.transition(key, backend.statuses["next"])
    with pytest.raises(NotFound, match="Waiting for support"):  # the error lists where one can go
        backend.tracker.transition(key, backend.statuses["next"])  # no transition from there to itself
    backend.tracker.transition(key, backend.statuses["start"])
    assert backend.stored_status(key) == backend.statuses["start"]


def test_transition_with_a_resolution(backend: Backend) -> None:
    backend.require("resolution")
    key = backend.key("SS-2")
    backend.tracker.transition(key, backend.statuses["done"], resolution="Duplicate")
    ticket = backend.tracker.get_ticket(key)
    assert ticket.status == backend.statuses["done"] and ticket.resolution == "Duplicate"


# links -------------------------------------------------------------------------------------------
def test_link_is_read_back_on_both_tickets(backend: Backend) -> None:
    approval, onboarding = backend.key("SS-2"), backend.key("SS-1")
    backend.tracker.link("Duplicate", approval, onboarding)
    for key in (approval, onboarding):
        links = backend.tracker.get_ticket(key).links
        assert [(link.type.casefold(), link.inward_key, link.outward_key) for link in links] == \
            [("duplicate", approval, onboarding)]


def test_link_of_an_unknown_type_is_not_found(backend: Backend) -> None:
    backend.require("link types")
    with pytest.raises(NotFound):
        backend.tracker.link("Haunts", backend.key("SS-2"), backend.key("SS-1"))
    assert backend.tracker.get_ticket(backend.key("SS-2")).links == ()


# create_ticket -----------------------------------------------------------------------------------
def test_create_ticket_with_field_values(backend: Backend) -> None:
    count = backend.ticket_count()
    key = backend.tracker.create_ticket(
        "CS",
        "Task",
        "Configure Sunpeak Solar products",
        "Enable Integrated Finance",
        {"Installer name": "Sunpeak Solar", "Needs Configuration?": "Integrated Finance"},
    )
    assert backend.ticket_count() == count + 1
    ticket = backend.tracker.get_ticket(key)
    assert ticket.project == "CS"
    assert ticket.summary == "Configure Sunpeak Solar products"
    assert ticket.issue_type.casefold() == "task"
    assert "Enable Integrated Finance" in ticket.description
    assert ticket.fields["Installer name"] == "Sunpeak Solar"
    assert ticket.fields["Needs Configuration?"] == "Integrated Finance"


def test_create_ticket_with_a_bad_issue_type_or_value_creates_nothing(backend: Backend) -> None:
    count = backend.ticket_count()
    with pytest.raises(NotFound):
        backend.tracker.create_ticket("CS", "Spaceship", "x")
    with pytest.raises(NotFound):
        backend.tracker.create_ticket("CS", "Task", "x", field_values={"Needs Configuration?": "Teleport"})
    assert backend.ticket_count() == count


def test_a_ticket_created_with_a_marker_is_found_by_it(backend: Backend) -> None:
    """The executor's state check for CreateTicket: a marker put on at creation finds the ticket again."""
    assert backend.tracker.find_marked("CS", "tb-0123456789abcdef0123") is None
    key = backend.tracker.create_ticket(
        "CS", "Task", "Configure Sunpeak Solar products", marker="tb-0123456789abcdef0123"
    )
    other = backend.tracker.create_ticket("CS", "Task", "Configure Helio products", marker="tb-ffffffffffffffffffff")
    assert backend.tracker.find_marked("CS", "tb-0123456789abcdef0123") == key
    assert backend.tracker.find_marked("CS", "tb-ffffffffffffffffffff") == other
    assert backend.tracker.find_marked("CS", "tb-aaaaaaaaaaaaaaaaaaaa") is None


# search of updated tickets -----------------------------------------------------------------------
def test_search_updated_finds_what_changed_since(backend: Backend) -> None:
    backend.advance(timedelta(minutes=10))
    since = backend.clock.now() - timedelta(minutes=5)
    backend.tracker.add_internal_comment(backend.key("SS-1"), "touched")
    backend.advance(timedelta(minutes=5))  # Zendesk exports nothing from the last minute
    found = backend.search_updated(["SS", "CS"], since)
    assert [t.key for t in found] == [backend.key("SS-1")]
    assert found[0].summary == "EverBright Partner Onboarding"
    assert backend.search_updated(["CS"], since) == []  # another project's changes only
    assert backend.search_updated(["SS"], backend.clock.now() - timedelta(minutes=2)) == []


# rate limits -------------------------------------------------------------------------------------
def test_429_retry_after_is_honoured(backend: Backend) -> None:
    backend.require("rate limits")
    backend.throttle(1, retry_after=7)
    assert backend.tracker.get_ticket(backend.key("SS-2")).summary == "Re: approval"
    assert backend.slept == [7.0]


def test_429_retries_are_bounded(backend: Backend) -> None:
    backend.require("rate limits")
    backend.throttle(MAX_RETRIES + 5, retry_after=3)
    with pytest.raises(TrackerError, match="429|throttl"):
        backend.tracker.add_internal_comment(backend.key("SS-2"), "never posted")
    assert backend.slept == [3.0] * MAX_RETRIES
    assert [c for c in backend.stored_comments(backend.key("SS-2")) if c.body == "never posted"] == []


# the catalogs ``ticketbot check`` resolves names against ---------------------------------------------
def test_catalogs_list_the_sites_names(backend: Backend) -> None:
    tracker = backend.tracker
    assert {"Needs Configuration?", "Installer name"} <= set(tracker.field_names())
    assert tracker.field_options("Needs Configuration?", "SS") == ["Integrated Finance", "Integrated Payments", "None"]
    assert {backend.statuses["start"], backend.statuses["next"], backend.statuses["done"]} <= set(
        tracker.statuses("SS")
    )
    assert backend.statuses["next"] in tracker.transition_targets("SS")
    assert {"Get IT help", "Company-specific Data Change"} <= set(tracker.request_types("SS"))
    assert "Brightside Installers" in tracker.organizations()
    assert "task" in [t.casefold() for t in tracker.issue_types("CS")]
    with pytest.raises(NotFound):
        tracker.field_options("No Such Field", "SS")


def test_a_fields_id_and_type_as_a_site_description_says_them(backend: Backend) -> None:
    select_id, select_type = backend.tracker.field_spec("needs configuration?")
    text_id, text_type = backend.tracker.field_spec("Installer name")
    assert (select_type, text_type) == ("option", "text") and select_id != text_id
    assert text_id.removeprefix("customfield_").isdigit()  # Jira's customfield_N, Zendesk's numeric id


def test_catalog_of_link_types(backend: Backend) -> None:
    backend.require("link types")
    assert {"Blocks", "Duplicate", "Relates"} <= set(backend.tracker.link_types())


def test_a_created_organization_is_listed(backend: Backend) -> None:
    key = backend.key("SS-1")
    backend.tracker.update_fields(key, [
        SetReporter(rule_id="c", ticket_key=key, step="r", email=ONBOARDING),
        SetOrganization(rule_id="c", ticket_key=key, step="o", name="Helio Homes")])
    assert "Helio Homes" in backend.tracker.organizations()
