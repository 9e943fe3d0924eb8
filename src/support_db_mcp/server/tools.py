"""The MCP tools: validate at the edge, open a session, call one service, return its schema.

Only ToolError messages reach the client, so every expected failure becomes one here, in
`tool_errors`; anything else is a bug and the client sees only a generic error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from sqlalchemy.exc import SQLAlchemyError

from support_db_mcp.errors import SupportDBError, translate_db_error
from support_db_mcp.models import TicketPriority
from support_db_mcp.schemas import (
    DEFAULT_PAGE,
    AssigneeFilter,
    AssigneeId,
    CreatedAfter,
    CreatedBefore,
    CreateTicketResult,
    CreatorFilter,
    CreatorKey,
    Cursor,
    Description,
    GetTicketResult,
    NewPriority,
    NewTicket,
    PageSize,
    PriorityFilter,
    SearchText,
    SearchTicketsResult,
    StatusFilter,
    TagFilter,
    Tags,
    TicketKey,
    TicketSearch,
    Title,
)
from support_db_mcp.services import tickets

if TYPE_CHECKING:
    from support_db_mcp.server.app import AppState

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
CREATES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)


def _state(ctx: Context[Any, Any]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


@asynccontextmanager
async def tool_errors() -> AsyncIterator[None]:
    """Turn domain and database errors into tool errors a person can act on."""
    try:
        yield
    except SupportDBError as error:
        raise ToolError(str(error)) from error
    except (SQLAlchemyError, OSError) as error:
        translated = translate_db_error(error)
        if translated is None:
            raise
        raise ToolError(str(translated)) from error


async def search_tickets(
    ctx: Context[Any, Any],
    text: SearchText = None,
    status: StatusFilter = None,
    priority: PriorityFilter = None,
    assignee_id: AssigneeFilter = None,
    creator_id: CreatorFilter = None,
    tag: TagFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    limit: PageSize = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> SearchTicketsResult:
    """Find support tickets, newest first, one page at a time.

    All filters are optional and combine with AND. Returns at most `limit` (1-100, default 20)
    ticket summaries with creator, assignee, tags and comment count. When more tickets match,
    `next_cursor` is set: call again with the same filters and `cursor=next_cursor`.
    """
    search = TicketSearch(
        text=text,
        status=status,
        priority=priority,
        assignee_id=assignee_id,
        creator_id=creator_id,
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
    )
    async with tool_errors(), _state(ctx).database.read() as session:
        return await tickets.search_tickets(session, search=search)


async def get_ticket(ctx: Context[Any, Any], ticket: TicketKey) -> GetTicketResult:
    """Read one ticket with its description, tags and all comments (oldest first, with authors).

    `ticket` is the id (123) or the number ('TCK-000123').
    """
    async with tool_errors(), _state(ctx).database.read() as session:
        return await tickets.get_ticket(session, ref=ticket)


async def create_ticket(
    ctx: Context[Any, Any],
    title: Title,
    description: Description,
    creator: CreatorKey,
    priority: NewPriority = TicketPriority.NORMAL,
    assignee_id: AssigneeId = None,
    tags: Tags | None = None,
) -> CreateTicketResult:
    """Create a support ticket in one transaction and return it with its number (TCK-...).

    The creator must be an existing, active user (id or e-mail); the assignee, if given, an
    active agent or admin. Tags that do not exist yet are created. Not idempotent: each
    successful call stores a new ticket.
    """
    new = NewTicket(
        title=title,
        description=description,
        creator=creator,
        priority=priority,
        assignee_id=assignee_id,
        tags=tags or [],
    )
    async with tool_errors(), _state(ctx).database.write() as session:
        return await tickets.create_ticket(session, new=new)


def register(mcp: MCPServer) -> None:
    mcp.add_tool(search_tickets, title="Search tickets", annotations=READ_ONLY)
    mcp.add_tool(get_ticket, title="Get a ticket", annotations=READ_ONLY)
    mcp.add_tool(create_ticket, title="Create a ticket", annotations=CREATES)
