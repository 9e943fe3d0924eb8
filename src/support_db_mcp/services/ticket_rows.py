"""The columns every ticket result is built from, the SQL they compile to, and the mappers from rows.

Every read is one statement that returns everything its result shows: a ticket's tags come as an
array subselect and a ticket's comments as one array of rows, so a page of tickets or a ticket with
its comments is one round trip whatever its size. The statements are SQLAlchemy Core built from the
models, compiled once to the SQL text asyncpg receives and sent through the connection as they are,
and their rows become the result in one pydantic validation (building and validating model by
model cost more than the query; see the README's Performance section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.engine import ReadConnectionLost, ReadSession
from support_db_mcp.db.statements import record_statement
from support_db_mcp.models import Comment, Tag, Ticket, User, ticket_tags
from support_db_mcp.schemas.tickets import TicketSummary

tickets_table = Ticket.__table__
creators = User.__table__.alias("creator")
assignees = User.__table__.alias("assignee")
authors = User.__table__.alias("author")
comments_table = Comment.__table__
tags_table = Tag.__table__
summary_from = tickets_table.outerjoin(creators, creators.c.id == tickets_table.c.creator_id).outerjoin(
    assignees, assignees.c.id == tickets_table.c.assignee_id
)


def comment_count() -> ColumnElement[int]:
    return (
        select(func.count(comments_table.c.id))
        .where(comments_table.c.ticket_id == tickets_table.c.id)
        .scalar_subquery()
        .label("comment_count")
    )


def tag_names() -> ColumnElement[list[str]]:
    """The ticket's tag names, sorted, as one array (served by the ticket_tags primary key)."""
    names = (
        select(tags_table.c.name)
        .join(ticket_tags, ticket_tags.c.tag_id == tags_table.c.id)
        .where(ticket_tags.c.ticket_id == tickets_table.c.id)
        .order_by(tags_table.c.name)
        .scalar_subquery()
    )
    return func.array(names).label("tags")


def comment_columns() -> list[ColumnElement[Any]]:
    """A comment's columns with its author, in the order `comment_fields` reads them."""
    c = comments_table.c
    a = authors.c
    return [c.id, c.body, c.is_internal, c.created_at, a.id, a.full_name, a.email]


# One comment of a ticket (add_comment's replay shows the comment it stored).
COMMENT_OF_TICKET = (
    select(*comment_columns())
    .select_from(comments_table.join(authors, authors.c.id == comments_table.c.author_id))
    .where(
        comments_table.c.ticket_id == bindparam("ticket_id"), comments_table.c.id == bindparam("comment_id")
    )
)


def comment_rows() -> ColumnElement[Any]:
    """The ticket's comments oldest first with their authors, as one array of rows (NULL if none),
    from ix_comments_ticket_id_created_at."""
    c = comments_table.c
    row = tuple_(*comment_columns())
    return (
        select(func.array_agg(aggregate_order_by(row, c.created_at, c.id)))
        .select_from(comments_table.join(authors, authors.c.id == c.author_id))
        .where(c.ticket_id == tickets_table.c.id)
        .scalar_subquery()
        .label("comments")
    )


def summary_columns() -> list[ColumnElement[Any]]:
    """A ticket summary's columns, in the order `summary_fields` reads them."""
    t = tickets_table.c
    return [
        t.id,
        t.number,
        t.title,
        t.status,
        t.priority,
        t.created_at,
        t.updated_at,
        creators.c.id.label("creator_id"),
        creators.c.full_name.label("creator_full_name"),
        creators.c.email.label("creator_email"),
        assignees.c.id.label("assignee_id"),
        assignees.c.full_name.label("assignee_full_name"),
        assignees.c.email.label("assignee_email"),
        tag_names(),
        comment_count(),
    ]


def detail_columns() -> list[ColumnElement[Any]]:
    """A whole ticket's columns, in the order `detail_fields` reads them."""
    return [*summary_columns(), tickets_table.c.description, comment_rows()]


# ---------------------------------------------------------------- compiled once, sent as they are
_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class CompiledRead:
    """A read statement as asyncpg receives it: SQL with $n placeholders, the names of the values
    in placeholder order, and the values the statement itself fixes (a constant such as `LIMIT
    2000` is a bind parameter too)."""

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        if not self.constants:
            return tuple([values[name] for name in self.names])
        fixed = self.constants
        return tuple([fixed[name] if name in fixed else values[name] for name in self.names])


def compile_read(statement: Select[Any]) -> CompiledRead:
    compiled = statement.compile(dialect=_DIALECT)
    names = tuple(compiled.positiontup or ())
    constants = {name: compiled.binds[name].value for name in names if not compiled.binds[name].required}
    return CompiledRead(compiled.string, names, constants)


# what asyncpg raises when the connection under it is gone (the database restarted), or when its
# protocol was left mid-exchange by a connection lost during a statement (InternalClientError)
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    OSError,
)


def _lost(error: Exception, driver: asyncpg.Connection) -> bool:
    """Whether `error` means the connection is unusable (rather than a fault of the statement)."""
    if isinstance(error, _CONNECTION_LOST):
        return True
    return isinstance(error, asyncpg.InterfaceError) and driver.is_closed()


async def fetch(session: ReadSession, read: CompiledRead, values: Mapping[str, Any]) -> Sequence[Any]:
    """One round trip: the rows of `read` with `values` bound, through the session's connection.

    On the read tools' autocommit connection the statement goes to asyncpg directly (SQLAlchemy's
    execution layer around one prepared statement cost as much as the rest of the read's Python);
    it is counted all the same (db/statements.py). Should the connection turn out dead, it is
    invalidated (never returned to the pool) and ReadConnectionLost tells `Database.run_read` to
    run the read again on a new connection. In a session (a transaction: explain_query's capture,
    tests, writes) the statement goes through exec_driver_sql, which also starts that transaction.
    """
    arguments = read.arguments(values)
    if isinstance(session, AsyncSession):
        connection = await session.connection()
    else:
        connection = session
        driver = (await connection.get_raw_connection()).dbapi_connection
        if driver is not None and getattr(driver, "autocommit", False):
            started = perf_counter()
            try:
                rows: Sequence[Any] = await driver.driver_connection.fetch(read.sql, *arguments)
            except Exception as error:
                if not _lost(error, driver.driver_connection):
                    raise
                await connection.invalidate(error)
                raise ReadConnectionLost("the database connection was lost; retry shortly") from error
            record_statement(read.sql, arguments, perf_counter() - started)
            return rows
    result = await connection.exec_driver_sql(read.sql, arguments)
    return result.all()


# ---------------------------------------------------------------- rows -> result fields
ROW_ID, ROW_CREATED_AT = 0, 5  # positions in a row of summary_columns() (the keyset of a page)


def _user(user_id: int | None, full_name: str | None, email: str | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "full_name": full_name, "email": email}


def summary_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The fields of a TicketSummary from a row of summary_columns()."""
    return {
        "id": row[ROW_ID],
        "number": row[1],
        "title": row[2],
        "status": row[3],
        "priority": row[4],
        "created_at": row[ROW_CREATED_AT],
        "updated_at": row[6],
        "creator": _user(row[7], row[8], row[9]),
        "assignee": _user(row[10], row[11], row[12]),
        "tags": row[13] or [],
        "comment_count": row[14],
    }


def comment_fields(comment: Sequence[Any]) -> dict[str, Any]:
    """The fields of a CommentOut from one element of comment_rows()."""
    return {
        "id": comment[0],
        "body": comment[1],
        "internal": comment[2],
        "created_at": comment[3],
        "author": _user(comment[4], comment[5], comment[6]),
    }


def detail_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The fields of a TicketDetail from a row of detail_columns()."""
    fields = summary_fields(row)
    comments = [comment_fields(comment) for comment in row[16] or ()]
    fields["description"] = row[15]
    fields["comments"] = comments
    fields["comment_count"] = len(comments)
    return fields


SUMMARY_KEYS = tuple(str(column.key) for column in summary_columns())  # the names of a summary row


def named_summary_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a TicketSummary from named values: a write's row of summary_columns() (by the
    names in SUMMARY_KEYS), with what it changed merged in."""
    return summary_fields([values[key] for key in SUMMARY_KEYS])


def summary_of(values: Mapping[str, Any]) -> TicketSummary:
    return TicketSummary.model_validate(named_summary_fields(values))
