"""Layer 2 of explain_query's safety: every statement runs in a transaction that is rolled back.

`BEGIN READ ONLY` (or read-write only to build a test index), with local statement and lock
timeouts, a capped work_mem and standard_conforming_strings on (the parser read the SQL that way),
and always ROLLBACK. A ROLLBACK keeps prepared statements and session advisory locks, so they are
cleared too: inside the transaction while it is still usable (the same server connection, even
behind PgBouncer), after the rollback once a statement failed in it (an aborted transaction runs
nothing more). A connection that cannot be cleaned is invalidated, never given back to a pool.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

WORK_MEM = "4MB"  # per sort or hash node; the role's or database's default may be larger
_RELEASE_ADVISORY_LOCKS = "SELECT pg_advisory_unlock_all()"
_LOCAL_SETTINGS = (
    "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true), "
    "set_config('work_mem', $3, true), set_config('standard_conforming_strings', 'on', true)"
)


@dataclass
class Transaction:
    """The open transaction; every statement goes through it, so a failure is remembered."""

    connection: AsyncConnection
    prepared: list[str] = field(default_factory=list)
    failed: bool = False

    async def execute(self, sql: str, parameters: tuple[Any, ...] | None = None) -> Any:
        """Send SQL text as it is (no SQLAlchemy parameter parsing), with $n bind parameters."""
        try:
            return await self.connection.exec_driver_sql(sql, parameters)
        except BaseException:
            self.failed = True
            raise

    async def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """A statement of ours with named :parameters."""
        try:
            return await self.connection.execute(text(sql), dict(parameters or {}))
        except BaseException:
            self.failed = True
            raise


@asynccontextmanager
async def _always_rolled_back(
    connection: AsyncConnection, *, read_only: bool, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    transaction = Transaction(connection)
    await connection.begin()
    clean = False
    try:
        if read_only:
            await transaction.execute("SET TRANSACTION READ ONLY")
        await transaction.execute(
            _LOCAL_SETTINGS, (str(max(int(timeout_ms), 1)), str(max(int(lock_timeout_ms), 1)), WORK_MEM)
        )
        yield transaction
        if not transaction.failed:
            for name in transaction.prepared:
                await transaction.execute(f"DEALLOCATE {name}")
            await transaction.execute(_RELEASE_ADVISORY_LOCKS)
            clean = True
    finally:
        if clean:
            await connection.rollback()
        else:
            await _rollback_and_clean(connection, transaction.prepared)


async def _rollback_and_clean(connection: AsyncConnection, prepared: list[str]) -> None:
    try:
        await connection.rollback()
        existing = {
            name
            for (name,) in (await connection.execute(text("SELECT name FROM pg_prepared_statements"))).all()
        }
        for name in prepared:
            if name in existing:
                await connection.exec_driver_sql(f"DEALLOCATE {name}")
        await connection.exec_driver_sql(_RELEASE_ADVISORY_LOCKS)
        await connection.rollback()
    except (DBAPIError, OSError):
        log.warning("explain: could not clean a connection after a failed statement; discarding it")
        await connection.invalidate()


@asynccontextmanager
async def read_only_transaction(
    connection: AsyncConnection, *, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    """BEGIN READ ONLY with local limits; always ROLLBACK, with the session's leftovers cleared."""
    async with _always_rolled_back(
        connection, read_only=True, timeout_ms=timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as transaction:
        yield transaction


@asynccontextmanager
async def rolled_back_transaction(
    connection: AsyncConnection, *, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    """A read-write transaction (to build an index) that always ends in ROLLBACK, cleared likewise."""
    async with _always_rolled_back(
        connection, read_only=False, timeout_ms=timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as transaction:
        yield transaction
