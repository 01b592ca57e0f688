"""TICKETBOT_LOG_FORMAT=json: JSON lines, and each record made while an event is handled names it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.settings import Settings, configure_logging
from bot.trackers.shared_memory import SharedMemoryTracker
from tests.support.daemon import encode, jira_headers, onboarding_created, onboarding_site

log = logging.getLogger("bot.trackers.talkative")


class TalkativeTracker(SharedMemoryTracker):
    """Logs as an adapter does: on each read (the event's) and each watcher added (a rule's write)."""

    def get_ticket(self, key: str, *, with_people: bool = False):  # noqa: ANN201
        log.info("reading %s", key)
        return super().get_ticket(key, with_people=with_people)

    def add_watcher(self, key: str, email: str) -> None:
        log.info("adding a watcher to %s", key)
        super().add_watcher(key, email)


@pytest.fixture
def captured():  # noqa: ANN201 - the stream the logging setup writes to
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = before[0]
    root.setLevel(before[1])


def test_records_of_an_event_carry_its_ids_as_json(make_daemon, captured, tmp_path, clock):
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=captured)
    site = onboarding_site(["SS-1"])
    daemon = make_daemon(site, tracker=TalkativeTracker(site, tmp_path / "site.sqlite3", now=clock.now))
    log.info("before any event")
    raw = encode(onboarding_created("SS-1", 1793610840000))
    reply = daemon.intake.receive("jira", raw, {k.lower(): v for k, v in jira_headers(raw, None).items()})
    assert reply.status == 202
    assert daemon.workers.drain() == 1
    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    of_event = [r for r in records if r.get("ticket_key") == "SS-1"]
    assert of_event, records
    event_ids = {r["event_id"] for r in of_event}
    assert len(event_ids) == 1 and next(iter(event_ids))
    assert any(r["message"] == "reading SS-1" and "rule_id" not in r for r in of_event)  # the event's, no rule's
    watchers = [r for r in of_event if r["message"] == "adding a watcher to SS-1"]
    assert watchers and {r["rule_id"] for r in watchers} == {"everbright_onboarding"}
    before = [r for r in records if r["message"] == "before any event"]
    assert before and "event_id" not in before[0] and "rule_id" not in before[0]


def test_the_text_format_is_unchanged_by_default(captured):
    configure_logging(Settings(), stream=captured)
    logging.getLogger("bot.test").warning("plain %s", "line")
    line = captured.getvalue().strip()
    assert line.endswith(" WARNING bot.test: plain line") and not line.startswith("{")


def test_an_unknown_log_format_is_refused_with_its_name(monkeypatch):
    from bot.settings import ConfigurationError, load_settings

    monkeypatch.setenv("TICKETBOT_LOG_FORMAT", "xml")
    with pytest.raises(ConfigurationError, match="TICKETBOT_LOG_FORMAT"):
        load_settings()
