"""Verifying an index suggestion before it is shown, without ever making a writer wait long.

With the hypopg extension the index is created hypothetically (in the explain session's memory
only) and the statement planned again: nothing is built, nothing is locked. Without it, the index
is really built inside a transaction that is always rolled back, on the application's own login
(the explain login may not create indexes). That build holds a SHARE lock, which blocks writes to
the table, so it is kept short: it waits at most BUILD_LOCK_WAIT_MS for its lock (a waiting build
would queue writers behind it), may take at most BUILD_BUDGET_MS, and is skipped, saying so, when
it would take longer. In that transaction, switched to read-only and to the explain login, the
statement is planned again without ANALYZE, except that a statement whose first run took at most
ANALYZE_UNDER_LOCK_MS is also run, stopped at twice that. Either way no index is left behind.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.errors import SQLState, sqlstate
from support_db_mcp.explain.advice import IndexCandidate
from support_db_mcp.explain.catalog import quote_ident
from support_db_mcp.explain.connection import Deadline, ExplainLimits, LoginRole
from support_db_mcp.explain.parameters import BoundStatement
from support_db_mcp.explain.plan import Plan
from support_db_mcp.explain.running import ExplainQueryError, ExplainTimeoutError, explain_statement
from support_db_mcp.explain.transactions import Transaction, read_only_transaction, rolled_back_transaction

Method = Literal["hypopg", "rolled_back_build", "not_verified"]
GIN_BUILD_FACTOR = 4  # a trigram GIN index is several times slower to build than a b-tree
MIN_BUDGET_MS = 100  # below this, verifying is not tried
BUILD_LOCK_WAIT_MS = 100  # how long the build may wait for its lock (writers queue behind it)
BUILD_BUDGET_MS = 300  # how long the build may hold the lock that blocks writers
ANALYZE_UNDER_LOCK_MS = 50  # a statement this fast is also run with the test index, for its time


@dataclass(frozen=True)
class Verification:
    method: Method
    cost_before: float
    cost_after: float | None = None
    time_before_ms: float | None = None
    time_after_ms: float | None = None
    used_by_planner: bool | None = None
    note: str = ""

    @property
    def verified(self) -> bool:
        return bool(
            self.method != "not_verified"
            and self.used_by_planner
            and self.cost_after is not None
            and self.cost_after < self.cost_before
        )

    @property
    def rejected(self) -> bool:
        """Tried, and the planner would not use it (or it costs more): do not suggest it."""
        return self.method != "not_verified" and not self.verified


def unverified(before: Plan, note: str) -> Verification:
    return Verification(
        "not_verified", cost_before=before.total_cost, time_before_ms=before.execution_ms, note=note
    )


async def verify_with_hypopg(
    connection: AsyncConnection,
    candidate: IndexCandidate,
    bound: BoundStatement,
    before: Plan,
    *,
    role: LoginRole,
    limits: ExplainLimits,
    deadline: Deadline,
) -> Verification:
    budget = deadline.remaining_ms()
    if budget < MIN_BUDGET_MS:
        return unverified(before, "not verified: the call's time budget was used up")
    try:
        async with read_only_transaction(
            connection, timeout_ms=budget, lock_timeout_ms=limits.lock_timeout_ms
        ) as transaction:
            created = await transaction.query(
                "SELECT indexname FROM hypopg_create_index(:definition)",
                {"definition": candidate.definition("hypothetical", concurrently=False)},
            )
            hypothetical = str(created.scalar_one())
            after = await explain_statement(transaction, bound, analyze=False, role=role)
    except (ExplainTimeoutError, ExplainQueryError) as error:
        return unverified(before, f"not verified: planning with the hypothetical index failed ({error})")
    finally:
        # hypothetical indexes live in the session, not the transaction: drop them before the
        # connection explains anything else
        await connection.exec_driver_sql("SELECT hypopg_reset()")
        await connection.rollback()
    used = any(hypothetical in name or name in hypothetical for name in after.index_names())
    return Verification(
        "hypopg",
        cost_before=before.total_cost,
        cost_after=after.total_cost,
        time_before_ms=before.execution_ms,
        used_by_planner=used,
        note="tried as a hypothetical index (hypopg): planned again without building it",
    )


async def _become(transaction: Transaction, role: LoginRole) -> bool:
    """SET LOCAL ROLE to the login that may explain caller SQL, where this login may."""
    savepoint = await transaction.connection.begin_nested()
    try:
        await transaction.connection.exec_driver_sql(f"SET LOCAL ROLE {quote_ident(role.name)}")
    except DBAPIError:
        await savepoint.rollback()
        return False
    await savepoint.commit()
    return True


async def _build(transaction: Transaction, candidate: IndexCandidate, name: str) -> str | None:
    """Build the test index; None when built, else why not."""
    try:
        await transaction.execute(candidate.definition(name, concurrently=False))
    except DBAPIError as error:
        state = sqlstate(error)
        if SQLState.QUERY_CANCELED.matches(state):
            return (
                f"building it would block writes to {candidate.table} for longer than {BUILD_BUDGET_MS} ms; "
                "install hypopg to try it without building it"
            )
        if SQLState.LOCK_NOT_AVAILABLE.matches(state):
            return "another session holds a lock on the table; building it would have made writers wait"
        if SQLState.INSUFFICIENT_PRIVILEGE.matches(state):
            return "the server's database login may not create indexes on this table"
        return f"building it failed (SQLSTATE {state})"
    return None


async def _timed_run(transaction: Transaction, bound: BoundStatement, role: LoginRole) -> Plan | None:
    """EXPLAIN ANALYZE under the lock, stopped at twice the first run's budget; None if it was."""
    savepoint = await transaction.connection.begin_nested()
    try:
        await transaction.execute(
            "SELECT set_config('statement_timeout', $1, true)", (str(2 * ANALYZE_UNDER_LOCK_MS),)
        )
        plan = await explain_statement(transaction, bound, analyze=True, role=role)
    except (ExplainTimeoutError, ExplainQueryError, DBAPIError):
        await savepoint.rollback()
        transaction.failed = False  # back at the savepoint: the transaction is usable again
        return None
    await savepoint.rollback()  # also undoes the statement_timeout set above
    return plan


async def verify_by_building(
    owner: AsyncEngine,
    candidate: IndexCandidate,
    bound: BoundStatement,
    before: Plan,
    *,
    analyze: bool,
    role: LoginRole,
    limits: ExplainLimits,
    deadline: Deadline,
) -> Verification:
    rows = candidate.relation.rows * (GIN_BUILD_FACTOR if candidate.method == "gin_trgm" else 1)
    if rows > limits.verify_max_rows:
        return unverified(
            before,
            f"not verified: {candidate.table} has ~{candidate.relation.rows:,.0f} rows, too many to build a "
            f"test index inside a transaction (limit {limits.verify_max_rows:,}); install hypopg to try it "
            "hypothetically",
        )
    budget = min(deadline.remaining_ms(), BUILD_BUDGET_MS)
    if budget < MIN_BUDGET_MS:
        return unverified(before, "not verified: the call's time budget was used up")
    name = "support_db_explain_check_" + secrets.token_hex(4)
    lock_wait = min(limits.lock_timeout_ms, BUILD_LOCK_WAIT_MS)
    async with (
        owner.connect() as connection,
        rolled_back_transaction(connection, timeout_ms=budget, lock_timeout_ms=lock_wait) as transaction,
    ):
        started = time.perf_counter()
        problem = await _build(transaction, candidate, name)
        if problem is not None:
            return unverified(before, f"not verified: {problem}")
        build_ms = (time.perf_counter() - started) * 1000
        # From here on the transaction cannot write, and runs as the login that explains caller SQL.
        await transaction.execute("SET LOCAL transaction_read_only = on")
        if not await _become(transaction, role):
            return unverified(before, f"not verified: the server's login may not act as {role.name}")
        fast = analyze and before.execution_ms is not None and before.execution_ms <= ANALYZE_UNDER_LOCK_MS
        try:
            timed = await _timed_run(transaction, bound, role) if fast else None
            after = timed or await explain_statement(transaction, bound, analyze=False, role=role)
        except (ExplainTimeoutError, ExplainQueryError) as error:
            return unverified(
                before, f"not verified: planning with the index failed ({type(error).__name__})"
            )
    used = name in after.index_names()
    return Verification(
        "rolled_back_build",
        cost_before=before.total_cost,
        cost_after=after.total_cost,
        time_before_ms=before.execution_ms,
        time_after_ms=after.execution_ms,
        used_by_planner=used,
        note=(
            f"built for real inside a transaction that was rolled back (build {build_ms:,.0f} ms), then "
            f"{'run' if after.analyzed else 'planned'} as {role.name} in that transaction; nothing was "
            "left behind"
        ),
    )
