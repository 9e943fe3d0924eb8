"""create_ticket: one transaction, database-generated numbers, tags created when new."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.errors import ConflictError, InvalidInputError, NotFoundError
from support_db_mcp.models import TicketPriority, TicketStatus
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import NewTicket
from support_db_mcp.services.actors import Actor
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
    # the key's claim, what it stored, then the ticket in get_ticket's one statement
    read = await get_ticket(session, ref=TicketRef(id=first.ticket.id))
    assert read.sql_statements == 1 and again.sql_statements == 2 + read.sql_statements
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


async def test_an_unknown_email_with_creator_name_creates_the_customer_in_the_same_transaction(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    before = await row_counts(connection)
    result = await create_ticket(
        session,
        new=NewTicket(
            title="Cannot pay", description="d", creator="New.Person@Example.com", creator_name=" New Person "
        ),
    )
    user = await first_row(connection, "SELECT * FROM users WHERE email = 'new.person@example.com'")
    assert (user["full_name"], user["role"], user["is_active"]) == ("New Person", "customer", True)
    assert result.new_customer is True and result.ticket.creator.id == user["id"]
    after = await row_counts(connection)
    assert (after["users"], after["tickets"]) == (before["users"] + 1, before["tickets"] + 1)
    assert result.sql_statements == 4  # users, the new customer, the ticket, its history


async def test_an_unknown_email_without_creator_name_says_to_give_one(session: AsyncSession) -> None:
    with pytest.raises(
        NotFoundError, match=r"no user with email nobody@example\.com; to create the ticket for"
    ):
        await create_ticket(session, new=NewTicket(title="t", description="d", creator="nobody@example.com"))


async def test_a_refused_create_does_not_leave_the_new_customer_behind(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    before = await row_counts(connection)
    with pytest.raises(NotFoundError, match="no user with id 987654321 to assign"):
        await create_ticket(
            session,
            new=NewTicket(
                title="t", description="d", creator="x@example.com", creator_name="X", assignee_id=987654321
            ),
        )
    await session.rollback()
    assert await row_counts(connection) == before


async def test_an_existing_agent_stays_an_agent_whatever_creator_name_says(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    agent = await first_row(connection, "SELECT id, email, full_name FROM users WHERE role = 'agent' LIMIT 1")
    result = await create_ticket(
        session,
        new=NewTicket(title="t", description="d", creator=agent["email"], creator_name="Someone Else"),
    )
    assert result.new_customer is False and result.ticket.creator.full_name == agent["full_name"]
    assert await scalar(connection, "SELECT role FROM users WHERE id = :id", id=agent["id"]) == "agent"


async def test_with_an_acting_agent_the_creator_defaults_to_them_and_me_assigns_them(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    agent = await first_row(connection, "SELECT id, email FROM users WHERE role = 'agent' LIMIT 1")
    actor = Actor(agent["email"], "SUPPORT_DB_ACTOR")
    result = await create_ticket(
        session, new=NewTicket(title="t", description="d", assignee_id="me"), actor=actor
    )
    assert result.ticket.creator.id == agent["id"]
    assert result.ticket.assignee is not None and result.ticket.assignee.id == agent["id"]
    read = await get_ticket(session, ref=TicketRef(id=result.ticket.id))
    assert [(e.tool, e.field, e.from_, e.to, e.actor.id) for e in read.history] == [
        ("create_ticket", "ticket", None, result.ticket.number, agent["id"])
    ]


async def test_an_agent_creates_a_ticket_for_a_customer_and_the_history_names_the_agent(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    agent = await first_row(connection, "SELECT id, email FROM users WHERE role = 'agent' LIMIT 1")
    customer = await _customer(connection)
    result = await create_ticket(
        session,
        new=NewTicket(title="Phoned in", description="d", creator=customer["email"]),
        actor=Actor(agent["email"], "SUPPORT_DB_ACTOR"),
    )
    read = await get_ticket(session, ref=TicketRef(id=result.ticket.id))
    assert result.ticket.creator.id == customer["id"] and read.history[0].actor.id == agent["id"]


async def test_without_an_acting_user_the_creator_is_required_and_me_means_nobody(
    session: AsyncSession,
) -> None:
    with pytest.raises(InvalidInputError, match=r"creator is required .* no acting user"):
        await create_ticket(session, new=NewTicket(title="t", description="d"))
    with pytest.raises(InvalidInputError, match="assignee_id 'me' needs an acting user"):
        await create_ticket(session, new=NewTicket(title="t", description="d", creator=1, assignee_id="me"))


async def test_a_customer_acting_user_cannot_create_tickets_for_someone_else(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    one, two = (
        (await _customer(connection)),
        await first_row(
            connection, "SELECT id FROM users WHERE role = 'customer' AND is_active ORDER BY id DESC LIMIT 1"
        ),
    )
    with pytest.raises(InvalidInputError, match="may act only in their own name; leave out creator"):
        await create_ticket(
            session,
            new=NewTicket(title="t", description="d", creator=two["id"]),
            actor=Actor(str(one["email"]), "the HTTP token"),
        )
