"""Our tool call in process, with its stages timed: SQL, the Python around it, serialisation.

The same code the server runs for a tool (the catalog's operation on the server's own engines,
then the result rendering), in this process, so that each stage can be timed: `sql` is the time
the statements spent in the driver (db/statements.py adds it up per call), `render` building the
structured and text content, `python` the rest (argument parsing, sessions, rows into the result
model). What a client sees on top of `total` is the SDK and the pipes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL

from support_db_mcp.bootstrap import adopt_installation
from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.db.statements import count_statements
from support_db_mcp.server.rendering import tool_result
from support_db_mcp.services.operations import CATALOG


@dataclass(frozen=True)
class Stages:
    total: float
    sql: float
    render: float
    statements: int

    @property
    def python(self) -> float:
        return self.total - self.sql - self.render


class InProcess:
    """The server's database and operations in this process (no MCP at all)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.explainer = None  # the Runtime protocol of the catalog

    @classmethod
    async def open(cls, url: URL) -> InProcess:
        settings = Settings()
        database = Database.open(url, settings)
        await adopt_installation(database, settings)  # the same cursor key as the server
        return cls(database)

    async def call(self, tool: str, arguments: dict[str, Any]) -> Stages:
        operation = CATALOG[tool]
        started = time.perf_counter()
        with count_statements() as log:
            result = await operation.run(self, operation.parse(arguments))
        rendering = time.perf_counter()
        tool_result(result)
        finished = time.perf_counter()
        return Stages(finished - started, log.seconds, finished - rendering, log.count)

    async def statements(self, tool: str, arguments: dict[str, Any]) -> list[tuple[str, list[Any]]]:
        """The statements the tool sends for `arguments` (SQL and values, as asyncpg gets them)."""
        operation = CATALOG[tool]
        with count_statements() as log:
            await operation.run(self, operation.parse(arguments))
        return [(statement.sql, list(statement.parameters)) for statement in log.statements]

    async def close(self) -> None:
        await self.database.dispose()
