"""explain role

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The LOGIN role explain_query connects as: it may read the application's tables and nothing else.
Roles belong to the whole PostgreSQL server, so the role is created only if it does not exist yet,
and only when the migrating login may create roles (the embedded server's superuser may); otherwise
a DBA creates it with the SQL in the README section "explain_query" and this migration grants it
SELECT when it exists. Without a password it can log in only where the server trusts local
connections, as the embedded server does over its unix socket.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The role is support_db_explain; the application tables are users, tickets, comments, tags and
# ticket_tags (a later migration that adds a table grants SELECT on it the same way).


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain') THEN
            IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
              BEGIN
                CREATE ROLE support_db_explain LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
                  NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20;
              EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database on this server
              END;
            ELSE
              RAISE NOTICE 'role support_db_explain not created: % may not create roles; see the README '
                'section explain_query', current_user;
            END IF;
          END IF;
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain') THEN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO support_db_explain', current_database());
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO support_db_explain', current_schema());
            GRANT SELECT ON users, tickets, comments, tags, ticket_tags TO support_db_explain;
          END IF;
        END
        $$;
        """
    )


def downgrade() -> None:
    # The role may serve other databases on the same server, so it is left in place; only this
    # database's grants are taken back.
    op.execute(
        """
        DO $$
        BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'support_db_explain') THEN
            REVOKE SELECT ON users, tickets, comments, tags, ticket_tags FROM support_db_explain;
            EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM support_db_explain', current_schema());
            EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM support_db_explain', current_database());
          END IF;
        END
        $$;
        """
    )
