"""A ticket's history: recorded in the write's transaction, bounded when read, newest last."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import HISTORY_LIMIT
from support_db_mcp.services import history
from support_db_mcp.services.ticket_read import get_ticket
from tests.helpers import a_user, an_open_ticket


async def test_the_history_shows_the_latest_fifty_changes_newest_last_and_says_when_it_cut(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await a_user(connection, "agent")
    changes = [history.Change("priority", str(n), str(n + 1)) for n in range(HISTORY_LIMIT + 10)]
    await history.record(
        session, ticket_id=ticket["id"], actor_id=agent["id"], tool="update_ticket", changes=changes
    )

    read = await get_ticket(session, ref=TicketRef(id=ticket["id"]))
    assert read.history_truncated is True and len(read.history) == HISTORY_LIMIT
    assert [event.to for event in read.history] == [str(n + 1) for n in range(10, HISTORY_LIMIT + 10)]
    assert {event.actor.email for event in read.history} == {agent["email"]}
    assert read.sql_statements == 1  # the history is in the ticket's statement, however long it is


async def test_a_ticket_changed_by_no_tool_has_an_empty_history(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    read = await get_ticket(session, ref=TicketRef(id=ticket["id"]))
    assert read.history == [] and read.history_truncated is False
