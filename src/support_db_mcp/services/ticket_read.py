"""get_ticket: one ticket with its description, tags and comments (oldest first, with authors).

One statement whatever the ticket's size: its row with creator and assignee, its tags as an array
and its comments as one array of rows (services/ticket_rows.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select

from support_db_mcp.db.engine import ReadSession
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.fields import TicketRef
from support_db_mcp.schemas.tickets import GetTicketResult, TicketDetail
from support_db_mcp.services.ticket_rows import (
    compile_read,
    detail_columns,
    detail_fields,
    fetch,
    summary_from,
    tickets_table,
)

_TICKET_BY_ID = (
    select(*detail_columns()).select_from(summary_from).where(tickets_table.c.id == bindparam("id"))
)
_TICKET_BY_NUMBER = (
    select(*detail_columns()).select_from(summary_from).where(tickets_table.c.number == bindparam("number"))
)
_COMPILED = {"id": compile_read(_TICKET_BY_ID), "number": compile_read(_TICKET_BY_NUMBER)}


def _ticket_values(ref: TicketRef) -> tuple[str, dict[str, Any]]:
    if ref.id is not None:
        return "id", {"id": ref.id}
    return "number", {"number": ref.number}


def ticket_statement(ref: TicketRef) -> Select[*tuple[Any, ...]]:
    """The statement get_ticket sends for `ref`, with its value bound (for EXPLAIN and tests)."""
    key, values = _ticket_values(ref)
    statement = _TICKET_BY_ID if key == "id" else _TICKET_BY_NUMBER
    return statement.params(values)


async def read_ticket_fields(session: ReadSession, ref: TicketRef) -> dict[str, Any] | None:
    """The fields of the whole ticket (TicketDetail's), or None when there is none: one statement."""
    key, values = _ticket_values(ref)
    rows = await fetch(session, _COMPILED[key], values)
    return detail_fields(rows[0]) if rows else None


async def read_ticket(session: ReadSession, ref: TicketRef) -> TicketDetail | None:
    """The whole ticket, or None when there is none: one statement."""
    fields = await read_ticket_fields(session, ref)
    return TicketDetail.model_validate(fields) if fields is not None else None


async def get_ticket(session: ReadSession, *, ref: TicketRef) -> GetTicketResult:
    with count_statements() as statements:
        ticket = await read_ticket_fields(session, ref)
    if ticket is None:
        raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
    return GetTicketResult.model_validate({"ticket": ticket, "sql_statements": statements.count})
