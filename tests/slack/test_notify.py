"""SlackNotifier against the fake Slack Web API: DMs by e-mail, channels, buttons, 429, secrets."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from bot.clock import VirtualClock
from bot.config import RuleBlock
from bot.effects import SlackMessage
from bot.engine import BoundRule, Evaluation, Rule
from bot.executor import APPLIED
from bot.model import TICKET_CREATED, Event, Ticket
from bot.pipeline import Processor
from bot.replay import RecordingNotifier
from bot.settings import ConfigurationError, Settings, SlackSettings
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.slack.notifier import Notifier, NotifyError, Posted
from bot.slack.sender import SlackNotifier
from bot.store import Store
from bot.trackers.memory import MemoryTracker
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import ADMIN, APPROVER
from tests.support.daemon import onboarding_site


def message(**kwargs: object) -> SlackMessage:
    fields = {"rule_id": "everbright_onboarding", "ticket_key": "ONB-12", "step": "nudge",
              "text": "ONB-12 waits for your approval"} | kwargs
    return SlackMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def notifier(slack_settings: Settings, slept: list[float]) -> SlackNotifier:
    return SlackNotifier.from_settings(slack_settings.slack, sleep=slept.append)


def test_it_is_a_notifier(notifier: SlackNotifier) -> None:
    assert isinstance(notifier, Notifier)  # structural: send + alert


def test_a_dm_by_email_looks_the_person_up_once(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    first = notifier.send(message(user_email="Approver@ACME.test"))
    second = notifier.send(message(user_email="approver@acme.test", step="nudge_again"))

    assert [m["ts"] for m in fake_slack.dm(APPROVER)] == [first.ts, second.ts]
    assert fake_slack.dm(APPROVER)[0]["text"] == "ONB-12 waits for your approval"
    assert fake_slack.count("users.lookupByEmail") == 1
    assert notifier.calls == Counter({"users.lookupByEmail": 1, "chat.postMessage": 2, "auth.test": 1})


def test_a_dm_by_slack_id_needs_no_lookup(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    notifier.send(message(slack_user=ADMIN, user_email="ignored@acme.test"))
    assert len(fake_slack.dm(ADMIN)) == 1
    assert notifier.calls == Counter({"chat.postMessage": 1, "auth.test": 1})  # auth.test: the permalink


def test_nobody_with_that_email_is_a_clear_error(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    with pytest.raises(NotifyError, match="no Slack user has the e-mail address ghost@acme.test"):
        notifier.send(message(user_email="ghost@acme.test"))
    assert fake_slack.messages == {}


def test_a_message_without_recipient_is_refused(notifier: SlackNotifier) -> None:
    with pytest.raises(NotifyError, match="has no channel, Slack user or e-mail address"):
        notifier.send(message())


def test_a_channel_message_and_an_unknown_channel(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    notifier.send(message(channel="CADMIN"))
    assert len(fake_slack.in_channel("CADMIN")) == 1
    with pytest.raises(NotifyError, match="chat.postMessage failed: channel_not_found") as failure:
        notifier.send(message(channel="CNOWHERE"))
    assert failure.value.code == "channel_not_found"


def test_actions_render_approve_and_reject_buttons_valued_with_the_ticket_key(
        notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    notifier.send(message(slack_user=APPROVER, actions=("approve", "reject")))

    [posted] = fake_slack.dm(APPROVER)
    section, actions = posted["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": "ONB-12 waits for your approval"}
    assert [(b["action_id"], b["value"], b["style"]) for b in actions["elements"]] == [
        (APPROVE_ACTION, "ONB-12", "primary"), (REJECT_ACTION, "ONB-12", "danger")]
    assert posted["text"] == "ONB-12 waits for your approval"  # the notification fallback


def test_an_action_without_a_listener_is_a_programming_error(notifier: SlackNotifier) -> None:
    with pytest.raises(ValueError, match="unknown Slack actions"):
        notifier.send(message(slack_user=APPROVER, actions=("approve", "escalate")))


def test_message_text_is_escaped(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    notifier.send(message(channel="CADMIN", text="Summary: <!channel> & <@U0CEO>"))
    assert fake_slack.in_channel("CADMIN")[0]["text"] == "Summary: &lt;!channel&gt; &amp; &lt;@U0CEO&gt;"


def test_alert_goes_to_the_admin_channel(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    notifier.alert("rule nudge_approver paused: 200 tickets in an hour")
    assert [m["text"] for m in fake_slack.in_channel("CADMIN")] == [
        "rule nudge_approver paused: 200 tickets in an hour"]


def test_alert_without_admin_channel_only_logs(fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SlackNotifier.from_settings(SlackSettings(bot_token=fake_slack.token, api_url=fake_slack.base_url))
    with caplog.at_level(logging.WARNING, logger="bot.slack.sender"):
        notifier.alert("something odd")
    assert "something odd" in caplog.text and "TICKETBOT_SLACK__ADMIN_CHANNEL" in caplog.text
    assert notifier.calls == Counter() and fake_slack.hits == []


def test_429_is_waited_out_through_the_injected_sleep(notifier: SlackNotifier, fake_slack: FakeSlack,
                                                      slept: list[float]) -> None:
    fake_slack.rate_limit(2, retry_after=7)
    sent = notifier.send(message(channel="CADMIN"))
    assert sent.ts == fake_slack.in_channel("CADMIN")[0]["ts"]
    assert slept == [7.0, 7.0]
    assert fake_slack.count("chat.postMessage") == notifier.calls["chat.postMessage"] == 3
    assert notifier.throttled == 2


def test_429_retries_are_bounded(slack_settings: Settings, fake_slack: FakeSlack, slept: list[float]) -> None:
    notifier = SlackNotifier.from_settings(slack_settings.slack, sleep=slept.append, max_retries=2)
    fake_slack.rate_limit(10, retry_after=1)
    with pytest.raises(NotifyError, match="rate limited") as failure:
        notifier.send(message(channel="CADMIN"))
    assert (failure.value.code, failure.value.retry_after) == ("ratelimited", 1.0)
    assert slept == [1.0, 1.0]
    assert fake_slack.count("chat.postMessage") == notifier.calls["chat.postMessage"] == 3
    assert notifier.throttled == 3


def test_a_long_retry_after_is_not_slept_but_reported(notifier: SlackNotifier, fake_slack: FakeSlack,
                                                      slept: list[float]) -> None:
    fake_slack.rate_limit(1, retry_after=120)
    with pytest.raises(NotifyError) as failure:
        notifier.send(message(channel="CADMIN"))
    assert (slept, failure.value.retry_after, notifier.throttled) == ([], 120.0, 1)


def test_people_by_email_and_by_id(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UHIDDEN", "hidden@acme.test", "Hidden Email", email_visible=False)
    assert notifier.slack_id_for("approver@acme.test") == APPROVER
    assert notifier.slack_id_for("nobody@acme.test") is None
    assert notifier.email_for(ADMIN) == "admin@acme.test"
    assert notifier.email_for("UHIDDEN") is None
    assert notifier.email_for("UGONE") is None
    assert notifier.email_for(APPROVER) == "approver@acme.test"  # known from the look-up: no call
    assert fake_slack.count("users.info") == 3


def test_the_token_is_never_logged_nor_in_errors(fake_slack: FakeSlack, slack_settings: Settings,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    wrong = SlackNotifier.from_settings(SlackSettings(bot_token="xoxb-wrong-secret-token", api_url=fake_slack.base_url))
    right = SlackNotifier.from_settings(slack_settings.slack)
    with caplog.at_level(logging.DEBUG):
        right.send(message(user_email="approver@acme.test"))
        with pytest.raises(NotifyError) as failure:
            wrong.send(message(channel="CADMIN"))
    assert failure.value.code == "invalid_auth"
    assert "xoxb-wrong-secret-token" not in str(failure.value)
    assert caplog.records  # slack_sdk did log at DEBUG
    assert fake_slack.token not in caplog.text and "xoxb-wrong-secret-token" not in caplog.text


def test_no_bot_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TICKETBOT_SLACK__BOT_TOKEN"):
        SlackNotifier.from_settings(SlackSettings())


def test_an_undeliverable_alert_is_logged_not_raised(fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SlackNotifier.from_settings(SlackSettings(bot_token=fake_slack.token, api_url=fake_slack.base_url,
                                                         admin_channel="CGONE"))
    with caplog.at_level(logging.ERROR, logger="bot.slack.sender"):
        notifier.alert("worker 3 crashed")
    assert "alert to CGONE not delivered (Slack chat.postMessage failed: channel_not_found): worker 3 crashed" \
        in caplog.text


# finding a message that was sent before its record -----------------------------------------------------
def test_every_message_carries_its_effects_marker_invisibly(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    plain, decision = message(user_email="approver@acme.test"), message(slack_user=APPROVER, step="ask",
                                                                         actions=("approve",))
    notifier.send(plain)
    notifier.send(decision)
    sent = fake_slack.dm(APPROVER)
    assert [b["block_id"] for b in sent[0]["blocks"]] == [f"ticketbot_text:{plain.marker}"]
    assert sent[1]["blocks"][0]["block_id"] == f"ticketbot_text:{decision.marker}"
    assert sent[0]["text"] == "ONB-12 waits for your approval"  # what people read is unchanged
    assert plain.marker != decision.marker


def test_find_sent_looks_in_the_conversation_for_the_marker(notifier: SlackNotifier, fake_slack: FakeSlack) -> None:
    first, other = message(user_email="approver@acme.test"), message(user_email="approver@acme.test", step="n2")
    sent = notifier.send(first)
    assert notifier.find_sent(first) == sent  # a DM: conversations.open, then its history
    assert sent.channel == fake_slack.dm_channel(APPROVER)
    assert notifier.find_sent(other) is None
    to_channel = message(channel="CADMIN", step="channel")
    assert notifier.find_sent(to_channel) is None
    assert notifier.find_sent(to_channel) is None
    in_channel = notifier.send(to_channel)
    assert notifier.find_sent(to_channel) == in_channel
    assert fake_slack.count("conversations.history") == 5


def test_a_crash_between_the_send_and_its_record_does_not_send_twice(notifier: SlackNotifier, fake_slack: FakeSlack,
                                                                      tmp_path) -> None:
    """The executor notes the send before making it; a retry that finds the note and no record asks
    Slack's history for the marker instead of sending again."""
    from datetime import UTC, datetime

    from bot.clock import VirtualClock
    from bot.executor import ALREADY, APPLIED, Executor
    from bot.store import LIVE, Store
    from bot.trackers.memory import MemoryTracker
    from tests.support.daemon import onboarding_site

    class Crash(BaseException):
        pass

    class CrashingStore(Store):
        """Dies right after Slack answered, before the message's record is written."""

        def record_applied(self, **kwargs) -> None:
            if kwargs["outcome"] == APPLIED and kwargs["kind"] == "slack_message":
                raise Crash("killed after the send")
            super().record_applied(**kwargs)

    clock = VirtualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    url = f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}"
    tracker = MemoryTracker(onboarding_site([]), now=clock.now)
    nudge = message(user_email="approver@acme.test")
    with pytest.raises(Crash):
        Executor(tracker, CrashingStore(url), clock, scope=LIVE, notifier=notifier).apply([nudge])
    assert len(fake_slack.dm(APPROVER)) == 1

    store = Store(url)  # the restarted worker
    [outcome] = Executor(tracker, store, clock, scope=LIVE, notifier=notifier).apply([nudge])
    [sent] = fake_slack.dm(APPROVER)
    found = f"ts {sent['ts']} in {fake_slack.dm_channel(APPROVER)}"  # the message found is the one sent
    assert (outcome.status, outcome.detail) == (ALREADY, f"sent before its record was written ({found})")
    assert outcome.url == f"https://fake.slack.test/archives/DAPPROVER/p{sent['ts'].replace('.', '')}"
    assert (ALREADY, found) in [(a.outcome, a.detail) for a in store.applied("ONB-12") if a.kind == "slack_message"]
    [outcome] = Executor(tracker, store, clock, scope=LIVE, notifier=notifier).apply([nudge])
    assert outcome.detail == "recorded as applied earlier"
    assert fake_slack.count("chat.postMessage") == 1


# where a message went, and its permalink -------------------------------------------------------------------
def test_a_send_says_which_conversation_and_links_to_the_message(notifier: SlackNotifier,
                                                                 fake_slack: FakeSlack) -> None:
    """chat.postMessage answers the conversation (a person's DM: its ``D…`` id); the link is Slack's permalink
    form on the workspace address auth.test gives, asked once however many messages go."""
    fake_slack.workspace_url = "https://acme-support.slack.test/"
    dm = notifier.send(message(user_email="approver@acme.test"))
    in_channel = notifier.send(message(channel="CADMIN", step="to the channel"))
    more = [notifier.send(message(slack_user=ADMIN, step=f"more-{i}")) for i in range(3)]

    [to_approver] = fake_slack.dm(APPROVER)
    assert dm == Posted(to_approver["ts"], "DAPPROVER",
                        f"https://acme-support.slack.test/archives/DAPPROVER/p{to_approver['ts'].replace('.', '')}")
    [posted] = fake_slack.in_channel("CADMIN")
    assert in_channel == Posted(posted["ts"], "CADMIN",
                                f"https://acme-support.slack.test/archives/CADMIN/p{posted['ts'].replace('.', '')}")
    assert [p.permalink.rsplit("/", 2)[1:] for p in more] == [
        ["DADMIN01", "p" + m["ts"].replace(".", "")] for m in fake_slack.dm(ADMIN)]
    assert fake_slack.count("auth.test") == notifier.calls["auth.test"] == 1


def test_the_permalink_has_slacks_documented_form(notifier: SlackNotifier, fake_slack: FakeSlack,
                                                  slack_settings: Settings) -> None:
    """chat.getPermalink's documented answer: https://ghostbusters.slack.com/archives/C1H9RESGA/p135854651500008."""
    fake_slack.workspace_url = "https://ghostbusters.slack.com"  # no trailing slash: one is added
    assert notifier.permalink("C1H9RESGA", "1358546515.00008") == \
        "https://ghostbusters.slack.com/archives/C1H9RESGA/p135854651500008"
    assert notifier.permalink("#general", "1358546515.00008") == ""  # a channel name is no conversation id
    assert notifier.permalink("C1H9RESGA", "not a ts") == ""
    assert fake_slack.count("auth.test") == 1
    fake_slack.workspace_url = "http://plain.slack.test/"  # only an https address makes links
    assert SlackNotifier.from_settings(slack_settings.slack).permalink("C1H9RESGA", "1358546515.00008") == ""


@pytest.mark.parametrize(("status", "error"), [(200, "invalid_auth"), (500, "internal_error")])
def test_a_failing_auth_test_costs_the_link_not_the_message(slack_settings: Settings, fake_slack: FakeSlack,
                                                            caplog: pytest.LogCaptureFixture, status: int,
                                                            error: str) -> None:
    """The message is out before its link is made: without the workspace's address it is recorded without a
    permalink, and auth.test is asked once (no retry, no wait), then not again for WORKSPACE_FAILURE_TTL."""
    now, slept = [0.0], []
    notifier = SlackNotifier.from_settings(slack_settings.slack, sleep=slept.append, monotonic=lambda: now[0])
    fake_slack.fail("auth.test", error=error, status=status)
    with caplog.at_level(logging.WARNING, logger="bot.slack.sender"):
        first = notifier.send(message(channel="CADMIN", step="first"))
    assert first == Posted(fake_slack.in_channel("CADMIN")[0]["ts"], "CADMIN", "")
    assert f"without a permalink for 300 s: Slack auth.test failed: {error}" in caplog.text
    assert fake_slack.token not in caplog.text
    assert (fake_slack.count("auth.test"), slept) == (1, [])

    now[0] = SlackNotifier.WORKSPACE_FAILURE_TTL - 1
    second = notifier.send(message(channel="CADMIN", step="second"))
    assert (second.channel, second.permalink, fake_slack.count("auth.test")) == ("CADMIN", "", 1)  # not asked

    now[0] = SlackNotifier.WORKSPACE_FAILURE_TTL
    third = notifier.send(message(channel="CADMIN", step="third"))
    assert third.permalink == f"https://fake.slack.test/archives/CADMIN/p{third.ts.replace('.', '')}"
    notifier.send(message(channel="CADMIN", step="fourth"))
    assert fake_slack.count("auth.test") == 2 and len(fake_slack.in_channel("CADMIN")) == 4


class _Announce(Rule):
    """Tells the support channel about every event of a ticket."""

    id = "announce"
    title = "announces every event"

    def evaluate(self, event: Event, ticket: Ticket, ctx: object) -> Evaluation:
        return Evaluation([], [SlackMessage(rule_id=self.id, ticket_key=ticket.key, step=f"announce:{event.id}",
                                            text=f"{ticket.key}: {event.kind}", channel="CSUPPORT")])


def test_the_trace_of_a_sent_message_says_where_it_went_and_links_to_it(notifier: SlackNotifier,
                                                                        fake_slack: FakeSlack, store: Store,
                                                                        clock: VirtualClock) -> None:
    """What the console shows is the trace: ``ts … in C…`` and the permalink, from the event's one path. A
    notifier that answers only a ``ts`` (the replay's) keeps the old detail and no link."""
    fake_slack.add_channel("CSUPPORT")
    tracker = MemoryTracker(onboarding_site(["SS-1"]), now=clock.now)
    event = Event(id="ev-1", source="test", kind=TICKET_CREATED, ticket_key="SS-1", occurred_at=clock.now())
    report = Processor([BoundRule(_Announce(), RuleBlock())], tracker, store, clock, notifier=notifier).process(event)
    assert not report.failed

    [posted] = fake_slack.in_channel("CSUPPORT")
    [trace] = store.traces("SS-1")
    [effect] = trace.effects
    assert (effect["kind"], effect["outcome"], effect["detail"], effect["url"]) == (
        "slack_message", APPLIED, f"ts {posted['ts']} in CSUPPORT",
        f"https://fake.slack.test/archives/CSUPPORT/p{posted['ts'].replace('.', '')}")
    assert [(a.outcome, a.detail) for a in store.applied("SS-1") if a.outcome == APPLIED] == [
        (APPLIED, f"ts {posted['ts']} in CSUPPORT")]

    replayed = Processor([BoundRule(_Announce(), RuleBlock())], tracker, store, clock, scope="replay-1",
                         notifier=RecordingNotifier([])).process(event)
    assert not replayed.failed
    [effect] = store.traces("SS-1", scope="replay-1")[0].effects
    assert effect["detail"] == "ts replay.1" and "url" not in effect


def test_a_failed_send_is_sent_on_the_retry(notifier: SlackNotifier, fake_slack: FakeSlack, tmp_path) -> None:
    """The note before a send that failed finds nothing in Slack's history: the retry sends."""
    from datetime import UTC, datetime

    from bot.clock import VirtualClock
    from bot.executor import APPLIED, FAILED, Executor
    from bot.store import LIVE, Store
    from bot.trackers.memory import MemoryTracker
    from tests.support.daemon import onboarding_site

    clock = VirtualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    store = Store(f"sqlite:///{tmp_path / 'ticketbot.sqlite3'}")
    executor = Executor(MemoryTracker(onboarding_site([]), now=clock.now), store, clock, scope=LIVE,
                        notifier=notifier)
    nudge = message(user_email="approver@acme.test")
    fake_slack.rate_limit(10, retry_after=600)  # longer than the notifier waits: the send fails
    assert executor.apply([nudge])[0].status == FAILED
    fake_slack.rate_limit(0)
    assert executor.apply([nudge])[0].status == APPLIED
    assert len(fake_slack.dm(APPROVER)) == 1


def test_a_burst_of_50_reminders_to_one_channel_keeps_to_slacks_per_channel_limit(
        slack_settings: Settings, fake_slack: FakeSlack) -> None:
    """Slack allows about one message a second per channel and answers 429 beyond: 50 reminders at once
    arrive as 50 messages, each once, in order, without Slack refusing one."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    fake_slack.add_channel("CREMINDERS")
    fake_slack.clock, fake_slack.channel_interval = (lambda: now[0]), 1.0
    notifier = SlackNotifier.from_settings(slack_settings.slack, sleep=sleep, monotonic=lambda: now[0])
    sent = [notifier.send(message(channel="CREMINDERS", step=f"reminder-{i}", text=f"reminder {i}"))
            for i in range(50)]
    posted = fake_slack.in_channel("CREMINDERS")
    assert [m["text"] for m in posted] == [f"reminder {i}" for i in range(50)]
    assert [m["ts"] for m in posted] == [p.ts for p in sent] and len(set(sent)) == 50
    assert fake_slack.count("chat.postMessage") == 50 and fake_slack.throttled_posts == 0
    assert now[0] == pytest.approx(49.0)  # one a second, no more waiting than that
    notifier.send(message(channel=None, slack_user=ADMIN, text="another conversation"))
    assert now[0] == pytest.approx(49.0)  # is not held up by the busy channel


def test_a_channel_limit_429_is_waited_out_and_the_message_sent_once(
        slack_settings: Settings, fake_slack: FakeSlack) -> None:
    """Another sender (another worker process) took the channel's slot: Slack's 429 is honoured, nothing lost."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    fake_slack.add_channel("CREMINDERS")
    fake_slack.clock, fake_slack.channel_interval = (lambda: now[0]), 1.0
    one, other = (SlackNotifier.from_settings(slack_settings.slack, sleep=sleep, monotonic=lambda: now[0])
                  for _ in range(2))
    one.send(message(channel="CREMINDERS", text="from one"))
    other.send(message(channel="CREMINDERS", text="from the other"))
    assert [m["text"] for m in fake_slack.in_channel("CREMINDERS")] == ["from one", "from the other"]
    assert (fake_slack.throttled_posts, other.throttled, slept) == (1, 1, [1.0])
