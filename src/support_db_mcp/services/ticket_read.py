"""get_ticket: one ticket with its description, tags, comments (oldest first, with authors) and its
history (services/history.py).

One statement whatever the ticket's size: its row with creator and assignee, its tags as an array,
its comments as one array of rows (services/ticket_rows.py) and its latest changes as another.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select

from support_db_mcp.db.engine import ReadSession
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import GetTicketResult, TicketDetail
from support_db_mcp.services.history import history_of, latest_events
from support_db_mcp.services.ticket_rows import (
    compile_read,
    detail_columns,
    detail_fields,
    fetch,
    summary_from,
    tickets_table,
)

_COLUMNS = [*detail_columns(), latest_events()]
_HISTORY = len(_COLUMNS) - 1  # the position of the history in a row
_TICKET_BY_ID = select(*_COLUMNS).select_from(summary_from).where(tickets_table.c.id == bindparam("id"))
_TICKET_BY_NUMBER = (
    select(*_COLUMNS).select_from(summary_from).where(tickets_table.c.number == bindparam("number"))
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


async def _ticket_row(session: ReadSession, ref: TicketRef) -> Any | None:
    key, values = _ticket_values(ref)
    rows = await fetch(session, _COMPILED[key], values)
    return rows[0] if rows else None


async def read_ticket(session: ReadSession, ref: TicketRef) -> TicketDetail | None:
    """The whole ticket, or None when there is none: one statement."""
    row = await _ticket_row(session, ref)
    return TicketDetail.model_validate(detail_fields(row)) if row is not None else None


async def get_ticket(session: ReadSession, *, ref: TicketRef) -> GetTicketResult:
    with count_statements() as statements:
        row = await _ticket_row(session, ref)
    if row is None:
        raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
    history = history_of(row[_HISTORY])
    return GetTicketResult.model_validate(
        {
            "ticket": detail_fields(row),
            "history": history.events,
            "history_truncated": history.truncated,
            "sql_statements": statements.count,
        }
    )
