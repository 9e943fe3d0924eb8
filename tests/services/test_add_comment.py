"""add_comment: a reply or internal note, in one transaction with the ticket's updated_at and history."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.errors import ConflictError, InvalidInputError, NotFoundError
from support_db_mcp.schemas.base import describe_validation_error
from support_db_mcp.schemas.comments import NewComment
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.services.actors import Actor
from support_db_mcp.services.comments import add_comment
from support_db_mcp.services.ticket_read import get_ticket
from tests.helpers import a_user, an_open_ticket, first_row, row_counts, scalar


def comment(**fields: Any) -> NewComment:
    return NewComment.model_validate(fields)


async def test_an_internal_note_is_stored_moves_updated_at_and_is_in_the_history(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    agent = await a_user(connection, "agent")
    before = await scalar(connection, "SELECT count(*) FROM comments WHERE ticket_id = :id", id=ticket["id"])
    result = await add_comment(
        session,
        new=comment(ticket=ticket["number"], body="  Customer called: refund confirmed. ", internal=True),
        actor=Actor(agent["email"], "SUPPORT_DB_ACTOR"),
    )

    stored = await first_row(connection, "SELECT * FROM comments WHERE id = :id", id=result.comment.id)
    assert (stored["body"], stored["is_internal"], stored["author_id"]) == (
        "Customer called: refund confirmed.",
        True,
        agent["id"],
    )
    updated_at = await scalar(connection, "SELECT updated_at FROM tickets WHERE id = :id", id=ticket["id"])
    assert updated_at == stored["created_at"] == result.ticket.updated_at > ticket["updated_at"]
    assert result.ticket.comment_count == before + 1 and result.comment.internal is True
    read = await get_ticket(session, ref=TicketRef(id=ticket["id"]))
    assert read.ticket.comments[-1].id == result.comment.id
    assert [(e.tool, e.field, e.to, e.actor.email) for e in read.history] == [
        ("add_comment", "internal_note", str(result.comment.id), agent["email"])
    ]
    assert result.sql_statements == 4  # users, the locked ticket, comment + updated_at, history


async def test_a_customer_replies_in_their_own_name_without_an_acting_user(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    creator = await first_row(connection, "SELECT email FROM users WHERE id = :id", id=ticket["creator_id"])
    result = await add_comment(
        session, new=comment(ticket=ticket["id"], body="Any news?", author=creator["email"])
    )
    assert result.comment.author.email == creator["email"] and result.comment.internal is False


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("customer note", InvalidInputError, "internal notes are written by agents and admins only"),
        ("no author", InvalidInputError, "author is required"),
        ("unknown author", NotFoundError, "no user with email ghost@example.com; the author must be"),
        ("unknown ticket", NotFoundError, "no ticket with number TCK-99999999"),
        ("customer for another", InvalidInputError, "may act only in their own name; leave out author"),
    ],
)
async def test_a_refused_comment_names_the_problem_and_writes_nothing(
    session: AsyncSession, connection: AsyncConnection, case: str, error: type[Exception], message: str
) -> None:
    ticket = await an_open_ticket(connection)
    customer = await a_user(connection, "customer")
    other = await a_user(connection, "customer", nth=1)
    fields: dict[str, Any] = {"ticket": ticket["id"], "body": "hello", "author": customer["email"]}
    actor = None
    if case == "customer note":
        fields["internal"] = True
    elif case == "no author":
        del fields["author"]
    elif case == "unknown author":
        fields["author"] = "ghost@example.com"
    elif case == "unknown ticket":
        fields["ticket"] = "TCK-99999999"
    else:
        actor = Actor(other["email"], "SUPPORT_DB_ACTOR")
    before = await row_counts(connection)
    with pytest.raises(error, match=message):
        await add_comment(session, new=comment(**fields), actor=actor)
    await session.rollback()
    assert await row_counts(connection) == before


async def test_a_replayed_request_id_returns_the_stored_comment_and_another_body_is_refused(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    ticket = await an_open_ticket(connection)
    actor = Actor((await a_user(connection, "agent"))["email"], "SUPPORT_DB_ACTOR")
    call = comment(ticket=ticket["id"], body="We are on it.", request_id="c-1")
    first = await add_comment(session, new=call, actor=actor)
    before = await row_counts(connection)
    again = await add_comment(session, new=call, actor=actor)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.comment == first.comment and await row_counts(connection) == before
    with pytest.raises(ConflictError) as raised:
        await add_comment(
            session, new=comment(ticket=ticket["id"], body="Other text", request_id="c-1"), actor=actor
        )
    assert f"already used by add_comment for comment {first.comment.id} on {ticket['number']}" in str(
        raised.value
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"body": ""}, "body must be 1 to 10,000 characters long, got 0"),
        ({"body": "x" * 10_001}, "body must be 1 to 10,000 characters long, got 10,001"),
        ({"body": "a\x00b"}, "NUL"),
        ({"body": "ok", "author": "not-an-email"}, "neither a user id nor an e-mail address"),
        ({}, "body is required"),
    ],
)
def test_bad_comment_arguments_are_refused_with_a_readable_reason(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        comment(ticket=1, **fields)
    assert message in describe_validation_error(raised.value, NewComment)
