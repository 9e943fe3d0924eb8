"""explain_query end to end: check, run safely, diagnose, verify the advice, shape the answer.

The one explain engine: every plan the server shows (the explain_query tool, the
optimize_performance prompt) comes from an Explainer. Caller SQL is planned only on a login that
passed the read-only check (connection.py): the explain login, or, where none is configured, the
server's own login if it passes the same check. SQL our own tools send may be planned on the
server's own login whatever it is: we wrote it, and it runs read-only and rolled back as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from support_db_mcp.config import Settings, safe_url
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, SupportDBError
from support_db_mcp.explain import answer
from support_db_mcp.explain.answer import Explained, Run
from support_db_mcp.explain.catalog import installed_extensions, relation_facts
from support_db_mcp.explain.connection import (
    Deadline,
    ExplainLimits,
    LoginRole,
    create_explain_engine,
    login_role,
)
from support_db_mcp.explain.diagnosis import diagnose
from support_db_mcp.explain.findings import Context
from support_db_mcp.explain.parameters import BoundStatement
from support_db_mcp.explain.plan import Plan
from support_db_mcp.explain.running import (
    ExplainQueryError,
    ExplainTimeoutError,
    ExplainUnavailableError,
    explain_statement,
)
from support_db_mcp.explain.safety import UnsafeQueryError, check_query
from support_db_mcp.explain.suggestions import verify_suggestions
from support_db_mcp.explain.transactions import read_only_transaction
from support_db_mcp.explain.verdict import verdict
from support_db_mcp.schemas.explain import ExplainQueryResult

log = logging.getLogger(__name__)

SETUP_HELP = (
    "set EXPLAIN_DATABASE_URL to a login role that may only read the application's tables "
    "(see the README section 'explain_query' for the SQL to create it)"
)
# Of the time a call has left, what an ANALYZE run leaves for planning again if it is cancelled.
FALLBACK_RESERVE_MS = 500

ServiceCall = Callable[[AsyncSession], Awaitable[object]]
Produce = Callable[[AsyncConnection, Run, Deadline], Awaitable[list[BoundStatement]]]


class Explainer:
    """Runs explain_query on its own engine (the read-only explain login, never pooled).

    `owner` is the application's engine: it builds a suggested index inside a rolled-back
    transaction when hypopg is not installed, and explains where no explain login is configured
    (caller SQL only if its login passes the read-only check).
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
        self._roles: dict[str, LoginRole] = {}  # "explain" / "server": each login's check, once
        self._extensions: set[str] | None = None

    @classmethod
    def for_url(cls, url: URL | None, *, owner: AsyncEngine | None, settings: Settings) -> Explainer:
        limits = ExplainLimits.from_settings(settings)
        if url is None:
            return cls(
                engine=None,
                owner=owner,
                limits=limits,
                unavailable=f"explain_query has no explain login on this database: {SETUP_HELP}",
            )
        return cls(
            engine=create_explain_engine(url, settings), owner=owner, limits=limits, source=safe_url(url)
        )

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    # ---------------------------------------------------------------- connections
    @asynccontextmanager
    async def _connect(self, *, trusted: bool) -> AsyncIterator[tuple[AsyncConnection, LoginRole]]:
        """A connection to explain on, and its login. `trusted`: only SQL our own tools send."""
        own_login = self.engine is None
        engine = self.engine or self.owner
        if engine is None:
            raise ExplainUnavailableError(self.unavailable or SETUP_HELP)
        try:
            connection = await engine.connect()
        except (OSError, DBAPIError) as error:
            reason = type(getattr(error, "orig", None) or error).__name__
            raise ExplainUnavailableError(
                f"explain_query cannot log in to {self.source} ({reason}); {SETUP_HELP}"
            ) from None
        try:
            key = "server" if own_login else "explain"
            role = self._roles.get(key)
            if role is None:
                role = self._roles[key] = await login_role(connection)
            if not role.safe and not (own_login and trusted):
                if own_login:
                    raise ExplainUnavailableError(
                        f"{self.unavailable or SETUP_HELP}. The server's own login cannot plan SQL it is "
                        f"given instead: {role.problem}"
                    )
                raise ExplainUnavailableError(
                    f"explain_query refuses to run: {role.problem}, which could read secrets or server "
                    f"files, kill sessions or write through a query; {SETUP_HELP}"
                )
            if self._extensions is None:
                self._extensions = await installed_extensions(connection)
                await connection.rollback()
            yield connection, role
        finally:
            await connection.close()

    # ---------------------------------------------------------------- entry points
    async def explain_sql(
        self, sql: str, params: Sequence[Any] | None, *, analyze: bool | None = True
    ) -> ExplainQueryResult:
        """Explain one query given as SQL text with $n placeholders and their values.

        analyze=None: run it where that is possible (values for every placeholder, nothing
        volatile called), otherwise the estimated plan, with a note saying why.
        """
        checked = check_query(sql)
        bound = BoundStatement.bind(checked, params)
        notes: list[str] = []
        auto = analyze is None
        if analyze is None:
            analyze = not (checked.param_count and bound.values is None)
            if not analyze:
                notes.append("the query has $n placeholders and no values: PostgreSQL's generic plan")
        elif analyze and checked.param_count and bound.values is None:
            raise InvalidInputError(
                f"the query uses $1..${checked.param_count}: pass their values in params to run it "
                "with analyze=true, or set analyze=false for the generic plan"
            )

        async def statements(
            connection: AsyncConnection, run: Run, deadline: Deadline
        ) -> list[BoundStatement]:
            run.notes.extend(notes)
            return [bound]

        try:
            return await self._explain(statements, analyze=analyze, trusted=False)
        except UnsafeQueryError as refused:
            if not (auto and analyze and "with ANALYZE" in str(refused)):
                raise
            notes.append(f"not run: {refused}")
            return await self._explain(statements, analyze=False, trusted=False)

    async def explain_call(self, tool: str, call: ServiceCall, *, analyze: bool = True) -> ExplainQueryResult:
        """Explain every statement one of our tools sends: run it in a rolled-back read-only
        transaction, capture its SQL and parameters exactly as the driver got them, explain each."""

        async def statements(
            connection: AsyncConnection, run: Run, deadline: Deadline
        ) -> list[BoundStatement]:
            async with (
                read_only_transaction(
                    connection,
                    timeout_ms=deadline.remaining_ms(),
                    lock_timeout_ms=self.limits.lock_timeout_ms,
                ),
                AsyncSession(bind=connection, expire_on_commit=False, autoflush=False) as session,
            ):
                failure: SupportDBError | None = None
                with count_statements() as captured:
                    try:
                        await call(session)
                    except SupportDBError as error:
                        failure = error
                        run.notes.append(
                            f"{tool} ended with an error; its statements are explained anyway: {error}"
                        )
            if not captured.statements:
                # refused before any SQL (arguments that do not go together): that refusal is the answer
                reason = f": {failure}" if failure is not None else ""
                raise InvalidInputError(
                    f"{tool} sent no SQL with these arguments, so there is nothing to explain{reason}"
                )
            bound: list[BoundStatement] = []
            for statement in captured.statements:
                parameters = statement.parameters
                values = list(parameters) if isinstance(parameters, list | tuple) else []
                bound.append(BoundStatement.bind(check_query(statement.sql), values, from_driver=True))
            run.notes.append(f"{tool} sent {len(bound)} SQL statement(s); each is explained below")
            return bound

        return await self._explain(statements, analyze=analyze, trusted=True)

    # ---------------------------------------------------------------- the work
    async def _explain(self, produce: Produce, *, analyze: bool, trusted: bool) -> ExplainQueryResult:
        started = time.perf_counter()
        deadline = Deadline(self.limits.timeout_ms)
        run = Run()
        with count_statements() as own:
            async with self._connect(trusted=trusted) as (connection, role):
                for number, bound in enumerate(await produce(connection, run, deadline), start=1):
                    explained = await self._explain_one(connection, role, bound, number, analyze, deadline)
                    run.explained.append(explained)
                await verify_suggestions(
                    connection,
                    role,
                    run,
                    owner=self.owner,
                    limits=self.limits,
                    analyze=analyze,
                    deadline=deadline,
                    extensions=self._extensions or set(),
                )
        elapsed_ms = (time.perf_counter() - started) * 1000
        return answer.result(run, analyze=analyze, sql_statements=own.count, elapsed_ms=elapsed_ms)

    async def _explain_one(
        self,
        connection: AsyncConnection,
        role: LoginRole,
        bound: BoundStatement,
        number: int,
        analyze: bool,
        deadline: Deadline,
    ) -> Explained:
        async def explain_and_read_catalog(run_analyze: bool, budget_ms: int) -> tuple[Plan, Context]:
            if budget_ms <= 0:
                raise ExplainTimeoutError("no time left")
            async with read_only_transaction(
                connection, timeout_ms=budget_ms, lock_timeout_ms=self.limits.lock_timeout_ms
            ) as transaction:
                plan = await explain_statement(transaction, bound, analyze=run_analyze, role=role)
                wanted = {(n.schema, n.relation) for n in plan.nodes() if n.schema and n.relation}
                relations = await relation_facts(connection, wanted)
            return plan, Context(relations, bound.checked.order_by, timeout_ms=self.limits.timeout_ms)

        remaining = deadline.remaining_ms()
        try:
            if not analyze:
                plan, context = await explain_and_read_catalog(False, remaining)
                return _diagnosed(number, bound, plan, context, timed_out=False)
            reserve = min(FALLBACK_RESERVE_MS, remaining // 4)
            try:
                plan, context = await explain_and_read_catalog(True, remaining - reserve)
                return _diagnosed(number, bound, plan, context, timed_out=False)
            except ExplainTimeoutError:
                plan, context = await explain_and_read_catalog(False, deadline.remaining_ms())
                context.timed_out = True
                return _diagnosed(number, bound, plan, context, timed_out=True)
        except ExplainTimeoutError:
            raise ExplainQueryError(
                f"even planning the query took longer than the {self.limits.timeout_ms:,} ms explain_query "
                "has for a call; simplify it"
            ) from None


def _diagnosed(
    number: int, bound: BoundStatement, plan: Plan, context: Context, *, timed_out: bool
) -> Explained:
    findings = diagnose(plan, context)
    return Explained(
        number, bound, plan, findings, timed_out=timed_out, verdict=verdict(plan, findings, context)
    )


__all__ = ["ExplainUnavailableError", "Explainer", "ServiceCall"]
