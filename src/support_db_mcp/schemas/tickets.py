"""The ticket tools' contract: their inputs (shared with the services) and their outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from support_db_mcp.models import TicketPriority, TicketStatus
from support_db_mcp.schemas.base import CUSTOMER_TEXT, ToolInput
from support_db_mcp.schemas.fields import (
    TIMESTAMP_HELP,
    CleanText,
    Priority,
    PriorityFilter,
    StatusFilter,
    Tags,
    Timestamp,
    at_most,
    between,
    sized,
)
from support_db_mcp.schemas.keys import AssigneeKey, IdempotencyKey, TicketArgument, UserId, UserKey
from support_db_mcp.schemas.patterns import SOME_TEXT

MAX_PAGE = 100
DEFAULT_PAGE = 20


# ---------------------------------------------------------------- inputs
class TicketSearch(ToolInput):
    """Filters of search_tickets; every filter is optional and they combine with AND."""

    text: Annotated[
        CleanText | None,
        at_most(500),
        Field(
            json_schema_extra={"maxLength": 500},
            description='Free text over title and description, web-search syntax: words, "a phrase", '
            "or, -excluded. Matches English word stems (refund matches refunds, refunded).",
            examples=["refund"],
        ),
    ] = None
    status: StatusFilter = None
    priority: Annotated[
        PriorityFilter,
        Field(
            description="Only tickets with this priority, or any of several separated by commas: low, "
            "normal, high, urgent.",
            examples=["urgent", "high, urgent"],
        ),
    ] = None
    assignee_id: Annotated[
        UserId | None, Field(description="Only tickets assigned to this user id.", examples=[7])
    ] = None
    unassigned: Annotated[
        bool,
        Field(
            description="true: only tickets nobody is assigned to (the queue to pick up from). "
            "Not together with assignee_id.",
            examples=[True],
        ),
    ] = False
    creator_id: Annotated[
        UserId | None, Field(description="Only tickets created by this user id.", examples=[42])
    ] = None
    tag: Annotated[
        CleanText | None,
        at_most(50),
        Field(
            json_schema_extra={"maxLength": 50},
            description="Only tickets with this tag.",
            examples=["billing"],
        ),
    ] = None
    created_after: Annotated[
        Timestamp | None,
        Field(
            description=f"Only tickets created at or after this time. {TIMESTAMP_HELP}",
            examples=["2026-01-31"],
        ),
    ] = None
    created_before: Annotated[
        Timestamp | None,
        Field(
            description=f"Only tickets created before this time. {TIMESTAMP_HELP}", examples=["2026-02-01"]
        ),
    ] = None
    limit: Annotated[
        int,
        between(1, MAX_PAGE),
        Field(
            description=f"Tickets per page, 1 to {MAX_PAGE} (default {DEFAULT_PAGE}).",
            json_schema_extra={"minimum": 1, "maximum": MAX_PAGE},
        ),
    ] = DEFAULT_PAGE
    cursor: Annotated[
        str | None,
        Field(max_length=512, description="The next_cursor of the previous page; repeat the same filters."),
    ] = None

    def across_arguments(self) -> str | None:
        if self.unassigned and self.assignee_id is not None:
            return "give assignee_id (one assignee's tickets) or unassigned=true (nobody's), not both"
        return None

    def filters_fingerprint_source(self) -> dict[str, Any]:
        """The filters that a cursor is bound to (not the page size, not the cursor)."""
        return self.model_dump(mode="json", exclude={"limit", "cursor"})


class TicketLookup(ToolInput):
    """The argument of get_ticket."""

    ticket: TicketArgument


TITLE_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": 200, "pattern": SOME_TEXT}
Title = Annotated[
    CleanText,
    sized("title", 1, 200),
    Field(
        description="Short summary, 1 to 200 characters.",
        json_schema_extra=TITLE_SCHEMA,
        examples=["Invoice export times out"],
    ),
]
Description = Annotated[
    CleanText,
    sized("description", 1, 20_000),
    Field(
        description="What happened, 1 to 20,000 characters.",
        json_schema_extra={"minLength": 1, "maxLength": 20_000, "pattern": SOME_TEXT},
        examples=["The export of last month's invoices stops after a minute."],
    ),
]
RequestId = Annotated[
    IdempotencyKey | None,
    Field(
        examples=["3f2c9a1e-7b4d-4e8a-9c1f-2d6b8e0a5c37"],
        description="Idempotency key (e.g. a UUID), to retry safely: a call repeated with the same "
        "request_id and the same arguments returns what the first call stored (replayed: true) "
        "instead of writing twice; the same request_id with other arguments is refused.",
    ),
]
PersonName = Annotated[CleanText, sized("creator_name", 1, 200)]


class NewTicket(ToolInput):
    """What create_ticket stores."""

    title: Title
    description: Description
    creator: Annotated[
        UserKey | None,
        Field(
            description="Who reports the ticket: a user id (e.g. 42) or e-mail address. Defaults to the "
            "acting user (SUPPORT_DB_ACTOR, or the user of the HTTP token); required when there is none. "
            "An e-mail address nobody has yet, with creator_name, creates that customer.",
            examples=["ana@example.com"],
        ),
    ] = None
    creator_name: Annotated[
        PersonName | None,
        Field(
            description="Full name of a new customer, 1 to 200 characters: with a creator e-mail address "
            "that has no user yet, that user is created as a customer in the same transaction. Ignored "
            "when the creator exists.",
            json_schema_extra={"minLength": 1, "maxLength": 200},
            examples=["Ana Silva"],
        ),
    ] = None
    priority: Annotated[Priority, Field(description="low, normal (default), high or urgent.")] = (
        TicketPriority.NORMAL
    )
    assignee_id: Annotated[
        AssigneeKey,
        Field(
            description="Agent or admin to assign the ticket to: a user id ('7'), or 'me' for the acting "
            "user; left out (or 'none'): unassigned.",
            examples=["me", "7"],
        ),
    ] = None
    tags: Annotated[
        Tags,
        Field(
            description='Up to 10 tags separated by commas, e.g. "billing, vip"; new ones are created. '
            "A tag is 1 to 50 letters, digits, spaces, '_', '-' or '.', starting with a letter or digit; "
            "stored lower-case.",
            examples=["billing, vip"],
        ),
    ] = Field(default_factory=list)
    request_id: RequestId = None


# ---------------------------------------------------------------- outputs
class UserSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    full_name: Annotated[str, CUSTOMER_TEXT]
    email: str


class TicketSummary(BaseModel):
    id: int
    number: str = Field(description="Human ticket number, e.g. TCK-000123.")
    title: Annotated[str, CUSTOMER_TEXT]
    status: TicketStatus
    priority: TicketPriority
    creator: UserSummary
    assignee: UserSummary | None
    tags: list[str]
    comment_count: int
    created_at: datetime
    updated_at: datetime


class CommentOut(BaseModel):
    id: int
    author: UserSummary
    body: Annotated[str, CUSTOMER_TEXT]
    internal: bool = Field(description="Internal notes are visible to agents only.")
    created_at: datetime


class TicketDetail(TicketSummary):
    description: Annotated[str, CUSTOMER_TEXT]
    comments: list[CommentOut] = Field(description="Oldest first.")


SqlStatements = Annotated[int, Field(description="SQL statements this call ran.")]


class SearchTicketsResult(BaseModel):
    tickets: list[TicketSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` with the same filters for the next page; null on the last page."
    )
    note: str | None = Field(default=None, description="How to get more, or why nothing matched.")
    sql_statements: SqlStatements


class FieldChange(BaseModel):
    """One field of a ticket changed by a tool, with its value before and after (as text)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    field: str = Field(description="status, priority, assignee, title, tag, comment or ticket (created).")
    # Values may be titles or tags, which customers write.
    from_: Annotated[str | None, CUSTOMER_TEXT] = Field(alias="from", description="Before; null if none.")
    to: Annotated[str | None, CUSTOMER_TEXT] = Field(description="After; null if none (a removed tag).")


class _Made(BaseModel):
    at: datetime
    actor: UserSummary = Field(description="Who made the change.")
    tool: str = Field(description="The tool that made it: create_ticket, update_ticket or add_comment.")


class TicketEvent(FieldChange, _Made):
    """One entry of a ticket's history: a change made through the tools (when, who, which tool, what)."""


HISTORY_LIMIT = 50


class GetTicketResult(BaseModel):
    ticket: TicketDetail
    history: list[TicketEvent] = Field(
        default_factory=list,
        description=f"The latest {HISTORY_LIMIT} changes made through the tools, newest last.",
    )
    history_truncated: bool = Field(
        default=False, description=f"True when the ticket has older changes than the {HISTORY_LIMIT} shown."
    )
    sql_statements: SqlStatements


class CreateTicketResult(BaseModel):
    ticket: TicketDetail
    replayed: bool = Field(
        default=False,
        description="True when request_id matched an earlier create: this is the ticket it stored.",
    )
    new_customer: bool = Field(
        default=False, description="True when the creator was created by this call, as a customer."
    )
    sql_statements: SqlStatements
