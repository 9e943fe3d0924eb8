"""Measurements the prompts quote: the SQL our tools send, their plans, lazy versus eager loading.

Every plan comes from the one explain engine (explain/, the Explainer): the same parser, login,
volatility rules and error scrubbing as the explain_query tool. The rest runs on the caller's
session and changes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload

from support_db_mcp.db.statements import CapturedStatement, count_statements
from support_db_mcp.errors import InvalidInputError, SupportDBError
from support_db_mcp.models import Comment, Ticket
from support_db_mcp.schemas.explain import ExplainPlanNode, ExplainQueryResult
from support_db_mcp.services.operations import CATALOG, explainable_operations

if TYPE_CHECKING:
    from support_db_mcp.explain import Explainer

# The read-only tools whose statements can be captured by running them; create_ticket writes.
MEASURED_TOOLS = tuple(operation.name for operation in explainable_operations())
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- the SQL a tool sends
ServiceCall = Callable[[AsyncSession], Awaitable[object]]


@dataclass(frozen=True)
class CapturedRun:
    tool: str
    arguments: dict[str, Any]  # what the tool was called with
    statements: list[CapturedStatement]
    rows: int  # tickets the call returned
    call: ServiceCall = field(repr=False, compare=False)  # the same call, to run it again elsewhere
    given: bool = False  # the caller's own arguments (else the catalog's first example)


async def capture_tool(
    session: AsyncSession, *, tool: str, arguments: Mapping[str, Any] | None = None
) -> CapturedRun:
    """Run a read-only tool's service once, with `arguments` (checked exactly as the tool checks
    them) or its catalog example, and keep every statement it sent."""
    operation = CATALOG.get(tool)
    if operation is None or not operation.explainable or operation.service is None:
        raise InvalidInputError(
            f"{tool!r} is not a tool whose SQL can be measured; use one of {', '.join(MEASURED_TOOLS)}"
        )
    service = operation.service
    given = arguments is not None
    chosen = dict(arguments if arguments is not None else operation.examples[0])
    try:
        inputs = operation.parse(chosen)
    except InvalidInputError as error:
        raise InvalidInputError(f"invalid arguments for {tool}: {error}") from None
    info = dict(session.info)  # the installation's facts (pg_trgm, the cursor key) the tool sees

    async def call(s: AsyncSession) -> object:
        s.info.update(info)
        return await service(s, inputs)

    with count_statements() as log:
        result = await call(session)
    found = getattr(result, "tickets", None)
    rows = len(found) if isinstance(found, list) else 1
    return CapturedRun(tool, chosen, log.statements, rows, call, given=given)


# ---------------------------------------------------------------- plans, from the explain engine
def scanned_relations(result: ExplainQueryResult) -> list[str]:
    """The tables the explained plans read, without their schema, in plan order."""
    seen: list[str] = []

    def visit(node: ExplainPlanNode) -> None:
        if node.relation:
            name = node.relation.split(".", 1)[-1]
            if name not in seen:
                seen.append(name)
        for child in node.children:
            visit(child)

    for statement in result.plan:
        visit(statement.plan)
    return seen


async def explain_target(
    explainer: Explainer | None,
    *,
    target: str,
    tool: CapturedRun | None,
    params: Sequence[Any] | None = None,
) -> tuple[ExplainQueryResult | None, str | None]:
    """The explain engine's answer for the SQL a user gave or the statements one of our tools sent,
    run where that is safe (the estimated plan otherwise); or why there is none."""
    if explainer is None:
        return None, "explain_query is not available on this server (no explain engine)"
    try:
        if tool is not None:
            return await explainer.explain_call(tool.tool, tool.call), None
        return await explainer.explain_sql(target, params, analyze=None), None
    except SupportDBError as error:
        return None, str(error)


def looks_like_tool_name(target: str) -> bool:
    return bool(_IDENTIFIER.match(target.strip()))


# ---------------------------------------------------------------- N+1: lazy versus eager
@dataclass(frozen=True)
class LoadingRun:
    strategy: str  # "lazy", "selectinload", "selectinload + joinedload", ...
    statements: int
    milliseconds: float


@dataclass(frozen=True)
class LoadingComparison:
    path: str  # what each ticket's code reads, e.g. "ticket.creator"
    tickets: int
    related: int  # distinct related rows read (creators, or comment authors)
    runs: list[LoadingRun]

    def run(self, strategy: str) -> LoadingRun:
        return next(run for run in self.runs if run.strategy == strategy)


def _newest(limit: int) -> Any:
    return select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)


def _lazy_creators(session: Session, limit: int) -> tuple[int, list[int]]:
    # Sync-style code, as most ORM code is written: touching ticket.creator sends a query per
    # creator not yet in the identity map. Our relationships raise on lazy load; lazyload()
    # switches that off for this one statement to show what it would cost.
    loaded = session.scalars(_newest(limit).options(lazyload(Ticket.creator))).all()
    return len(loaded), [ticket.creator.id for ticket in loaded]


def _lazy_authors(session: Session, limit: int) -> tuple[int, list[int]]:
    # one query for the tickets, one per ticket for its comments, one per author not yet loaded
    options = lazyload(Ticket.comments).lazyload(Comment.author)
    loaded = session.scalars(_newest(limit).options(options)).all()
    return len(loaded), [comment.author.id for ticket in loaded for comment in ticket.comments]


# name, and a load that returns (tickets loaded, ids of the related rows read)
Strategy = tuple[str, Callable[[], Awaitable[tuple[int, list[int]]]]]


async def _measure(
    session: AsyncSession, path: str, strategies: list[Strategy], limit: int
) -> LoadingComparison:
    runs = []
    tickets, related = 0, list[int]()
    for name, load in strategies:
        session.expunge_all()  # every strategy starts with an empty identity map
        started = time.perf_counter()
        with count_statements() as log:
            tickets, related = await load()
        elapsed = (time.perf_counter() - started) * 1000
        runs.append(LoadingRun(name, log.count, round(elapsed, 1)))
    session.expunge_all()
    return LoadingComparison(path=path, tickets=tickets, related=len(set(related)), runs=runs)


async def compare_loading(session: AsyncSession, *, limit: int = 20) -> LoadingComparison:
    """Load the newest `limit` tickets and read each one's creator three ways; count the statements."""

    async def eager(option: Callable[[Any], Any]) -> tuple[int, list[int]]:
        loaded = (await session.scalars(_newest(limit).options(option(Ticket.creator)))).all()
        return len(loaded), [ticket.creator.id for ticket in loaded]

    async def lazy() -> tuple[int, list[int]]:
        return await session.run_sync(_lazy_creators, limit)

    strategies: list[Strategy] = [
        ("lazy", lazy),
        ("selectinload", lambda: eager(selectinload)),
        ("joinedload", lambda: eager(joinedload)),
    ]
    return await _measure(session, "ticket.creator", strategies, limit)


async def compare_nested_loading(session: AsyncSession, *, limit: int = 20) -> LoadingComparison:
    """The newest `limit` tickets with every comment's author, lazily and with chained loaders."""

    async def eager(option: Any) -> tuple[int, list[int]]:
        loaded = (await session.scalars(_newest(limit).options(option))).all()
        return len(loaded), [comment.author.id for ticket in loaded for comment in ticket.comments]

    async def lazy() -> tuple[int, list[int]]:
        return await session.run_sync(_lazy_authors, limit)

    strategies: list[Strategy] = [
        ("lazy", lazy),
        (
            "selectinload(Ticket.comments).selectinload(Comment.author)",
            lambda: eager(selectinload(Ticket.comments).selectinload(Comment.author)),
        ),
        (
            "selectinload(Ticket.comments).joinedload(Comment.author)",
            lambda: eager(selectinload(Ticket.comments).joinedload(Comment.author)),
        ),
    ]
    return await _measure(session, "comment.author for each ticket.comments", strategies, limit)
