"""Related rows are eager-loaded: each call sends a fixed number of statements, whatever the size."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.schemas.fields import TicketRef
from support_db_mcp.schemas.tickets import NewTicket, TicketSearch
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar


@pytest.mark.parametrize("limit", [1, 20, 100])
async def test_a_search_page_costs_two_statements_whatever_its_size(
    session: AsyncSession, limit: int
) -> None:
    with count_statements() as outside:
        result = await search_tickets(session, search=TicketSearch(limit=limit))
    assert len(result.tickets) == limit
    assert result.sql_statements == outside.count == 2
    assert sum(len(t.tags) for t in result.tickets) >= limit  # tags were really loaded


async def test_a_tag_search_costs_three_statements(session: AsyncSession) -> None:
    result = await search_tickets(session, search=TicketSearch(tag="Billing", limit=100))
    assert len(result.tickets) == 100 and all("billing" in t.tags for t in result.tickets)
    assert result.sql_statements == 3


async def test_reading_a_ticket_with_fifty_comments_costs_four_statements(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket_id = await scalar(
        connection, "SELECT ticket_id FROM comments GROUP BY 1 HAVING count(*) >= 50 ORDER BY 1 LIMIT 1"
    )
    result = await get_ticket(session, ref=TicketRef(id=ticket_id))
    assert len(result.ticket.comments) >= 50
    assert len({c.author.id for c in result.ticket.comments}) >= 2
    # the ticket, its tags, its comments, its history
    assert result.sql_statements == 4


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
