"""Measurements the prompts quote: the SQL our tools send, their plans, lazy versus eager loading.

Every plan comes from the one explain engine (explain/, the Explainer): the same parser, login,
volatility rules and error scrubbing as the explain_query tool. The rest runs on the caller's
session and changes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload

from support_db_mcp.db.statements import CapturedStatement, count_statements
from support_db_mcp.errors import InvalidInputError, SupportDBError
from support_db_mcp.models import Ticket
from support_db_mcp.schemas.explain import ExplainPlanNode, ExplainQueryResult
from support_db_mcp.services.operations import CATALOG, explainable_operations

if TYPE_CHECKING:
    from support_db_mcp.explain import Explainer

# The read-only tools whose statements can be captured by running them; create_ticket writes.
MEASURED_TOOLS = tuple(operation.name for operation in explainable_operations())
_PLACEHOLDER = re.compile(r"\$(\d+)")
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
    info = dict(session.info)  # the installation's facts (pg_trgm, the cursor key) the tool sees

    async def call(s: AsyncSession) -> object:
        s.info.update(info)
        return await service(s, inputs)

    with count_statements() as log:
        result = await call(session)
    found = getattr(result, "tickets", None)
    rows = len(found) if isinstance(found, list) else 1
    return CapturedRun(tool, arguments, log.statements, rows, call)


# ---------------------------------------------------------------- plans, from the explain engine
@dataclass(frozen=True)
class PlanStep:
    depth: int
    node_type: str  # "Index Scan", "Seq Scan", "Sort", ...
    relation: str | None  # the table's name, without its schema
    index: str | None
    estimated_rows: int
    total_cost: float
    conditions: list[str]  # "Index Cond: ((t.assignee_id = 42) AND ...)", "Filter: ...", "Sort Key: ..."

    @property
    def filter(self) -> str | None:
        """The condition applied after a row was read (rows failing it are read for nothing)."""
        return next((c.removeprefix("Filter: ") for c in self.conditions if c.startswith("Filter: ")), None)


@dataclass(frozen=True)
class PlainPlan:
    """One statement's plan as the explain engine returned it, flattened for a prompt to read."""

    sql: str
    parameters: list[Any]  # the bound values, in $n order
    generic: bool  # placeholders without values: PostgreSQL's generic plan
    steps: list[PlanStep] = field(default_factory=list)

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


def _steps(node: ExplainPlanNode, depth: int = 0) -> list[PlanStep]:
    conditions = [f"{key}: {value}" for key, value in node.conditions.items()]
    if node.sort_key:
        conditions.append("Sort Key: " + ", ".join(node.sort_key))
    step = PlanStep(
        depth=depth,
        node_type=node.node_type,
        relation=node.relation.split(".", 1)[-1] if node.relation else None,
        index=node.index,
        estimated_rows=int(node.estimated_rows),
        total_cost=node.total_cost,
        conditions=conditions,
    )
    return [step] + [found for child in node.children for found in _steps(child, depth + 1)]


def plain_plans(result: ExplainQueryResult) -> list[PlainPlan]:
    """Each explained statement's plan, flattened."""
    return [
        PlainPlan(
            sql=statement.sql,
            parameters=statement.parameters,
            generic=not statement.parameters and bool(_PLACEHOLDER.search(statement.sql)),
            steps=_steps(statement.plan),
        )
        for statement in result.plan
    ]


async def explain_target(
    explainer: Explainer | None, *, target: str, tool: CapturedRun | None
) -> tuple[ExplainQueryResult | None, str | None]:
    """The explain engine's answer for the SQL a user gave or the statements one of our tools sent,
    run where that is safe (the estimated plan otherwise); or why there is none."""
    if explainer is None:
        return None, "explain_query is not available on this server (no explain engine)"
    try:
        if tool is not None:
            return await explainer.explain_call(tool.tool, tool.call), None
        return await explainer.explain_sql(target, None, analyze=None), None
    except SupportDBError as error:
        return None, str(error)


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
