"""Related rows are eager-loaded: each call sends a fixed number of statements, whatever the size."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.schemas.comments import NewComment
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.similar import SimilarSearch
from support_db_mcp.schemas.tickets import NewTicket, TicketSearch
from support_db_mcp.schemas.updates import TicketChange
from support_db_mcp.services.actors import Actor
from support_db_mcp.services.comments import add_comment
from support_db_mcp.services.similar import find_similar_tickets
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_search import search_tickets
from support_db_mcp.services.ticket_update import update_ticket
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
