"""ZendeskTracker against the stateful fake Zendesk: assertions are on the RESULTING ticket state.

No network (``responses`` answers every call) and no sleeping (zenpy's and time's sleep explode).
Every test also checks, on teardown, that all calls were operations of Zendesk's OpenAPI spec
with valid bodies (when ../shared is present).
"""

from __future__ import annotations

import inspect
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

import bot.trackers.zendesk.adapter as zendesk_module
from bot import effects as fx
from bot.clock import VirtualClock
from bot.executor import ALREADY, APPLIED, Executor
from bot.store import Store
from bot.trackers.base import NotFound, Rejected, Tracker, TrackerError
from bot.trackers.site import Site, SiteField, SiteOrganization, SiteServiceDesk, SiteTicket, SiteUser
from bot.trackers.zendesk.adapter import RateLimited, ZendeskSearcher, ZendeskTracker, link_tag, parse_site_url
from tests.fakes.fake_zendesk import FakeZendesk
from tests.support.sites import BOT, CUSTOMER, DAVID, ONBOARDING

TOKEN = "very-secret-api-token"
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def everbright_site() -> Site:
    """A Zendesk-flavoured EverBright site: SS (support) and CS (config) groups."""
    return Site(
        bot_account=SiteUser(account_id="500", email=BOT, display_name="ticketbot"),
        users=[
            SiteUser(account_id="501", email=DAVID, display_name="David Ellis"),
            SiteUser(account_id="qm:onboarding", email=ONBOARDING, display_name="EverBright Onboarding"),
            SiteUser(account_id="502", email="maria.lopez@goeverbright.com", display_name="Maria Lopez"),
            SiteUser(account_id="qm:sunpeak", email=CUSTOMER, display_name="Sunpeak Solar Ops"),
        ],
        fields=[
            SiteField(id="customfield_10050", name="Needs Configuration?", type="option",
                      options=["Integrated Finance", "Integrated Payments", "None"]),
            SiteField(id="customfield_10051", name="Installer name", type="text"),
            SiteField(id="customfield_10053", name="Products", type="options", options=["Solar", "Battery"]),
            SiteField(id="customfield_10002", name="Organizations", type="sd-organizations"),
        ],
        organizations=[SiteOrganization(id="700", name="Brightside Installers")],
        service_desks=[SiteServiceDesk(id="2", project="SS", request_types={
            "17": "Company-specific Data Change", "18": "Partner onboarding"})],
        tickets=[
            SiteTicket(key="101", summary="EverBright Partner Onboarding", description="Installer name: Sunpeak Solar",
                       reporter=CUSTOMER, participants=[CUSTOMER], watchers=["maria.lopez@goeverbright.com"],
                       request_type="Partner onboarding", fields={"Installer name": "Sunpeak Solar"}),
            SiteTicket(key="102", summary="Re: approval", reporter=DAVID, status="Open"),
            SiteTicket(key="103", summary="Old thing", reporter=DAVID, status="closed"),
            SiteTicket(key="CS-1", summary="Configure Brightside", reporter=DAVID, issue_type="Task"),
        ],
    )


@pytest.fixture(autouse=True)
def never_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """zenpy sleeps on 429 and in its proactive limiter; tests must never really wait."""
    def refuse(seconds: float) -> None:
        raise AssertionError(f"something really slept {seconds}s")
    monkeypatch.setattr("zenpy.lib.api.sleep", refuse)
    monkeypatch.setattr("time.sleep", refuse)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def fake(clock: VirtualClock):
    with FakeZendesk(everbright_site(), now=clock.now, groups=["Support"]) as fake:
        yield fake
        assert fake.violations == [], "calls outside Zendesk's Support API spec"
        assert fake.unimplemented == []


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def tracker(fake: FakeZendesk, clock: VirtualClock, slept: list[float]) -> ZendeskTracker:
    return ZendeskTracker(fake.url, BOT, TOKEN, sleep=slept.append, now=clock.now, max_retries=3)


def puts(fake: FakeZendesk, tid: int | str) -> int:
    return fake.calls.count(("PUT", f"/api/v2/tickets/{tid}.json"))


def field_value(fake: FakeZendesk, tid: int, title: str):
    fid = next(f["id"] for f in fake.fields.values() if f["title"] == title)
    return next(f["value"] for f in fake.ticket(tid)["custom_fields"] if f["id"] == fid)


# -- construction ---------------------------------------------------------------------------------

def test_is_a_tracker(tracker: ZendeskTracker) -> None:
    assert isinstance(tracker, Tracker)
    assert tracker.name == "zendesk"


@pytest.mark.parametrize("url", ["https://acme.zendesk.com", "https://acme.zendesk.com/agent/",
                                 "acme.zendesk.com", "acme"])
def test_parse_site_url_accepts_full_urls(url: str) -> None:
    assert parse_site_url(url) == ("acme", "zendesk.com")


def test_hands_zenpy_a_session_with_its_retries(fake: FakeZendesk, slept: list[float], clock: VirtualClock) -> None:
    session = requests.Session()
    tracker = ZendeskTracker(fake.url, BOT, TOKEN, session=session, sleep=slept.append, now=clock.now)
    fake.throttle(1, retry_after=3)
    assert tracker.get_ticket("102").summary == "Re: approval"
    assert slept == [3.0]
    assert tracker.session is session and session.auth == (f"{BOT}/token", TOKEN)  # zenpy's calls use it
    assert tracker.calls[("GET", "/api/v2/tickets/102.json")] == 2  # the 429 and the retry


def test_token_never_appears_in_errors_logs_or_repr(fake: FakeZendesk, tracker: ZendeskTracker,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.throttle(1, retry_after=1)
    tracker.get_ticket("101")
    with pytest.raises(TrackerError) as failure:
        tracker.transition("103", "open")
    assert TOKEN not in str(failure.value)
    assert TOKEN not in repr(tracker)
    assert TOKEN not in caplog.text



def test_network_failures_become_tracker_errors(fake: FakeZendesk, clock: VirtualClock, slept: list[float]) -> None:
    elsewhere = ZendeskTracker("https://other.zendesk.com", BOT, TOKEN, sleep=slept.append, now=clock.now)
    with pytest.raises(TrackerError, match="ConnectionError talking to Zendesk"):
        elsewhere.get_ticket("101")
    with pytest.raises(TrackerError, match="e-mail and an API token"):
        ZendeskTracker(fake.url, BOT, "")

# -- reads ----------------------------------------------------------------------------------------------

def test_get_ticket_maps_zendesk_onto_the_model(tracker: ZendeskTracker) -> None:
    ticket = tracker.get_ticket("101")
    assert (ticket.key, ticket.id, ticket.tracker) == ("101", "101", "zendesk")
    assert ticket.project == "zendesk"  # no group: the default project
    assert ticket.summary == "EverBright Partner Onboarding"
    assert ticket.description == "Installer name: Sunpeak Solar"
    assert ticket.status == "open"
    assert ticket.reporter is not None and ticket.reporter.is_email(CUSTOMER)
    assert ticket.request_type == "Partner onboarding"
    assert ticket.fields == {"Installer name": "Sunpeak Solar"}
    assert [(c.body, c.internal) for c in ticket.comments] == [("Installer name: Sunpeak Solar", False)]
    assert ticket.watchers is None and ticket.participants is None


def test_get_ticket_with_people_loads_followers_and_ccs(tracker: ZendeskTracker) -> None:
    ticket = tracker.get_ticket("101", with_people=True)
    assert [w.email for w in ticket.watchers or ()] == ["maria.lopez@goeverbright.com"]
    assert [p.email for p in ticket.participants or ()] == [CUSTOMER]


def test_project_is_the_group_name(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    ticket = tracker.get_ticket(str(fake.id_for("CS-1")))
    assert ticket.project == "CS"
    assert ticket.issue_type == "task"


def test_unknown_and_malformed_keys_are_not_found(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    with pytest.raises(NotFound):
        tracker.get_ticket("999")
    calls = len(fake.calls)
    with pytest.raises(NotFound, match="ticket id"):
        tracker.get_ticket("SS-1")
    assert len(fake.calls) == calls  # refused before any HTTP


def test_find_user_searches_once_and_caches_misses(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    david = tracker.find_user("David.Ellis@goeverbright.com")
    assert david is not None and david.display_name == "David Ellis" and david.account_id == "501"
    assert tracker.find_user(DAVID) == david
    assert tracker.find_user("nobody@example.com") is None
    assert tracker.find_user("nobody@example.com") is None
    assert fake.calls.count(("GET", "/api/v2/users/search.json")) == 2


# -- field changes ----------------------------------------------------------------------------------------

def test_a_multi_field_plan_is_one_ticket_update(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    plan = [
        fx.SetField(rule_id="r", ticket_key="101", step="f1", field="Needs Configuration?", value="Integrated Finance"),
        fx.SetField(rule_id="r", ticket_key="101", step="f2", field="Installer name", value="Sunpeak Solar Inc"),
        fx.SetReporter(rule_id="r", ticket_key="101", step="rep", email=ONBOARDING),
        fx.SetOrganization(rule_id="r", ticket_key="101", step="org", name="Sunpeak Solar"),
        fx.SetRequestType(rule_id="r", ticket_key="101", step="rt", name="Company-specific Data Change"),
    ]
    tracker.update_fields("101", plan)

    assert puts(fake, 101) == 1
    stored = fake.ticket(101)
    assert field_value(fake, 101, "Needs Configuration?") == "integrated_finance"
    assert "integrated_finance" in stored["tags"]  # Zendesk adds the option's tag
    assert field_value(fake, 101, "Installer name") == "Sunpeak Solar Inc"
    assert stored["requester_id"] == fake.user_id(ONBOARDING)
    org = fake.organization("Sunpeak Solar")
    assert org is not None and stored["organization_id"] == org["id"]
    assert (fake.user_id(ONBOARDING), org["id"]) in fake.memberships
    assert fake.calls.count(("POST", "/api/v2/organizations.json")) == 1
    assert fake.forms[stored["ticket_form_id"]]["name"] == "Company-specific Data Change"

    ticket = tracker.get_ticket("101")
    assert ticket.fields["Needs Configuration?"] == "Integrated Finance"
    assert ticket.organizations == ("Sunpeak Solar",)
    assert ticket.request_type == "Company-specific Data Change"


def test_existing_organization_is_reused(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.update_fields("102", [fx.SetOrganization(rule_id="r", ticket_key="102", step="o",
                                                  name="brightside installers")])
    assert fake.ticket(102)["organization_id"] == 700
    assert ("POST", "/api/v2/organizations.json") not in fake.calls
    # the requester already belonging to it is fine (Zendesk answers 422, the adapter moves on)
    tracker.update_fields("102", [fx.SetOrganization(rule_id="r", ticket_key="102", step="o",
                                                  name="Brightside Installers")])
    assert puts(fake, 102) == 2


def test_dropdown_takes_option_value_too(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.update_fields("102", [fx.SetField(rule_id="r", ticket_key="102", step="f", field="needs configuration?",
                                           value="integrated_payments")])
    assert field_value(fake, 102, "Needs Configuration?") == "integrated_payments"
    tracker.update_fields("102", [fx.SetField(rule_id="r", ticket_key="102", step="f", field="Needs Configuration?",
                                           value="None")])
    tags = fake.ticket(102)["tags"]
    assert "none" in tags and "integrated_payments" not in tags


def test_unknown_option_and_field_fail_clearly_before_writing(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    with pytest.raises(NotFound, match=r"options: 'Integrated Finance', 'Integrated Payments', 'None'"):
        tracker.update_fields("101", [fx.SetField(rule_id="r", ticket_key="101", step="f",
                                               field="Needs Configuration?", value="Solar panels")])
    with pytest.raises(NotFound, match="'Installer name'"):
        tracker.update_fields("101", [fx.SetField(rule_id="r", ticket_key="101", step="f", field="Colour", value=1)])
    with pytest.raises(NotFound, match="no Zendesk user"):
        tracker.update_fields(
            "101", [fx.SetReporter(rule_id="r", ticket_key="101", step="r", email="ghost@example.com")]
        )
    with pytest.raises(NotFound, match="Partner onboarding"):
        tracker.update_fields("101", [fx.SetRequestType(rule_id="r", ticket_key="101", step="t", name="Nope")])
    assert fake.writes() == []


def test_multiselect_and_system_fields(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.update_fields("102", [
        fx.SetField(rule_id="r", ticket_key="102", step="p", field="Products", value=["Solar", "battery"]),
        fx.SetField(rule_id="r", ticket_key="102", step="q", field="Priority", value="High"),
        fx.SetField(rule_id="r", ticket_key="102", step="g", field="Group", value="CS"),
        fx.SetField(rule_id="r", ticket_key="102", step="s", field="Subject", value="Approval for Sunpeak"),
    ])
    stored = fake.ticket(102)
    assert puts(fake, 102) == 1
    assert field_value(fake, 102, "Products") == ["solar", "battery"]
    assert (stored["priority"], stored["subject"]) == ("high", "Approval for Sunpeak")
    assert fake.groups[stored["group_id"]]["name"] == "CS"
    ticket = tracker.get_ticket("102")
    assert ticket.fields["Products"] == ["Solar", "Battery"]
    assert ticket.project == "CS"


# -- people, comments, statuses -------------------------------------------------------------------------------

def test_add_watcher_makes_a_follower(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.add_watcher("101", DAVID)
    assert fake.user_id(DAVID) in fake.ticket(101)["follower_ids"]
    with pytest.raises(NotFound):
        tracker.add_watcher("101", "ghost@example.com")


def test_remove_participant_takes_them_off_the_ccs(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.remove_participant("101", CUSTOMER)
    stored = fake.ticket(101)
    assert fake.user_id(CUSTOMER) not in stored["email_cc_ids"]
    assert stored["follower_ids"] == [fake.user_id("maria.lopez@goeverbright.com")]  # watchers stay
    writes = len(fake.writes())
    tracker.remove_participant("101", "ghost@example.com")  # no such user: nothing to remove
    assert len(fake.writes()) == writes


def test_internal_comment_is_not_public(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    comment_id = tracker.add_internal_comment("101", "@David Ellis: approved to push live?")
    stored = fake.ticket(101)["comments"][-1]
    assert stored["public"] is False
    assert str(stored["id"]) == comment_id
    assert stored["author_id"] == fake.bot_id
    sent = fake.requests[-1].body
    assert sent["ticket"]["comment"] == {"body": "@David Ellis: approved to push live?", "public": False}
    with pytest.raises(TrackerError, match="empty"):
        tracker.add_internal_comment("101", "   ")


def test_public_reply_is_public(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    before = puts(fake, 101)
    comment_id = tracker.add_public_reply("101", "Your installer account is ready.")
    assert puts(fake, 101) == before + 1
    sent = fake.requests[-1].body
    assert sent["ticket"]["comment"] == {"body": "Your installer account is ready.", "public": True}
    stored = fake.ticket(101)["comments"][-1]
    assert (str(stored["id"]), stored["body"], stored["public"], stored["author_id"]) == (
        comment_id, "Your installer account is ready.", True, fake.bot_id)
    last = tracker.get_ticket("101").comments[-1]
    assert (last.body, last.internal) == ("Your installer account is ready.", False)
    writes = len(fake.writes())
    with pytest.raises(Rejected, match="empty"):
        tracker.add_public_reply("101", "   ")
    assert len(fake.writes()) == writes


def test_add_public_reply_is_the_only_public_comment_code_path(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    public = re.compile(r"""["']public["']\s*:\s*True|public\s*=\s*True""")
    assert len(public.findall(inspect.getsource(zendesk_module))) == 1
    assert public.search(inspect.getsource(zendesk_module._public_reply))
    callers = [name for name, member in inspect.getmembers(ZendeskTracker, inspect.isfunction)
               if re.search(r"(?<!\w)_public_reply\(", inspect.getsource(member))]
    assert callers == ["add_public_reply"]
    tracker.add_internal_comment("102", "note")
    tracker.link("Relates", "101", "102")
    new = tracker.create_ticket("CS", "Task", "Configure Sunpeak", "Products: Solar")
    for tid in (101, 102, int(new)):
        assert [c["public"] for c in fake.ticket(tid)["comments"] if c["author_id"] == fake.bot_id] != []
        assert all(c["public"] is False for c in fake.ticket(tid)["comments"] if c["author_id"] == fake.bot_id)


@pytest.mark.parametrize(("asked", "stored"), [("solved", "solved"), ("On-hold", "hold"), ("Pending", "pending")])
def test_transition_sets_the_status(tracker: ZendeskTracker, fake: FakeZendesk, asked: str, stored: str) -> None:
    tracker.transition("102", asked)
    assert fake.ticket(102)["status"] == stored
    assert tracker.get_ticket("102").status == stored


def test_unknown_status_is_not_found_and_closed_tickets_refuse(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    with pytest.raises(NotFound, match="new, open, pending, hold, solved, closed"):
        tracker.transition("102", "Waiting for support")
    assert fake.writes() == []
    with pytest.raises(TrackerError, match="422"):
        tracker.transition("103", "open")
    assert fake.ticket(103)["status"] == "closed"


# -- links and new tickets --------------------------------------------------------------------------------------

def test_link_records_a_tag_and_internal_note_on_both(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.link("Duplicate", "102", "101")
    tag = link_tag("Duplicate", 102, 101)
    for tid, other in ((101, 102), (102, 101)):
        stored = fake.ticket(tid)
        assert tag in stored["tags"]
        assert stored["comments"][-1]["public"] is False
        assert f"#{other}" in stored["comments"][-1]["body"]
    assert fake.ticket(102)["status"] == "open"  # linking never closes
    links = tracker.get_ticket("101").links
    assert [(link.type, link.inward_key, link.outward_key) for link in links] == [("duplicate", "102", "101")]


def test_problem_link_uses_zendesk_problem_and_incident(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    tracker.link("Problem", "102", "101")
    assert fake.ticket(101)["type"] == "problem"
    assert (fake.ticket(102)["type"], fake.ticket(102)["problem_id"]) == ("incident", 101)
    assert tracker.get_ticket("102").links[0].outward_key == "101"


def test_create_ticket_in_a_group(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    key = tracker.create_ticket("CS", "Task", "Configure Sunpeak Solar", "Enable Integrated Finance",
                                {"Needs Configuration?": "Integrated Finance", "Installer name": "Sunpeak"})
    stored = fake.ticket(key)
    assert fake.groups[stored["group_id"]]["name"] == "CS"
    assert (stored["subject"], stored["type"], stored["description"]) == (
        "Configure Sunpeak Solar", "task", "Enable Integrated Finance")
    assert stored["comments"][0]["public"] is False
    assert field_value(fake, int(key), "Needs Configuration?") == "integrated_finance"
    ticket = tracker.get_ticket(key)
    assert (ticket.project, ticket.key) == ("CS", key)


def test_create_ticket_default_project_and_errors(tracker: ZendeskTracker, fake: FakeZendesk) -> None:
    key = tracker.create_ticket("zendesk", "", "No group")
    assert fake.ticket(key)["group_id"] is None
    assert fake.ticket(key)["description"] == "No group"
    with pytest.raises(NotFound, match="'CS', 'SS', 'Support'"):
        tracker.create_ticket("Config", "Task", "x")
    with pytest.raises(NotFound, match="question, incident, problem, task"):
        tracker.create_ticket("CS", "Service Request", "x")


# -- rate limits -----------------------------------------------------------------------------------------------------

def test_429_retry_after_goes_to_the_injected_sleep(tracker: ZendeskTracker, fake: FakeZendesk,
                                                    slept: list[float]) -> None:
    fake.throttle(2, retry_after=7)
    tracker.transition("102", "pending")
    assert slept == [7.0, 7.0]
    assert fake.ticket(102)["status"] == "pending"
    assert tracker.calls[("PUT", "/api/v2/tickets/102.json")] == 3
    assert tracker.throttled == {("PUT", "/api/v2/tickets/102.json"): 2}


def test_429_retries_are_bounded(tracker: ZendeskTracker, fake: FakeZendesk, slept: list[float]) -> None:
    fake.throttle(50, retry_after=2)
    with pytest.raises(RateLimited, match="after 3 retries"):
        tracker.transition("102", "pending")
    assert slept == [2.0, 2.0, 2.0]
    assert fake.calls.count(("PUT", "/api/v2/tickets/102.json")) == 4
    assert fake.ticket(102)["status"] == "open"


def test_too_long_a_retry_after_is_not_waited_for(fake: FakeZendesk, clock: VirtualClock, slept: list[float]) -> None:
    tracker = ZendeskTracker(fake.url, BOT, TOKEN, sleep=slept.append, now=clock.now, max_retry_after=60)
    fake.throttle(1, retry_after=3600)
    with pytest.raises(RateLimited, match="3600s"):
        tracker.get_ticket("101")
    assert slept == []


# -- incremental export ---------------------------------------------------------------------------------------------

def test_search_updated_respects_the_lag_and_follows_the_cursor(fake: FakeZendesk, clock: VirtualClock,
                                                                slept: list[float]) -> None:
    tracker = ZendeskTracker(fake.url, BOT, TOKEN, sleep=slept.append, now=clock.now)
    fake.export_page_size = 2
    for tid in fake.tickets:  # seeded tickets: old news
        fake.tickets[tid]["updated_at"] = "2025-12-01T00:00:00Z"
    first = fake.add_ticket("one", updated_at=START - timedelta(minutes=10))
    second = fake.add_ticket("two", updated_at=START - timedelta(minutes=5))
    third = fake.add_ticket("three", updated_at=START - timedelta(minutes=3))
    fake.add_ticket("too fresh", updated_at=START - timedelta(seconds=20))

    tickets, cursor = tracker.search_updated(START)  # asks for "now": clamped to now - 60 s
    asked = [r for r in fake.requests if r.path.startswith("/api/v2/incremental/")]
    assert asked[0].query["start_time"] == [str(int((START - timedelta(seconds=60)).timestamp()))]
    assert tickets == [] and cursor

    tickets, cursor = tracker.search_updated(START - timedelta(hours=1))
    assert [t.key for t in tickets] == [str(first), str(second), str(third)]  # two pages followed
    assert {t.summary for t in tickets} == {"one", "two", "three"}

    clock.advance(timedelta(minutes=2))
    tracker.transition("102", "pending")
    clock.advance(timedelta(minutes=2))
    tickets, cursor = tracker.search_updated(START - timedelta(hours=1), cursor=cursor)
    assert [t.summary for t in tickets] == ["too fresh", "Re: approval"]
    assert tickets[1].status == "pending"
    cursor_calls = [r for r in fake.requests if r.path.startswith("/api/v2/incremental/") and "cursor" in r.query]
    assert cursor_calls and all("start_time" not in r.query for r in cursor_calls)


# -- tags -------------------------------------------------------------------------------------------------------------

def test_tags_are_added_and_removed_through_the_tags_endpoints(fake: FakeZendesk, tracker: ZendeskTracker) -> None:
    fake.tickets[102]["tags"] = ["old", "keep"]
    mark = len(fake.requests)
    tracker.change_labels("102", ["Needs-Triage", "vip"], ["OLD"])  # Zendesk keeps tags lower-case: so do we
    assert [(r.method, r.path, r.body) for r in fake.requests[mark:]] == [
        ("PUT", "/api/v2/tickets/102/tags.json", {"tags": ["needs-triage", "vip"]}),
        ("DELETE", "/api/v2/tickets/102/tags.json", {"tags": ["old"]})]
    assert fake.ticket(102)["tags"] == ["keep", "needs-triage", "vip"]
    assert tracker.get_ticket("102").labels == ("keep", "needs-triage", "vip")
    tracker.change_labels("102", remove=["vip"])
    assert fake.ticket(102)["tags"] == ["keep", "needs-triage"]


def test_a_tag_with_a_space_is_rejected_not_split(fake: FakeZendesk, tracker: ZendeskTracker) -> None:
    mark = len(fake.requests)
    with pytest.raises(Rejected, match=r"'needs triage' has a space: a Zendesk tag is one word \(Zendesk would split "
                                       r"it into several tags\)"):
        tracker.change_labels("102", ["needs triage"])
    assert fake.requests[mark:] == [] and fake.ticket(102)["tags"] == []


def test_the_executor_changes_tags_once(fake: FakeZendesk, tracker: ZendeskTracker, clock: VirtualClock) -> None:
    plan = [fx.ChangeLabels(rule_id="eb", ticket_key="102", step="tags", add=("ticketbot-urgent",), remove=("x",))]
    fake.tickets[102]["tags"] = ["x"]
    (outcome,) = Executor(tracker, Store("sqlite://"), clock, scope="zendesk").apply(plan)
    assert (outcome.status, outcome.detail) == (APPLIED, "labels +ticketbot-urgent -x")
    writes = len(fake.writes())
    (again,) = Executor(tracker, Store("sqlite://"), clock, scope="zendesk").apply(plan)  # only the ticket can tell
    assert (again.status, again.detail) == (ALREADY, "already true on the ticket")
    assert len(fake.writes()) == writes and fake.ticket(102)["tags"] == ["ticketbot-urgent"]


# -- through the executor ---------------------------------------------------------------------------------------------

def test_executor_applies_a_runbook_plan_once(fake: FakeZendesk, tracker: ZendeskTracker,
                                              clock: VirtualClock) -> None:
    plan = [
        fx.SetField(rule_id="eb", ticket_key="101", step="needs-config", field="Needs Configuration?",
                 value="Integrated Finance"),
        fx.SetReporter(rule_id="eb", ticket_key="101", step="reporter", email=ONBOARDING),
        fx.SetOrganization(rule_id="eb", ticket_key="101", step="org", name="Sunpeak Solar"),
        fx.SetRequestType(rule_id="eb", ticket_key="101", step="rt", name="Company-specific Data Change"),
        fx.AddWatcher(rule_id="eb", ticket_key="101", step="watch-david", email=DAVID),
        fx.RemoveParticipant(rule_id="eb", ticket_key="101", step="no-customer", email=CUSTOMER),
        fx.InternalComment(rule_id="eb", ticket_key="101", step="ask", body="David, approved to push live?"),
        fx.Transition(rule_id="eb", ticket_key="101", step="hold", status="hold"),
        fx.LinkTickets(rule_id="eb", ticket_key="101", step="link", link_type="Relates", inward_key="101",
                    outward_key="102"),
    ]
    outcomes = Executor(tracker, Store("sqlite://"), clock, scope="zendesk").apply(plan)
    assert [o.status for o in outcomes] == [APPLIED] * len(plan), [o.detail for o in outcomes]
    assert puts(fake, 101) == 6  # fields (1) + watcher + CC + comment + status + link note

    # A fresh store: only the ticket's state can say "already done"; nothing is written again.
    writes = len(fake.writes())
    again = Executor(tracker, Store("sqlite://"), clock, scope="zendesk").apply(plan)
    assert [o.status for o in again] == [ALREADY] * len(plan), [o.detail for o in again]
    assert len(fake.writes()) == writes


# -- the fake itself ------------------------------------------------------------------------------------

def test_fake_refuses_calls_outside_the_spec(fake: FakeZendesk) -> None:
    if not fake.spec_checked:
        pytest.skip("../shared/contracts/zendesk is absent: calls are not checked against Zendesk's OpenAPI spec")
    import requests

    auth = (f"{BOT}/token", TOKEN)
    assert requests.get(f"{fake.url}/api/v2/tickets/101/links.json", auth=auth).status_code == 400
    assert requests.put(f"{fake.url}/api/v2/tickets/101.json", auth=auth,
                        json={"ticket": {"status": "waiting"}}).status_code == 400
    assert requests.put(f"{fake.url}/api/v2/tickets/101.json", auth=auth,
                        json={"ticket": {"custom_fields": [{"value": "x"}]}}).status_code == 400
    assert len(fake.violations) == 3
    assert fake.ticket(101)["status"] == "open"
    fake.violations.clear()


def test_fake_makes_a_comment_without_public_flag_public(fake: FakeZendesk) -> None:
    """Why the adapter always sends ``public: false``: Zendesk's default is a public reply."""
    import requests

    answer = requests.put(f"{fake.url}/api/v2/tickets/102.json", auth=(f"{BOT}/token", TOKEN),
                          json={"ticket": {"comment": {"body": "hello customer"}}})
    assert answer.status_code == 200
    assert fake.ticket(102)["comments"][-1]["public"] is True


def test_searcher_fits_the_poller_and_keeps_the_cursor(fake: FakeZendesk, clock: VirtualClock,
                                                       slept: list[float]) -> None:
    searcher = ZendeskSearcher(ZendeskTracker(fake.url, BOT, TOKEN, sleep=slept.append, now=clock.now))
    assert [t.summary for t in searcher.search_updated(["CS"], START - timedelta(hours=1))] == []  # too fresh
    clock.advance(timedelta(minutes=2))
    assert [t.summary for t in searcher.search_updated(["cs"], START - timedelta(hours=1))] == ["Configure Brightside"]
    assert searcher.cursor
    clock.advance(timedelta(minutes=2))
    assert searcher.search_updated(["CS", "zendesk"], START) == []  # nothing changed after the cursor
    assert "start_time" not in fake.requests[-1].query
