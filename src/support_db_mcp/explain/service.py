"""explain_query end to end: check, run safely, diagnose, verify the advice, shape the answer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from support_db_mcp.config import Settings, safe_url
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, SupportDBError
from support_db_mcp.explain.advice import Deadline, Verification, verify_by_building, verify_with_hypopg
from support_db_mcp.explain.findings import Context, Finding, IndexCandidate, diagnose
from support_db_mcp.explain.plan import MAX_RENDERED_NODES, Plan, PlanNode, render_text
from support_db_mcp.explain.runner import (
    BoundStatement,
    ExplainLimits,
    ExplainQueryError,
    ExplainTimeoutError,
    ExplainUnavailableError,
    LoginRole,
    create_explain_engine,
    explain_statement,
    installed_extensions,
    login_role,
    read_only_transaction,
    relation_facts,
)
from support_db_mcp.explain.safety import check_query
from support_db_mcp.schemas.explain import (
    ExplainedStatement,
    ExplainFinding,
    ExplainPlanNode,
    ExplainQueryResult,
    IndexSuggestion,
)

log = logging.getLogger(__name__)

MAX_VERIFIED = 3
SETUP_HELP = (
    "set EXPLAIN_DATABASE_URL to a login role that may only read the application's tables "
    "(see the README section 'explain_query' for the SQL to create it)"
)


@dataclass
class _Explained:
    number: int
    bound: BoundStatement
    plan: Plan
    findings: list[Finding]
    timed_out: bool


@dataclass
class _Run:
    """What one call gathered: statements explained, notes, the service's own statements."""

    explained: list[_Explained] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verifications: dict[IndexCandidate, Verification] = field(default_factory=dict)


ServiceCall = Callable[[AsyncSession], Awaitable[object]]


class Explainer:
    """Runs explain_query on its own engine (the read-only explain role, never pooled).

    `owner` is the application's engine, used only to build a suggested index inside a rolled-back
    transaction when hypopg is not installed; without it suggestions are shown unverified.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine | None,
        owner: AsyncEngine | None,
        limits: ExplainLimits,
        unavailable: str | None = None,
        source: str = "",
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.limits = limits
        self.unavailable = unavailable
        self.source = source
        self._role: LoginRole | None = None
        self._extensions: set[str] | None = None

    @classmethod
    def for_url(cls, url: URL | None, *, owner: AsyncEngine | None, settings: Settings) -> Explainer:
        limits = ExplainLimits.from_settings(settings)
        if url is None:
            return cls(
                engine=None,
                owner=owner,
                limits=limits,
                unavailable=f"explain_query is not set up for this database: {SETUP_HELP}",
            )
        return cls(
            engine=create_explain_engine(url, settings), owner=owner, limits=limits, source=safe_url(url)
        )

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    # ---------------------------------------------------------------- connections
    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[tuple[AsyncConnection, LoginRole]]:
        if self.engine is None:
            raise ExplainUnavailableError(self.unavailable or SETUP_HELP)
        try:
            connection = await self.engine.connect()
        except (OSError, DBAPIError) as error:
            reason = type(getattr(error, "orig", None) or error).__name__
            raise ExplainUnavailableError(
                f"explain_query cannot log in to {self.source} ({reason}); {SETUP_HELP}"
            ) from None
        try:
            if self._role is None:
                role = await login_role(connection)
                if not role.safe:
                    raise ExplainUnavailableError(
                        f"explain_query refuses to run: {role.problem}, which could read server files, "
                        f"kill sessions or write through a query; {SETUP_HELP}"
                    )
                self._role = role
            if self._extensions is None:
                self._extensions = await installed_extensions(connection)
                await connection.rollback()
            yield connection, self._role
        finally:
            await connection.close()

    # ---------------------------------------------------------------- entry points
    async def explain_sql(
        self, sql: str, params: Sequence[Any] | None, *, analyze: bool = True
    ) -> ExplainQueryResult:
        """Explain one query given as SQL text with $n placeholders and their values."""
        checked = check_query(sql)
        bound = BoundStatement.bind(checked, params)
        if analyze and checked.param_count and bound.values is None:
            raise InvalidInputError(
                f"the query uses $1..${checked.param_count}: pass their values in params to run it "
                "with analyze=true, or set analyze=false for the generic plan"
            )

        async def statements(connection: AsyncConnection, run: _Run) -> list[BoundStatement]:
            return [bound]

        return await self._explain(statements, analyze=analyze)

    async def explain_call(self, tool: str, call: ServiceCall, *, analyze: bool = True) -> ExplainQueryResult:
        """Explain every statement one of our tools sends: run it in a rolled-back read-only
        transaction, capture its SQL and parameters exactly as the driver got them, explain each."""

        async def statements(connection: AsyncConnection, run: _Run) -> list[BoundStatement]:
            async with (
                read_only_transaction(
                    connection, timeout_ms=self.limits.timeout_ms, lock_timeout_ms=self.limits.lock_timeout_ms
                ),
                AsyncSession(bind=connection, expire_on_commit=False, autoflush=False) as session,
            ):
                with count_statements() as captured:
                    try:
                        await call(session)
                    except SupportDBError as error:
                        run.notes.append(
                            f"{tool} ended with an error; its statements are explained anyway: {error}"
                        )
            if not captured.statements:
                raise InvalidInputError(
                    f"{tool} sent no SQL with these arguments, so there is nothing to explain"
                )
            bound: list[BoundStatement] = []
            for statement in captured.statements:
                parameters = statement.parameters
                values = list(parameters) if isinstance(parameters, list | tuple) else []
                bound.append(BoundStatement.bind(check_query(statement.sql), values))
            run.notes.append(f"{tool} sent {len(bound)} SQL statement(s); each is explained below")
            return bound

        return await self._explain(statements, analyze=analyze)

    # ---------------------------------------------------------------- the work
    async def _explain(
        self,
        produce: Callable[[AsyncConnection, _Run], Awaitable[list[BoundStatement]]],
        *,
        analyze: bool,
    ) -> ExplainQueryResult:
        started = time.perf_counter()
        run = _Run()
        with count_statements() as own:
            async with self._connect() as (connection, role):
                for number, bound in enumerate(await produce(connection, run), start=1):
                    run.explained.append(await self._explain_one(connection, role, bound, number, analyze))
                await self._verify(connection, role, run, analyze)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return _result(run, analyze=analyze, sql_statements=own.count, elapsed_ms=elapsed_ms)

    async def _explain_one(
        self, connection: AsyncConnection, role: LoginRole, bound: BoundStatement, number: int, analyze: bool
    ) -> _Explained:
        limits = self.limits
        timed_out = False

        async def explain_and_read_catalog(run_analyze: bool) -> tuple[Plan, Context]:
            async with read_only_transaction(
                connection, timeout_ms=limits.timeout_ms, lock_timeout_ms=limits.lock_timeout_ms
            ) as transaction:
                plan = await explain_statement(transaction, bound, analyze=run_analyze, role=role.name)
                wanted = {(n.schema, n.relation) for n in plan.nodes() if n.schema and n.relation}
                relations = await relation_facts(connection, wanted)
            return plan, Context(relations, bound.checked.order_by, timeout_ms=limits.timeout_ms)

        try:
            plan, context = await explain_and_read_catalog(analyze)
        except ExplainTimeoutError:
            if not analyze:
                raise ExplainQueryError(
                    f"even planning the query took longer than {limits.timeout_ms:,} ms; simplify it"
                ) from None
            timed_out = True
            plan, context = await explain_and_read_catalog(False)
            context.timed_out = True
        return _Explained(number, bound, plan, diagnose(plan, context), timed_out)

    async def _verify(self, connection: AsyncConnection, role: LoginRole, run: _Run, analyze: bool) -> None:
        deadline = Deadline(self.limits.timeout_ms)
        extensions = self._extensions or set()
        for explained in run.explained:
            for finding in explained.findings:
                candidate = finding.candidate
                if candidate is None or candidate in run.verifications:
                    continue
                before = explained.plan
                if len(run.verifications) >= MAX_VERIFIED:
                    verification = Verification(
                        "not_verified",
                        before.total_cost,
                        note="not verified: only the first suggestions are tried",
                    )
                elif candidate.method == "gin_trgm" and "pg_trgm" not in extensions:
                    verification = Verification(
                        "not_verified",
                        before.total_cost,
                        note="not verified: a trigram index needs the pg_trgm extension "
                        "(CREATE EXTENSION pg_trgm)",
                    )
                elif "hypopg" in extensions:
                    verification = await verify_with_hypopg(
                        connection, candidate, explained.bound, before, limits=self.limits, deadline=deadline
                    )
                elif self.owner is not None:
                    verification = await verify_by_building(
                        self.owner,
                        candidate,
                        explained.bound,
                        before,
                        analyze=analyze and not explained.timed_out,
                        role=role.name,
                        limits=self.limits,
                        deadline=deadline,
                    )
                else:
                    verification = Verification(
                        "not_verified",
                        before.total_cost,
                        note="not verified: hypopg is not installed and the index could not be built "
                        "to try it",
                    )
                run.verifications[candidate] = verification


# ---------------------------------------------------------------- shaping the answer
def _node_out(node: PlanNode, budget: list[int]) -> ExplainPlanNode:
    budget[0] -= 1
    conditions = {
        key: value
        for key in ("Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter")
        if isinstance(value := node.raw.get(key), str)
    }
    children = [_node_out(child, budget) for child in node.children if budget[0] > 0]
    analyzed = node.analyzed
    return ExplainPlanNode(
        node=node.path,
        node_type=node.node_type,
        label=node.label,
        relation=f"{node.schema}.{node.relation}" if node.relation and node.schema else node.relation,
        alias=node.alias,
        index=node.index_name,
        estimated_rows=node.plan_rows,
        startup_cost=node.startup_cost,
        total_cost=node.total_cost,
        actual_rows=node.total_rows if analyzed else None,
        loops=node.loops if analyzed else None,
        time_ms=round(node.total_time_ms, 3) if node.total_time_ms is not None else None,
        shared_hit_blocks=node.shared_hit,
        shared_read_blocks=node.shared_read,
        rows_removed_by_filter=node.total_removed_by_filter if analyzed and node.filter else None,
        rows_removed_by_join_filter=node.total_removed_by_join_filter
        if analyzed and node.join_filter
        else None,
        conditions=conditions,
        sort_key=node.sort_key,
        sort_method=node.sort_method,
        spilled_to_disk=node.spilled,
        children=children,
    )


def _ms(value: float) -> str:
    return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"


def _suggestion(candidate: IndexCandidate, verification: Verification) -> IndexSuggestion:
    return IndexSuggestion(
        create_index=candidate.definition(candidate.suggested_name(), concurrently=True) + ";",
        verified=verification.verified,
        method=verification.method,
        cost_before=round(verification.cost_before, 2),
        cost_after=round(verification.cost_after, 2) if verification.cost_after is not None else None,
        time_before_ms=verification.time_before_ms,
        time_after_ms=verification.time_after_ms,
        used_by_planner=verification.used_by_planner,
        note=verification.note,
    )


def _finding_out(finding: Finding, number: int, run: _Run) -> ExplainFinding:
    message = finding.message
    suggestion = None
    candidate = finding.candidate
    if candidate is not None:
        verification = run.verifications.get(candidate)
        if verification is None or not verification.rejected:
            suggestion = _suggestion(
                candidate, verification or Verification("not_verified", 0.0, note="not tried")
            )
            if verification is not None and verification.verified and verification.cost_after is not None:
                message += (
                    f" An index on {candidate.describe()} lets the planner skip that work: estimated cost "
                    f"{verification.cost_before:,.0f} -> {verification.cost_after:,.0f}"
                )
                if verification.time_after_ms is not None and verification.time_before_ms is not None:
                    message += (
                        f", run time {_ms(verification.time_before_ms)} -> {_ms(verification.time_after_ms)}"
                    )
                message += "."
        else:
            after = f"{verification.cost_after:,.0f}" if verification.cost_after is not None else "?"
            message += (
                f" An index on {candidate.describe()} was tried and the planner would not use it "
                f"(cost {verification.cost_before:,.0f} -> {after}), so none is suggested."
            )
    return ExplainFinding(
        severity=finding.severity,
        kind=finding.kind,
        statement=number,
        node=f"{finding.node.path} {finding.node.label}",
        message=message,
        evidence=finding.evidence,
        advice=finding.advice,
        suggestion=suggestion,
    )


def _result(run: _Run, *, analyze: bool, sql_statements: int, elapsed_ms: float) -> ExplainQueryResult:
    texts: list[str] = []
    plans: list[ExplainedStatement] = []
    findings: list[ExplainFinding] = []
    many = len(run.explained) > 1
    for explained in run.explained:
        plan = explained.plan
        body = render_text(plan)
        header = []
        if many:
            first_line = " ".join(explained.bound.checked.sql.split())
            header.append(
                f"Statement {explained.number} of {len(run.explained)}: "
                f"{first_line[:160]}{'...' if len(first_line) > 160 else ''}"
            )
        if explained.timed_out:
            header.append("(ANALYZE timed out: estimated plan)")
        texts.append("\n".join([*header, body]))
        total_nodes = sum(1 for _ in plan.nodes())
        budget = [MAX_RENDERED_NODES]
        plans.append(
            ExplainedStatement(
                statement=explained.number,
                sql=explained.bound.checked.sql,
                parameters=explained.bound.parameters,
                analyzed=plan.analyzed,
                total_cost=plan.total_cost,
                planning_ms=plan.planning_ms,
                execution_ms=plan.execution_ms,
                plan=_node_out(plan.root, budget),
                nodes_cut=max(total_nodes - MAX_RENDERED_NODES, 0),
            )
        )
        findings.extend(_finding_out(finding, explained.number, run) for finding in explained.findings)
    order = {"critical": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda finding: order[finding.severity])
    notes = list(run.notes)
    if not analyze:
        notes.append("analyze=false: estimated plan only; the query was not run")
    return ExplainQueryResult(
        plan_text="\n\n".join(texts),
        plan=plans,
        findings=findings,
        notes=notes,
        sql_statements=sql_statements,
        elapsed_ms=round(elapsed_ms, 1),
    )


__all__ = ["ExplainUnavailableError", "Explainer", "ServiceCall"]
