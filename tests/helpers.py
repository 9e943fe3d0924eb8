"""Small helpers shared by tests: row counts and plain SQL reads used to check what tools did."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.services.provisioning import drop_database, ensure_database

COUNTED = ("users", "tickets", "comments", "tags", "ticket_tags", "ticket_events", "write_requests")


async def row_counts(connection: AsyncConnection) -> dict[str, int]:
    counts = {}
    for table in COUNTED:
        counts[table] = int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    return counts


async def scalar(connection: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await connection.execute(text(sql), params)).scalar()


async def first_row(connection: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await connection.execute(text(sql), params)).mappings().first()


@asynccontextmanager
async def empty_database(server_url: URL, prefix: str) -> AsyncIterator[URL]:
    """A new, empty database on the test server with a unique name; dropped when the block ends."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    await ensure_database(server_url, name)
    try:
        yield server_url.set(database=name)
    finally:
        await drop_database(server_url, name)


async def a_user(connection: AsyncConnection, role: str, *, active: bool = True, nth: int = 0) -> Any:
    """The nth user (by id) of a role, as a row with id, email, full_name."""
    return await first_row(
        connection,
        "SELECT id, email, full_name FROM users WHERE role = :role AND is_active = :active "
        "ORDER BY id OFFSET :nth LIMIT 1",
        role=role,
        active=active,
        nth=nth,
    )


async def an_open_ticket(connection: AsyncConnection, *, nth: int = 0) -> Any:
    """An open ticket with fewer than ten tags, as a row of the tickets table."""
    return await first_row(
        connection, "SELECT * FROM tickets WHERE status = 'open' ORDER BY id OFFSET :nth LIMIT 1", nth=nth
    )


async def unassigned_open_ids(connection: AsyncConnection, limit: int | None = None) -> list[int]:
    """The ids of the open tickets nobody is assigned to, newest first (the raw-SQL answer)."""
    sql = (
        "SELECT id FROM tickets WHERE assignee_id IS NULL AND status = 'open' "
        "ORDER BY created_at DESC, id DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return list((await connection.execute(text(sql))).scalars())
