"""add_comment: a reply or an internal note on a ticket, which moves the ticket's updated_at.

The ticket row is locked first (as update_ticket locks it), so a comment and an update of the same
ticket never interleave, and the comment, the ticket's new updated_at and its history are one
transaction. Statements: the users it names, the locked ticket, the comment with the ticket's
updated_at (one statement), and its history: 4; plus the request_id's claim.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.models import Comment, Ticket
from support_db_mcp.schemas.comments import AddCommentResult, NewComment
from support_db_mcp.schemas.tickets import CommentOut, UserSummary
from support_db_mcp.services import history, idempotency, users
from support_db_mcp.services.actors import Actor, acting_person, email_of, on_behalf_allowed
from support_db_mcp.services.ticket_rows import (
    COMMENT_OF_TICKET,
    comment_fields,
    comments_table,
    summary_of,
)
from support_db_mcp.services.ticket_update import read_summary

TOOL = "add_comment"
_tickets = cast(Table, Ticket.__table__)

_stored = (
    insert(cast(Table, Comment.__table__))
    .values(
        ticket_id=bindparam("comment_ticket_id"),
        author_id=bindparam("comment_author_id"),
        body=bindparam("comment_body"),
        is_internal=bindparam("comment_internal"),
    )
    .returning(comments_table.c.id, comments_table.c.created_at)
    .cte("stored")
)
_bumped = (
    update(_tickets)
    .where(_tickets.c.id == bindparam("comment_ticket_id"))
    .values(updated_at=func.now())
    .returning(_tickets.c.updated_at)
    .cte("bumped")
)
# The comment and the ticket's new updated_at in one round trip (both are now(): one transaction).
_STORE = select(_stored.c.id, _stored.c.created_at, _bumped.c.updated_at).select_from(
    _stored.join(_bumped, true())  # one row each
)


async def add_comment(
    session: AsyncSession, *, new: NewComment, actor: Actor | None = None
) -> AddCommentResult:
    """Store the comment in the caller's transaction (it commits); see the module for the rules."""
    key = idempotency.WriteKey.of(TOOL, new, email_of(actor))
    with count_statements() as statements:
        stored = await idempotency.claim(session, key) if key is not None else None
        if stored is not None:
            assert stored.comment_id is not None, "a settled add_comment names its comment"
            ticket = await read_summary(session, new.ticket)
            found = await session.execute(
                COMMENT_OF_TICKET, {"ticket_id": ticket["id"], "comment_id": stored.comment_id}
            )
            comment = CommentOut.model_validate(comment_fields(found.one()))
            summary = summary_of(ticket)
            return AddCommentResult(
                comment=comment, ticket=summary, replayed=True, sql_statements=statements.count
            )
        author_key = new.author if new.author is not None else email_of(actor)
        if author_key is None:
            raise InvalidInputError(
                "author is required (who writes the comment: a user id or e-mail address), because this "
                "server has no acting user (SUPPORT_DB_ACTOR)"
            )
        people = await users.find_users(session, [author_key, email_of(actor)])
        acting = acting_person(people, actor)
        author = users.require(people, author_key, role="author")
        on_behalf_allowed(acting, author, role="author")
        if new.internal and not author.is_staff:
            raise InvalidInputError(
                f"{author} is a {author.role.value}; internal notes are written by agents and admins only"
            )
        ticket = await read_summary(session, new.ticket, lock=True)
        values = {
            "comment_ticket_id": ticket["id"],
            "comment_author_id": author.id,
            "comment_body": new.body,
            "comment_internal": new.internal,
        }
        row = (await session.execute(_STORE, values)).one_or_none()
        if row is None:  # the ticket was locked above, so it cannot have gone
            raise NotFoundError(f"no ticket with {new.ticket}")
        await history.record(
            session,
            ticket_id=ticket["id"],
            actor_id=(acting or author).id,
            tool=TOOL,
            changes=[history.Change("internal_note" if new.internal else "comment", None, str(row.id))],
            request_id=new.request_id,
            settle=(
                idempotency.settle(key, ticket_id=ticket["id"], comment_id=row.id)
                if key is not None
                else None
            ),
        )
    comment = CommentOut(
        id=row.id,
        author=UserSummary(id=author.id, full_name=author.full_name, email=author.email),
        body=new.body,
        internal=new.internal,
        created_at=row.created_at,
    )
    after = {**ticket, "updated_at": row.updated_at, "comment_count": ticket["comment_count"] + 1}
    summary = summary_of(after)
    return AddCommentResult(comment=comment, ticket=summary, sql_statements=statements.count)
