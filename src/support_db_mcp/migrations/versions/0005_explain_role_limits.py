"""explain role limits

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Two settings of the explain login that only a superuser may give it, so they are set here where
the migrating login is one (the embedded server's is) and otherwise left to a DBA (the README
section "explain_query" has the SQL):
- track_activities = off: its sessions' SQL is not shown in pg_stat_activity, so one caller of
  explain_query cannot read another's queries there (the parser also refuses pg_stat_activity);
- temp_file_limit = 1GB: one call cannot fill the server's disk with sort or hash spills.
Role settings apply from the next login; explain_query logs in anew for every call.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain') THEN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              ALTER ROLE support_db_explain SET track_activities = off;
              ALTER ROLE support_db_explain SET temp_file_limit = '1GB';
            ELSE
              RAISE NOTICE 'support_db_explain keeps track_activities and temp_file_limit: % is not a '
                'superuser; see the README section explain_query', current_user;
            END IF;
          END IF;
        END
        $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain')
             AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            ALTER ROLE support_db_explain RESET track_activities;
            ALTER ROLE support_db_explain RESET temp_file_limit;
          END IF;
        END
        $$;
        """
    )
