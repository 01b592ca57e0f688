"""The intake file: on SQLite, webhooks are committed to a database file only the HTTP process writes."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.store import Base


class IntakeProgress(Base):
    """How far the workers have moved an intake file's rows into the inbox (the last intake id moved)."""

    __tablename__ = "intake_progress"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
