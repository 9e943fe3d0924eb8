"""The MCPServer and its lifespan, which owns the database for the life of a connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer

from support_db_mcp import __version__
from support_db_mcp.bootstrap import Service, open_service, serving
from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.explain import Explainer
from support_db_mcp.server import completions, prompts, resources
from support_db_mcp.server.tools import tools
from support_db_mcp.services.actors import Actor
from support_db_mcp.services.operations import selected

log = logging.getLogger(__name__)

# What every client is told about the server when it connects (the MCP `instructions`).
INSTRUCTIONS_FILE = "server_instructions.md"
DESCRIPTION = "Search, read, create, update and comment on support tickets in a live PostgreSQL database."


@dataclass(frozen=True)
class AppState:
    database: Database
    source: str
    explainer: Explainer | None = None
    actor: Actor | None = None  # who writes are done for when a request names no one (SUPPORT_DB_ACTOR)


def create_server(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    explainer: Explainer | None = None,
    service: Service | None = None,
) -> MCPServer:
    """Build the server. With `service` (opened by the command line before the transport starts, so
    a failed start is reported at once), serve from it; with `database` (and `explainer`), use them
    as they are (tests); otherwise each connection's lifespan opens the configured database. The
    tools listed follow SUPPORT_DB_TOOLS and SUPPORT_DB_READ_ONLY (a wrong tool name stops here)."""

    configured = settings or Settings()
    operations = selected(configured.tools, read_only=configured.read_only)

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        if service is not None:
            yield AppState(service.database, service.source, explainer=service.explainer, actor=service.actor)
            return
        if database is not None:
            served, actor = await serving(database, configured)
            yield AppState(served, "a database provided by the caller", explainer=explainer, actor=actor)
            return
        async with open_service(configured) as opened:
            yield AppState(opened.database, opened.source, explainer=opened.explainer, actor=opened.actor)

    mcp = MCPServer(
        "support-db-mcp",
        title="Support desk database",
        description=DESCRIPTION,
        instructions=prompts.library().document(INSTRUCTIONS_FILE).strip(),
        version=__version__,
        lifespan=lifespan,
        # the SDK calls logging.basicConfig with it; the command line configures logging first
        log_level=configured.log_level_for(stdio=True),
        tools=tools(operations),
    )
    prompts.register(mcp, settings)
    resources.register(mcp, settings)
    completions.register(mcp)
    return mcp
