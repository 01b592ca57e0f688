"""Timers: one index for the sweep's query (pending, due by now, oldest first) in a scope.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_timers_pending_due"


def upgrade() -> None:
    if INDEX in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("timers")}:
        return
    op.create_index(INDEX, "timers", ["scope", "status", "due_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="timers")
