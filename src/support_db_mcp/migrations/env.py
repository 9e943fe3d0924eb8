"""Alembic environment: runs on a connection handed over by support_db_mcp.db.migrate.

`support-db-mcp migrate` is the supported entry point; plain `alembic` needs no ini file because
the connection always comes from our own engine.
"""

from __future__ import annotations

from alembic import context

from support_db_mcp.db.migrate import include_object
from support_db_mcp.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `support-db-mcp migrate`, which provides the connection")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    compare_type=True,
    compare_server_default=True,
    include_object=include_object,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
