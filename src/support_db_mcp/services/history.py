"""A ticket's history: every change the write tools make, recorded in their transaction, and the
latest of them read back for get_ticket.

Recording is one statement however many fields changed (the changes travel as arrays and are
unnested), and it carries the idempotency key's settlement along. Reading is one statement: the
latest HISTORY_LIMIT events of the ticket through ix_ticket_events_ticket_id_id, newest last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import BigInteger, Integer, String, Table, Text, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.models import TicketEvent as TicketEventRow
from support_db_mcp.models import User
from support_db_mcp.schemas.tickets import HISTORY_LIMIT, FieldChange, TicketEvent
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


_LATEST = (
    select(
        events_table.c.created_at,
        events_table.c.tool,
        events_table.c.field,
        events_table.c.old_value,
        events_table.c.new_value,
        _actors.c.id,
        _actors.c.full_name,
        _actors.c.email,
    )
    .join(_actors, _actors.c.id == events_table.c.actor_id)
    .where(events_table.c.ticket_id == bindparam("ticket_id"))
    .order_by(events_table.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_OF_REQUEST = _LATEST.where(events_table.c.request_id == bindparam("request_id"))


def _event(row: Sequence[object]) -> TicketEvent:
    at, tool, field, old, new, actor_id, full_name, email = row
    return TicketEvent.model_validate(
        {
            "at": at,
            "actor": {"id": actor_id, "full_name": full_name, "email": email},
            "tool": tool,
            "field": field,
            "from": old,
            "to": new,
        }
    )


@dataclass(frozen=True)
class History:
    events: list[TicketEvent]  # oldest first, the newest last
    truncated: bool  # older events exist than these


async def ticket_history(session: AsyncSession, *, ticket_id: int) -> History:
    """The latest HISTORY_LIMIT changes of a ticket, newest last: one statement."""
    rows = (await session.execute(_LATEST, {"ticket_id": ticket_id, "limit": HISTORY_LIMIT + 1})).all()
    latest = rows[:HISTORY_LIMIT]
    return History([_event(row) for row in reversed(latest)], truncated=len(rows) > HISTORY_LIMIT)


async def changes_of_request(session: AsyncSession, *, ticket_id: int, request_id: str) -> list[FieldChange]:
    """What the call with this idempotency key changed on the ticket (for its replays)."""
    values = {"ticket_id": ticket_id, "request_id": request_id, "limit": HISTORY_LIMIT}
    rows = (await session.execute(_OF_REQUEST, values)).all()
    return [Change(row.field, row.old_value, row.new_value).shown for row in reversed(rows)]
