"""Engine and session factories.

Reads and writes get separate session factories: reads run in READ ONLY transactions that
PostgreSQL itself enforces, writes in ordinary ones. Tests bind both to one outer transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, event
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


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4().hex}__"


def create_engine_for(url: URL, settings: Settings) -> AsyncEngine:
    """An asyncpg engine with the pool limits and the timeouts on every connection.

    Through PgBouncer in transaction pooling mode two things change: asyncpg's prepared-statement
    caches are off and statement names are unique (a cached statement may live on another server
    connection), and the timeouts are set per transaction with SET LOCAL, because PgBouncer does
    not pass startup parameters such as statement_timeout on to the server.
    """
    timeouts = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "lock_timeout": str(min(settings.statement_timeout_ms, settings.lock_timeout_ms)),
        "idle_in_transaction_session_timeout": "60000",
    }
    server_settings = {"application_name": f"support-db-mcp/{__version__}"}
    connect_args: dict[str, Any] = {"timeout": 10, "server_settings": server_settings}
    if settings.pgbouncer:
        url = url.update_query_dict({"prepared_statement_cache_size": "0"})
        connect_args |= {"statement_cache_size": 0, "prepared_statement_name_func": _unique_statement_name}
    else:
        server_settings |= timeouts
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    if settings.pgbouncer:
        set_locals = [f"SET LOCAL {name} = {int(value)}" for name, value in timeouts.items()]

        @event.listens_for(engine.sync_engine, "begin")
        def _timeouts_per_transaction(connection: Connection) -> None:
            for statement in set_locals:
                connection.exec_driver_sql(statement)

    return engine


@dataclass(frozen=True)
class Database:
    """The session factories the services use; owned by the server's lifespan."""

    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    engine: AsyncEngine | None = None
    read_engine: AsyncEngine | None = None

    @classmethod
    def from_engine(cls, engine: AsyncEngine, *, read_engine: AsyncEngine | None = None) -> Database:
        """Writes go to `engine`; reads to `read_engine` (a replica) when given, else to `engine`."""
        read_only = (read_engine or engine).execution_options(postgresql_readonly=True)
        return cls(
            reader=async_sessionmaker(read_only, expire_on_commit=False, autoflush=False),
            writer=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
            engine=engine,
            read_engine=read_engine,
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

    def refusing_writes(self) -> Database:
        """The same database with its write sessions in READ ONLY transactions too, so PostgreSQL
        itself refuses any write (read-only mode). Sessions bound to an outer transaction (tests)
        cannot change its mode and are returned as they are."""
        if self.engine is None:
            return self
        read_only = self.engine.execution_options(postgresql_readonly=True)
        writer = async_sessionmaker(read_only, expire_on_commit=False, autoflush=False, **self._info())
        return replace(self, writer=writer)

    def _info(self) -> dict[str, Any]:
        info = self.writer.kw.get("info")
        return {"info": dict(info)} if info else {}

    @property
    def session_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.reader.kw.get("info", {})
        return dict(info)

    def set_session_info(self, **info: Any) -> None:
        """Facts every new session carries in `session.info` (e.g. what the database can do)."""
        for factory in (self.reader, self.writer):
            factory.configure(info={**self.session_info, **info})

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
        for engine in (self.engine, self.read_engine):
            if engine is not None:
                await engine.dispose()
