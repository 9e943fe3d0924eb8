"""update_ticket: one transaction, optimistic concurrency, honest no-ops, staff-only changes, history."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import ConflictError, InvalidInputError, NotFoundError
from support_db_mcp.schemas.base import describe_validation_error
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.updates import TicketChange
from support_db_mcp.services.actors import Actor
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_update import shown_time, update_ticket
from tests.helpers import a_user, an_open_ticket, first_row, row_counts, scalar

EVENTS = "SELECT count(*) FROM ticket_events WHERE ticket_id = :id"


def change(**fields: Any) -> TicketChange:
    return TicketChange.model_validate(fields)


async def _agent(connection: AsyncConnection, nth: int = 0) -> Actor:
    return Actor((await a_user(connection, "agent", nth=nth))["email"], "SUPPORT_DB_ACTOR")


async def test_an_agent_takes_a_ticket_in_one_transaction_and_the_history_shows_it(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await _agent(connection)
    result = await update_ticket(
        session, change=change(ticket=ticket["number"], assignee_id="me", status="in_progress"), actor=agent
    )

    stored = await first_row(connection, "SELECT * FROM tickets WHERE id = :id", id=ticket["id"])
    agent_id = await scalar(connection, "SELECT id FROM users WHERE email = :e", e=agent.email)
    assert (stored["status"], stored["assignee_id"]) == ("in_progress", agent_id)
    assert stored["updated_at"] > ticket["updated_at"] and result.ticket.updated_at == stored["updated_at"]
    assert result.ticket.status == "in_progress" and result.ticket.assignee is not None
    assert result.ticket.assignee.email == agent.email
    old_assignee = await scalar(
        connection, "SELECT email FROM users WHERE id = :id", id=ticket["assignee_id"]
    )
    assert [(c.field, c.from_, c.to) for c in result.changes] == [
        ("status", "open", "in_progress"),
        ("assignee", old_assignee, agent.email),
    ]
    history = (await get_ticket(session, ref=TicketRef(id=ticket["id"]))).history
    assert [(e.tool, e.field, e.from_, e.to, e.actor.email) for e in history] == [
        ("update_ticket", "status", "open", "in_progress", agent.email),
        ("update_ticket", "assignee", old_assignee, agent.email, agent.email),
    ]
    # users, the locked ticket, the update, the history
    assert result.sql_statements == 4


async def test_a_stale_expected_updated_at_is_a_conflict_that_names_the_current_value_and_writes_nothing(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await _agent(connection)
    seen = shown_time(ticket["updated_at"])
    await update_ticket(session, change=change(ticket=ticket["id"], priority="urgent"), actor=agent)
    await session.commit()
    now = await first_row(connection, "SELECT * FROM tickets WHERE id = :id", id=ticket["id"])
    before = (await row_counts(connection), await scalar(connection, EVENTS, id=ticket["id"]))

    with pytest.raises(ConflictError) as raised:
        await update_ticket(
            session,
            change=change(ticket=ticket["id"], status="closed", expected_updated_at=seen),
            actor=agent,
        )
    await session.rollback()

    message = str(raised.value)
    assert f"was changed at {shown_time(now['updated_at'])}" in message
    assert f"expected_updated_at {seen}" in message and "nothing was written" in message
    after = await first_row(connection, "SELECT * FROM tickets WHERE id = :id", id=ticket["id"])
    assert (after["status"], after["updated_at"]) == ("open", now["updated_at"])
    assert (await row_counts(connection), await scalar(connection, EVENTS, id=ticket["id"])) == before


async def test_the_updated_at_a_tool_showed_is_accepted_back_as_expected_updated_at(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    shown = (await get_ticket(session, ref=TicketRef(id=ticket["id"]))).model_dump(mode="json")
    result = await update_ticket(
        session,
        change=change(
            ticket=ticket["id"], status="resolved", expected_updated_at=shown["ticket"]["updated_at"]
        ),
        actor=await _agent(connection),
    )
    assert result.ticket.status == "resolved"


async def test_an_update_that_changes_nothing_says_so_and_writes_nothing(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    tags = (await get_ticket(session, ref=TicketRef(id=ticket["id"]))).ticket.tags
    before = await row_counts(connection)
    result = await update_ticket(
        session,
        change=change(ticket=ticket["id"], status="open", priority=ticket["priority"], add_tags=tags[:1]),
        actor=await _agent(connection),
    )
    assert result.changes == [] and result.note is not None
    assert result.note.startswith("nothing changed: the ticket already has these values")
    assert f"already tagged {tags[0]}" in result.note
    assert result.ticket.updated_at == ticket["updated_at"]
    assert (
        await scalar(connection, "SELECT updated_at FROM tickets WHERE id = :id", id=ticket["id"])
        == (ticket["updated_at"])
    )
    assert await row_counts(connection) == before and await scalar(connection, EVENTS, id=ticket["id"]) == 0
    assert result.sql_statements == 2  # users, the locked ticket


async def test_tags_are_added_and_removed_in_one_statement_and_each_is_a_history_entry(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection, nth=3)
    tags = (await get_ticket(session, ref=TicketRef(id=ticket["id"]))).ticket.tags
    result = await update_ticket(
        session,
        change=change(ticket=ticket["id"], add_tags=["Brand New", "vip"], remove_tags=[tags[0], "absent"]),
        actor=await _agent(connection),
    )
    expected = sorted({*tags, "brand new", "vip"} - {tags[0]})
    assert result.ticket.tags == expected
    stored = await scalar(
        connection,
        "SELECT array_agg(g.name ORDER BY g.name) FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id "
        "WHERE tt.ticket_id = :id",
        id=ticket["id"],
    )
    assert list(stored) == expected
    added = [(c.from_, c.to) for c in result.changes if c.field == "tag"]
    assert (None, "brand new") in added and (tags[0], None) in added
    assert result.note is not None and "not tagged absent, so nothing to remove" in result.note
    assert result.sql_statements == 5  # users, locked ticket, update, tags, history


async def test_a_ticket_cannot_get_more_than_ten_tags(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    with pytest.raises(InvalidInputError, match="a ticket has at most 10 tags"):
        await update_ticket(
            session,
            change=change(ticket=ticket["id"], add_tags=[f"extra-{i}" for i in range(10)]),
            actor=await _agent(connection),
        )


async def test_unassigning_with_none_clears_the_assignee_and_null_is_refused_saying_so(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await first_row(connection, "SELECT * FROM tickets WHERE assignee_id IS NOT NULL LIMIT 1")
    result = await update_ticket(
        session, change=change(ticket=str(ticket["id"]), assignee_id=" None "), actor=await _agent(connection)
    )
    assert result.ticket.assignee is None and [c.field for c in result.changes] == ["assignee"]
    assert result.changes[0].to is None
    assert await scalar(connection, "SELECT assignee_id FROM tickets WHERE id = :id", id=ticket["id"]) is None
    # null reads as "left out" (keep the assignee) to many clients, so it is no way to unassign
    with pytest.raises(ValidationError) as raised:
        change(ticket=1, assignee_id=None)
    assert describe_validation_error(raised.value, TicketChange) == (
        "assignee_id cannot be null: send 'none' for no assignee, or leave it out"
    )


@pytest.mark.parametrize(
    ("who", "fields", "error", "message"),
    [
        (
            "customer",
            {"assignee_id": "{customer}"},
            InvalidInputError,
            "can be assigned only to active agents",
        ),
        ("inactive agent", {"assignee_id": "{agent}"}, InvalidInputError, "an inactive agent"),
        ("nobody", {"assignee_id": 987654321}, NotFoundError, "no user with id 987654321 to assign"),
        ("customer actor", {"status": "closed"}, InvalidInputError, "only agents and admins change tickets"),
        ("unknown ticket", {"status": "closed", "ticket": "TCK-99999999"}, NotFoundError, "no ticket with"),
    ],
)
async def test_a_refused_update_names_the_problem_and_writes_nothing(
    session: AsyncSession,
    connection: AsyncConnection,
    who: str,
    fields: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    ticket = await an_open_ticket(connection)
    customer = await a_user(connection, "customer")
    agent = await a_user(connection, "agent", nth=1)
    actor = await _agent(connection)
    if who == "inactive agent":
        await connection.exec_driver_sql(f"UPDATE users SET is_active = false WHERE id = {int(agent['id'])}")
    if who == "customer actor":
        actor = Actor(customer["email"], "SUPPORT_DB_ACTOR")
    values = {
        key: value.format(customer=customer["id"], agent=agent["id"]) if isinstance(value, str) else value
        for key, value in fields.items()
    }
    before = await row_counts(connection)
    with pytest.raises(error, match=message):
        await update_ticket(session, change=change(**{"ticket": ticket["id"], **values}), actor=actor)
    await session.rollback()
    assert await row_counts(connection) == before


async def test_without_an_acting_user_the_actor_argument_is_required(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    with pytest.raises(InvalidInputError, match=r"actor is required .* no acting user \(SUPPORT_DB_ACTOR\)"):
        await update_ticket(session, change=change(ticket=ticket["id"], status="closed"))
    agent = await a_user(connection, "agent")
    done = await update_ticket(
        session, change=change(ticket=ticket["id"], status="closed", actor=agent["id"])
    )
    history = (await get_ticket(session, ref=TicketRef(id=ticket["id"]))).history
    assert done.ticket.status == "closed" and history[-1].actor.email == agent["email"]


async def test_with_an_acting_user_another_actor_is_refused(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    other = await a_user(connection, "agent", nth=2)
    with pytest.raises(InvalidInputError, match=r"this server acts as .*SUPPORT_DB_ACTOR.*leave out actor"):
        await update_ticket(
            session,
            change=change(ticket=ticket["id"], status="closed", actor=other["email"]),
            actor=await _agent(connection),
        )


async def test_a_replayed_request_id_returns_its_changes_without_writing_again(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await _agent(connection)
    call = change(ticket=ticket["id"], status="in_progress", title="Refund still missing", request_id="u-1")
    first = await update_ticket(session, change=call, actor=agent)
    before = (await row_counts(connection), await scalar(connection, EVENTS, id=ticket["id"]))
    again = await update_ticket(session, change=call, actor=agent)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.changes == first.changes and again.ticket == first.ticket
    assert (await row_counts(connection), await scalar(connection, EVENTS, id=ticket["id"])) == before
    assert first.sql_statements == 5  # the key's claim, then as without one
    assert again.sql_statements == 4  # the claim, what it stored, the ticket, its changes


async def test_a_request_id_reused_with_other_changes_is_refused_and_names_the_ticket(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await _agent(connection)
    await update_ticket(
        session, change=change(ticket=ticket["id"], status="resolved", request_id="u-2"), actor=agent
    )
    with pytest.raises(ConflictError) as raised:
        await update_ticket(
            session, change=change(ticket=ticket["id"], status="closed", request_id="u-2"), actor=agent
        )
    assert str(raised.value) == (
        f"request_id 'u-2' was already used by update_ticket for {ticket['number']} with other arguments; "
        "to retry that call repeat exactly its arguments, otherwise use a new request_id"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "pending"}, "unknown status 'pending'; expected one of: open, in_progress, resolved"),
        ({"priority": "p1"}, "unknown priority 'p1'"),
        ({"title": "x" * 201}, "title must be 1 to 200 characters long, got 201"),
        (
            {"assignee_id": "someone"},
            "assignee_id must be a user id like '7', 'me' (the acting user) or 'none'",
        ),
        ({"expected_updated_at": "yesterday"}, "expected_updated_at must be a date or time"),
        ({"status": "open", "staus": "x"}, "unknown argument 'staus'; did you mean 'status'?"),
    ],
)
def test_bad_update_arguments_are_refused_with_a_readable_reason(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        change(ticket=1, **fields)
    assert message in describe_validation_error(raised.value, TicketChange)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "nothing to change: give at least one of status, priority, assignee_id, title, add_tags"),
        # blank text for an optional argument means it was left out: a cleared form field changes nothing
        ({"title": " ", "add_tags": "", "actor": "x@example.com"}, "nothing to change: give at least one"),
        ({"add_tags": "x", "remove_tags": "X"}, "tags both added and removed: x"),
    ],
)
async def test_arguments_that_do_not_go_together_are_refused_when_it_runs_before_any_sql(
    session: AsyncSession, connection: AsyncConnection, fields: dict[str, Any], message: str
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await _agent(connection)
    parsed = change(ticket=ticket["number"], **fields)  # each argument alone is well formed
    before = await row_counts(connection)
    with count_statements() as statements, pytest.raises(InvalidInputError) as raised:
        await update_ticket(session, change=parsed, actor=agent)
    assert message in str(raised.value)
    assert statements.count == 0 and await row_counts(connection) == before
