"""MCP wiring only: the server object, its lifespan, and the thin tool layer."""

from support_db_mcp.server.app import AppState, create_server

__all__ = ["AppState", "create_server"]
