"""Durable state through SQLAlchemy: received events, traces, applied effects.

SQLite file by default (WAL mode), PostgreSQL through ``postgresql+psycopg://``.
A *scope* separates live work from replays and dry-runs: a replay starts with no
applied effects of its own, and ``ticketbot why`` shows each trace with its scope.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

LIVE = "live"


class Base(DeclarativeBase):
    pass


class TraceRow(Base):
    """One (event, rule) evaluation: the verdicts, the plan, what happened to each effect."""

    __tablename__ = "traces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(200), index=True)
    event_kind: Mapped[str] = mapped_column(String(64))
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    matched: Mapped[bool] = mapped_column(Boolean)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    effects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AppliedEffectRow(Base):
    """The executor's record: this effect key has been made true (or was found true)."""

    __tablename__ = "applied_effects"
    __table_args__ = (UniqueConstraint("scope", "effect_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    effect_key: Mapped[str] = mapped_column(String(300))
    ticket_key: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))  # applied | already-true
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def is_in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///", "sqlite:///:memory:") or "mode=memory" in url


def make_engine(url: str) -> Engine:
    connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
    engine = create_engine(url, connect_args=connect_args, future=True)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
            cursor = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


class Store:
    """Everything ticketbot must remember, behind small intention-revealing methods."""

    def __init__(self, url: str) -> None:
        self.url = url
        if is_in_memory(url):
            # A private in-memory database lives only in this engine: build it from the models.
            self.engine = make_engine(url)
            from bot.migrations import load_models

            load_models().create_all(self.engine)
        else:
            from bot.migrations import upgrade

            upgrade(url)  # the schema a real database has is always the migrations' (idempotent)
            self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()

    # traces -------------------------------------------------------------------------
    def add_trace(self, *, scope: str, event_id: str, event_kind: str, ticket_key: str, rule_id: str,
                  at: datetime, matched: bool, verdicts: list[dict], effects: list[dict],
                  notes: list[str], error: str | None) -> None:
        with self.session() as s, s.begin():
            s.add(TraceRow(scope=scope, event_id=event_id, event_kind=event_kind, ticket_key=ticket_key,
                           rule_id=rule_id, at=at, matched=matched, verdicts=_jsonable(verdicts),
                           effects=_jsonable(effects), notes=list(notes), error=error))

    def traces(self, ticket_key: str | None = None, *, scope: str | None = None, limit: int = 200) -> list[TraceRow]:
        query = select(TraceRow).order_by(TraceRow.id.desc()).limit(limit)
        if ticket_key:
            query = query.where(TraceRow.ticket_key == ticket_key)
        if scope:
            query = query.where(TraceRow.scope == scope)
        with self.session() as s:
            return list(reversed(s.scalars(query).all()))

    # applied effects ------------------------------------------------------------------
    def is_applied(self, scope: str, effect_key: str) -> bool:
        with self.session() as s:
            row = s.scalar(select(AppliedEffectRow.id).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key == effect_key))
            return row is not None

    def applied_keys(self, scope: str, effect_keys: list[str]) -> set[str]:
        """Which of ``effect_keys`` are recorded as applied (one query)."""
        if not effect_keys:
            return set()
        with self.session() as s:
            return set(s.scalars(select(AppliedEffectRow.effect_key).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key.in_(effect_keys))).all())

    def record_applied(self, *, scope: str, effect_key: str, ticket_key: str, rule_id: str, kind: str,
                       outcome: str, detail: str, at: datetime) -> None:
        with self.session() as s, s.begin():
            exists = s.scalar(select(AppliedEffectRow.id).where(
                AppliedEffectRow.scope == scope, AppliedEffectRow.effect_key == effect_key))
            if exists is None:
                s.add(AppliedEffectRow(scope=scope, effect_key=effect_key, ticket_key=ticket_key, rule_id=rule_id,
                                       kind=kind, outcome=outcome, detail=detail, at=at))

    def applied(self, ticket_key: str | None = None, *, scope: str = LIVE) -> list[AppliedEffectRow]:
        query = select(AppliedEffectRow).where(AppliedEffectRow.scope == scope).order_by(AppliedEffectRow.id)
        if ticket_key:
            query = query.where(AppliedEffectRow.ticket_key == ticket_key)
        with self.session() as s:
            return list(s.scalars(query).all())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
