"""create_ticket: one ticket with its tags and its history, in the caller's transaction; idempotent
with request_id; for a new customer, the customer too.

Statements: the users it names (creator, assignee, acting user) in one, the insert, the tags
(created if new, linked in the same statement) when it has any, and its history; plus the
request_id's claim, and the new customer's insert when it creates one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.models import Ticket
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import CreateTicketResult, NewTicket, TicketDetail
from support_db_mcp.services import history, idempotency, tagging, users
from support_db_mcp.services.actors import Actor, acting_person, email_of, on_behalf_allowed, resolve_me
from support_db_mcp.services.ticket_read import read_ticket
from support_db_mcp.services.ticket_rows import named_summary_fields

TOOL = "create_ticket"


def _user_columns(prefix: str, user: users.Person | None) -> dict[str, Any]:
    return {
        f"{prefix}_id": user.id if user else None,
        f"{prefix}_full_name": user.full_name if user else None,
        f"{prefix}_email": user.email if user else None,
    }


async def _creator(
    session: AsyncSession, people: users.People, key: int | str, new: NewTicket
) -> tuple[users.Person, bool]:
    """The creator, created as a customer when an unknown e-mail address comes with creator_name."""
    if people.get(key) is not None or isinstance(key, int):
        return users.require(people, key, role="creator"), False
    if new.creator_name is None:
        raise NotFoundError(
            f"no user with email {key}; to create the ticket for a new customer, also give "
            "creator_name (their full name), and the customer is created with the ticket"
        )
    person, created = await users.create_customer(session, email=key, full_name=new.creator_name)
    if not created:  # made meanwhile by another call: the usual rules apply to it
        return users.require(users.People((person,)), key, role="creator"), False
    return person, True


async def create_ticket(
    session: AsyncSession, *, new: NewTicket, actor: Actor | None = None
) -> CreateTicketResult:
    """Store a ticket with its tags; the caller's session commits (one transaction)."""
    key = idempotency.WriteKey.of(TOOL, new, email_of(actor))
    with count_statements() as statements:
        stored = await idempotency.claim(session, key) if key is not None else None
        if stored is not None:
            assert stored.ticket_id is not None, "a settled create names its ticket"
            replayed = await read_ticket(session, TicketRef(id=stored.ticket_id))
        else:
            creator_key = new.creator if new.creator is not None else email_of(actor)
            if creator_key is None:
                raise InvalidInputError(
                    "creator is required (the user who reports the ticket: an id or e-mail address), "
                    "because this server has no acting user (SUPPORT_DB_ACTOR)"
                )
            assignee_key = resolve_me(new.assignee_id, actor, field="assignee_id")
            people = await users.find_users(session, [creator_key, assignee_key, email_of(actor)])
            acting = acting_person(people, actor)
            creator, new_customer = await _creator(session, people, creator_key, new)
            on_behalf_allowed(acting, creator, role="creator")
            assignee = users.require_assignable(people, assignee_key) if assignee_key is not None else None

            values = {
                "title": new.title.strip(),
                "description": new.description,
                "priority": new.priority,
                "creator_id": creator.id,
                "assignee_id": assignee.id if assignee else None,
            }
            row = (await session.execute(insert(Ticket).values(**values).returning(*_RETURNED))).one()
            if new.tags:
                await session.execute(*tagging.link_tags(row.id, new.tags))
            await history.record(
                session,
                ticket_id=row.id,
                actor_id=(acting or creator).id,
                tool=TOOL,
                changes=[history.Change("ticket", None, row.number)],
                request_id=new.request_id,
                settle=idempotency.settle(key, ticket_id=row.id) if key is not None else None,
            )
    if stored is not None:
        assert replayed is not None, "a replayed key's ticket exists: the key goes with it"
        return CreateTicketResult(ticket=replayed, replayed=True, sql_statements=statements.count)
    full_row = {
        **row._mapping,
        **_user_columns("creator", creator),
        **_user_columns("assignee", assignee),
        "tags": sorted(new.tags),
        "comment_count": 0,
    }
    fields = {**named_summary_fields(full_row), "description": row.description, "comments": []}
    detail = TicketDetail.model_validate(fields)
    return CreateTicketResult(ticket=detail, new_customer=new_customer, sql_statements=statements.count)


_RETURNED = (
    Ticket.id,
    Ticket.number,
    Ticket.title,
    Ticket.status,
    Ticket.priority,
    Ticket.created_at,
    Ticket.updated_at,
    Ticket.description,
)
