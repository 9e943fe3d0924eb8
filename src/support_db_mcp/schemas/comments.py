"""add_comment's contract: a reply or an internal note on a ticket, and what was stored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from support_db_mcp.schemas.base import ToolInput
from support_db_mcp.schemas.fields import CleanText, sized
from support_db_mcp.schemas.keys import TicketArgument, UserKey
from support_db_mcp.schemas.tickets import CommentOut, RequestId, SqlStatements, TicketSummary

MAX_BODY = 10_000


class NewComment(ToolInput):
    """The arguments of add_comment."""

    ticket: TicketArgument
    body: Annotated[
        CleanText,
        sized("body", 1, MAX_BODY),
        Field(
            description=f"The comment, 1 to {MAX_BODY:,} characters.",
            json_schema_extra={"minLength": 1, "maxLength": MAX_BODY},
            examples=["We have reissued the refund; it should reach your card within 5 business days."],
        ),
    ]
    author: Annotated[
        UserKey | None,
        Field(
            description="Who writes it: a user id or e-mail address. Defaults to the acting user "
            "(SUPPORT_DB_ACTOR, or the user of the HTTP token); required when there is none.",
            examples=["agent@example.com"],
        ),
    ] = None
    internal: Annotated[
        bool,
        Field(
            description="An internal note, visible to agents only (its author must be an agent or admin).",
            examples=[True],
        ),
    ] = False
    request_id: RequestId = None


class AddCommentResult(BaseModel):
    comment: CommentOut
    ticket: TicketSummary = Field(description="The ticket, with its updated_at moved to the comment's time.")
    replayed: bool = Field(
        default=False,
        description="True when request_id matched an earlier add_comment: this is the comment it stored.",
    )
    sql_statements: SqlStatements
