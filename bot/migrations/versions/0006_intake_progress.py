"""Intake progress: how far the workers have moved webhooks from the HTTP process's intake file into the inbox.

On SQLite, ``ticketbot run`` commits webhooks to a file of their own (see bot/inbox/spool.py); the row here
advances in the same transaction that inserts them into the inbox, so a move is all or nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_progress",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_progress")
