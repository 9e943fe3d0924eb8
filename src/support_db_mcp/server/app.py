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
from support_db_mcp.services.actors import Actor, check_acting_users
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


async def serving(database: Database, settings: Settings) -> tuple[Database, Actor | None]:
    """The database as the server uses it, and its acting user.

    Read-only mode makes PostgreSQL refuse writes on the write sessions too (no write tool is
    listed, and nothing could write through one anyway). Every user the configuration acts for
    must exist: a typo in SUPPORT_DB_ACTOR or a token file stops the start, not the first write.
    """
    served = database.refusing_writes() if settings.read_only else database
    await adopt_installation(served, settings)
    acting = settings.acting_users()
    if acting:
        async with served.read() as session:
            await check_acting_users(session, acting)
    if settings.read_only:
        log.info("read-only: no write tool is served, and the database refuses writes")
    actor = Actor(settings.actor, "SUPPORT_DB_ACTOR") if settings.actor is not None else None
    if actor is not None:
        log.info("acting for %s", actor)
    return served, actor


def create_server(
    settings: Settings | None = None, *, database: Database | None = None, explainer: Explainer | None = None
) -> MCPServer:
    """Build the server. With `database` (and `explainer`), use them as they are (tests); otherwise
    open the configured database, and an explain engine for the read-only explain role. The tools
    listed follow SUPPORT_DB_TOOLS and SUPPORT_DB_READ_ONLY (a wrong tool name stops here)."""

    configured = settings or Settings()
    operations = selected(configured.tools, read_only=configured.read_only)

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        if database is not None:
            served, actor = await serving(database, configured)
            yield AppState(served, "a database provided by the caller", explainer=explainer, actor=actor)
            return
        async with open_database(configured) as opened:
            served, actor = await serving(opened.database, configured)
            log.info("serving the support desk from %s", opened.source)
            explain = Explainer.for_url(
                explain_url_for(configured, opened.url), owner=opened.database.engine, settings=configured
            )
            try:
                yield AppState(served, opened.source, explainer=explain, actor=actor)
            finally:
                await explain.dispose()

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
