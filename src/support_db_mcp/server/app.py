"""The MCPServer and its lifespan, which owns the database for the life of a connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer

from support_db_mcp import __version__
from support_db_mcp.bootstrap import Service, adopt_installation, open_service
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
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    explainer: Explainer | None = None,
    service: Service | None = None,
) -> MCPServer:
    """Build the server. With `service` (opened by the command line before the transport starts, so
    a failed start is reported at once), serve from it; with `database` (and `explainer`), use them
    as they are (tests); otherwise each connection's lifespan opens the configured database."""

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        configured = settings or Settings()
        if service is not None:
            yield AppState(database=service.database, source=service.source, explainer=service.explainer)
            return
        if database is not None:
            await adopt_installation(database, configured)
            yield AppState(database=database, source="a database provided by the caller", explainer=explainer)
            return
        async with open_service(configured) as opened:
            yield AppState(database=opened.database, source=opened.source, explainer=opened.explainer)

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
