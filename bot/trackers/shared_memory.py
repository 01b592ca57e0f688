"""The in-memory tracker with its state in a SQLite file: the daemon's testing mode.

``TICKETBOT_TRACKER=memory:<site.yaml>[:<state.sqlite3>]`` runs ``ticketbot run`` against
this instead of Jira. Every operation is one SQLite transaction (``BEGIN IMMEDIATE`` for
writes), so:

* a write is durable the moment it returns, like a write to Jira: a process killed right
  after it, before the executor records it, leaves exactly the state a real crash leaves;
* several processes (replicas in the two-daemon tests) share one site, and a test reads
  the final state and the change log (``SharedMemoryTracker.open(...).log``) after they exit.

It is a test double, not a production store: the whole site is pickled per ticket.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.effects import Effect
from bot.model import Ticket, User
from bot.trackers.memory import MemoryTracker, _Stored
from bot.trackers.site import Site

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (key TEXT PRIMARY KEY, data BLOB NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def parse_tracker_setting(value: str) -> tuple[Path, Path]:
    """``memory:<site.yaml>[:<state file>]`` -> (site, state); the state defaults to beside the site."""
    spec = value.removeprefix("memory:")
    site, _, state = spec.partition(":")
    site_path = Path(site)
    return site_path, Path(state) if state else site_path.with_name(site_path.name + ".state.sqlite3")


class _Counter:
    """Comment ids that keep counting across restarts and processes (inside the open transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'next_id'").fetchone()
        value = int(row[0]) if row else 10000
        self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('next_id', ?)", (str(value + 1),))
        return value


class SharedMemoryTracker(MemoryTracker):
    def __init__(self, site: Site, path: Path, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__(site, now=now)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process, as the tests need
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0
        self._dirty: set[str] = set()
        self._version = -1
        self._log_id = 0
        self._ids = _Counter(self._db)
        self._seed_once()

    @classmethod
    def open(cls, setting: str, *, now: Callable[[], datetime] | None = None) -> SharedMemoryTracker:
        site, state = parse_tracker_setting(setting)
        return cls(Site.load(site), state, now=now)

    # reads ------------------------------------------------------------------------------------
    def get_ticket(self, key: str, *, with_people: bool = False) -> Ticket:
        with self._tx():
            return super().get_ticket(key, with_people=with_people)

    def find_user(self, email: str) -> User | None:
        with self._tx():
            return super().find_user(email)

    def search_updated(self, projects: Sequence[str], since: datetime) -> list[Ticket]:
        with self._tx():
            return super().search_updated(projects, since)

    def organizations(self, project: str | None = None) -> list[str]:
        with self._tx():  # organizations created by other processes live in the state file
            return super().organizations(project)

    def changes(self) -> list[str]:
        """The whole change log, as every process wrote it."""
        with self._tx():
            return list(self.log)

    # writes -----------------------------------------------------------------------------------
    def update_fields(self, key: str, changes: Sequence[Effect]) -> None:
        with self._tx(write=True):
            super().update_fields(key, changes)

    def add_watcher(self, key: str, email: str) -> None:
        with self._tx(write=True):
            super().add_watcher(key, email)

    def remove_participant(self, key: str, email: str) -> None:
        with self._tx(write=True):
            super().remove_participant(key, email)

    def change_labels(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        with self._tx(write=True):
            super().change_labels(key, add, remove)

    def add_internal_comment(self, key: str, body: str, mentions: Sequence[str] = ()) -> str:
        with self._tx(write=True):
            return super().add_internal_comment(key, body, mentions)

    def add_public_reply(self, key: str, body: str) -> str:
        with self._tx(write=True):
            return super().add_public_reply(key, body)

    def transition(self, key: str, status: str, resolution: str = "") -> None:
        with self._tx(write=True):
            super().transition(key, status, resolution)

    def link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        with self._tx(write=True):
            super().link(link_type, inward_key, outward_key)

    def create_ticket(self, project: str, issue_type: str, summary: str, description: str = "",
                      field_values: dict[str, Any] | None = None, marker: str = "") -> str:
        with self._tx(write=True):
            return super().create_ticket(project, issue_type, summary, description, field_values, marker)

    def find_marked(self, project: str, marker: str) -> str | None:
        with self._tx():
            return super().find_marked(project, marker)

    def upsert(self, ticket: Ticket) -> None:
        with self._tx(write=True):
            super().upsert(ticket)
            self._dirty.add(ticket.key)

    def apply_external_change(self, key: str, field_name: str, value: str | None) -> None:
        with self._tx(write=True):
            super().apply_external_change(key, field_name, value)

    # persistence ------------------------------------------------------------------------------
    def _touch(self, stored: _Stored) -> None:
        super()._touch(stored)
        self._dirty.add(stored.key)

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[None]:
        """One transaction per outermost call; nested calls (create -> update_fields) join it."""
        with self._lock:
            outer = self._depth == 0
            self._depth += 1
            try:
                if outer:
                    self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    self._refresh()
                    log_start = len(self.log)
                    self._dirty.clear()
                yield
                if outer:
                    if write:
                        self._flush(log_start)
                    self._db.execute("COMMIT")
            except BaseException:
                if outer:
                    self._db.execute("ROLLBACK")
                    self._version = -1  # memory may hold half an operation: reload it all
                    self.log.clear()
                    self._log_id = 0
                raise
            finally:
                self._depth -= 1

    def _seed_once(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM meta WHERE k = 'seeded'").fetchone() is None:
                    self._dirty = set(self.tickets)
                    self._flush(0)
                    self._db.execute("INSERT INTO meta (k, v) VALUES ('seeded', '1')")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _refresh(self) -> None:
        """Load what other processes (or an earlier life of this one) wrote since we last looked."""
        row = self._db.execute("SELECT v FROM meta WHERE k = 'version'").fetchone()
        version = int(row[0]) if row else 0
        if version != self._version:
            for key, data in self._db.execute("SELECT key, data FROM tickets WHERE version > ?",
                                              (self._version,)):
                self.tickets[key] = pickle.loads(data)
            orgs = self._db.execute("SELECT v FROM meta WHERE k = 'orgs'").fetchone()
            if orgs:
                self._orgs = json.loads(orgs[0])
            self._version = version
        for line_id, line in self._db.execute("SELECT id, line FROM log WHERE id > ? ORDER BY id", (self._log_id,)):
            self.log.append(line)
            self._log_id = line_id

    def _flush(self, log_start: int) -> None:
        version = max(self._version, 0) + 1
        for key in self._dirty:
            self._db.execute("INSERT OR REPLACE INTO tickets (key, data, version) VALUES (?, ?, ?)",
                             (key, pickle.dumps(self.tickets[key]), version))
        new_lines = self.log[log_start:]
        for line in new_lines:
            self._log_id = self._db.execute("INSERT INTO log (line) VALUES (?)", (line,)).lastrowid or self._log_id
        self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('orgs', ?)", (json.dumps(self._orgs),))
        self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('version', ?)", (str(version),))
        self._version = version
        self._dirty.clear()
