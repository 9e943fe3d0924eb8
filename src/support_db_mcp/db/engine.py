"""Engine and session factories.

Reads and writes get separate session factories: reads run in READ ONLY transactions that
PostgreSQL itself enforces, writes in ordinary ones. Tests bind both to one outer transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from support_db_mcp import __version__
from support_db_mcp.config import Settings


def create_engine_for(url: URL, settings: Settings) -> AsyncEngine:
    """An asyncpg engine with the pool limits and the statement timeout on every connection."""
    return create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=True,
        connect_args={
            "timeout": 10,
            "server_settings": {
                "application_name": f"support-db-mcp/{__version__}",
                "statement_timeout": str(settings.statement_timeout_ms),
                "lock_timeout": str(min(settings.statement_timeout_ms, 2_000)),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


@dataclass(frozen=True)
class Database:
    """The session factories the services use; owned by the server's lifespan."""

    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    engine: AsyncEngine | None = None

    @classmethod
    def from_engine(cls, engine: AsyncEngine) -> Database:
        read_only = engine.execution_options(postgresql_readonly=True)
        return cls(
            reader=async_sessionmaker(read_only, expire_on_commit=False, autoflush=False),
            writer=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
            engine=engine,
        )

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions that join an outer transaction on `connection` (used by tests to roll back)."""
        factory = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        return cls(reader=factory, writer=factory)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed when the block ends, rolled back on error."""
        async with self.writer() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
