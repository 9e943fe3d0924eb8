"""Every read is one round trip: each call sends a fixed number of statements, whatever the size,
and the reads send nothing else (no pre-ping, no BEGIN or ROLLBACK)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from support_db_mcp.bootstrap import adopt_installation
from support_db_mcp.config import Settings
from support_db_mcp.db import Database, ReadSession
from support_db_mcp.db.statements import count_statements
from support_db_mcp.schemas.fields import TicketRef
from support_db_mcp.schemas.tickets import NewTicket, TicketSearch
from support_db_mcp.services.operations import CATALOG
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar
from tests.wire import WireCounter, counting_proxy


@pytest.mark.parametrize("limit", [1, 20, 100])
async def test_a_search_page_costs_one_statement_whatever_its_size(session: AsyncSession, limit: int) -> None:
    with count_statements() as outside:
        result = await search_tickets(session, search=TicketSearch(limit=limit))
    assert len(result.tickets) == limit
    assert result.sql_statements == outside.count == 1
    assert sum(len(t.tags) for t in result.tickets) >= limit  # tags were really loaded


async def test_a_tag_search_costs_two_statements(session: AsyncSession) -> None:
    result = await search_tickets(session, search=TicketSearch(tag="Billing", limit=100))
    assert len(result.tickets) == 100 and all("billing" in t.tags for t in result.tickets)
    assert result.sql_statements == 2


async def test_reading_a_ticket_with_fifty_comments_costs_one_statement(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket_id = await scalar(
        connection, "SELECT ticket_id FROM comments GROUP BY 1 HAVING count(*) >= 50 ORDER BY 1 LIMIT 1"
    )
    result = await get_ticket(session, ref=TicketRef(id=ticket_id))
    assert len(result.ticket.comments) >= 50
    assert len({c.author.id for c in result.ticket.comments}) >= 2
    assert result.sql_statements == 1


@pytest.mark.parametrize(("tags", "expected"), [([], 2), (["a"], 3), ([f"t{i}" for i in range(10)], 3)])
async def test_creating_a_ticket_costs_at_most_three_statements_whatever_its_tags(
    session: AsyncSession, connection: AsyncConnection, tags: list[str], expected: int
) -> None:
    creator = await scalar(connection, "SELECT id FROM users WHERE role = 'customer' AND is_active LIMIT 1")
    result = await create_ticket(
        session, new=NewTicket(title="t", description="d", creator=creator, tags=tags)
    )
    assert result.ticket.tags == sorted(tags)
    assert result.sql_statements == expected


# ---------------------------------------------------------------- what crosses the wire
class _Runtime:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.explainer = None


@pytest_asyncio.fixture
async def wire(
    engine: AsyncEngine, database_url: URL, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[_Runtime, WireCounter]]:
    """The server's own engines on the test database (`engine` has migrated and seeded it),
    through a proxy that counts round trips."""
    async with counting_proxy(database_url, tmp_path_factory.mktemp("wire")) as counter:
        database = Database.open(counter.url, settings)
        try:
            await adopt_installation(database, settings)
            yield _Runtime(database), counter
        finally:
            await database.dispose()


@pytest.mark.parametrize(
    ("tool", "arguments", "round_trips"),
    [
        ("search_tickets", {"status": "open", "limit": 50}, 1),
        ("search_tickets", {"assignee_id": 7, "text": "refund", "limit": 5}, 1),
        ("search_tickets", {"tag": "billing", "limit": 20}, 2),
        ("get_ticket", {"ticket": 1}, 1),
    ],
)
async def test_a_read_is_its_statements_and_nothing_else_on_the_wire(
    wire: tuple[_Runtime, WireCounter], tool: str, arguments: dict[str, Any], round_trips: int
) -> None:
    runtime, counter = wire
    operation = CATALOG[tool]
    inputs = operation.parse(arguments)
    await operation.run(runtime, inputs)  # the first call also connects and prepares
    counter.reset()
    for _ in range(3):
        result: Any = await operation.run(runtime, inputs)
    # before: pre-ping (BEGIN, ";", ROLLBACK), BEGIN READ ONLY, the statements, ROLLBACK
    assert counter.round_trips == 3 * round_trips
    assert result.sql_statements == round_trips


async def test_reads_are_refused_writes_by_the_database_itself(wire: tuple[_Runtime, WireCounter]) -> None:
    runtime, _ = wire

    async def write(connection: ReadSession) -> None:
        assert isinstance(connection, AsyncConnection)  # the read tools' pooled connection
        await connection.exec_driver_sql("UPDATE tickets SET title = title WHERE id = 1")

    with pytest.raises(Exception, match="read-only transaction"):
        await runtime.database.run_read(write)
