"""The console without a proxy, and its weekly digest: sign-in links, sessions, digests sent.

``console_sign_in_links``: a link ``/ticketbot console`` handed out (the SHA-256 of its token, never the token),
whose e-mail it signs in, until when, and when it was used (single use: spent by one conditional UPDATE).
``console_sessions``: a session a link started (the SHA-256 of the cookie's token), its e-mail, its end and
when it was revoked (sign-out, ``ticketbot console --sign-out``). ``console_digests``: one row per week whose
digest was claimed and sent to the admin channel, so it goes once across restarts and replicas
(bot/console/sessions.py, bot/console/digest.py).

``ix_traces_rings``: the traces of timer events whose rule acted (a partial index: a small fraction of the
traces), by scope and time, for the console's chart of reminders and escalations per week
(bot/console/charts.py); no other trace write touches it.

Revision ID: 0011_console_sign_in
Revises: 0010_console_board
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_console_sign_in"
down_revision = "0010_console_board"
branch_labels = None
depends_on = None

RINGS = "ix_traces_rings"


def upgrade() -> None:
    op.create_table(
        "console_sign_in_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("via", sa.String(200), nullable=False),
    )
    op.create_index("ix_console_sign_in_links_expires_at", "console_sign_in_links", ["expires_at"])
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("via", sa.String(200), nullable=False),
    )
    op.create_index("ix_console_sessions_email", "console_sessions", ["email"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_table(
        "console_digests",
        sa.Column("week", sa.String(16), primary_key=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("traces")}
    if RINGS not in existing:
        op.create_index(RINGS, "traces", ["scope", "at"],
                        sqlite_where=sa.text("event_kind = 'timer.fired' AND matched = 1"),
                        postgresql_where=sa.text("event_kind = 'timer.fired' AND matched"))


def downgrade() -> None:
    op.drop_index(RINGS, table_name="traces")
    op.drop_table("console_digests")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_email", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index("ix_console_sign_in_links_expires_at", table_name="console_sign_in_links")
    op.drop_table("console_sign_in_links")
