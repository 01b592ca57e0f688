"""Instance members: which runbook instance a ticket's events belong to, for the inbox's ordering.

One onboarding spans several tickets (SS, its CS ticket, a separate approval ticket). The inbox processes the
events of one *instance* one after another (bot/inbox/queue.py); a rule records, through its state, that a ticket
belongs to its instance (bot/state.py, ``member``), and that lands here: ticket → the key of the instance
(the ticket whose rule state it is). A ticket with no row is an instance of its own.

Revision ID: 0008_ordering
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ordering"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_members",
        sa.Column("ticket_key", sa.String(64), primary_key=True),
        sa.Column("instance_key", sa.String(64), nullable=False),
    )
    op.create_index("ix_instance_members_instance", "instance_members", ["instance_key"])


def downgrade() -> None:
    op.drop_index("ix_instance_members_instance", table_name="instance_members")
    op.drop_table("instance_members")
