"""The columns every ticket result is built from, and the one mapper from those rows to results.

The read paths select exactly the columns their results show, as plain rows of the tables:
building ORM objects for a 50-ticket page (with its users and tags) cost more than running the
query (`python -m bench.run`; see the Performance section of the README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.models import Comment, Tag, Ticket, User, ticket_tags
from support_db_mcp.schemas.tickets import CommentOut, TicketDetail, TicketSummary, UserSummary

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


def summary_columns() -> list[ColumnElement[Any]]:
    """The ticket's own columns and its creator and assignee, under the names the mapper reads."""
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
    ]


# The tags of a page of tickets, by name: one statement (one prepared plan) for any page size.
TAGS_OF_TICKETS = (
    select(ticket_tags.c.ticket_id, tags_table.c.name)
    .join(tags_table, tags_table.c.id == ticket_tags.c.tag_id)
    .where(ticket_tags.c.ticket_id == any_(bindparam("ticket_ids", type_=ARRAY(BigInteger))))
    .order_by(tags_table.c.name)
)


async def tags_of(session: AsyncSession, ticket_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {}
    if ticket_ids:
        for ticket_id, name in await session.execute(TAGS_OF_TICKETS, {"ticket_ids": ticket_ids}):
            tags.setdefault(ticket_id, []).append(name)
    return tags


# A ticket's comments oldest first with their authors, from ix_comments_ticket_id_created_at.
COMMENTS_OF_TICKET = (
    select(
        comments_table.c.id,
        comments_table.c.body,
        comments_table.c.is_internal,
        comments_table.c.created_at,
        authors.c.id.label("author_id"),
        authors.c.full_name.label("author_full_name"),
        authors.c.email.label("author_email"),
    )
    .join(authors, authors.c.id == comments_table.c.author_id)
    .where(comments_table.c.ticket_id == bindparam("ticket_id"))
    .order_by(comments_table.c.created_at, comments_table.c.id)
)


def _user(row: Mapping[Any, Any], prefix: str) -> UserSummary | None:
    user_id = row[f"{prefix}_id"]
    if user_id is None:
        return None
    return UserSummary(id=user_id, full_name=row[f"{prefix}_full_name"], email=row[f"{prefix}_email"])


def _summary_fields(row: Mapping[Any, Any], tags: list[str], comment_count: int) -> dict[str, Any]:
    creator = _user(row, "creator")
    assert creator is not None, "every ticket has a creator"
    return {
        "id": row["id"],
        "number": row["number"],
        "title": row["title"],
        "status": row["status"],
        "priority": row["priority"],
        "creator": creator,
        "assignee": _user(row, "assignee"),
        "tags": tags,
        "comment_count": comment_count,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def ticket_summary(row: Mapping[Any, Any], tags: list[str]) -> TicketSummary:
    """A search result from a row of summary_columns() plus comment_count."""
    return TicketSummary(**_summary_fields(row, tags, row["comment_count"]))


def comment_out(row: Mapping[Any, Any]) -> CommentOut:
    """A comment from a row of COMMENTS_OF_TICKET."""
    author = _user(row, "author")
    assert author is not None, "every comment has an author"
    return CommentOut(
        id=row["id"],
        author=author,
        body=row["body"],
        internal=row["is_internal"],
        created_at=row["created_at"],
    )


def ticket_detail(row: Mapping[Any, Any], tags: list[str], comments: Sequence[CommentOut]) -> TicketDetail:
    """A whole ticket from a row of summary_columns() plus description, its tags and its comments."""
    return TicketDetail(
        **_summary_fields(row, tags, len(comments)), description=row["description"], comments=list(comments)
    )
