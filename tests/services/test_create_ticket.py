"""create_ticket: one transaction, database-generated numbers, tags created when new."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.errors import ConflictError, InvalidInputError, NotFoundError
from support_db_mcp.models import TicketPriority, TicketStatus
from support_db_mcp.schemas.fields import TicketRef
from support_db_mcp.schemas.tickets import NewTicket
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from tests.helpers import first_row, row_counts, scalar


async def _customer(connection: AsyncConnection) -> dict[str, object]:
    return dict(
        await first_row(
            connection, "SELECT id, email, full_name FROM users WHERE role = 'customer' AND is_active LIMIT 1"
        )
    )


async def _agent(connection: AsyncConnection) -> int:
    return int(
        await scalar(
            connection, "SELECT id FROM users WHERE role = 'agent' AND is_active ORDER BY id LIMIT 1"
        )
    )


async def test_a_created_ticket_is_stored_with_a_database_number_and_its_tags(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    customer, agent = await _customer(connection), await _agent(connection)
    before = await row_counts(connection)
    new = NewTicket(
        title="  Printer on fire ",
        description="Smoke everywhere.",
        creator=str(customer["email"]).upper(),
        priority="urgent",
        assignee_id=agent,
        tags=["Hardware", "billing", "hardware"],
    )
    result = await create_ticket(session, new=new)
    await session.commit()

    ticket = result.ticket
    stored = await first_row(connection, "SELECT * FROM tickets WHERE id = :id", id=ticket.id)
    assert stored["number"] == ticket.number == f"TCK-{ticket.id:06d}"
    assert stored["title"] == ticket.title == "Printer on fire"
    assert stored["status"] == "open" and ticket.status is TicketStatus.OPEN
    assert stored["priority"] == "urgent" and ticket.priority is TicketPriority.URGENT
    assert stored["creator_id"] == customer["id"] == ticket.creator.id
    assert stored["assignee_id"] == agent == (ticket.assignee.id if ticket.assignee else None)
    assert ticket.tags == ["billing", "hardware"]
    assert ticket.created_at == stored["created_at"] and ticket.updated_at == stored["updated_at"]
    after = await row_counts(connection)
    assert after["tickets"] == before["tickets"] + 1
    assert after["tags"] == before["tags"] + 1  # "hardware" is new, "billing" exists in the seed
    assert after["ticket_tags"] == before["ticket_tags"] + 2


async def test_consecutive_creates_get_distinct_increasing_numbers(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    customer = await _customer(connection)
    numbers = []
    for index in range(3):
        new = NewTicket(title=f"t{index}", description="d", creator=int(str(customer["id"])))
        numbers.append((await create_ticket(session, new=new)).ticket.number)
    assert len(set(numbers)) == 3 and numbers == sorted(numbers)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"creator": "nobody@example.invalid"}, NotFoundError, "no user with email nobody@example.invalid"),
        ({"creator": 987654321}, NotFoundError, "no user with id 987654321"),
        ({"assignee_id": 987654321}, NotFoundError, "no user with id 987654321 to assign"),
        ({"assignee_id": "customer"}, InvalidInputError, "can be assigned only to active agents or admins"),
    ],
)
async def test_a_refused_create_names_the_problem_and_writes_nothing(
    session: AsyncSession, connection: AsyncConnection, changes: dict[str, object], error: type, message: str
) -> None:
    customer = await _customer(connection)
    fields: dict[str, object] = {
        "title": "x",
        "description": "y",
        "creator": customer["id"],
        "tags": ["brand-new-tag"],
    }
    if changes.get("assignee_id") == "customer":
        changes = {"assignee_id": customer["id"]}
    fields.update(changes)
    before = await row_counts(connection)
    with pytest.raises(error, match=message):
        await create_ticket(session, new=NewTicket.model_validate(fields))
    await session.rollback()
    assert await row_counts(connection) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title must be 1 to 200 characters long, got 0"),
        ({"title": "   "}, "title must be 1 to 200 characters long, got 0"),
        ({"title": "x" * 201}, "title must be 1 to 200 characters long, got 201"),
        ({"description": "x" * 20_001}, "description must be 1 to 20,000 characters long, got 20,001"),
        ({"description": "nul\x00byte"}, "NUL"),
        ({"priority": "critical"}, "unknown priority 'critical'; expected one of: low, normal, high, urgent"),
        ({"creator": "not-an-email"}, "neither a user id nor an e-mail address"),
        ({"tags": ["ok", "bad/tag"]}, "tag 'bad/tag' is not valid"),
        ({"tags": [f"t{i}" for i in range(11)]}, "at most 10 tags"),
        ({"assignee_id": -4}, "positive id"),
    ],
)
def test_bad_new_ticket_fields_are_refused_with_a_readable_reason(
    fields: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {"title": "t", "description": "d", "creator": 1}
    with pytest.raises(ValidationError, match=message):
        NewTicket.model_validate(base | fields)


async def test_a_retried_create_with_the_same_request_id_returns_the_first_ticket(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    customer = await _customer(connection)
    new = NewTicket(
        title="Retry me",
        description="d",
        creator=int(str(customer["id"])),
        tags=["retry"],
        request_id="req-42",
    )
    first = await create_ticket(session, new=new)
    before = await row_counts(connection)
    again = await create_ticket(session, new=new)
    assert first.replayed is False and again.replayed is True
    assert again.ticket.model_dump() == first.ticket.model_dump()
    # the key's claim, what it stored, then the ticket as get_ticket reads it (without its history)
    read = await get_ticket(session, ref=TicketRef(id=first.ticket.id))
    assert again.sql_statements == 2 + read.sql_statements - 1
    assert await row_counts(connection) == before


async def test_a_request_id_reused_by_another_creator_is_refused_and_names_the_stored_ticket(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    two = (
        await connection.execute(text("SELECT id FROM users WHERE role = 'customer' AND is_active LIMIT 2"))
    ).scalars()
    first, second = list(two)
    stored = await create_ticket(
        session, new=NewTicket(title="a", description="d", creator=first, request_id="shared-key")
    )
    await session.commit()
    before = await row_counts(connection)
    with pytest.raises(ConflictError, match="request_id 'shared-key' was already used by create_ticket") as e:
        await create_ticket(
            session, new=NewTicket(title="b", description="d", creator=second, request_id="shared-key")
        )
    assert f"for {stored.ticket.number} with other arguments" in str(e.value)
    assert "use a new request_id" in str(e.value)
    await session.rollback()
    assert await row_counts(connection) == before
