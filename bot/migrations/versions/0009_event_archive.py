"""The event archive: received events past the inbox's retention, kept for exports and backtests.

The leader's sweep moves the inbox rows it prunes here in the same transaction (bot/inbox/archive.py); the
envelope is compact JSON compressed with zlib. Read by when it arrived (ix_event_archive_received) and per
ticket (ix_event_archive_ticket).

Revision ID: 0009_event_archive
Revises: 0008_ordering
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_event_archive"
down_revision = "0008_ordering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_archive",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_ts", sa.Float, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_event_archive_received", "event_archive", ["received_ts"])
    op.create_index("ix_event_archive_ticket", "event_archive", ["ticket_key", "received_ts"])


def downgrade() -> None:
    op.drop_index("ix_event_archive_ticket", table_name="event_archive")
    op.drop_index("ix_event_archive_received", table_name="event_archive")
    op.drop_table("event_archive")
