"""support-db-mcp: an MCP server over a live customer-support PostgreSQL database."""

__version__ = "0.1.0"
