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
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import SupportDBError, translate_db_error
from support_db_mcp.explain.service import ServiceCall
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
    ExplainAnalyze,
    ExplainArguments,
    ExplainParams,
    ExplainQueryResult,
    ExplainSQL,
    ExplainToolName,
    GetTicketResult,
    NewPriority,
    NewTicket,
    PageSize,
    PriorityFilter,
    RequestId,
    SearchText,
    SearchTicketsResult,
    StatusFilter,
    TagFilter,
    Tags,
    TicketKey,
    TicketRef,
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
    request_id: RequestId = None,
) -> CreateTicketResult:
    """Create a support ticket in one transaction and return it with its number (TCK-...).

    The creator must be an existing, active user (id or e-mail); the assignee, if given, an
    active agent or admin. Tags that do not exist yet are created. Not idempotent: each
    successful call stores a new ticket, unless it carries a `request_id` an earlier call used,
    in which case that call's ticket is returned (`replayed: true`): pass one to retry safely.
    """
    new = NewTicket(
        title=title,
        description=description,
        creator=creator,
        priority=priority,
        assignee_id=assignee_id,
        tags=tags or [],
        request_id=request_id,
    )
    async with tool_errors(), _state(ctx).database.write() as session:
        return await tickets.create_ticket(session, new=new)


def _explainable_call(tool: str, arguments: dict[str, Any]) -> ServiceCall:
    """The service call `tool` would make with `arguments`, validated as the tool itself would."""
    accepted = set(TicketSearch.model_fields) if tool == "search_tickets" else {"ticket"}
    unknown = sorted(set(arguments) - accepted)
    if unknown:
        known = ", ".join(sorted(accepted))
        raise ToolError(f"{tool} has no argument {', '.join(unknown)}; it takes {known}")
    try:
        if tool == "search_tickets":
            search = TicketSearch.model_validate(arguments)
            return lambda session: tickets.search_tickets(session, search=search)
        if "ticket" not in arguments:
            raise ToolError("get_ticket needs `ticket`: an id like 123 or a number like TCK-000123")
        ref = TicketRef.parse(arguments["ticket"])
        return lambda session: tickets.get_ticket(session, ref=ref)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ToolError(f"invalid arguments for {tool}: {problems}") from None
    except ValueError as error:
        raise ToolError(f"invalid arguments for {tool}: {error}") from None


async def explain_query(
    ctx: Context[Any, Any],
    sql: ExplainSQL = None,
    params: ExplainParams = None,
    tool: ExplainToolName = None,
    arguments: ExplainArguments = None,
    analyze: ExplainAnalyze = True,
) -> ExplainQueryResult:
    """Show the real plan of one read-only query, what makes it slow, and verified index fixes.

    Pass either `sql` (one SELECT, WITH ... SELECT, VALUES or TABLE; values as $1..$n in
    `params`, never pasted into the text) or `tool` ('search_tickets' or 'get_ticket') with its
    `arguments`, to explain every statement that tool runs. With analyze=true (default) the query
    really runs, inside a read-only transaction that is always rolled back and stopped after a few
    seconds (a query that runs longer gets its estimated plan); analyze=false only plans it. Writes,
    locking clauses, several statements and functions with side effects are refused with the
    reason. Returns `plan_text` (indented tree; row counts and times are totals over all loops),
    `plan` (structured), `findings` (severity, plan node, figures, advice, and an index suggestion
    that was tried before being shown) and the SQL statement count of this call.
    """
    explainer = _state(ctx).explainer
    if explainer is None:
        raise ToolError("explain_query is not available on this server (no explain connection configured)")
    if (sql is None) == (tool is None):
        raise ToolError("pass either `sql` (with `params`) or `tool` (with `arguments`), not both or neither")
    async with tool_errors():
        if sql is not None:
            if arguments:
                raise ToolError("`arguments` go with `tool`; the values of a `sql` query go in `params`")
            return await explainer.explain_sql(sql, params, analyze=analyze)
        assert tool is not None
        if params:
            raise ToolError("`params` go with `sql`; a `tool` takes `arguments`")
        call = _explainable_call(tool, arguments or {})
        session_info = _state(ctx).database.session_info

        async def as_the_tool_runs_it(session: AsyncSession) -> Any:
            # the same session facts (e.g. pg_trgm available) as the tool's own sessions, so the
            # SQL explained is the SQL the tool sends
            session.info.update(session_info)
            return await call(session)

        return await explainer.explain_call(tool, as_the_tool_runs_it, analyze=analyze)


def register(mcp: MCPServer) -> None:
    mcp.add_tool(search_tickets, title="Search tickets", annotations=READ_ONLY)
    mcp.add_tool(get_ticket, title="Get a ticket", annotations=READ_ONLY)
    mcp.add_tool(create_ticket, title="Create a ticket", annotations=CREATES)
    mcp.add_tool(explain_query, title="Explain a query", annotations=READ_ONLY)
