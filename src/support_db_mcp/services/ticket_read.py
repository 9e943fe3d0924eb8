"""get_ticket: one ticket with its description, tags and comments (oldest first, with authors), and
its history (services/history.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import GetTicketResult, TicketDetail
from support_db_mcp.services.history import ticket_history
from support_db_mcp.services.ticket_rows import (
    COMMENTS_OF_TICKET,
    comment_out,
    summary_columns,
    summary_from,
    tags_of,
    ticket_detail,
    tickets_table,
)

_TICKET_BY_ID = (
    select(*summary_columns(), tickets_table.c.description)
    .select_from(summary_from)
    .where(tickets_table.c.id == bindparam("id"))
)
_TICKET_BY_NUMBER = (
    select(*summary_columns(), tickets_table.c.description)
    .select_from(summary_from)
    .where(tickets_table.c.number == bindparam("number"))
)


def _ticket_query(ref: TicketRef) -> tuple[Select[*tuple[Any, ...]], dict[str, Any]]:
    if ref.id is not None:
        return _TICKET_BY_ID, {"id": ref.id}
    return _TICKET_BY_NUMBER, {"number": ref.number}


def ticket_statement(ref: TicketRef) -> Select[*tuple[Any, ...]]:
    """The ticket's own row with its creator and assignee (tags and comments follow, one statement each)."""
    statement, values = _ticket_query(ref)
    return statement.params(values)


async def read_ticket(session: AsyncSession, ref: TicketRef) -> TicketDetail | None:
    """The whole ticket, or None when there is none: three statements whatever its size."""
    statement, values = _ticket_query(ref)
    row = (await session.execute(statement, values)).one_or_none()
    if row is None:
        return None
    tags = await tags_of(session, [row.id])
    comments = [
        comment_out(comment._mapping)
        for comment in await session.execute(COMMENTS_OF_TICKET, {"ticket_id": row.id})
    ]
    return ticket_detail(row._mapping, tags.get(row.id, []), comments)


async def get_ticket(session: AsyncSession, *, ref: TicketRef) -> GetTicketResult:
    with count_statements() as statements:
        ticket = await read_ticket(session, ref)
        history = await ticket_history(session, ticket_id=ticket.id) if ticket is not None else None
    if ticket is None or history is None:
        raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
    return GetTicketResult(
        ticket=ticket,
        history=history.events,
        history_truncated=history.truncated,
        sql_statements=statements.count,
    )
