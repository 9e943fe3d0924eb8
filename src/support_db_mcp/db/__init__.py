"""Connections to PostgreSQL: engines, sessions, the embedded server and migrations."""

from support_db_mcp.db.engine import Database, ReadSession, create_engine_for

__all__ = ["Database", "ReadSession", "create_engine_for"]
