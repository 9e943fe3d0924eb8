"""Connections to PostgreSQL: engines, sessions, the embedded server and migrations."""

from support_db_mcp.db.engine import Database, create_engine_for

__all__ = ["Database", "create_engine_for"]
