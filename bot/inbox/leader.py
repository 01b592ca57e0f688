"""Leader election: which replica runs the scheduler (polls, sweeps, timers).

* PostgreSQL: a session-level advisory lock, held on a dedicated connection. When the
  leader dies its connection closes, PostgreSQL drops the lock, and a standby that retries
  every few seconds takes over.
* SQLite file: an exclusive ``flock`` on a file beside the database (the kernel releases
  it when the process dies), so a second process on the same file stays a standby.
* In-memory SQLite: a single process; it is always the leader.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LOCK_NAME = "ticketbot:scheduler"


class LeaderLock(Protocol):
    def acquire(self) -> bool:
        """Try once, without blocking."""
        ...

    def held(self) -> bool:
        """Still ours? (False when the connection that held it is gone.)"""
        ...

    def release(self) -> None: ...


class AlwaysLeader:
    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLeaderLock:
    """An exclusive flock on ``path``; the kernel releases it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def advisory_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PgAdvisoryLock:
    """A session-level advisory lock on a connection of its own (autocommit: never idle in a transaction)."""

    def __init__(self, url: str, name: str = LOCK_NAME) -> None:
        # TCP keepalives: a leader cut off by the network loses the lock within about a minute.
        self._engine = create_engine(url, poolclass=NullPool, connect_args={
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
            "connect_timeout": 5})
        self._key = advisory_key(name)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except SQLAlchemyError as exc:
            log.warning("could not try the scheduler lock: %s", exc.__class__.__name__)
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            log.warning("lost the connection holding the scheduler lock")
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(SQLAlchemyError):  # closing the connection releases it anyway
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
        self._conn = None


def lock_for(database_url: str) -> LeaderLock:
    """The leader lock that fits the database."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PgAdvisoryLock(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLeaderLock(Path(f"{url.database}.scheduler.lock"))
    return AlwaysLeader()


class LeaderElector:
    """Keeps trying to become leader; tells listeners when leadership is won or lost."""

    def __init__(self, lock: LeaderLock, *, retry: float = 5.0) -> None:
        self.lock = lock
        self.retry = retry
        self._leader = False
        self._listeners: list[Callable[[bool], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def on_change(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self.step()  # a lone process leads from its first second
        self._thread = threading.Thread(target=self._run, name="leader-elector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._mutex:
            if self._leader:
                self._set(False)
            self.lock.release()

    def step(self) -> None:
        """One round: check the lock we hold, or try to take it."""
        with self._mutex:
            if self._stop.is_set():
                return
            if self._leader:
                if not self.lock.held():
                    self._set(False)
            elif self.lock.acquire():
                self._set(True)

    def _run(self) -> None:
        while not self._stop.wait(self.retry):
            try:
                self.step()
            except Exception:  # the elector must outlive any one failed round
                log.exception("leader election round failed")

    def _set(self, leader: bool) -> None:
        self._leader = leader
        log.info("this process %s the scheduler", "now runs" if leader else "no longer runs")
        for listener in self._listeners:
            try:
                listener(leader)
            except Exception:
                log.exception("leadership listener failed")
