"""JiraTracker against the stateful fake Jira: assertions are on the resulting ticket state.

Every test also checks (in the ``fake`` fixture's teardown) that the adapter sent nothing
Atlassian's spec does not describe and called nothing the fake does not serve.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from jira import JIRA

import bot.trackers.jira.adapter as adapter_module
from bot.effects import SetField, SetOrganization, SetReporter, SetRequestType
from bot.model import Link
from bot.trackers.base import NotFound, Rejected, Tracker, TrackerError
from bot.trackers.jira.adapter import JiraTracker, RateLimited
from bot.trackers.site import Site
from tests.fakes.fake_jira import FakeJira, load_specs, spec_skip_reason
from tests.fakes.jira_fixture import spec_checked_jira, tracker_on
from tests.support.sites import JSM_FIELDS, JSM_TRANSITIONS

EMAIL, TOKEN = "ticketbot@goeverbright.com", "s3cret-api-token"
MARIA, TOM, SUNPEAK = "maria.lopez@goeverbright.com", "tom.becker@goeverbright.com", "ops@sunpeaksolar.example"

SITE = {
    "bot_account": {"account_id": "bot-1", "email": EMAIL, "display_name": "ticketbot"},
    "users": [
        {"account_id": "acc-maria", "email": MARIA, "display_name": "Maria Lopez"},
        {"account_id": "acc-tom", "email": TOM, "display_name": "Tom Becker"},
        {"account_id": "qm:sunpeak", "email": SUNPEAK, "display_name": "Sunpeak Solar Ops"},
    ],
    "fields": [*JSM_FIELDS,
               {"id": "customfield_10053", "name": "Modules", "type": "options", "options": ["Billing", "Payroll"]}],
    "issue_types": ["Service Request", "Task"],
    "statuses": ["Open", "Waiting for support", "Waiting for customer", "Closed"],
    "transitions": JSM_TRANSITIONS,
    "link_types": [
        {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
        {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
    ],
    "service_desks": [{"id": "2", "project": "SS",
                       "request_types": {"10": "Get IT help", "18": "Partner onboarding"}}],
    "organizations": [{"id": "1", "name": "Brightside Installers", "service_desks": ["2"]},
                      {"id": "2", "name": "Lonely Org", "service_desks": []}],
    "tickets": [
        {"key": "SS-1", "summary": "Onboard Sunpeak Solar", "status": "Waiting for support",
         "issue_type": "Service Request", "reporter": SUNPEAK, "request_type": "Get IT help",
         "participants": [SUNPEAK], "watchers": [MARIA], "fields": {"Installer name": "Sunpeak"}},
        {"key": "SS-2", "summary": "Configure Sunpeak", "status": "Open", "issue_type": "Task"},
        {"key": "IT-1", "summary": "Laptop", "status": "Open", "issue_type": "Task"},
    ],
}


# fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def site() -> Site:
    return Site.model_validate(SITE)


@pytest.fixture
def fake(site: Site) -> Iterator[FakeJira]:
    with spec_checked_jira(site) as fake:
        yield fake


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def jira(fake: FakeJira, slept: list[float]) -> JiraTracker:
    return tracker_on(fake, EMAIL, TOKEN, max_retries=2, slept=slept)


def since(fake: FakeJira, mark: int) -> list[tuple[str, str]]:
    """Calls the fake received after the first ``mark`` calls."""
    return fake.calls[mark:]


# construction ------------------------------------------------------------------------------------
def test_is_a_tracker_and_hides_its_token(jira: JiraTracker) -> None:
    assert isinstance(jira, Tracker)
    assert TOKEN not in repr(jira)


def test_needs_credentials() -> None:
    with pytest.raises(ValueError, match="url, email and api token"):
        JiraTracker("https://x.atlassian.net", EMAIL)


def test_mounts_its_retries_on_a_given_session(fake: FakeJira, slept: list[float]) -> None:
    session = requests.Session()
    jira = JiraTracker(fake.base_url, EMAIL, TOKEN, session=session, max_retries=1, sleep=slept.append)
    fake.throttle(1, retry_after="4")
    assert jira.get_ticket("SS-1").summary == "Onboard Sunpeak Solar"
    assert jira.session is session and session.auth == (EMAIL, TOKEN)
    assert slept == [4.0]  # our sleep, never time.sleep


def test_token_keyword_alias(fake: FakeJira) -> None:
    assert JiraTracker(fake.base_url, EMAIL, token=TOKEN).find_user(MARIA) is not None


# reads ---------------------------------------------------------------------------------------------
def test_get_ticket_reads_fields_by_display_name_in_one_call(fake: FakeJira, jira: JiraTracker) -> None:
    ticket = jira.get_ticket("SS-1")
    assert fake.calls == [("GET", "/rest/api/2/issue/SS-1"), ("GET", "/rest/api/2/field")]
    assert ticket.fields["Installer name"] == "Sunpeak"
    assert ticket.request_type == "Get IT help"
    assert ticket.status == "Waiting for support"
    assert ticket.reporter is not None and ticket.reporter.is_email(SUNPEAK)
    assert ticket.watchers is None  # not loaded
    mark = len(fake.calls)
    jira.get_ticket("SS-1")
    assert since(fake, mark) == [("GET", "/rest/api/2/issue/SS-1")]  # field catalog cached


def test_get_ticket_with_people_adds_only_the_watchers_call(fake: FakeJira, jira: JiraTracker) -> None:
    jira.get_ticket("SS-2")
    mark = len(fake.calls)
    ticket = jira.get_ticket("SS-1", with_people=True)
    assert since(fake, mark) == [("GET", "/rest/api/2/issue/SS-1"), ("GET", "/rest/api/2/issue/SS-1/watchers")]
    assert [w.email for w in ticket.watchers or ()] == [MARIA]
    assert [p.email for p in ticket.participants or ()] == [SUNPEAK]  # from the participants field


def test_get_ticket_with_people_and_no_participants_is_empty_not_unknown(jira: JiraTracker) -> None:
    assert jira.get_ticket("SS-2", with_people=True).participants == ()


def test_get_ticket_unknown_key_is_not_found(jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="SS-404"):
        jira.get_ticket("SS-404")


def test_find_user_is_cached_including_misses(fake: FakeJira, jira: JiraTracker) -> None:
    user = jira.find_user(MARIA.upper())
    assert user is not None and user.account_id == "acc-maria"
    assert jira.find_user("nobody@example.com") is None
    mark = len(fake.calls)
    assert jira.find_user(MARIA) == user
    assert jira.find_user("nobody@example.com") is None
    assert since(fake, mark) == []


def test_find_user_when_jira_hides_email_addresses(site: Site, slept: list[float]) -> None:
    with FakeJira(site, specs=load_specs(), hide_emails=True) as fake:
        user = JiraTracker(fake.base_url, EMAIL, TOKEN, sleep=slept.append).find_user(TOM)
    assert user is not None and user.account_id == "acc-tom" and user.is_email(TOM)


def test_search_updated_pages_through_matching_tickets(site: Site, slept: list[float]) -> None:
    with FakeJira(site, specs=load_specs(), page_size=1) as fake:
        jira = JiraTracker(fake.base_url, EMAIL, TOKEN, sleep=slept.append)
        fake.now += timedelta(hours=2)
        jira.add_internal_comment("SS-2", "touch")
        hits = jira.search_updated(["SS", "IT"], fake.now - timedelta(days=2))
        recent = jira.search_updated(["SS"], fake.now - timedelta(minutes=5))
        assert fake.violations == []
    assert [t.key for t in hits][-1] == "SS-2"  # oldest first, the touched one last
    assert {t.key for t in hits} == {"SS-1", "SS-2", "IT-1"}
    assert [t.key for t in recent] == ["SS-2"]
    assert fake.calls.count(("GET", "/rest/api/2/search/jql")) == 3 + 1  # paged one by one


# one edit for all field changes ---------------------------------------------------------------------
def _fields(key: str = "SS-1", **values: object) -> list:
    effects = {
        "option": lambda v: SetField(rule_id="r", ticket_key=key, step="opt", field="Needs Configuration?", value=v),
        "text": lambda v: SetField(rule_id="r", ticket_key=key, step="txt", field="Installer name", value=v),
        "org": lambda v: SetOrganization(rule_id="r", ticket_key=key, step="org", name=v),
        "request_type": lambda v: SetRequestType(rule_id="r", ticket_key=key, step="rt", name=v),
        "reporter": lambda v: SetReporter(rule_id="r", ticket_key=key, step="rep", email=v),
    }
    return [effects[name](value) for name, value in values.items()]


def test_all_field_changes_of_a_plan_go_out_in_one_edit(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", _fields(option="Integrated Finance", text="Sunpeak Solar LLC",
                                       org="Brightside Installers", request_type="Partner onboarding",
                                       reporter=MARIA))
    assert fake.writes == [("PUT", "/rest/api/2/issue/SS-1")]
    stored = fake.ticket("SS-1")
    assert fake.field("SS-1", "Needs Configuration?") == "Integrated Finance"
    assert fake.field("SS-1", "Installer name") == "Sunpeak Solar LLC"
    assert fake.organization_names("SS-1") == ["Brightside Installers"]
    assert fake.request_type_name("SS-1") == "Partner onboarding"
    assert stored.reporter == "acc-maria"
    ticket = jira.get_ticket("SS-1")
    assert (ticket.organizations, ticket.request_type) == (("Brightside Installers",), "Partner onboarding")
    assert ticket.fields["Needs Configuration?"] == "Integrated Finance"


def test_missing_organization_is_created_and_added_to_the_service_desk(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", _fields(org="Sunpeak Solar"))
    new_id = next(i for i, name in fake.organizations.items() if name == "Sunpeak Solar")
    assert new_id in fake.desk_organizations["2"]
    assert fake.organization_names("SS-1") == ["Sunpeak Solar"]
    assert fake.writes == [("POST", "/rest/servicedeskapi/organization"),
                           ("POST", "/rest/servicedeskapi/servicedesk/2/organization"),
                           ("PUT", "/rest/api/2/issue/SS-1")]


def test_existing_organization_off_the_desk_is_added_not_created(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", _fields(org="lonely org"))  # names match case-insensitively
    assert "2" in fake.desk_organizations["2"]
    assert list(fake.organizations.values()) == ["Brightside Installers", "Lonely Org"]
    assert fake.organization_names("SS-1") == ["Lonely Org"]


def test_organizations_are_found_across_pages(site: Site, slept: list[float]) -> None:
    with FakeJira(site, specs=load_specs(), page_size=1) as fake:
        JiraTracker(fake.base_url, EMAIL, TOKEN, sleep=slept.append).update_fields("SS-1", _fields(org="Lonely Org"))
        assert fake.organization_names("SS-1") == ["Lonely Org"]
        assert ("POST", "/rest/servicedeskapi/organization") not in fake.writes
        assert fake.violations == []


def test_request_type_by_name(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", _fields(request_type="partner ONBOARDING"))
    assert fake.request_type_name("SS-1") == "Partner onboarding"


def test_unknown_request_type_lists_the_known_ones(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no request type 'Nope'.*get it help"):
        jira.update_fields("SS-1", _fields(request_type="Nope"))
    assert fake.writes == []


def test_service_management_fields_need_a_service_desk(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="project IT has no service desk"):
        jira.update_fields("IT-1", _fields("IT-1", org="Brightside Installers"))
    assert fake.writes == []


def test_select_option_is_sent_by_its_exact_value(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", _fields(option="integrated payments"))
    assert fake.field("SS-1", "Needs Configuration?") == "Integrated Payments"


def test_multi_select_takes_a_list_of_options(fake: FakeJira, jira: JiraTracker) -> None:
    jira.update_fields("SS-1", [SetField(rule_id="r", ticket_key="SS-1", step="m", field="Modules",
                                         value=["Billing", "payroll"])])
    assert fake.field("SS-1", "Modules") == ["Billing", "Payroll"]


def test_unknown_option_is_a_clear_not_found_and_nothing_is_written(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound) as caught:
        jira.update_fields("SS-1", _fields(option="Integrated Coffee", text="x"))
    message = str(caught.value)
    assert "'Needs Configuration?'" in message and "'Integrated Coffee'" in message
    assert "Integrated Finance, Integrated Payments, None" in message
    assert fake.writes == []
    assert fake.field("SS-1", "Installer name") == "Sunpeak"


def test_unknown_field_is_not_found(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no field named 'Colour'"):
        jira.update_fields("SS-1", [SetField(rule_id="r", ticket_key="SS-1", step="c", field="Colour", value="red")])
    assert fake.writes == []


def test_unknown_reporter_is_not_found(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no user with e-mail 'ghost@example.com'"):
        jira.update_fields("SS-1", _fields(reporter="ghost@example.com"))
    assert fake.ticket("SS-1").reporter == "qm:sunpeak"


def test_jira_refusing_an_edit_is_a_tracker_error_with_its_reason(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(TrackerError, match="HTTP 400.*must be a string"):
        jira.update_fields("SS-1", [SetField(rule_id="r", ticket_key="SS-1", step="t", field="Installer name",
                                             value=["not", "text"])])


def test_second_identical_edit_does_no_lookups(fake: FakeJira, jira: JiraTracker) -> None:
    plan = _fields(option="None", org="Sunpeak Solar", request_type="Get IT help", reporter=MARIA)
    jira.update_fields("SS-1", plan)
    mark = len(fake.calls)
    jira.update_fields("SS-1", plan)
    assert since(fake, mark) == [("PUT", "/rest/api/2/issue/SS-1")]
    mark = len(fake.calls)
    jira.update_fields("SS-2", _fields("SS-2", option="None", org="Sunpeak Solar"))  # another ticket, same names
    assert since(fake, mark) == [("PUT", "/rest/api/2/issue/SS-2")]


# labels ------------------------------------------------------------------------------------------------
def test_labels_change_in_one_edit_with_the_update_verbs(fake: FakeJira, jira: JiraTracker) -> None:
    fake.ticket("SS-2").labels = ["old", "keep"]
    mark = len(fake.calls)
    jira.change_labels("SS-2", ["needs-triage", "vip"], ["old"])
    assert since(fake, mark) == [("PUT", "/rest/api/2/issue/SS-2")]
    assert fake.bodies[-1][2] == {"update": {"labels": [{"add": "needs-triage"}, {"add": "vip"}, {"remove": "old"}]}}
    assert fake.ticket("SS-2").labels == ["keep", "needs-triage", "vip"]  # a person's label stays
    assert jira.get_ticket("SS-2").labels == ("keep", "needs-triage", "vip")


@pytest.mark.parametrize(("label", "why"), [
    ("needs triage", "'needs triage' has a space: a Jira label is one word; write it with - or _ instead"),
    ("x" * 256, "a Jira label has at most 255 characters"),
    (" ", "a Jira label cannot be empty"),
])
def test_a_label_jira_would_refuse_is_rejected_before_any_call(fake: FakeJira, jira: JiraTracker, label: str,
                                                               why: str) -> None:
    mark = len(fake.calls)
    with pytest.raises(Rejected, match=re.escape(f"refused to call Jira: {why}")) as caught:
        jira.change_labels("SS-2", ["fine", label])
    assert caught.value.name == label
    assert since(fake, mark) == [] and fake.ticket("SS-2").labels == []


# other writes ------------------------------------------------------------------------------------------
def test_comment_is_internal(fake: FakeJira, jira: JiraTracker) -> None:
    comment_id = jira.add_internal_comment("SS-1", "Configuration ticket SS-2 created.")
    stored = fake.ticket("SS-1").comments
    assert [(c.id, c.body, c.internal) for c in stored] == [(comment_id, "Configuration ticket SS-2 created.", True)]
    assert [c.internal for c in jira.get_ticket("SS-1").comments] == [True]


def test_public_reply_posts_public_true_to_the_service_desk_comment_endpoint(fake: FakeJira,
                                                                             jira: JiraTracker) -> None:
    mark = len(fake.calls)
    comment_id = jira.add_public_reply("SS-1", "Your installer account is ready.")
    assert since(fake, mark) == [("POST", "/rest/servicedeskapi/request/SS-1/comment")]
    assert fake.bodies[-1] == ("POST", "/rest/servicedeskapi/request/SS-1/comment",
                               {"body": "Your installer account is ready.", "public": True})
    stored = fake.ticket("SS-1").comments
    assert [(c.id, c.body, c.internal, c.author) for c in stored] == [
        (comment_id, "Your installer account is ready.", False, fake.bot.account_id)]
    assert [c.internal for c in jira.get_ticket("SS-1").comments] == [False]


def test_public_reply_refuses_an_empty_body(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(Rejected, match="empty"):
        jira.add_public_reply("SS-1", "  ")
    assert fake.writes == [] and fake.ticket("SS-1").comments == []


def test_public_reply_of_an_unknown_request_is_not_found(jira: JiraTracker) -> None:
    with pytest.raises(NotFound):
        jira.add_public_reply("SS-99", "hello")


def test_add_public_reply_is_the_only_public_comment_path() -> None:
    comment_methods = sorted(name for name in dir(JiraTracker) if "comment" in name.lower() or "reply" in name.lower())
    assert comment_methods == ["add_internal_comment", "add_public_reply"]
    public = re.compile(r"""["']public["']\s*:\s*True""")
    assert len(public.findall(inspect.getsource(adapter_module))) == 1
    assert public.search(inspect.getsource(JiraTracker.add_public_reply))
    assert "is_internal=True" in inspect.getsource(JiraTracker.add_internal_comment)


def test_transition_by_target_status_name(fake: FakeJira, jira: JiraTracker) -> None:
    jira.transition("SS-1", "waiting for CUSTOMER")
    assert fake.ticket("SS-1").status == "Waiting for customer"
    assert fake.writes == [("POST", "/rest/api/2/issue/SS-1/transitions")]


def test_transition_to_an_unreachable_status_lists_the_targets(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no transition to 'Open'.*Closed, Waiting for customer"):
        jira.transition("SS-1", "Open")
    assert fake.writes == []


def test_transitions_are_read_each_time(fake: FakeJira, jira: JiraTracker) -> None:
    jira.transition("SS-1", "Waiting for customer")
    jira.transition("SS-1", "Waiting for support")
    assert fake.calls.count(("GET", "/rest/api/2/issue/SS-1/transitions")) == 2
    assert fake.ticket("SS-1").status == "Waiting for support"


def test_link_by_type_name(fake: FakeJira, jira: JiraTracker) -> None:
    jira.link("blocks", "SS-2", "SS-1")
    stored = fake.ticket("SS-1").links
    assert [(link.type_id, link.inward, link.outward) for link in stored] == [("10000", "SS-2", "SS-1")]
    assert jira.get_ticket("SS-1").links == (Link("Blocks", "SS-2", "SS-1"),)
    assert jira.get_ticket("SS-2").links == (Link("Blocks", "SS-2", "SS-1"),)
    mark = len(fake.calls)
    jira.link("Relates", "SS-1", "IT-1")
    assert since(fake, mark) == [("POST", "/rest/api/2/issueLink")]  # link types cached


def test_unknown_link_type_lists_the_known_ones(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no issue link type 'Clones'.*Blocks, Relates"):
        jira.link("Clones", "SS-1", "SS-2")
    assert fake.writes == []


def test_create_ticket_translates_fields_like_an_edit(fake: FakeJira, jira: JiraTracker) -> None:
    key = jira.create_ticket("SS", "Task", "Configure Sunpeak Solar", "Set up *finance*",
                             {"Needs Configuration?": "integrated finance", "Installer name": "Sunpeak",
                              "Organizations": "Sunpeak Solar", "Request Type": "Partner onboarding"})
    assert key == "SS-3"
    stored = fake.ticket(key)
    assert (stored.summary, stored.description, stored.issue_type) == ("Configure Sunpeak Solar", "Set up *finance*",
                                                                        "Task")
    assert fake.field(key, "Needs Configuration?") == "Integrated Finance"
    assert fake.field(key, "Installer name") == "Sunpeak"
    assert fake.organization_names(key) == ["Sunpeak Solar"]
    assert fake.request_type_name(key) == "Partner onboarding"
    assert fake.writes[-1] == ("POST", "/rest/api/2/issue")
    mark = len(fake.calls)
    jira.create_ticket("SS", "Task", "Again", "", {"Needs Configuration?": "None"})
    assert since(fake, mark) == [("POST", "/rest/api/2/issue")]  # nothing looked up twice


def test_create_ticket_validates_options_from_createmeta(fake: FakeJira, jira: JiraTracker) -> None:
    with pytest.raises(NotFound, match="no option 'Bogus'"):
        jira.create_ticket("SS", "Task", "x", "", {"Needs Configuration?": "Bogus"})
    assert ("GET", "/rest/api/2/issue/createmeta/SS/issuetypes") in fake.calls
    assert fake.writes == []


def test_create_ticket_in_unknown_project_is_a_tracker_error(jira: JiraTracker) -> None:
    with pytest.raises(TrackerError, match="valid project is required"):
        jira.create_ticket("NOPE", "Task", "x")


def test_add_watcher(fake: FakeJira, jira: JiraTracker) -> None:
    jira.add_watcher("SS-1", TOM)
    assert fake.ticket("SS-1").watchers == ["acc-maria", "acc-tom"]
    with pytest.raises(NotFound, match="ghost@example.com"):
        jira.add_watcher("SS-1", "ghost@example.com")


def test_remove_participant(fake: FakeJira, jira: JiraTracker) -> None:
    jira.remove_participant("SS-1", SUNPEAK)
    assert fake.ticket("SS-1").participants == []
    assert jira.get_ticket("SS-1", with_people=True).participants == ()


def test_remove_unknown_participant_writes_nothing(fake: FakeJira, jira: JiraTracker) -> None:
    jira.remove_participant("SS-1", "ghost@example.com")
    assert fake.writes == []
    assert fake.ticket("SS-1").participants == ["qm:sunpeak"]


# rate limits -------------------------------------------------------------------------------------------
def test_429_then_success_honours_retry_after(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    jira.find_user(TOM)  # so the throttled call is the write itself
    fake.throttle(1, status=429, retry_after="7")
    jira.add_watcher("SS-1", TOM)
    assert slept == [7.0]
    assert fake.ticket("SS-1").watchers == ["acc-maria", "acc-tom"]
    assert jira.calls[("POST", "/rest/api/2/issue/SS-1/watchers")] == 2
    assert jira.throttled == {("POST", "/rest/api/2/issue/SS-1/watchers"): 1}


def test_429_retries_are_bounded(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(10, status=429, retry_after="3")
    with pytest.raises(RateLimited, match="429.*gave up after 2 retries"):
        jira.get_ticket("SS-1")
    assert slept == [3.0, 3.0]
    assert fake.calls == [("GET", "/rest/api/2/issue/SS-1")] * 3
    assert jira.throttled == {("GET", "/rest/api/2/issue/SS-1"): 3}  # every 429 counts, the last one too


def test_a_gave_up_429_tells_how_long_jira_asked_to_wait(fake: FakeJira, jira: JiraTracker,
                                                         slept: list[float]) -> None:
    """The worker's next attempt waits at least that long (bot/inbox/workers.py)."""
    fake.throttle(10, status=429, retry_after="3")
    with pytest.raises(RateLimited) as raised:
        jira.get_ticket("SS-1")
    assert raised.value.retry_after == 3.0


def test_a_retry_after_longer_than_the_adapter_waits_fails_at_once(fake: FakeJira, jira: JiraTracker,
                                                                 slept: list[float]) -> None:
    fake.throttle(1, status=429, retry_after="600")
    with pytest.raises(RateLimited, match="asked to wait 600s") as raised:
        jira.get_ticket("SS-1")
    assert (raised.value.retry_after, slept) == (600.0, [])


def test_only_429_answers_count_as_throttled(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(2, status=503, retry_after="2")
    jira.get_ticket("SS-1")
    assert slept == [2.0, 2.0] and jira.throttled == {}
    fake.throttle(1, status=429, retry_after="1")
    jira.get_ticket("SS-1")
    assert sum(jira.throttled.values()) == 1


def test_503_with_retry_after_is_retried(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(2, status=503, retry_after="2")
    jira.transition("SS-1", "Closed")
    assert slept == [2.0, 2.0]
    assert fake.ticket("SS-1").status == "Closed"


def test_503_retries_are_bounded(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(3, status=503, retry_after="5")
    with pytest.raises(TrackerError, match="503.*gave up"):
        jira.add_internal_comment("SS-1", "hello")
    assert slept == [5.0, 5.0]
    assert fake.ticket("SS-1").comments == []


def test_503_without_retry_after_is_not_retried(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(1, status=503, retry_after=None)
    with pytest.raises(TrackerError, match="HTTP 503"):
        jira.add_internal_comment("SS-1", "hello")
    assert slept == []


def test_429_without_retry_after_backs_off(fake: FakeJira, jira: JiraTracker, slept: list[float]) -> None:
    fake.throttle(2, status=429, retry_after=None)
    jira.get_ticket("SS-1")
    assert slept == [1.0, 2.0]


def test_rate_limit_logs_never_show_credentials(fake: FakeJira, jira: JiraTracker,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.throttle(1)
    jira.get_ticket("SS-1")
    assert "retrying in 7.0s" in caplog.text
    assert TOKEN not in caplog.text and "Authorization" not in caplog.text


def test_field_catalog_is_read_once_and_names_every_field(fake: FakeJira, jira: JiraTracker) -> None:
    catalog = jira.field_catalog()
    assert catalog.name_for("customfield_10050") == "Needs Configuration?"
    assert {"Organizations", "Request Type", "Installer name"} <= set(catalog.names.values())
    assert jira.field_catalog() is catalog
    assert fake.calls.count(("GET", "/rest/api/2/field")) == 1


def test_http_calls_are_counted_per_method_and_path(jira: JiraTracker) -> None:
    jira.get_ticket("SS-1", with_people=True)
    assert jira.calls == {("GET", "/rest/api/2/issue/SS-1"): 1, ("GET", "/rest/api/2/field"): 1,
                          ("GET", "/rest/api/2/issue/SS-1/watchers"): 1}


# the fake's contract check -----------------------------------------------------------------------------
@pytest.mark.skipif(spec_skip_reason() is not None, reason=spec_skip_reason() or "")
def test_fake_rejects_requests_that_differ_from_the_spec(site: Site) -> None:
    with FakeJira(site, specs=load_specs()) as fake:
        client = JIRA(server=fake.base_url, basic_auth=(EMAIL, TOKEN), get_server_info=False, max_retries=0)
        with pytest.raises(Exception, match="transition/id: 31 is not of type 'string'"):
            client.transition_issue("SS-1", "31")  # the library sends the id as a number
        with pytest.raises(Exception, match="REST v2 wants a string"):
            client._session.post(f"{fake.base_url}/rest/api/2/issue/SS-1/comment",
                                 data='{"body": {"type": "doc", "version": 1, "content": []}}')
        assert len(fake.violations) == 2
        assert fake.ticket("SS-1").status == "Waiting for support"
        assert fake.ticket("SS-1").comments == []


@pytest.mark.skipif(spec_skip_reason() is not None, reason=spec_skip_reason() or "")
def test_every_adapter_operation_matches_the_spec(fake: FakeJira, jira: JiraTracker) -> None:
    jira.get_ticket("SS-1", with_people=True)
    jira.update_fields("SS-1", _fields(option="None", org="New Org", request_type="Get IT help", reporter=MARIA))
    jira.add_watcher("SS-1", TOM)
    jira.remove_participant("SS-1", SUNPEAK)
    jira.add_internal_comment("SS-1", "internal")
    jira.add_public_reply("SS-1", "public")
    jira.transition("SS-1", "Closed")
    jira.link("Relates", "SS-1", "SS-2")
    jira.create_ticket("SS", "Task", "x", "y", {"Modules": ["Billing"]})
    jira.search_updated(["SS"], datetime(2026, 1, 1, tzinfo=UTC))
    assert fake.violations == [] and fake.response_violations == []
    assert len({path for _, path in fake.calls}) >= 15
