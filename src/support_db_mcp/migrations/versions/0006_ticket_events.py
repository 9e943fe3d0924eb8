"""ticket events and write requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- `ticket_events`: every change the tools make to a ticket (create_ticket, update_ticket,
  add_comment): when, who acted, which tool, which field, the old and the new value. get_ticket
  reads it, and explain_query explains get_ticket as the support_db_explain role, so that role is
  granted SELECT on it where it exists (as in 0002).
- `write_requests`: the idempotency keys of every write tool, with a fingerprint of the call, so a
  reused key with other arguments is refused instead of silently replaying another call. The keys
  create_ticket kept in `tickets.request_id` move here (without a fingerprint: they replay as
  before), and that column goes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXPLAIN_ROLE_EXISTS = "EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain')"


def upgrade() -> None:
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("tool", sa.String(length=50), nullable=False),
        sa.Column("field", sa.String(length=50), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_events_actor_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    op.create_index("ix_ticket_events_ticket_id_id", "ticket_events", ["ticket_id", "id"], unique=False)
    op.create_index(op.f("ix_ticket_events_actor_id"), "ticket_events", ["actor_id"], unique=False)

    op.create_table(
        "write_requests",
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("tool", sa.String(length=50), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("comment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_write_requests_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_write_requests_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_write_requests")),
    )
    op.create_index(op.f("ix_write_requests_ticket_id"), "write_requests", ["ticket_id"], unique=False)
    op.create_index(op.f("ix_write_requests_comment_id"), "write_requests", ["comment_id"], unique=False)

    op.execute(
        "INSERT INTO write_requests (request_id, tool, fingerprint, ticket_id, created_at) "
        "SELECT request_id, 'create_ticket', NULL, id, created_at FROM tickets WHERE request_id IS NOT NULL"
    )
    op.drop_constraint(op.f("uq_tickets_request_id"), "tickets", type_="unique")
    op.drop_column("tickets", "request_id")

    op.execute(
        f"DO $$ BEGIN IF {_EXPLAIN_ROLE_EXISTS} THEN "
        "GRANT SELECT ON ticket_events TO support_db_explain; END IF; END $$"
    )


def downgrade() -> None:
    op.add_column("tickets", sa.Column("request_id", sa.String(length=100), nullable=True))
    op.create_unique_constraint(op.f("uq_tickets_request_id"), "tickets", ["request_id"])
    # Only create_ticket's keys have a place to go back to.
    op.execute(
        "UPDATE tickets t SET request_id = w.request_id FROM write_requests w "
        "WHERE w.tool = 'create_ticket' AND w.ticket_id = t.id"
    )
    op.drop_table("write_requests")
    op.drop_table("ticket_events")
