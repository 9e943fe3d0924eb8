"""A ticket's history: every change the write tools make, recorded in their transaction, and the
latest of them read back for get_ticket.

Recording is one statement however many fields changed (the changes travel as arrays and are
unnested), and it carries the idempotency key's settlement along. Reading is part of get_ticket's one
statement (`latest_events`): the latest HISTORY_LIMIT events of the ticket through
ix_ticket_events_ticket_id_id, as an array of rows, shown newest last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.models import Ticket, User
from support_db_mcp.models import TicketEvent as TicketEventRow
from support_db_mcp.schemas.tickets import HISTORY_LIMIT, FieldChange
from support_db_mcp.services.idempotency import Settlement

# typed as the Table it is, so Core insert() takes it (an ORM insert would treat the values as a bulk load)
events_table = cast(Table, TicketEventRow.__table__)
_actors = User.__table__.alias("actor")


@dataclass(frozen=True)
class Change:
    """One field changed by a write, as its history shows it (values as text)."""

    field: str
    old: str | None
    new: str | None

    @property
    def shown(self) -> FieldChange:
        return FieldChange(field=self.field, from_=self.old, to=self.new)


_changes = (
    func.unnest(
        bindparam("fields", type_=ARRAY(String)),
        bindparam("olds", type_=ARRAY(Text)),
        bindparam("news", type_=ARRAY(Text)),
    )
    .table_valued("field", "old_value", "new_value")
    .render_derived(name="changes")
)
_RECORD = insert(events_table).from_select(
    ["ticket_id", "actor_id", "tool", "request_id", "field", "old_value", "new_value"],
    select(
        # bind names unlike any column's: the values of a statement with an UPDATE in it would
        # otherwise also be taken as that UPDATE's SET values
        bindparam("event_ticket_id", type_=BigInteger),
        bindparam("event_actor_id", type_=BigInteger),
        bindparam("event_tool", type_=String),
        bindparam("event_request_id", type_=String),
        _changes.c.field,
        _changes.c.old_value,
        _changes.c.new_value,
    ).select_from(_changes),
)


async def record(
    session: AsyncSession,
    *,
    ticket_id: int,
    actor_id: int,
    tool: str,
    changes: Sequence[Change],
    request_id: str | None = None,
    settle: Settlement | None = None,
) -> None:
    """Store `changes` in the caller's transaction: one statement, with `settle` (an idempotency
    key's result, idempotency.settle) sent as part of it."""
    values = {
        "event_ticket_id": ticket_id,
        "event_actor_id": actor_id,
        "event_tool": tool,
        "event_request_id": request_id,
        "fields": [change.field for change in changes],
        "olds": [change.old for change in changes],
        "news": [change.new for change in changes],
    }
    statement = _RECORD
    if settle is not None:
        statement = _RECORD.add_cte(settle.statement.cte("settled"))
        values |= settle.values
    await session.execute(statement, values)


# An event as history shows it, in the order `event_fields` reads it.
_EVENT_COLUMNS = (
    events_table.c.created_at,
    events_table.c.tool,
    events_table.c.field,
    events_table.c.old_value,
    events_table.c.new_value,
    _actors.c.id,
    _actors.c.full_name,
    _actors.c.email,
)
_LATEST = (
    select(*_EVENT_COLUMNS)
    .join(_actors, _actors.c.id == events_table.c.actor_id)
    .where(events_table.c.ticket_id == bindparam("ticket_id"))
    .order_by(events_table.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_OF_REQUEST = _LATEST.where(events_table.c.request_id == bindparam("request_id"))


def latest_events() -> ColumnElement[Any]:
    """A column for a select of tickets: the ticket's latest HISTORY_LIMIT + 1 events, newest first,
    as one array of rows (ix_ticket_events_ticket_id_id), so get_ticket reads its history in the
    ticket's own statement; the one more than shown tells that older ones exist."""
    tickets = cast(Table, Ticket.__table__)
    latest = (
        select(tuple_(*_EVENT_COLUMNS))
        .select_from(events_table.join(_actors, _actors.c.id == events_table.c.actor_id))
        .where(events_table.c.ticket_id == tickets.c.id)
        .order_by(events_table.c.id.desc())
        # a constant in the SQL text: the statement is compiled once and reused (ticket_rows.py)
        .limit(literal_column(str(HISTORY_LIMIT + 1)))
        .scalar_subquery()
    )
    return func.array(latest).label("history")


def event_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The fields of a TicketEvent from a row of the event columns."""
    at, tool, field, old, new, actor_id, full_name, email = row
    return {
        "at": at,
        "actor": {"id": actor_id, "full_name": full_name, "email": email},
        "tool": tool,
        "field": field,
        "from": old,
        "to": new,
    }


@dataclass(frozen=True)
class History:
    events: list[dict[str, Any]]  # TicketEvent's fields, oldest first, the newest last
    truncated: bool  # older events exist than these


def history_of(latest: Sequence[Sequence[Any]] | None) -> History:
    """The history shown from a `latest_events()` value (newest first, one more than shown)."""
    rows = list(latest or ())
    shown = rows[:HISTORY_LIMIT]
    return History([event_fields(row) for row in reversed(shown)], truncated=len(rows) > HISTORY_LIMIT)


async def changes_of_request(session: AsyncSession, *, ticket_id: int, request_id: str) -> list[FieldChange]:
    """What the call with this idempotency key changed on the ticket (for its replays)."""
    values = {"ticket_id": ticket_id, "request_id": request_id, "limit": HISTORY_LIMIT}
    rows = (await session.execute(_OF_REQUEST, values)).all()
    return [Change(row.field, row.old_value, row.new_value).shown for row in reversed(rows)]
