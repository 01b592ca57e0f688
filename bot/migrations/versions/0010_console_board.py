"""Rule state by scope, rule, stage and last change: what the operations console's board reads.

The board (bot/console/queries.py) counts the instances of every (rule, stage) of a scope, fetches the cards
of the stages in flight, and lists the instances that reached a final stage since a day, a week, a month.
The table's indexes so far lead with the rule alone (ix_rule_state_rule_id), the ticket
(ix_rule_state_ticket_key) or (scope, rule, ticket) (the unique constraint): each of those reads scanned
every state of the scope. ``ix_rule_state_board`` (scope, rule_id, stage, updated_at) answers the count
from the index alone, the cards of a stage and the closed instances of a period as index ranges. The
rules' own reads (``find`` by rule and stage) can use it too. One more index entry per rule state write: a
state is written a few times in an instance's life, not per event.

Revision ID: 0010_console_board
Revises: 0009_event_archive
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_console_board"
down_revision = "0009_event_archive"
branch_labels = None
depends_on = None

INDEX = "ix_rule_state_board"


def upgrade() -> None:
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("rule_state")}
    if INDEX not in existing:  # a database whose tables the models made already has it
        op.create_index(INDEX, "rule_state", ["scope", "rule_id", "stage", "updated_at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="rule_state")
