"""The audit log: what people asked ticketbot to do from Slack or the CLI, and what became of it.

One row per attempt: who (a Slack user id, or ``cli``), through what (``slack``, ``cli``), the
normalized command (``approve SS-1``, ``pause nudge``; never free text such as a reason), the
outcome (``done``, ``duplicate``, ``refused``) and a short detail. Refused attempts are kept as
carefully as granted ones: "who tried to pause a rule without being an admin" is a question
an operator asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.store import Base, Store

log = logging.getLogger(__name__)

DONE = "done"
DUPLICATE = "duplicate"
REFUSED = "refused"


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    via: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    via: str
    command: str
    outcome: str
    detail: str


class AuditLog:
    """Appends to and reads the audit log in the bot's database."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record(self, *, actor: str, via: str, command: str, outcome: str, detail: str = "") -> None:
        with self.store.session() as s, s.begin():
            s.add(AuditRow(at=self.clock.now(), actor=actor[:64], via=via[:16], command=command[:200],
                           outcome=outcome[:16], detail=detail[:2000]))
        log.info("audit: %s via %s: %s -> %s%s", actor, via, command, outcome, f" ({detail})" if detail else "")

    def entries(self, *, actor: str | None = None, outcome: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, oldest first."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if actor:
            query = query.where(AuditRow.actor == actor)
        if outcome:
            query = query.where(AuditRow.outcome == outcome)
        with self.store.session() as s:
            rows = list(reversed(s.scalars(query).all()))
        return [AuditEntry(at=r.at, actor=r.actor, via=r.via, command=r.command, outcome=r.outcome,
                           detail=r.detail) for r in rows]
