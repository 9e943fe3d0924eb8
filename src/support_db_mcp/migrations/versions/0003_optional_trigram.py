"""optional trigram index on ticket titles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Where the server has the pg_trgm extension (most packaged PostgreSQL servers ship it in contrib;
the embedded one does not), create it and a trigram GIN index on tickets.title, so that
search_tickets also finds titles that match the words with a typo. Where it is missing, or this
login may not create it, nothing changes and search uses full-text matching alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_trgm is a trusted extension: the database owner may create it. A savepoint keeps a refusal
    # from aborting the migration's transaction.
    op.execute(
        """
        DO $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
            BEGIN
              CREATE EXTENSION IF NOT EXISTS pg_trgm;
              CREATE INDEX IF NOT EXISTS ix_tickets_title_trgm ON tickets USING gin (title gin_trgm_ops);
            EXCEPTION WHEN insufficient_privilege THEN
              RAISE NOTICE 'pg_trgm could not be created (%); search uses full-text matching only', SQLERRM;
            END;
          END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_tickets_title_trgm")
