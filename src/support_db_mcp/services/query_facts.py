"""Measurements the prompts quote: the SQL our tools send, a plain plan, lazy versus eager loading.

Everything here runs on the caller's session and changes nothing: the plan is taken inside a
savepoint that is made READ ONLY, given a statement timeout and always rolled back, and a plain
EXPLAIN (without ANALYZE) never executes the statement.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload

from support_db_mcp.db.statements import CapturedStatement, count_statements
from support_db_mcp.errors import InvalidInputError, translate_db_error
from support_db_mcp.models import Ticket
from support_db_mcp.services.operations import CATALOG, explainable_operations

# The read-only tools whose statements can be captured by running them; create_ticket writes.
MEASURED_TOOLS = tuple(operation.name for operation in explainable_operations())
_PLACEHOLDER = re.compile(r"\$(\d+)")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONDITIONS = ("Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter")


# ---------------------------------------------------------------- the SQL a tool sends
ServiceCall = Callable[[AsyncSession], Awaitable[object]]


@dataclass(frozen=True)
class CapturedRun:
    tool: str
    arguments: dict[str, Any]  # what the tool was called with
    statements: list[CapturedStatement]
    rows: int  # tickets the call returned
    call: ServiceCall = field(repr=False, compare=False)  # the same call, to run it again elsewhere


async def capture_tool(session: AsyncSession, *, tool: str) -> CapturedRun:
    """Run a read-only tool's service once, with its catalog example, and keep every statement."""
    operation = CATALOG.get(tool)
    if operation is None or not operation.explainable or operation.service is None:
        raise InvalidInputError(
            f"{tool!r} is not a tool whose SQL can be measured; use one of {MEASURED_TOOLS}"
        )
    service = operation.service
    arguments = dict(operation.examples[0])
    inputs = operation.parse(arguments)

    async def call(s: AsyncSession) -> object:
        return await service(s, inputs)

    with count_statements() as log:
        result = await call(session)
    found = getattr(result, "tickets", None)
    rows = len(found) if isinstance(found, list) else 1
    return CapturedRun(tool, arguments, log.statements, rows, call)


# ---------------------------------------------------------------- a plain plan
@dataclass(frozen=True)
class PlanStep:
    depth: int
    node_type: str  # "Index Scan", "Seq Scan", "Sort", ...
    relation: str | None
    index: str | None
    estimated_rows: int
    total_cost: float
    conditions: list[str]  # "Index Cond: ((assignee_id = 42) AND ...)", "Filter: ...", "Sort Key: ..."

    @property
    def filter(self) -> str | None:
        """The condition applied after a row was read (rows failing it are read for nothing)."""
        return next((c.removeprefix("Filter: ") for c in self.conditions if c.startswith("Filter: ")), None)


@dataclass(frozen=True)
class PlainPlan:
    sql: str
    parameters: list[Any]  # the bound values, in $n order
    generic: bool  # placeholders without values: PostgreSQL's generic plan
    steps: list[PlanStep] = field(default_factory=list)
    raw: list[Any] | None = None  # the EXPLAIN (FORMAT JSON) document
    error: str | None = None  # why PostgreSQL could not plan it

    @property
    def scanned_relations(self) -> list[str]:
        seen: list[str] = []
        for step in self.steps:
            if step.relation and step.relation not in seen:
                seen.append(step.relation)
        return seen

    @property
    def sequential_scans(self) -> list[PlanStep]:
        return [step for step in self.steps if step.node_type == "Seq Scan"]

    @property
    def sorts(self) -> list[PlanStep]:
        return [step for step in self.steps if step.node_type in {"Sort", "Incremental Sort"}]

    @property
    def filtered_index_scans(self) -> list[PlanStep]:
        """Index scans that discard rows after reading them: they read more than they return."""
        return [step for step in self.steps if step.index and step.filter is not None]

    @property
    def indexes_used(self) -> list[str]:
        return [step.index for step in self.steps if step.index]


def _steps(node: dict[str, Any], depth: int = 0) -> list[PlanStep]:
    conditions = [f"{key}: {node[key]}" for key in _CONDITIONS if key in node]
    if "Sort Key" in node:
        conditions.append("Sort Key: " + ", ".join(node["Sort Key"]))
    step = PlanStep(
        depth=depth,
        node_type=node.get("Node Type", "?"),
        relation=node.get("Relation Name"),
        index=node.get("Index Name"),
        estimated_rows=int(node.get("Plan Rows", 0)),
        total_cost=float(node.get("Total Cost", 0.0)),
        conditions=conditions,
    )
    steps = [step]
    for child in node.get("Plans", []):
        steps += _steps(child, depth + 1)
    return steps


def _database_message(error: DBAPIError) -> str:
    cause = error.orig.__cause__ if error.orig is not None else None
    message = getattr(cause, "message", None) or str(error.orig or error)
    return str(message).splitlines()[0]


async def plain_plan(
    session: AsyncSession,
    *,
    sql: str,
    parameters: Sequence[Any] | None = None,
    timeout_ms: int = 5_000,
) -> PlainPlan:
    """EXPLAIN (FORMAT JSON) without ANALYZE: the plan PostgreSQL would use; nothing is executed.

    SQL with $n placeholders and no values gets the generic plan (PREPARE, force_generic_plan,
    EXPLAIN EXECUTE with NULLs, DEALLOCATE). A statement PostgreSQL rejects gives a plan with
    `error` set, not an exception: the prompt quotes the reason.
    """
    statement = sql.strip().rstrip(";").strip()
    if not statement:
        raise InvalidInputError("the SQL to explain is empty")
    values = list(parameters) if parameters is not None else []
    placeholders = max((int(n) for n in _PLACEHOLDER.findall(statement)), default=0)
    generic = placeholders > 0 and not values
    report: dict[str, Any] = {
        "sql": statement,
        "parameters": values,
        "generic": generic,
    }
    connection = await session.connection()
    prepared = f"support_db_mcp_plan_{secrets.token_hex(4)}" if generic else None
    is_prepared = False
    try:
        async with session.begin_nested() as savepoint:
            try:
                await session.execute(text("SET TRANSACTION READ ONLY"))
                await session.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
                if prepared is not None:
                    await connection.exec_driver_sql(f"PREPARE {prepared} AS {statement}")
                    is_prepared = True
                    await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
                    nulls = ", ".join(["NULL"] * placeholders)
                    result = await connection.exec_driver_sql(
                        f"EXPLAIN (FORMAT JSON) EXECUTE {prepared}({nulls})"
                    )
                else:
                    result = await connection.exec_driver_sql(
                        f"EXPLAIN (FORMAT JSON) {statement}", tuple(values)
                    )
                document = result.scalar_one()
            finally:
                await savepoint.rollback()
    except DBAPIError as error:
        translated = translate_db_error(error)
        if translated is not None and not isinstance(translated, InvalidInputError):
            raise translated from error
        return PlainPlan(**report, error=_database_message(error))
    finally:
        if is_prepared:
            # Prepared statements outlive transactions; never leave one on a pooled connection.
            await connection.exec_driver_sql(f"DEALLOCATE {prepared}")
    return PlainPlan(**report, steps=_steps(document[0]["Plan"]), raw=document)


def looks_like_tool_name(target: str) -> bool:
    return bool(_IDENTIFIER.match(target.strip()))


# ---------------------------------------------------------------- N+1: lazy versus eager
@dataclass(frozen=True)
class LoadingRun:
    strategy: str  # "lazy", "selectinload", "joinedload"
    statements: int
    milliseconds: float


@dataclass(frozen=True)
class LoadingComparison:
    tickets: int
    distinct_creators: int
    runs: list[LoadingRun]

    def run(self, strategy: str) -> LoadingRun:
        return next(run for run in self.runs if run.strategy == strategy)


def _newest(limit: int) -> Any:
    return select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)


def _lazy_creators(session: Session, limit: int) -> list[int]:
    # Sync-style code, as most ORM code is written: touching ticket.creator sends a query per
    # creator not yet in the identity map. Our relationships raise on lazy load; lazyload()
    # switches that off for this one statement to show what it would cost.
    loaded = session.scalars(_newest(limit).options(lazyload(Ticket.creator))).all()
    return [ticket.creator.id for ticket in loaded]


async def compare_loading(session: AsyncSession, *, limit: int = 20) -> LoadingComparison:
    """Load the newest `limit` tickets and read each one's creator three ways; count the statements."""

    async def eager(option: Callable[[Any], Any]) -> list[int]:
        loaded = (await session.scalars(_newest(limit).options(option(Ticket.creator)))).all()
        return [ticket.creator.id for ticket in loaded]

    async def lazy() -> list[int]:
        return await session.run_sync(_lazy_creators, limit)

    strategies: list[tuple[str, Callable[[], Any]]] = [
        ("lazy", lazy),
        ("selectinload", lambda: eager(selectinload)),
        ("joinedload", lambda: eager(joinedload)),
    ]
    runs = []
    creators: list[int] = []
    for name, load in strategies:
        session.expunge_all()  # every strategy starts with an empty identity map
        started = time.perf_counter()
        with count_statements() as log:
            creators = await load()
        elapsed = (time.perf_counter() - started) * 1000
        runs.append(LoadingRun(name, log.count, round(elapsed, 1)))
    session.expunge_all()
    return LoadingComparison(tickets=len(creators), distinct_creators=len(set(creators)), runs=runs)
