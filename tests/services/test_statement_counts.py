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
from support_db_mcp.schemas.comments import NewComment
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.similar import SimilarSearch
from support_db_mcp.schemas.tickets import NewTicket, TicketSearch
from support_db_mcp.schemas.updates import TicketChange
from support_db_mcp.services.actors import Actor
from support_db_mcp.services.comments import add_comment
from support_db_mcp.services.operations import CATALOG
from support_db_mcp.services.similar import find_similar_tickets
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_search import search_tickets
from support_db_mcp.services.ticket_update import update_ticket
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
    # the ticket with its tags, its comments and its history
    assert result.sql_statements == 1


@pytest.mark.parametrize(("tags", "expected"), [([], 3), (["a"], 4), ([f"t{i}" for i in range(10)], 4)])
async def test_creating_a_ticket_costs_at_most_four_statements_whatever_its_tags(
    session: AsyncSession, connection: AsyncConnection, tags: list[str], expected: int
) -> None:
    creator = await scalar(connection, "SELECT id FROM users WHERE role = 'customer' AND is_active LIMIT 1")
    result = await create_ticket(
        session, new=NewTicket(title="t", description="d", creator=creator, tags=tags)
    )
    assert result.ticket.tags == sorted(tags)
    assert result.sql_statements == expected


@pytest.mark.parametrize("tags", [1, 10])
async def test_an_update_costs_five_statements_whatever_number_of_tags_it_changes(
    session: AsyncSession, connection: AsyncConnection, tags: int
) -> None:
    ticket = await scalar(connection, "SELECT id FROM tickets WHERE status = 'open' ORDER BY id LIMIT 1")
    agent = await scalar(connection, "SELECT email FROM users WHERE role = 'agent' ORDER BY id LIMIT 1")
    current = await scalar(connection, "SELECT count(*) FROM ticket_tags WHERE ticket_id = :id", id=ticket)
    change = TicketChange(
        ticket=ticket, status="in_progress", add_tags=[f"n{i}" for i in range(min(tags, 10 - current))]
    )
    result = await update_ticket(session, change=change, actor=Actor(agent, "SUPPORT_DB_ACTOR"))
    assert result.sql_statements == 5  # users, the locked ticket, the update, the tags, the history


@pytest.mark.parametrize("long_thread", [False, True])
async def test_a_comment_costs_four_statements_whatever_the_thread(
    session: AsyncSession, connection: AsyncConnection, long_thread: bool
) -> None:
    having = ">= 50" if long_thread else "= 0"
    ticket = await scalar(
        connection,
        "SELECT t.id FROM tickets t "
        f"WHERE (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id) {having} ORDER BY t.id LIMIT 1",
    )
    agent = await scalar(connection, "SELECT email FROM users WHERE role = 'agent' ORDER BY id LIMIT 1")
    result = await add_comment(
        session, new=NewComment(ticket=ticket, body="hello"), actor=Actor(agent, "SUPPORT_DB_ACTOR")
    )
    assert result.sql_statements == 4


@pytest.mark.parametrize("limit", [1, 5, 20])
async def test_similar_tickets_cost_two_statements_whatever_the_limit(
    session: AsyncSession, limit: int
) -> None:
    by_ticket = await find_similar_tickets(session, search=SimilarSearch(ticket=1, limit=limit))
    by_text = await find_similar_tickets(
        session, search=SimilarSearch(text="refund for my order", limit=limit)
    )
    assert len(by_ticket.tickets) == len(by_text.tickets) == limit
    assert by_ticket.sql_statements == by_text.sql_statements == 2


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
        ("get_ticket", {"ticket": "1"}, 1),
        ("find_similar_tickets", {"ticket": "1", "limit": 5}, 2),
        ("find_similar_tickets", {"text": "refund for my order", "status": "open, in_progress"}, 2),
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


async def test_in_read_only_mode_reads_keep_one_round_trip_and_both_engines_refuse_writes(
    wire: tuple[_Runtime, WireCounter],
) -> None:
    runtime, counter = wire
    served = runtime.database.refusing_writes()  # what SUPPORT_DB_READ_ONLY serves (bootstrap.serving)
    operation = CATALOG["get_ticket"]
    inputs = operation.parse({"ticket": "1"})
    await operation.run(_Runtime(served), inputs)
    counter.reset()
    result: Any = await operation.run(_Runtime(served), inputs)
    assert counter.round_trips == 1 and result.sql_statements == 1  # still the read engine's one statement

    async def write(connection: ReadSession) -> None:
        await connection.exec_driver_sql("UPDATE tickets SET title = title WHERE id = 1")

    with pytest.raises(Exception, match="read-only transaction"):
        await served.run_read(write)
    with pytest.raises(Exception, match="read-only transaction"):
        async with served.write() as session:
            await write(await session.connection())
