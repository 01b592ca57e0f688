"""Rule state (stage and record per rule and ticket) and durable timers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "rule_state" not in existing:
        op.create_table(
            "rule_state",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("scope", sa.String(64), nullable=False),
            sa.Column("rule_id", sa.String(100), nullable=False),
            sa.Column("ticket_key", sa.String(64), nullable=False),
            sa.Column("stage", sa.String(64), nullable=False),
            sa.Column("data", sa.JSON, nullable=False),
            sa.Column("history", sa.JSON, nullable=False),
            sa.Column("created_at", _tz(), nullable=False),
            sa.Column("updated_at", _tz(), nullable=False),
            sa.UniqueConstraint("scope", "rule_id", "ticket_key"),
        )
        op.create_index("ix_rule_state_rule_id", "rule_state", ["rule_id"])
        op.create_index("ix_rule_state_ticket_key", "rule_state", ["ticket_key"])
    if "timers" not in existing:
        op.create_table(
            "timers",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("scope", sa.String(64), nullable=False),
            sa.Column("timer_id", sa.String(300), nullable=False),
            sa.Column("rule_id", sa.String(100), nullable=False),
            sa.Column("ticket_key", sa.String(64), nullable=False),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("due_at", _tz(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("data", sa.JSON, nullable=False),
            sa.Column("created_at", _tz(), nullable=False),
            sa.Column("fired_at", _tz(), nullable=True),
            sa.Column("fire_count", sa.Integer, nullable=False),
            sa.UniqueConstraint("scope", "timer_id"),
        )
        op.create_index("ix_timers_ticket_key", "timers", ["ticket_key"])
        op.create_index("ix_timers_due_at", "timers", ["due_at"])
        op.create_index("ix_timers_status", "timers", ["status"])


def downgrade() -> None:
    op.drop_table("timers")
    op.drop_table("rule_state")
