"""Ticket queries: search, read and create. Every statement the ticket tools run is here.

Related rows are always loaded explicitly (the relationships raise on lazy load), so a call sends
a fixed number of statements whatever the page size: search 2, get 3, create at most 3.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    any_,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, raiseload

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
from support_db_mcp.services import capabilities
from support_db_mcp.services.pagination import KeysetPosition, decode_cursor, encode_cursor

ASSIGNABLE_ROLES = frozenset({UserRole.AGENT, UserRole.ADMIN})


# ---------------------------------------------------------------- building blocks
# The read paths select exactly the columns their results show, as plain rows of the tables:
# building ORM objects for a 50-ticket page (with its users and tags) cost more than running the
# query (`python -m bench.run`; see the Performance section of the README).
_tickets = Ticket.__table__
_creators = User.__table__.alias("creator")
_assignees = User.__table__.alias("assignee")
_authors = User.__table__.alias("author")
_comments = Comment.__table__
_tags = Tag.__table__
_summary_from = _tickets.outerjoin(_creators, _creators.c.id == _tickets.c.creator_id).outerjoin(
    _assignees, _assignees.c.id == _tickets.c.assignee_id
)


def _comment_count() -> ColumnElement[int]:
    return (
        select(func.count(_comments.c.id))
        .where(_comments.c.ticket_id == _tickets.c.id)
        .scalar_subquery()
        .label("comment_count")
    )


def _summary_columns() -> list[ColumnElement[Any]]:
    t = _tickets.c
    return [
        t.id,
        t.number,
        t.title,
        t.status,
        t.priority,
        t.created_at,
        t.updated_at,
        _creators.c.id.label("creator_id"),
        _creators.c.full_name.label("creator_full_name"),
        _creators.c.email.label("creator_email"),
        _assignees.c.id.label("assignee_id"),
        _assignees.c.full_name.label("assignee_full_name"),
        _assignees.c.email.label("assignee_email"),
    ]


def text_match(text: str | ColumnElement[str]) -> ColumnElement[bool]:
    """Full-text match over title and description, served by the GIN index on search_vector."""
    query = func.websearch_to_tsquery(literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig"), text)
    return _tickets.c.search_vector.bool_op("@@")(query)


def _search_values(
    search: TicketSearch, after: KeysetPosition | None, tag_id: int | None, *, fuzzy_titles: bool = False
) -> dict[str, Any]:
    """The bind values of a search; their names say which filters the statement needs."""
    values: dict[str, Any] = {"limit": search.limit + 1}
    if search.text:
        values["text"] = search.text
        if fuzzy_titles:
            values["fuzzy_text"] = search.text
    if search.status:
        values["statuses"] = list(search.status)
    if search.priority:
        values["priorities"] = list(search.priority)
    if search.assignee_id is not None:
        values["assignee_id"] = search.assignee_id
    if search.creator_id is not None:
        values["creator_id"] = search.creator_id
    if tag_id is not None:
        values["tag_id"] = tag_id
    if search.created_after is not None:
        values["created_after"] = search.created_after
    if search.created_before is not None:
        values["created_before"] = search.created_before
    if after is not None:
        values["after_created_at"] = after.created_at
        values["after_id"] = after.id
    return values


@functools.lru_cache(maxsize=1024)
def _search_template(filters: frozenset[str]) -> Select[*tuple[Any, ...]]:
    """The search statement for one combination of filters, with bind parameters for the values.

    Built once per combination and reused: building the expression cost a fifth of a search call,
    and a reused statement keeps its cache key, so SQLAlchemy does not compute it again either.
    """
    t = _tickets.c
    conditions: list[ColumnElement[bool]] = []
    if "text" in filters:
        match = text_match(bindparam("text", type_=Text()))
        if "fuzzy_text" in filters:
            # pg_trgm's word similarity (served by ix_tickets_title_trgm) also finds titles with
            # the words misspelt: "passwrd" finds "Password reset email never arrives".
            match = or_(match, bindparam("fuzzy_text", type_=Text()).bool_op("<%")(t.title))
        conditions.append(match)
    if "statuses" in filters:
        conditions.append(t.status.in_(bindparam("statuses", expanding=True)))
    if "priorities" in filters:
        conditions.append(t.priority.in_(bindparam("priorities", expanding=True)))
    if "assignee_id" in filters:
        conditions.append(t.assignee_id == bindparam("assignee_id"))
    if "creator_id" in filters:
        conditions.append(t.creator_id == bindparam("creator_id"))
    if "tag_id" in filters:
        tagged = select(ticket_tags.c.ticket_id).where(ticket_tags.c.tag_id == bindparam("tag_id"))
        conditions.append(t.id.in_(tagged))
    if "created_after" in filters:
        conditions.append(t.created_at >= bindparam("created_after"))
    if "created_before" in filters:
        conditions.append(t.created_at < bindparam("created_before"))
    if "after_id" in filters:
        position = tuple_(
            bindparam("after_created_at", type_=t.created_at.type), bindparam("after_id", type_=t.id.type)
        )
        conditions.append(tuple_(t.created_at, t.id) < position)
    return (
        select(*_summary_columns(), _comment_count())
        .select_from(_summary_from)
        .where(*conditions)
        .order_by(t.created_at.desc(), t.id.desc())
        .limit(bindparam("limit", type_=Integer()))
    )


def search_statement(
    search: TicketSearch, after: KeysetPosition | None, tag_id: int | None = None
) -> Select[*tuple[Any, ...]]:
    """One page, newest first, keyset-paginated on (created_at, id); limit + 1 rows tell if more exist.

    The tag filter takes the tag's id, resolved beforehand, so the planner sees the real value and
    can tell a rare tag (read through the tag index) from a common one (walk the date order).
    This is the cached template with this search's values bound into it (for EXPLAIN and tests);
    search_tickets executes the template and passes the values.
    """
    values = _search_values(search, after, tag_id)
    return _search_template(frozenset(values)).params(values)


# The tags of a page of tickets, by name: one statement (one prepared plan) for any page size.
_TAGS_OF_TICKETS = (
    select(ticket_tags.c.ticket_id, _tags.c.name)
    .join(_tags, _tags.c.id == ticket_tags.c.tag_id)
    .where(ticket_tags.c.ticket_id == any_(bindparam("ticket_ids", type_=ARRAY(BigInteger))))
    .order_by(_tags.c.name)
)


async def _tags_of(session: AsyncSession, ticket_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    if ticket_ids:
        for ticket_id, name in await session.execute(_TAGS_OF_TICKETS, {"ticket_ids": ticket_ids}):
            tags.setdefault(ticket_id, []).append(name)
    return tags


def _summary_of(row: Sequence[Any], tags: list[str], comment_count: int) -> dict[str, Any]:
    """The TicketSummary fields of a row that starts with _summary_columns().

    Unpacked by position: reading 13 attributes of a Row by name costs as much as validating the model.
    """
    ticket_id, number, title, status, priority, created_at, updated_at = row[:7]
    creator_id, creator_name, creator_email, assignee_id, assignee_name, assignee_email = row[7:13]
    assignee = None
    if assignee_id is not None:
        assignee = UserSummary(id=assignee_id, full_name=assignee_name, email=assignee_email)
    return {
        "id": ticket_id,
        "number": number,
        "title": title,
        "status": status,
        "priority": priority,
        "creator": UserSummary(id=creator_id, full_name=creator_name, email=creator_email),
        "assignee": assignee,
        "tags": tags,
        "comment_count": comment_count,
        "created_at": created_at,
        "updated_at": updated_at,
    }


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
            tag_id = await session.scalar(select(_tags.c.id).where(_tags.c.name == normalise_tag(search.tag)))
            if tag_id is None:
                return SearchTicketsResult(
                    tickets=[],
                    next_cursor=None,
                    note=f"No tag named {search.tag!r} exists, so no ticket has it.",
                    sql_statements=statements.count,
                )
        fuzzy = capabilities.of(session).trigram_titles
        values = _search_values(search, after, tag_id, fuzzy_titles=fuzzy)
        rows = (await session.execute(_search_template(frozenset(values)), values)).all()
        page = rows[: search.limit]
        tags = await _tags_of(session, [row.id for row in page])
    tickets = [TicketSummary(**_summary_of(row, tags.get(row.id, []), row.comment_count)) for row in page]
    next_cursor = None
    note = None
    if len(rows) > search.limit:
        last = page[-1]
        next_cursor = encode_cursor(KeysetPosition(last.created_at, last.id), filters)
        note = (
            f"Showing {len(tickets)} tickets; more match. Call search_tickets again with the same "
            "filters and cursor=next_cursor for the next page."
        )
    return SearchTicketsResult(
        tickets=tickets, next_cursor=next_cursor, note=note, sql_statements=statements.count
    )


# ---------------------------------------------------------------- get_ticket
_TICKET_BY_ID = (
    select(*_summary_columns(), _tickets.c.description)
    .select_from(_summary_from)
    .where(_tickets.c.id == bindparam("id"))
)
_TICKET_BY_NUMBER = (
    select(*_summary_columns(), _tickets.c.description)
    .select_from(_summary_from)
    .where(_tickets.c.number == bindparam("number"))
)
# A ticket's comments oldest first with their authors, from ix_comments_ticket_id_created_at.
_COMMENTS_OF_TICKET = (
    select(
        _comments.c.id,
        _comments.c.body,
        _comments.c.is_internal,
        _comments.c.created_at,
        _authors.c.id.label("author_id"),
        _authors.c.full_name.label("author_full_name"),
        _authors.c.email.label("author_email"),
    )
    .join(_authors, _authors.c.id == _comments.c.author_id)
    .where(_comments.c.ticket_id == bindparam("ticket_id"))
    .order_by(_comments.c.created_at, _comments.c.id)
)


def _ticket_query(ref: TicketRef) -> tuple[Select[*tuple[Any, ...]], dict[str, Any]]:
    if ref.id is not None:
        return _TICKET_BY_ID, {"id": ref.id}
    return _TICKET_BY_NUMBER, {"number": ref.number}


def ticket_statement(ref: TicketRef) -> Select[*tuple[Any, ...]]:
    """The ticket's own row with its creator and assignee (tags and comments follow, one statement each)."""
    statement, values = _ticket_query(ref)
    return statement.params(values)


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
        statement, values = _ticket_query(ref)
        row = (await session.execute(statement, values)).one_or_none()
        if row is None:
            raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
        tags = await _tags_of(session, [row.id])
        comment_rows = (await session.execute(_COMMENTS_OF_TICKET, {"ticket_id": row.id})).all()
    comments = [
        CommentOut(
            id=comment.id,
            author=UserSummary(
                id=comment.author_id, full_name=comment.author_full_name, email=comment.author_email
            ),
            body=comment.body,
            internal=comment.is_internal,
            created_at=comment.created_at,
        )
        for comment in comment_rows
    ]
    ticket = TicketDetail(
        **_summary_of(row, tags.get(row.id, []), len(comments)),
        description=row.description,
        comments=comments,
    )
    return GetTicketResult(ticket=ticket, sql_statements=statements.count)


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
