"""Initial schema: traces, applied effects, inbox, rule pauses, daemon state.

Databases created before migrations existed (``Store`` ran ``create_all``) already hold
some of these tables; each is created only when missing, so this revision adopts them.

Revision ID: 0001
Revises:
Create Date: 2026-11-02
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _traces() -> None:
    op.create_table(
        "traces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_kind", sa.String(64), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("matched", sa.Boolean, nullable=False),
        sa.Column("verdicts", sa.JSON, nullable=False),
        sa.Column("effects", sa.JSON, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    for column in ("scope", "event_id", "ticket_key", "rule_id"):
        op.create_index(f"ix_traces_{column}", "traces", [column])


def _applied_effects() -> None:
    op.create_table(
        "applied_effects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("effect_key", sa.String(300), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.UniqueConstraint("scope", "effect_key"),
    )
    op.create_index("ix_applied_effects_ticket_key", "applied_effects", ["ticket_key"])


def _applied_effects_by_rule() -> None:
    """The guards' per-rule cap reads applied effects by rule and time (an index on an existing table)."""
    op.create_index("ix_applied_effects_rule_at", "applied_effects", ["rule_id", "at"])


def _inbox() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("occurred_at", _tz(), nullable=False),
        sa.Column("received_at", _tz(), nullable=False),
        sa.Column("received_ts", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("finished_at", _tz(), nullable=True),
    )
    op.create_index("ix_inbox_ticket_status", "inbox", ["ticket_key", "status", "id"])
    op.create_index("ix_inbox_status_due", "inbox", ["status", "next_attempt_at"])


def _rule_pauses() -> None:
    op.create_table(
        "rule_pauses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("ticket_key", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("by", sa.String(32), nullable=False),
        sa.Column("paused_at", _tz(), nullable=False),
        sa.Column("resumed_at", _tz(), nullable=True),
    )
    op.create_index("ix_rule_pauses_rule_id", "rule_pauses", ["rule_id"])


def _daemon_state() -> None:
    op.create_table(
        "daemon_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
    )


TABLES: dict[str, Callable[[], None]] = {
    "traces": _traces,
    "applied_effects": _applied_effects,
    "inbox": _inbox,
    "rule_pauses": _rule_pauses,
    "daemon_state": _daemon_state,
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("applied_effects")}
    if "ix_applied_effects_rule_at" not in indexes:
        _applied_effects_by_rule()


def downgrade() -> None:
    op.drop_index("ix_applied_effects_rule_at", "applied_effects")
    for name in reversed(TABLES):
        op.drop_table(name)
