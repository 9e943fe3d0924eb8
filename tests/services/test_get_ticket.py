"""get_ticket: by id or number, with comments oldest first and their authors."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.services.ticket_read import get_ticket
from tests.helpers import first_row, scalar


async def _ticket_with_comments(connection: AsyncConnection, at_least: int) -> int:
    return int(
        await scalar(
            connection,
            "SELECT ticket_id FROM comments GROUP BY ticket_id HAVING count(*) >= :n "
            "ORDER BY ticket_id LIMIT 1",
            n=at_least,
        )
    )


async def test_a_ticket_read_by_id_has_every_column_and_its_comments_oldest_first(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket_id = await _ticket_with_comments(connection, 3)
    result = await get_ticket(session, ref=TicketRef(id=ticket_id))
    row = await first_row(connection, "SELECT * FROM tickets WHERE id = :id", id=ticket_id)
    ticket = result.ticket
    assert (ticket.id, ticket.number, ticket.title, ticket.description) == (
        row["id"],
        row["number"],
        row["title"],
        row["description"],
    )
    assert (ticket.status.value, ticket.priority.value) == (row["status"], row["priority"])
    assert ticket.creator.id == row["creator_id"]
    assert (ticket.assignee.id if ticket.assignee else None) == row["assignee_id"]
    assert ticket.created_at == row["created_at"] and ticket.created_at.tzinfo is not None

    comments = (
        await connection.execute(
            text(
                "SELECT c.id, c.body, c.is_internal, u.email FROM comments c "
                "JOIN users u ON u.id = c.author_id "
                "WHERE c.ticket_id = :id ORDER BY c.created_at, c.id"
            ),
            {"id": ticket_id},
        )
    ).all()
    assert [(c.id, c.body, c.internal, c.author.email) for c in ticket.comments] == [
        tuple(c) for c in comments
    ]
    assert ticket.comment_count == len(comments) >= 3
    tags = (
        await connection.execute(
            text(
                "SELECT g.name FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id "
                "WHERE tt.ticket_id = :id ORDER BY g.name"
            ),
            {"id": ticket_id},
        )
    ).scalars()
    assert ticket.tags == list(tags)


@pytest.mark.parametrize("spelling", ["{number}", "{lower}", "TCK-{id}", "{id}"])
async def test_a_ticket_can_be_named_by_number_in_several_spellings(
    session: AsyncSession, connection: AsyncConnection, spelling: str
) -> None:
    row = await first_row(connection, "SELECT id, number FROM tickets ORDER BY id DESC LIMIT 1")
    typed = spelling.format(number=row["number"], lower=row["number"].lower(), id=row["id"])
    result = await get_ticket(session, ref=TicketRef.parse(typed))
    assert result.ticket.id == row["id"] and result.ticket.number == row["number"]


async def test_an_unknown_ticket_is_a_clear_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFoundError, match="no ticket with number TCK-999999999"):
        await get_ticket(session, ref=TicketRef.parse("TCK-999999999"))


@pytest.mark.parametrize("typed", ["TCK-", "ticket 5", "T-1", "-3", "0", "1.5"])
def test_ticket_names_that_are_neither_id_nor_number_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="ticket"):
        TicketRef.parse(typed)
