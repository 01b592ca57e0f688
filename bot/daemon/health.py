"""Readiness checks of ``ticketbot run`` (``GET /readyz``): is the database there, answering, and the same one?

``SELECT 1`` alone is not enough on SQLite: a database file deleted (or replaced) under a running daemon
keeps answering through the connections already open on it, from an inode nobody else can see, while every
worker process that opens it anew fails. So the file, and the intake file beside it, must still be the
files opened at start; and the query has a short timeout, so a database that hangs (a PostgreSQL server
that stopped answering) makes ``/readyz`` say so instead of hanging with it.

Liveness (``/livez``) checks none of this on purpose: an orchestrator restarts a process that is not
live, and a restart does not bring a database back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

#: Seconds ``SELECT 1`` may take before the database counts as not answering (Docker's check waits 5).
QUERY_TIMEOUT = 2.0


class WatchedFile:
    """A file that must stay the one found at start: there, the same inode, and (``writable``) writable."""

    def __init__(self, path: Path, what: str, *, writable: bool = False) -> None:
        self.path, self.what, self.writable = path, what, writable
        self.identity = _identity(path)

    def problem(self) -> str | None:
        """What is wrong with the file, said for an operator, or None."""
        try:
            now = _identity(self.path)
        except OSError as exc:
            return f"{self.what} {self.path} cannot be read: {exc.strerror or exc.__class__.__name__}"
        if now is None:
            return (f"{self.what} {self.path} is gone (deleted while ticketbot runs): "
                    "restore it from a backup, or restart ticketbot to start a new one")
        if self.identity is None:
            self.identity = now  # it did not exist at start (an intake file is made on first use)
        elif now != self.identity:
            return f"{self.what} {self.path} was replaced while ticketbot runs: restart ticketbot to use the new file"
        if self.writable and not os.access(self.path, os.W_OK):
            return f"{self.what} {self.path} is not writable by this process: fix its permissions"
        return None


class DatabaseProbe:
    """``SELECT 1`` with a timeout, and the SQLite file (when there is one) still the one opened at start."""

    def __init__(self, engine: Engine, *, timeout: float = QUERY_TIMEOUT,
                 query: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.timeout = timeout
        self._query = query or self._select_one
        database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
        self.file = WatchedFile(Path(database), "the SQLite database") \
            if database and database != ":memory:" and "mode=memory" not in str(engine.url) else None
        self._pending: _Query | None = None  # the last query asked; a slow one is waited for, not asked again

    def problem(self) -> str | None:
        """What is wrong with the database, or None when it answers and is the one opened at start.

        A query still running from an earlier check is waited for again rather than joined by another
        one: a hung database gets one query, and a merely slow one is ready once that query is answered.
        """
        if self.file is not None and (trouble := self.file.problem()):
            return trouble
        if self._pending is None or self._pending.ended.is_set():
            self._pending = _Query(self._query)
        query = self._pending
        if not query.ended.wait(self.timeout):
            query.checks += 1
            if query.checks > 1:
                return f"unreachable: SELECT 1 still unanswered after {query.checks} checks"
            return f"unreachable: no answer to SELECT 1 within {self.timeout:g}s"
        return f"unreachable: {query.failure.__class__.__name__}" if query.failure else None

    def _select_one(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


class _Query:
    """One ``SELECT 1`` on a daemon thread (one that hangs for good must not hold up the process's exit)."""

    def __init__(self, query: Callable[[], None]) -> None:
        self.ended = threading.Event()
        self.failure: Exception | None = None
        self.checks = 0  # how many checks gave up waiting for it
        threading.Thread(target=self._run, args=(query,), name="readyz-database", daemon=True).start()

    def _run(self, query: Callable[[], None]) -> None:
        try:
            query()
        except Exception as exc:  # any failure to reach the database is "not ready", never a 500
            self.failure = exc
        finally:
            self.ended.set()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
