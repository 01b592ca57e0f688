"""Traces: one index, (ticket_key, scope), instead of one per column.

Traces are read by ticket within a scope (``ticketbot why``, ``status``: ``Store.traces``); nothing reads
them by event id, rule or scope alone. Every trace row kept four indexes up to date: a replay writes five
traces per event (one per enabled rule), and the three unused ones were about 6 % of its CPU
(benchmarks/scale.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_traces_ticket_scope"
OLD = ("scope", "event_id", "ticket_key", "rule_id")


def upgrade() -> None:
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("traces")}
    for column in OLD:
        if f"ix_traces_{column}" in existing:
            op.drop_index(f"ix_traces_{column}", table_name="traces")
    if INDEX not in existing:  # a database whose tables the models made already has it
        op.create_index(INDEX, "traces", ["ticket_key", "scope"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="traces")
    for column in OLD:
        op.create_index(f"ix_traces_{column}", "traces", [column])
