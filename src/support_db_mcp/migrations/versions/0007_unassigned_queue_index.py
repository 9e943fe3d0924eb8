"""the unassigned queue's index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

search_tickets' `unassigned` filter (tickets nobody is assigned to, newest first) reads this
partial index in order. The (assignee_id, status, created_at) index finds those rows too, but an
IS NULL condition gives the planner no order from it, so every unassigned ticket of the status
was read and sorted to return a page (40,211 rows and 5.7 ms on the 1M-ticket desk).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_unassigned_created_at",
        "tickets",
        [sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("assignee_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_unassigned_created_at", table_name="tickets")
