"""The operation catalog: every tool the server offers, declared once.

Each entry names the operation, its input and output models, how it runs (a read or write session
around one service function, or the explain engine), what it may change, and example arguments.
The MCP tools, explain_query's tool mode, the prompts' captured SQL, completions, the benchmark and
the fuzz test all iterate this catalog; adding a tool is its models, its service function, one
entry here, and its tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.base import ToolInput, describe_validation_error
from support_db_mcp.schemas.explain import ExplainQueryResult, ExplainRequest
from support_db_mcp.schemas.tickets import (
    CreateTicketResult,
    GetTicketResult,
    NewTicket,
    SearchTicketsResult,
    TicketLookup,
    TicketSearch,
)
from support_db_mcp.services.ticket_create import create_ticket
from support_db_mcp.services.ticket_read import get_ticket
from support_db_mcp.services.ticket_search import search_tickets

if TYPE_CHECKING:
    from support_db_mcp.db import Database
    from support_db_mcp.explain import Explainer


class Access(StrEnum):
    READ = "read"  # a read-only session (READ ONLY transaction, or the replica)
    WRITE = "write"  # one read-write transaction, committed when the service returns
    EXPLAIN = "explain"  # the explain engine, on its own read-only login


class Runtime(Protocol):
    """What an operation may use: the server's database and its explain engine."""

    @property
    def database(self) -> Database: ...

    @property
    def explainer(self) -> Explainer | None: ...


# (session, inputs) -> output: a write service gets an AsyncSession in one transaction, a read
# service a ReadSession (db/engine.py), so the type of the first argument depends on `access`.
Service = Callable[[Any, Any], Awaitable[BaseModel]]
Runner = Callable[[Runtime, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    description: str  # what the tool's caller (a model) reads: limits, units, truncation
    inputs: type[ToolInput]
    output: type[BaseModel]
    access: Access
    examples: tuple[Mapping[str, Any], ...]
    service: Service | None = None  # (session, inputs) -> output, for READ and WRITE
    runner: Runner | None = field(default=None, repr=False)  # (runtime, inputs) -> output, otherwise
    destructive: bool = False
    idempotent: bool = True

    @property
    def read_only(self) -> bool:
        return self.access is not Access.WRITE

    @property
    def explainable(self) -> bool:
        """Whether explain_query can explain the SQL it sends (it only reads, on one session)."""
        return self.access is Access.READ and self.service is not None

    def parse(self, arguments: Mapping[str, Any] | None) -> Any:
        """The arguments as the service takes them; a caller's mistake is one plain-sentence error."""
        try:
            return self.inputs.model_validate(dict(arguments or {}))
        except ValidationError as error:
            raise InvalidInputError(describe_validation_error(error, self.inputs)) from None

    async def run(self, runtime: Runtime, inputs: Any) -> BaseModel:
        if self.runner is not None:
            return await self.runner(runtime, inputs)
        assert self.service is not None
        service = self.service
        if self.access is Access.WRITE:
            async with runtime.database.write() as session:
                return await service(session, inputs)
        return await runtime.database.run_read(lambda session: service(session, inputs))


# ---------------------------------------------------------------- explain_query's runner
def _explainable(tool: str) -> Operation:
    found = CATALOG.get(tool)
    if found is None or not found.explainable:
        names = ", ".join(name for name, operation in CATALOG.items() if operation.explainable)
        raise InvalidInputError(f"explain_query cannot explain tool {tool!r}; it explains: {names}")
    return found


async def _explain_query(runtime: Runtime, request: ExplainRequest) -> ExplainQueryResult:
    explainer = runtime.explainer
    if explainer is None:
        raise InvalidInputError("explain_query is not available on this server (no explain connection)")
    if (request.sql is None) == (request.tool is None):
        raise InvalidInputError(
            "pass either `sql` (with `params`) or `tool` (with `arguments`), not both or neither"
        )
    if request.sql is not None:
        if request.arguments:
            raise InvalidInputError("`arguments` go with `tool`; the values of a `sql` query go in `params`")
        return await explainer.explain_sql(request.sql, request.params, analyze=request.analyze)
    assert request.tool is not None
    if request.params:
        raise InvalidInputError("`params` go with `sql`; a `tool` takes `arguments`")
    operation = _explainable(request.tool)
    try:
        inputs = operation.parse(request.arguments)
    except InvalidInputError as error:
        raise InvalidInputError(f"invalid arguments for {operation.name}: {error}") from None
    assert operation.service is not None
    service = operation.service
    session_info = runtime.database.session_info

    async def as_the_tool_runs_it(session: AsyncSession) -> object:
        # the same session facts (pg_trgm, the cursor key) as the tool's own sessions, so the SQL
        # explained is the SQL the tool sends
        session.info.update(session_info)
        return await service(session, inputs)

    return await explainer.explain_call(operation.name, as_the_tool_runs_it, analyze=request.analyze)


# ---------------------------------------------------------------- the catalog
_OPERATIONS = (
    Operation(
        name="search_tickets",
        title="Search tickets",
        description=(
            "Find support tickets, newest first, one page at a time.\n\n"
            "All filters are optional and combine with AND. Returns at most `limit` (1-100, default 20) "
            "ticket summaries with creator, assignee, tags and comment count. When more tickets match, "
            "`next_cursor` is set: call again with the same filters and `cursor=next_cursor`. One SQL "
            "statement per page whatever its size (two with a `tag` filter)."
        ),
        inputs=TicketSearch,
        output=SearchTicketsResult,
        access=Access.READ,
        service=lambda session, search: search_tickets(session, search=search),
        examples=(
            {"status": ["open"], "limit": 20},
            {"text": "refund", "status": ["open", "in_progress"], "priority": "high"},
            {"assignee_id": 7, "created_after": "2026-01-01"},
            {"tag": "billing", "limit": 50},
        ),
    ),
    Operation(
        name="get_ticket",
        title="Get a ticket",
        description=(
            "Read one ticket with its description, tags and all comments (oldest first, with authors).\n\n"
            "`ticket` is the id (123) or the number ('TCK-000123'). One SQL statement whatever the "
            "number of comments."
        ),
        inputs=TicketLookup,
        output=GetTicketResult,
        access=Access.READ,
        service=lambda session, lookup: get_ticket(session, ref=lookup.ticket),
        examples=({"ticket": "TCK-000001"}, {"ticket": "1"}),
    ),
    Operation(
        name="create_ticket",
        title="Create a ticket",
        description=(
            "Create a support ticket in one transaction and return it with its number (TCK-...).\n\n"
            "The creator must be an existing, active user (id or e-mail); the assignee, if given, an "
            "active agent or admin. Tags that do not exist yet are created. Each successful call stores "
            "a new ticket, unless it carries a `request_id` an earlier call used, in which case that "
            "call's ticket is returned (`replayed: true`): pass one to retry safely."
        ),
        inputs=NewTicket,
        output=CreateTicketResult,
        access=Access.WRITE,
        service=lambda session, new: create_ticket(session, new=new),
        examples=(
            {
                "title": "Invoice export times out",
                "description": "The export of last month's invoices stops after a minute.",
                "creator": "1",
                "priority": "high",
                "tags": ["billing"],
            },
        ),
        idempotent=False,
    ),
    Operation(
        name="explain_query",
        title="Explain a query",
        description=(
            "Show the real plan of one read-only query, what makes it slow, and verified index fixes.\n\n"
            "Pass either `sql` (one SELECT, WITH ... SELECT, VALUES or TABLE; values as $1..$n in "
            "`params`, sent as bind parameters, never pasted into the text) or `tool` (one of our "
            "read-only tools) with its `arguments`, to explain every statement that tool runs. With "
            "analyze=true (default) the query really runs, inside a read-only transaction that is always "
            "rolled back and stopped after a few seconds (a query that runs longer gets its estimated "
            "plan); analyze=false only plans it. Writes, locking clauses, several statements and "
            "functions with side effects are refused with the reason. Returns `plan_text` (indented tree; "
            "row counts and times are totals over all loops), `plan` (structured), `findings` (severity, "
            "plan node, figures, advice, and an index suggestion that was tried before being shown) and "
            "the SQL statement count of this call."
        ),
        inputs=ExplainRequest,
        output=ExplainQueryResult,
        access=Access.EXPLAIN,
        runner=_explain_query,
        examples=(
            {"tool": "search_tickets", "arguments": {"status": "open", "limit": 20}},
            {
                "sql": "SELECT id, title FROM tickets WHERE assignee_id = $1 "
                "ORDER BY created_at DESC LIMIT 20",
                "params": [7],
            },
        ),
    ),
)
CATALOG: dict[str, Operation] = {operation.name: operation for operation in _OPERATIONS}


def explainable_operations() -> list[Operation]:
    return [operation for operation in CATALOG.values() if operation.explainable]
