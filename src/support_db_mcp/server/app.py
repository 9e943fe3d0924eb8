"""The MCPServer and its lifespan, which owns the database for the life of a connection."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer

from support_db_mcp import __version__
from support_db_mcp.bootstrap import open_database
from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.server import tools

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
A live customer-support database (users, tickets, comments, tags) on PostgreSQL.
- search_tickets finds tickets by free text, status, priority, assignee, creator, tag and date,
  newest first, one page at a time: pass next_cursor back to get the next page.
- get_ticket reads one ticket (by id or by number such as TCK-000123) with its comments.
- create_ticket stores a new ticket; it is not idempotent, so do not retry a call that succeeded.
Every result reports how many SQL statements it ran.
"""


@dataclass(frozen=True)
class AppState:
    database: Database
    source: str


def create_server(settings: Settings | None = None, *, database: Database | None = None) -> MCPServer:
    """Build the server. With `database`, use it as is (tests); otherwise open the configured one."""

    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[AppState]:
        if database is not None:
            yield AppState(database=database, source="a database provided by the caller")
            return
        async with open_database(settings or Settings()) as opened:
            log.info("serving the support desk from %s", opened.source)
            yield AppState(database=opened.database, source=opened.source)

    mcp = MCPServer(
        "support-db-mcp",
        title="Support desk database",
        description="Search, read and create customer-support tickets in a live PostgreSQL database.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=(settings.log_level if settings else "INFO"),
    )
    tools.register(mcp)
    return mcp
