"""Inbox: the digest of a signed webhook body, unique, so a replayed body is a duplicate under any identifier.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:  # SQLite: a table copy; PostgreSQL: ALTER TABLE
        batch.add_column(sa.Column("body_digest", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_inbox_body_digest", ["body_digest"])


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_constraint("uq_inbox_body_digest", type_="unique")
        batch.drop_column("body_digest")
