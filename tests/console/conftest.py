"""The console over real records: the EverBright demo replayed into a SQLite file (as ``ticketbot replay`` plays it,
in the live scope the daemon writes), half-way (two onboardings in flight) and to its end, and the NF-e demo (a
runbook that declares its stages and deadlines); each test gets a copy of the file and a console on it, reached
through a trusted proxy."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.clock import VirtualClock
from bot.console.app import Console, build_console
from bot.effects import SlackMessage
from bot.executor import APPLIED, Outcome
from bot.inbox.guards import Guards
from bot.inbox.queue import Inbox
from bot.model import TICKET_UPDATED, Event
from bot.replay import Replay, read_records
from bot.settings import Settings
from bot.store import LIVE, Store
from bot.trackers.site import Site
from rules import load_rules
from tests.support.paths import CONFIG, EVERBRIGHT_ONLY, EXAMPLES

#: The EverBright demo played up to here: SS-101 awaits its approval (a reminder went, the next is due the
#: next afternoon), SS-103 is approved; CS-201 and CS-202 are their config tickets.
MIDWAY = datetime(2026, 11, 4, 20, 0, tzinfo=UTC)
#: After the demo's last event: SS-101 closed (approved by a separate ticket, SS-105), SS-103 approved.
FINISHED = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)
#: The NF-e demo's end: 101 closed, 102 in production past its 60-day target (17 January 2027).
NFE_END = datetime(2027, 1, 27, 12, 0, tzinfo=UTC)
#: The Momentus demo's end: EINV-1 validated by Storecove after 98 hours (Thursday 15:00 to Monday 17:00 UTC).
MOMENTUS_END = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)

ADMIN = "ann.admin@goeverbright.example"
OTHER_ADMIN = "bob.admin@goeverbright.example"
HEADER = "X-Forwarded-Email"
PROXY = "10.0.0.7"
PROXIES = "10.0.0.0/24, ::1"
JIRA_URL = "https://goeverbright.atlassian.net"


def replay_demo(url: str, demo: str, config: Path, until: datetime | None = None) -> None:
    """``ticketbot replay examples/<demo>/events.jsonl`` into the database at ``url``, in the live scope; with
    ``until``, only the events before it, and the timers due by then."""
    store = Store(url)
    player = Replay(load_rules(config), Site.load(EXAMPLES / demo / "site.yaml"), store, scope=LIVE)
    records = list(read_records(EXAMPLES / demo / "events.jsonl"))
    if until is not None:
        records = [r for r in records if player.decode(r).occurred_at < until]
    for _ in player.run(records, until=until):
        pass
    store.engine.dispose()


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, datetime]]:
    """name -> (database file, rules config, the moment the console's clock shows)."""
    folder = tmp_path_factory.mktemp("demos")
    demos = {"midway": ("everbright", EVERBRIGHT_ONLY, MIDWAY, MIDWAY),
             "finished": ("everbright", EVERBRIGHT_ONLY, None, FINISHED),
             "nfe": ("nfe", CONFIG, None, NFE_END),
             "momentus": ("momentus", CONFIG, None, MOMENTUS_END)}
    made = {}
    for name, (demo, config, until, now) in demos.items():
        path = folder / f"{name}.sqlite3"
        replay_demo(f"sqlite:///{path}", demo, config, until)
        made[name] = (path, config, now)
    return made


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of a SQLite database (its WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@dataclass
class Harness:
    """A console on a copy of a demo's records, and the parts of the bot behind it."""

    console: Console
    client: TestClient
    store: Store
    inbox: Inbox
    guards: Guards
    clock: VirtualClock
    settings: Settings

    def get(self, path: str, who: str | None = ADMIN, **kwargs: Any) -> Any:
        return self.client.get(path, headers=_who(who, kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, who: str | None = ADMIN, **kwargs: Any) -> Any:
        return self.client.post(path, headers=_who(who, kwargs.pop("headers", None)), follow_redirects=False,
                                **kwargs)

    def token(self, who: str = ADMIN) -> str:
        """The CSRF token the console hands ``who`` (as the API's /session gives it)."""
        return self.get("/api/v1/session", who).json()["csrf_token"]

    def form_token(self, page: str, who: str = ADMIN) -> str:
        """The CSRF token in a page's forms, as a browser would post it."""
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.get(page, who).text)
        assert found, f"no form on {page}"
        return found[1]


def set_cookie(response: Any, name: str = "ticketbot-console") -> tuple[str, str]:
    """(the cookie's name=value, its attributes) from the response's Set-Cookie header for ``name`` (with or
    without the ``__Host-`` prefix)."""
    for header in response.headers.get_list("set-cookie"):
        value, _, attributes = header.partition("; ")
        if value.split("=", 1)[0].removeprefix("__Host-") == name:
            return value, attributes
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def press_sign_in(client: TestClient, path: str, *, cookie: bool = True, token: bool = True,
                  headers: dict[str, str] | None = None) -> Any:
    """Open a sign-in link's page and press its button as a browser would: the page's cookie and the form's CSRF
    token go with the POST (``cookie``/``token`` False: left out, as a forged POST would)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token in the sign-in form"
    sent = dict(headers or {})
    if cookie:
        sent["cookie"] = set_cookie(page, "ticketbot-console-sign-in")[0]
    return client.post(path, headers=sent, data={"csrf_token": found[1]} if token else None, follow_redirects=False)


def _who(email: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    return {**({HEADER: email} if email else {}), **(headers or {})}


@pytest.fixture
def open_console(demo_files, tmp_path: Path) -> Iterator[Callable[..., Harness]]:  # noqa: ANN001
    """``open_console(demo="midway", peer=PROXY, **console_settings)`` -> a :class:`Harness`."""
    made: list[Harness] = []

    def make(demo: str = "midway", *, peer: str = PROXY, **console: Any) -> Harness:
        source, config, now = demo_files[demo]
        path = copy_database(source, tmp_path / f"{demo}-{len(made)}.sqlite3")
        settings = Settings(database_url=f"sqlite:///{path}", config=config, jira={"url": JIRA_URL},
                            console={"admins": f"{ADMIN.upper()}, {OTHER_ADMIN}", "trusted_header": HEADER,
                                     "trusted_proxies": PROXIES, **console})
        clock = VirtualClock(now)
        store = Store(settings.database_url)
        inbox = Inbox(store.engine, clock)
        guards = Guards(store, settings.guards, clock)
        built = build_console(settings, store=store, inbox=inbox, rules=load_rules(config), clock=clock, guards=guards)
        harness = Harness(built, TestClient(built.standalone(), client=(peer, 50000)), store, inbox, guards, clock,
                          settings)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.store.engine.dispose()


def dead_letter(inbox: Inbox, key: str = "SS-103", error: str = "TrackerError: HTTP 400 field 'X' is not on the screen"
                ) -> int:
    """An event of ``key`` given up after its last attempt, as a worker gives one up; its inbox id."""
    event = Event(id=f"poison-{key}", source="jira", kind=TICKET_UPDATED, ticket_key=key,
                  occurred_at=inbox.clock.now())
    assert inbox.add(key=f"jira:poison-{key}", source="jira", event=event, envelope={"source": "jira", "body": {}})
    claim = inbox.claim(60)
    assert claim is not None
    inbox.fail(claim, error, retry_in=None)
    return claim.id


#: A Slack message's permalink, as the Slack notifier gives it (see :func:`sent_messages`).
PERMALINK = "https://goeverbright.slack.com/archives/DDAVIDE01/p1793892000000100"


def sent_messages(console: Harness, urls: list[str]) -> None:
    """SS-101's approval reminder firing again, traced as the pipeline traces it with a Slack notifier: one
    message per url, each as :meth:`Outcome.as_dict` writes it (a hostile value stands for a trace that
    something else wrote). The demo's own messages were replayed, never posted: they have no url."""
    effects = [Outcome(SlackMessage(rule_id="everbright_onboarding", ticket_key="SS-101",
                                    step=f"approval-reminder-{n}", text="SS-101 still waits for your approval",
                                    user_email="david.ellis@goeverbright.com"),
                       APPLIED, f"ts 1793892000.00010{n} in DDAVIDE01", url=url).as_dict()
               for n, url in enumerate(urls)]
    console.store.add_trace(scope=LIVE, event_id="timer-reminder-2", event_kind="timer.fired", ticket_key="SS-101",
                            rule_id="everbright_onboarding", at=console.clock.now(), matched=True, verdicts=[],
                            effects=effects, notes=[], error=None)


# reading pages -------------------------------------------------------------------------------------------
class Sections(HTMLParser):
    """The text of each element carrying ``data-stage``, by stage (the board's columns)."""

    def __init__(self) -> None:
        super().__init__()
        self.stages: dict[str, str] = {}
        self._open: list[tuple[str, int]] = []  # (stage, depth)
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "input", "br"):
            return
        self._depth += 1
        stage = dict(attrs).get("data-stage")
        if stage is not None:
            self._open.append((stage, self._depth))
            self.stages.setdefault(stage, "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("meta", "link", "input", "br"):
            return
        if self._open and self._open[-1][1] == self._depth:
            self._open.pop()
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        for stage, _ in self._open:
            self.stages[stage] += data


def columns(html: str) -> dict[str, str]:
    """The board's columns: stage -> its text (whitespace collapsed)."""
    parser = Sections()
    parser.feed(html)
    return {stage: " ".join(text.split()) for stage, text in parser.stages.items()}


def text_of(html: str) -> str:
    """A page's text, tags out, whitespace collapsed (what a reader sees)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&amp;", "&").split())
