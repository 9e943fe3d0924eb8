"""Verifying an index suggestion before it is shown.

With the hypopg extension, the index is created hypothetically (in the session's memory only) and
the statement planned again. Without it, the index is really built inside a transaction that is
always rolled back, on the application's own connection (the explain role may not create indexes),
then the statement is explained again in that transaction after switching it to read-only and, where
the login may, to the explain role. The build holds a SHARE lock that blocks writes to the table
until the rollback, so it is only done on tables up to `verify_max_rows` rows and within the
explain timeout. Either way no index is left behind.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.explain.findings import IndexCandidate
from support_db_mcp.explain.plan import Plan
from support_db_mcp.explain.runner import (
    BoundStatement,
    ExplainLimits,
    ExplainQueryError,
    ExplainTimeoutError,
    explain_statement,
    quote_ident,
    read_only_transaction,
    rolled_back_transaction,
)

Method = Literal["hypopg", "rolled_back_build", "not_verified"]
GIN_BUILD_FACTOR = 4  # a trigram GIN index is several times slower to build than a b-tree
MIN_BUDGET_MS = 200


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


def _unverified(before: Plan, note: str) -> Verification:
    return Verification(
        "not_verified", cost_before=before.total_cost, time_before_ms=before.execution_ms, note=note
    )


def _state(error: DBAPIError) -> str | None:
    for candidate in (getattr(error.orig, "__cause__", None), error.orig):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


class Deadline:
    """The time left for verifying, shared by every suggestion of one call."""

    def __init__(self, budget_ms: int) -> None:
        self._end = time.perf_counter() + budget_ms / 1000

    def remaining_ms(self) -> int:
        return int((self._end - time.perf_counter()) * 1000)


async def verify_with_hypopg(
    connection: AsyncConnection,
    candidate: IndexCandidate,
    bound: BoundStatement,
    before: Plan,
    *,
    limits: ExplainLimits,
    deadline: Deadline,
) -> Verification:
    budget = deadline.remaining_ms()
    if budget < MIN_BUDGET_MS:
        return _unverified(before, "not verified: the explain time budget was used up")
    try:
        async with read_only_transaction(
            connection, timeout_ms=budget, lock_timeout_ms=limits.lock_timeout_ms
        ) as transaction:
            created = await connection.execute(
                text("SELECT indexname FROM hypopg_create_index(:definition)"),
                {"definition": candidate.definition("hypothetical", concurrently=False)},
            )
            hypothetical = str(created.scalar_one())
            after = await explain_statement(transaction, bound, analyze=False)
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


async def _become(connection: AsyncConnection, role: str) -> bool:
    """SET LOCAL ROLE to the explain role when this login may; False when it may not."""
    savepoint = await connection.begin_nested()
    try:
        await connection.exec_driver_sql(f"SET LOCAL ROLE {quote_ident(role)}")
    except DBAPIError:
        await savepoint.rollback()
        return False
    await savepoint.commit()
    return True


async def verify_by_building(
    owner: AsyncEngine,
    candidate: IndexCandidate,
    bound: BoundStatement,
    before: Plan,
    *,
    analyze: bool,
    role: str,
    limits: ExplainLimits,
    deadline: Deadline,
) -> Verification:
    rows = candidate.relation.rows * (GIN_BUILD_FACTOR if candidate.method == "gin_trgm" else 1)
    if rows > limits.verify_max_rows:
        return _unverified(
            before,
            f"not verified: {candidate.table} has ~{candidate.relation.rows:,.0f} rows, too many to build a "
            f"test index inside a transaction (limit {limits.verify_max_rows:,}); install hypopg to try it "
            "hypothetically",
        )
    budget = deadline.remaining_ms()
    if budget < MIN_BUDGET_MS:
        return _unverified(before, "not verified: the explain time budget was used up")
    name = "support_db_explain_check_" + secrets.token_hex(4)
    async with (
        owner.connect() as connection,
        rolled_back_transaction(
            connection, timeout_ms=budget, lock_timeout_ms=limits.lock_timeout_ms
        ) as transaction,
    ):
        started = time.perf_counter()
        try:
            await transaction.execute(candidate.definition(name, concurrently=False))
        except DBAPIError as error:
            state = _state(error)
            reason = {
                "57014": f"building it took longer than the {budget:,} ms left",
                "55P03": "another session holds a lock on the table",
                "42501": "the server's database login may not create indexes on this table",
            }.get(state or "", f"building it failed ({state})")
            return _unverified(before, f"not verified: {reason}")
        build_ms = (time.perf_counter() - started) * 1000
        # From here on the transaction cannot write, and runs as the explain role where it may.
        await transaction.execute("SET LOCAL transaction_read_only = on")
        as_role = await _become(connection, role)
        try:
            after = await explain_statement(transaction, bound, analyze=analyze, role=role)
        except (ExplainTimeoutError, ExplainQueryError) as error:
            return _unverified(before, f"not verified: explaining with the index failed ({error})")
    used = name in after.index_names()
    who = f"as {role}" if as_role else "as the server's login"
    return Verification(
        "rolled_back_build",
        cost_before=before.total_cost,
        cost_after=after.total_cost,
        time_before_ms=before.execution_ms,
        time_after_ms=after.execution_ms,
        used_by_planner=used,
        note=(
            f"built for real inside a transaction that was rolled back (build {build_ms:,.0f} ms), then "
            f"explained {who} in that transaction; nothing was left behind"
        ),
    )
