"""Reading a person's Slack status (``users.profile.get``): what the notifier returns, how long it trusts
it, and what a failing Slack means. On the fake Slack Web API, spec-checked."""

from __future__ import annotations

import pytest

from bot.settings import SlackSettings
from bot.slack.notifier import NotifyError, SlackStatus, StatusReader
from bot.slack.sender import SlackNotifier
from tests.fakes.fake_slack import FakeSlack
from tests.slack.helpers import APPROVER


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def notifier(fake_slack: FakeSlack, ticks: Ticks) -> SlackNotifier:
    return SlackNotifier.from_settings(SlackSettings(bot_token=fake_slack.token, api_url=fake_slack.base_url),
                                       sleep=lambda s: None, monotonic=ticks)


def test_the_status_text_emoji_and_expiration_by_email_or_member_id(fake_slack: FakeSlack,
                                                                    notifier: SlackNotifier) -> None:
    assert isinstance(notifier, StatusReader)
    fake_slack.set_status(APPROVER, "Out of office until Jan 3", ":palm_tree:", 1798934400)
    assert notifier.status_of("approver@acme.test") == SlackStatus("Out of office until Jan 3", ":palm_tree:",
                                                                   1798934400)
    assert notifier.status_of("approver@acme.test") == SlackStatus("Out of office until Jan 3", ":palm_tree:",
                                                                   1798934400)
    assert fake_slack.count("users.profile.get") == 1  # the second read came from the cache
    assert notifier.status_of("", APPROVER) == SlackStatus("Out of office until Jan 3", ":palm_tree:", 1798934400)


def test_no_status_set_is_an_empty_status_and_an_unknown_person_none(fake_slack: FakeSlack,
                                                                      notifier: SlackNotifier) -> None:
    assert notifier.status_of("approver@acme.test") == SlackStatus()
    assert notifier.status_of("nobody@acme.test") is None
    assert notifier.status_of("", "UNOBODY") is None


def test_a_status_is_trusted_ten_minutes_then_read_again(fake_slack: FakeSlack, notifier: SlackNotifier,
                                                          ticks: Ticks) -> None:
    assert notifier.status_of("approver@acme.test") == SlackStatus()
    fake_slack.set_status(APPROVER, "vacation", ":palm_tree:")
    ticks.now += SlackNotifier.STATUS_TTL - 1
    assert notifier.status_of("approver@acme.test") == SlackStatus()
    ticks.now += 2
    assert notifier.status_of("approver@acme.test") == SlackStatus("vacation", ":palm_tree:", 0)
    assert fake_slack.count("users.profile.get") == 2


def test_a_rate_limited_status_read_is_not_waited_out(fake_slack: FakeSlack, notifier: SlackNotifier) -> None:
    fake_slack.rate_limit(5, retry_after=30)
    with pytest.raises(NotifyError) as failed:
        notifier.status_of("approver@acme.test")
    assert failed.value.transient and fake_slack.count("users.lookupByEmail") == 1  # one try, no 30 s wait


def test_a_failing_slack_raises_once_then_says_unknown_for_a_while(fake_slack: FakeSlack, notifier: SlackNotifier,
                                                                   ticks: Ticks) -> None:
    assert notifier.slack_id_for("approver@acme.test") == APPROVER  # known before Slack goes away
    fake_slack.unreachable = True
    with pytest.raises(NotifyError) as failed:
        notifier.status_of("approver@acme.test")
    assert failed.value.transient
    assert notifier.status_of("approver@acme.test") is None  # not asked again at once: unknown
    fake_slack.unreachable = False
    fake_slack.set_status(APPROVER, "OOO")
    ticks.now += SlackNotifier.STATUS_FAILURE_TTL + 1
    assert notifier.status_of("approver@acme.test") == SlackStatus("OOO", "", 0)
