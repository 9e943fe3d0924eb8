"""Small helpers shared by tests: row counts and plain SQL reads used to check what tools did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COUNTED = ("users", "tickets", "comments", "tags", "ticket_tags")


async def row_counts(connection: AsyncConnection) -> dict[str, int]:
    counts = {}
    for table in COUNTED:
        counts[table] = int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    return counts


async def scalar(connection: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await connection.execute(text(sql), params)).scalar()


async def first_row(connection: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await connection.execute(text(sql), params)).mappings().first()
