"""Creating databases and asking whether one holds data: the set-up statements, kept in one place."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exists, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.models import User


def asyncpg_dsn(url: URL) -> str:
    """The URL in the form asyncpg.connect() takes (no +asyncpg driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_database(server_url: URL, name: str) -> bool:
    """Create database `name` on the server of `server_url` unless it exists; True when created."""
    connection = await asyncpg.connect(asyncpg_dsn(server_url.set(database="postgres")))
    try:
        if await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await connection.close()


async def drop_database(server_url: URL, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url.set(database="postgres")))
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await connection.close()


async def has_users(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(User.id.is_not(None)))))
