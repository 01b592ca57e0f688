"""The intake file: on SQLite, webhooks are committed to a database file only the HTTP process writes.

SQLite has one write lock per database file. When the workers run in other processes (``ticketbot run``),
their transactions hold the inbox's lock for a few milliseconds each, and a webhook whose commit waits
behind them is acknowledged late (figures: benchmarks/README.md, ingest). So
under ``ticketbot run`` on SQLite the HTTP process commits what it receives to a second file next to the
database (``<database>-intake``) that nobody else writes, and the worker processes *move* the rows into the
inbox:

* a row is committed to the intake file before its 2xx (the inbox's promise, unchanged);
* a move inserts the rows after the last one moved into the inbox (a key the inbox holds already is
  skipped, as on any insert) and advances ``intake_progress.last_id`` in the same transaction of the main
  database: all or nothing, and a compare-and-set on ``last_id`` lets several movers run without moving a
  row twice;
* a redelivery is answered "duplicate" when its key or body digest is in the intake file (unique columns).
  Moved rows stay for ``RETENTION``, twice Jira's 30 minutes of redeliveries, and are then deleted a batch
  at a time; a later redelivery is answered "queued" and dropped by the move (the inbox's unique key), so
  it is never processed twice either. The ack path reads the main database once every ``PRUNE_EVERY``.

Workers move rows when the HTTP process wakes them and every second regardless; a worker process that
starts moves what an earlier life left behind. PostgreSQL has no such lock: the inbox is written directly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from bot.store import Base, make_engine

log = logging.getLogger(__name__)

#: The datetime columns of an inbox row (stored as ISO text in the intake file).
_MOMENTS = ("occurred_at", "received_at", "finished_at")
#: Seconds between two deletions of moved rows past ``RETENTION`` (at most ``PRUNE_BATCH`` rows each: a
#: deletion holds up the acknowledgement it is made with), and between two checkpoints of the WAL.
PRUNE_EVERY = 10.0
PRUNE_BATCH = 5000
CHECKPOINT_EVERY = 1.0
RETENTION = 3600.0


class IntakeProgress(Base):
    """How far the workers have moved an intake file's rows into the inbox (the last intake id moved)."""

    __tablename__ = "intake_progress"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)


_metadata = MetaData()
#: Its own file, its own schema (created on open, not by the migrations: a spool whose rows are moved within
#: milliseconds and forgotten after ``RETENTION``).
intake_table = Table(
    "intake", _metadata,
    Column("id", Integer, primary_key=True),
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("body_digest", String(64), nullable=True, unique=True),
    Column("received_ts", Float, nullable=False),
    Column("row", Text, nullable=False),  # the inbox row as JSON
    sqlite_autoincrement=True,  # ids never come back after a deletion: ``last_id`` stays meaningful
)


_INSERT = "INSERT INTO intake (dedup_key, body_digest, received_ts, row) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"


def intake_path(database_url: str) -> Path | None:
    """Where the intake file of a SQLite database file lives; None for other databases (and in-memory ones)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or "mode=memory" in database_url:
        return None
    return Path(url.database + "-intake")


def encode(values: dict[str, Any]) -> str:
    row = dict(values)
    for name in _MOMENTS:
        if row.get(name) is not None:
            row[name] = row[name].isoformat()
    return json.dumps(row, ensure_ascii=False)


def decode(text: str) -> dict[str, Any]:
    row = json.loads(text)
    for name in _MOMENTS:
        if row.get(name) is not None:
            row[name] = datetime.fromisoformat(row[name])
    return row


class IntakeFile:
    """One intake file: the HTTP process writes it (:meth:`write`, for every add of an inbox set up with
    ``bot.inbox.queue.Inbox.receive_through``), worker processes read it (:meth:`move`)."""

    def __init__(self, path: Path, *, name: str = "webhooks") -> None:
        self.path = path
        self.name = name  # the intake_progress row
        self.engine = make_engine(f"sqlite:///{path}")
        _metadata.create_all(self.engine)
        self._last_prune = float("-inf")
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self._writer: sqlite3.Connection | None = None  # the HTTP process's connection (see write)
        self._write_lock = threading.Lock()

    # the HTTP process -----------------------------------------------------------------------
    def write(self, values: dict[str, Any], inbox_engine: Engine, *, now: float, patience: float) -> bool:
        """Commit one received row (an inbox row's values); False when its key or body digest is here already.

        Made in the caller's thread (the event loop's, for a webhook) on the stdlib driver: nobody else
        writes this file, so there is no lock to wait for and the commit takes about 0.1 ms, less than
        SQLAlchemy's statement handling (0.4 ms) or two thread switches to a writer thread would. Raises
        ``sqlalchemy.exc.OperationalError`` when the file stays locked ``patience`` seconds (the webhook
        is then answered 503) or cannot be written.
        """
        with self._write_lock:
            try:
                conn = self._writer_connection()
                self._begin(conn, patience)
                try:
                    inserted = conn.execute(_INSERT, (values["dedup_key"], values.get("body_digest"),
                                                      values["received_ts"], encode(values))).rowcount == 1
                    self._prune(conn, inbox_engine, monotonic=time.monotonic(), now=now)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._drop_writer_connection()
                raise OperationalError("INSERT INTO intake", None, exc) from exc
            return inserted

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=0")  # see _begin
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in their own thread, off the ack path
            self._writer = conn
        return self._writer

    def _drop_writer_connection(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:  # already broken
                log.debug("intake: closing a failed connection", exc_info=True)

    @staticmethod
    def _begin(conn: sqlite3.Connection, patience: float) -> None:
        """Take the write lock, retrying every 0.2 ms (SQLite's own busy handler sleeps 1-100 ms at a time)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0002)

    def _prune(self, conn: sqlite3.Connection, inbox_engine: Engine, *, monotonic: float, now: float,
               limit: int | None = PRUNE_BATCH) -> None:
        """In the writer's transaction, every ``PRUNE_EVERY`` seconds: delete moved rows older than ``RETENTION``."""
        if monotonic - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = monotonic
        with inbox_engine.connect() as main:
            moved = self._moved(main)
        conn.execute("DELETE FROM intake WHERE id IN (SELECT id FROM intake WHERE id <= ? AND received_ts < ? "
                     "ORDER BY id LIMIT ?)", (moved, now - RETENTION, -1 if limit is None else limit))

    def prune_now(self, inbox_engine: Engine, *, now: float) -> None:
        """The first pruning after a restart may be large: done at start, not on an acknowledgement's path."""
        with self._write_lock:
            conn = self._writer_connection()
            self._begin(conn, 5.0)
            try:
                self._prune(conn, inbox_engine, monotonic=time.monotonic(), now=now, limit=None)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def key_of_body(self, body_digest: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(intake_table.c.dedup_key)
                                .where(intake_table.c.body_digest == body_digest)).scalar()

    def backlog(self, inbox_engine: Engine) -> int:
        """Rows received and not yet moved into the inbox."""
        with inbox_engine.connect() as main:
            moved = self._moved(main)
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(intake_table)
                                .where(intake_table.c.id > moved)).scalar_one()

    def start_checkpoints(self) -> None:
        """The writer leaves WAL checkpoints (page copies and an fsync) to this thread, off the ack path."""
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoints, name="intake-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoints(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY):
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # a busy or vanished file: the next round tries again
                log.debug("intake checkpoint failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        with self._write_lock:
            self._drop_writer_connection()
        self.engine.dispose()

    # the workers ----------------------------------------------------------------------------
    def _moved(self, main: Connection) -> int:
        return main.execute(select(IntakeProgress.last_id).where(IntakeProgress.name == self.name)).scalar() or 0

    def move(self, inbox_engine: Engine, insert: Any, *, limit: int = 500,
             before_commit: Callable[[], None] | None = None) -> int:
        """Move up to ``limit`` received rows into the inbox (``insert``: the inbox's insert ignoring
        duplicates); how many rows were moved (duplicates of inbox rows count as moved, not inserted)."""
        with inbox_engine.connect() as main:
            last = self._moved(main)
        with self.engine.connect() as conn:
            rows = conn.execute(select(intake_table.c.id, intake_table.c.row).where(intake_table.c.id > last)
                                .order_by(intake_table.c.id).limit(limit)).all()
        if not rows:
            return 0
        newest = rows[-1].id
        with inbox_engine.connect() as main:
            if last == 0:
                main.execute(sqlite_insert(IntakeProgress).values(name=self.name, last_id=0)
                             .on_conflict_do_nothing())
            advanced = main.execute(update(IntakeProgress).where(
                IntakeProgress.name == self.name, IntakeProgress.last_id == last).values(last_id=newest)).rowcount
            if advanced != 1:  # another mover took these rows first
                main.rollback()
                return 0
            main.execute(insert, [decode(r.row) for r in rows])
            if before_commit is not None:
                before_commit()
            main.commit()
        return len(rows)
