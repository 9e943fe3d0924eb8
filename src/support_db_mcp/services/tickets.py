"""Ticket queries: search, read and create. Every statement the ticket tools run is here.

Related rows are always loaded explicitly (the relationships raise on lazy load), so a call sends
a fixed number of statements whatever the page size: search 2, get 3, create at most 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, raiseload, selectinload

from support_db_mcp.db.statements import StatementLog, count_statements
from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.models import TEXT_SEARCH_CONFIG, Comment, Tag, Ticket, User, UserRole, ticket_tags
from support_db_mcp.schemas import (
    CommentOut,
    CreateTicketResult,
    GetTicketResult,
    NewTicket,
    SearchTicketsResult,
    TicketDetail,
    TicketRef,
    TicketSearch,
    TicketSummary,
    UserSummary,
    normalise_tag,
)
from support_db_mcp.services.pagination import KeysetPosition, decode_cursor, encode_cursor

ASSIGNABLE_ROLES = frozenset({UserRole.AGENT, UserRole.ADMIN})


# ---------------------------------------------------------------- building blocks
def _comment_count() -> ColumnElement[int]:
    return (
        select(func.count(Comment.id))
        .where(Comment.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
        .label("comment_count")
    )


def text_match(text: str) -> ColumnElement[bool]:
    """Full-text match over title and description, served by the GIN index on search_vector."""
    query = func.websearch_to_tsquery(literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig"), text)
    return Ticket.search_vector.bool_op("@@")(query)


def _filters(search: TicketSearch, tag_id: int | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if search.text:
        conditions.append(text_match(search.text))
    if search.status:
        conditions.append(Ticket.status.in_(search.status))
    if search.priority:
        conditions.append(Ticket.priority.in_(search.priority))
    if search.assignee_id is not None:
        conditions.append(Ticket.assignee_id == search.assignee_id)
    if search.creator_id is not None:
        conditions.append(Ticket.creator_id == search.creator_id)
    if tag_id is not None:
        conditions.append(
            Ticket.id.in_(select(ticket_tags.c.ticket_id).where(ticket_tags.c.tag_id == tag_id))
        )
    if search.created_after is not None:
        conditions.append(Ticket.created_at >= search.created_after)
    if search.created_before is not None:
        conditions.append(Ticket.created_at < search.created_before)
    return conditions


def search_statement(
    search: TicketSearch, after: KeysetPosition | None, tag_id: int | None = None
) -> Select[Ticket, int]:
    """One page, newest first, keyset-paginated on (created_at, id); limit + 1 rows tell if more exist.

    The tag filter takes the tag's id, resolved beforehand, so the planner sees the real value and
    can tell a rare tag (read through the tag index) from a common one (walk the date order).
    """
    statement = (
        select(Ticket, _comment_count())
        .options(
            joinedload(Ticket.creator),
            joinedload(Ticket.assignee),
            selectinload(Ticket.tags),
            raiseload("*"),
        )
        .where(*_filters(search, tag_id))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(search.limit + 1)
    )
    if after is not None:
        statement = statement.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(after.created_at, after.id))
    return statement


def _user(user: User) -> UserSummary:
    return UserSummary(id=user.id, full_name=user.full_name, email=user.email)


def _summary_fields(ticket: Ticket, comment_count: int) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "status": ticket.status,
        "priority": ticket.priority,
        "creator": _user(ticket.creator),
        "assignee": _user(ticket.assignee) if ticket.assignee is not None else None,
        "tags": [tag.name for tag in ticket.tags],
        "comment_count": comment_count,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


# ---------------------------------------------------------------- search_tickets
async def search_tickets(session: AsyncSession, *, search: TicketSearch) -> SearchTicketsResult:
    filters = search.filters_fingerprint_source()
    after = decode_cursor(search.cursor, filters) if search.cursor else None
    with count_statements() as statements:
        tag_id = None
        if search.tag:
            tag_id = await session.scalar(select(Tag.id).where(Tag.name == normalise_tag(search.tag)))
            if tag_id is None:
                return SearchTicketsResult(
                    tickets=[],
                    next_cursor=None,
                    note=f"No tag named {search.tag!r} exists, so no ticket has it.",
                    sql_statements=statements.count,
                )
        rows = (await session.execute(search_statement(search, after, tag_id))).all()
    page = rows[: search.limit]
    tickets = [TicketSummary(**_summary_fields(ticket, count)) for ticket, count in page]
    next_cursor = None
    note = None
    if len(rows) > search.limit:
        last = page[-1][0]
        next_cursor = encode_cursor(KeysetPosition(last.created_at, last.id), filters)
        note = (
            f"Showing {len(tickets)} tickets; more match. Call search_tickets again with the same "
            "filters and cursor=next_cursor for the next page."
        )
    return SearchTicketsResult(
        tickets=tickets, next_cursor=next_cursor, note=note, sql_statements=statements.count
    )


# ---------------------------------------------------------------- get_ticket
def ticket_statement(ref: TicketRef) -> Select[Ticket]:
    condition = Ticket.id == ref.id if ref.id is not None else Ticket.number == ref.number
    return (
        select(Ticket)
        .where(condition)
        .options(
            joinedload(Ticket.creator),
            joinedload(Ticket.assignee),
            selectinload(Ticket.tags),
            selectinload(Ticket.comments).joinedload(Comment.author),
            raiseload("*"),
        )
    )


def _detail(ticket: Ticket) -> TicketDetail:
    comments = [
        CommentOut(
            id=comment.id,
            author=_user(comment.author),
            body=comment.body,
            internal=comment.is_internal,
            created_at=comment.created_at,
        )
        for comment in ticket.comments
    ]
    return TicketDetail(
        **_summary_fields(ticket, len(comments)), description=ticket.description, comments=comments
    )


async def get_ticket(session: AsyncSession, *, ref: TicketRef) -> GetTicketResult:
    with count_statements() as statements:
        ticket = (await session.scalars(ticket_statement(ref))).one_or_none()
    if ticket is None:
        raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
    return GetTicketResult(ticket=_detail(ticket), sql_statements=statements.count)


# ---------------------------------------------------------------- create_ticket
def _pick_user(users: Sequence[User], key: int | str) -> User | None:
    for user in users:
        if user.id == key or user.email == key:
            return user
    return None


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
        ticket = await session.scalar(insert_ticket.returning(Ticket))
        if ticket is None:
            # ... and returns what the first one stored.
            assert new.request_id is not None
            return await _replay(session, request_id=new.request_id, creator=creator, statements=statements)
        if new.tags:
            await session.execute(_tag_ticket_statement(ticket.id, new.tags))

    detail = TicketDetail(
        id=ticket.id,
        number=ticket.number,
        title=ticket.title,
        status=ticket.status,
        priority=ticket.priority,
        creator=_user(creator),
        assignee=_user(assignee) if assignee is not None else None,
        tags=sorted(new.tags),
        comment_count=0,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        description=ticket.description,
        comments=[],
    )
    return CreateTicketResult(ticket=detail, sql_statements=statements.count)


async def _replay(
    session: AsyncSession, *, request_id: str, creator: User, statements: StatementLog
) -> CreateTicketResult:
    """The ticket an earlier create with this request_id stored, read in one statement."""
    stored = select(Ticket).where(Ticket.request_id == request_id)
    eager = (
        joinedload(Ticket.creator),
        joinedload(Ticket.assignee),
        joinedload(Ticket.tags),
        joinedload(Ticket.comments).joinedload(Comment.author),
        raiseload("*"),
    )
    ticket = (await session.scalars(stored.options(*eager))).unique().one()
    if ticket.creator_id != creator.id:
        raise InvalidInputError(
            f"request_id {request_id!r} was already used by another user for {ticket.number}; "
            "use a new request_id for a new ticket"
        )
    return CreateTicketResult(ticket=_detail(ticket), replayed=True, sql_statements=statements.count)


def _tag_ticket_statement(ticket_id: int, names: list[str]) -> Any:
    """One statement: create the missing tags and link all of them to the ticket.

    ON CONFLICT DO UPDATE (not DO NOTHING) so RETURNING also yields tags that already exist, even
    ones another transaction is inserting concurrently.
    """
    upserted = (
        pg_insert(Tag)
        .values([{"name": name} for name in names])
        .on_conflict_do_update(index_elements=[Tag.name], set_={"name": pg_insert(Tag).excluded.name})
        .returning(Tag.id)
        .cte("upserted_tags")
    )
    return (
        insert(ticket_tags)
        .from_select(["ticket_id", "tag_id"], select(literal(ticket_id, BigInteger), upserted.c.id))
        .add_cte(upserted)
    )
