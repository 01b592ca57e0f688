"""The intake file: on SQLite, webhooks are committed to a database file only the HTTP process writes.

SQLite has one write lock per database file. When the workers run in other processes (``ticketbot run``),
their transactions hold the inbox's lock for a few milliseconds each, and a webhook whose commit waits
behind them is acknowledged late (measured: ack p99 3-4x a bare endpoint's, the lock wait its tail). So
under ``ticketbot run`` on SQLite the HTTP process commits what it receives to a second file next to the
database (``<database>-intake``) that nobody else writes, and the worker processes *move* the rows into the
inbox:

* a row is committed to the intake file before its 2xx (the inbox's promise, unchanged);
* a move inserts the rows after the last one moved into the inbox (a key the inbox holds already is
  skipped, as on any insert) and advances ``intake_progress.last_id`` in the same transaction of the main
  database: all or nothing, and a compare-and-set on ``last_id`` lets several movers run without moving a
  row twice;
* a redelivery is answered "duplicate" when its key or body digest is in the intake file (unique columns).
  Moved rows keep their key and digest (not their body) for ``RETENTION``, twice Jira's 30 minutes of
  redeliveries; a later redelivery is answered "queued" and dropped by the move (the inbox's unique key),
  so it is never processed twice either. The ack path reads nothing from the main database.

Workers move rows when the HTTP process wakes them and every second regardless; a worker process that
starts moves what an earlier life left behind. PostgreSQL has no such lock: the inbox is written directly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from bot.store import Base, make_engine

log = logging.getLogger(__name__)

#: The datetime columns of an inbox row (stored as ISO text in the intake file).
_MOMENTS = ("occurred_at", "received_at", "finished_at")
#: Seconds between two tidy-ups (bodies of moved rows dropped), between two deletions of rows past
#: ``RETENTION``, and between two checkpoints of the intake file's WAL.
TIDY_EVERY = 1.0
PRUNE_EVERY = 60.0
CHECKPOINT_EVERY = 1.0
RETENTION = 3600.0


class IntakeProgress(Base):
    """How far the workers have moved an intake file's rows into the inbox (the last intake id moved)."""

    __tablename__ = "intake_progress"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)


_metadata = MetaData()
#: Its own file, its own schema (created on open, not by the migrations: a spool whose rows are moved within
#: milliseconds and whose keys are forgotten after ``RETENTION``).
intake_table = Table(
    "intake", _metadata,
    Column("id", Integer, primary_key=True),
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("body_digest", String(64), nullable=True, unique=True),
    Column("received_ts", Float, nullable=False),
    Column("row", Text, nullable=True),  # the inbox row as JSON; NULL once moved
    sqlite_autoincrement=True,  # ids never come back after a deletion: ``last_id`` stays meaningful
)


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
    """One intake file: the HTTP process writes it (the inbox writer's batches, see
    ``bot.inbox.Inbox.receive_through``), worker processes read it (:meth:`move`)."""

    def __init__(self, path: Path, *, name: str = "webhooks") -> None:
        self.path = path
        self.name = name  # the intake_progress row
        self.engine = make_engine(f"sqlite:///{path}")
        _metadata.create_all(self.engine)
        self._last_tidy = self._last_prune = float("-inf")
        self._stripped = 0  # rows up to this id have had their bodies dropped
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()

    # the HTTP process -----------------------------------------------------------------------
    def insert_statement(self) -> Any:
        """INSERT … ON CONFLICT DO NOTHING RETURNING dedup_key, for the inbox writer's batches."""
        return sqlite_insert(intake_table).on_conflict_do_nothing().returning(intake_table.c.dedup_key)

    def encode_rows(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"dedup_key": r["dedup_key"], "body_digest": r.get("body_digest"), "received_ts": r["received_ts"],
                 "row": encode(r)} for r in rows]

    def tidy(self, conn: Connection, inbox_engine: Engine, *, monotonic: float, now: float) -> None:
        """In the writer's transaction, at most every ``TIDY_EVERY`` seconds: drop the bodies of the rows
        moved since the last time, and (every ``PRUNE_EVERY``) delete moved rows older than ``RETENTION``."""
        if monotonic - self._last_tidy < TIDY_EVERY:
            return
        self._last_tidy = monotonic
        with inbox_engine.connect() as main:
            moved = self._moved(main)
        if moved > self._stripped:
            conn.execute(update(intake_table).where(intake_table.c.id > self._stripped, intake_table.c.id <= moved)
                         .values(row=None))
            self._stripped = moved
        if monotonic - self._last_prune >= PRUNE_EVERY:
            self._last_prune = monotonic
            conn.execute(delete(intake_table).where(intake_table.c.id <= moved,
                                                    intake_table.c.received_ts < now - RETENTION))

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
        if not rows or any(r.row is None for r in rows):  # nothing new, or another mover was first
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
