"""create_ticket: one ticket with its tags, in the caller's transaction, idempotent with request_id.

At most three statements: the users it names, the insert, and the tags (created if new, linked in
the same statement).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, bindparam, func, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.models import Tag, Ticket, User, UserRole, ticket_tags
from support_db_mcp.schemas.fields import TicketRef
from support_db_mcp.schemas.tickets import CreateTicketResult, NewTicket, TicketDetail
from support_db_mcp.services.ticket_read import read_ticket
from support_db_mcp.services.ticket_rows import ticket_detail

ASSIGNABLE_ROLES = frozenset({UserRole.AGENT, UserRole.ADMIN})


def _pick_user(users: Sequence[User], key: int | str) -> User | None:
    for user in users:
        if user.id == key or user.email == key:
            return user
    return None


def _user_columns(prefix: str, user: User | None) -> dict[str, Any]:
    return {
        f"{prefix}_id": user.id if user else None,
        f"{prefix}_full_name": user.full_name if user else None,
        f"{prefix}_email": user.email if user else None,
    }


async def create_ticket(session: AsyncSession, *, new: NewTicket) -> CreateTicketResult:
    """Store a ticket with its tags; the caller's session commits (one transaction)."""
    with count_statements() as statements:
        wanted_ids = [key for key in (new.creator, new.assignee_id) if isinstance(key, int)]
        conditions: list[ColumnElement[bool]] = [User.id.in_(wanted_ids)] if wanted_ids else []
        if isinstance(new.creator, str):
            conditions.append(User.email == new.creator)
        users = (await session.scalars(select(User).where(or_(*conditions)))).all()

        creator = _pick_user(users, new.creator)
        if creator is None:
            what = "email" if isinstance(new.creator, str) else "id"
            raise NotFoundError(f"no user with {what} {new.creator}; the creator must be an existing user")
        if not creator.is_active:
            raise InvalidInputError(f"user {creator.email} is deactivated and cannot create tickets")
        assignee = None
        if new.assignee_id is not None:
            assignee = _pick_user(users, new.assignee_id)
            if assignee is None:
                raise NotFoundError(f"no user with id {new.assignee_id} to assign the ticket to")
            if assignee.role not in ASSIGNABLE_ROLES or not assignee.is_active:
                state = "a" if assignee.is_active else "an inactive"
                raise InvalidInputError(
                    f"user {assignee.id} ({assignee.email}) is {state} {assignee.role.value}; "
                    "tickets can be assigned only to active agents or admins"
                )

        values = {
            "title": new.title.strip(),
            "description": new.description,
            "priority": new.priority,
            "creator_id": creator.id,
            "assignee_id": new.assignee_id,
            "request_id": new.request_id,
        }
        insert_ticket = pg_insert(Ticket).values(**values)
        if new.request_id is not None:
            # A concurrent or retried create with the same key inserts nothing here ...
            insert_ticket = insert_ticket.on_conflict_do_nothing(index_elements=[Ticket.request_id])
        stored = (await session.execute(insert_ticket.returning(*_RETURNED))).one_or_none()
        if stored is None:
            # ... and returns what the first one stored.
            assert new.request_id is not None
            replayed = await _replay(session, request_id=new.request_id, creator=creator)
        elif new.tags:
            await session.execute(_tag_ticket_statement(stored.id, new.tags))
    if stored is None:
        return CreateTicketResult(ticket=replayed, replayed=True, sql_statements=statements.count)
    row = {**stored._mapping, **_user_columns("creator", creator), **_user_columns("assignee", assignee)}
    detail = ticket_detail(row, sorted(new.tags), comments=[])
    return CreateTicketResult(ticket=detail, sql_statements=statements.count)


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


async def _replay(session: AsyncSession, *, request_id: str, creator: User) -> TicketDetail:
    """The ticket an earlier create with this request_id stored, read as get_ticket reads it."""
    found = await session.execute(
        select(Ticket.id, Ticket.number, Ticket.creator_id).where(Ticket.request_id == request_id)
    )
    ticket_id, number, creator_id = found.one()
    if creator_id != creator.id:
        raise InvalidInputError(
            f"request_id {request_id!r} was already used by another user for {number}; "
            "use a new request_id for a new ticket"
        )
    ticket = await read_ticket(session, TicketRef(id=ticket_id))
    assert ticket is not None
    return ticket


def _tag_ticket_statement(ticket_id: int, names: list[str]) -> Any:
    """One statement: create the missing tags and link all of them to the ticket.

    ON CONFLICT DO UPDATE (not DO NOTHING) so RETURNING also yields tags that already exist, even
    ones another transaction is inserting concurrently. The names travel as one array (unnest), so
    SQLAlchemy compiles the statement once and caches it; a multi-row VALUES list cannot be cached
    and was compiled anew on every call (the largest cost of create_ticket under load).
    """
    new_tags = pg_insert(Tag).from_select(
        ["name"], select(func.unnest(bindparam("tag_names", names, type_=ARRAY(String))))
    )
    upserted = (
        new_tags.on_conflict_do_update(index_elements=[Tag.name], set_={"name": new_tags.excluded.name})
        .returning(Tag.id)
        .cte("upserted_tags")
    )
    return (
        insert(ticket_tags)
        .from_select(["ticket_id", "tag_id"], select(literal(ticket_id, BigInteger), upserted.c.id))
        .add_cte(upserted)
    )
