"""The MCPServer and its lifespan, which owns the database for the life of a connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer

from support_db_mcp import __version__
from support_db_mcp.bootstrap import adopt_installation, explain_url_for, open_database
from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.explain import Explainer
from support_db_mcp.server import completions, prompts, resources
from support_db_mcp.server.tools import tools

log = logging.getLogger(__name__)

# What every client is told about the server when it connects (the MCP `instructions`).
INSTRUCTIONS_FILE = "server_instructions.md"


@dataclass(frozen=True)
class AppState:
    database: Database
    source: str
    explainer: Explainer | None = None


def create_server(
    settings: Settings | None = None, *, database: Database | None = None, explainer: Explainer | None = None
) -> MCPServer:
    """Build the server. With `database` (and `explainer`), use them as they are (tests); otherwise
    open the configured database, and an explain engine for the read-only explain role."""

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        configured = settings or Settings()
        if database is not None:
            await adopt_installation(database, configured)
            yield AppState(database=database, source="a database provided by the caller", explainer=explainer)
            return
        async with open_database(configured) as opened:
            await adopt_installation(opened.database, configured)
            log.info("serving the support desk from %s", opened.source)
            explain = Explainer.for_url(
                explain_url_for(configured, opened.url), owner=opened.database.engine, settings=configured
            )
            try:
                yield AppState(database=opened.database, source=opened.source, explainer=explain)
            finally:
                await explain.dispose()

    mcp = MCPServer(
        "support-db-mcp",
        title="Support desk database",
        description="Search, read and create customer-support tickets in a live PostgreSQL database.",
        instructions=prompts.library().document(INSTRUCTIONS_FILE).strip(),
        version=__version__,
        lifespan=lifespan,
        log_level=(settings.log_level if settings else "INFO"),
        tools=tools(),
    )
    prompts.register(mcp, settings)
    resources.register(mcp, settings)
    completions.register(mcp)
    return mcp
