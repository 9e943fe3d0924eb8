"""Engine and session factories.

Reads and writes get separate engines, each with its own pool:
- the read engine's connections are read-only at the database level: every one is opened with
  `default_transaction_read_only = on` (a startup parameter), so PostgreSQL refuses any write sent
  through it. Each read is then a single statement in autocommit mode: one round trip, with no
  BEGIN, no ROLLBACK and no pre-ping (`Database.run_read` repeats a read once instead, on a fresh
  connection, when the database restarted under the pool);
- the write engine runs ordinary transactions and pings a connection before handing it out, since
  a write is not repeated blindly.
Through PgBouncer (transaction pooling) startup parameters are refused, so there the read engine
falls back to READ ONLY transactions with SET LOCAL timeouts.
Tests bind both factories to one outer transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import uuid4

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from support_db_mcp import __version__
from support_db_mcp.config import Settings
from support_db_mcp.errors import DatabaseUnavailableError

T = TypeVar("T")


class ReadConnectionLost(DatabaseUnavailableError):
    """A read tool's pooled connection turned out dead: the database restarted since it was opened
    (or the connection broke mid-statement). `Database.run_read` runs the read again, once."""


# What a read service runs on: a session, or (the read tools' fast path) a pooled connection.
# Both carry `info` (the installation facts) and reach a connection.
ReadSession = AsyncSession | AsyncConnection


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4().hex}__"


def _timeouts(settings: Settings) -> dict[str, str]:
    return {
        "statement_timeout": str(settings.statement_timeout_ms),
        "lock_timeout": str(min(settings.statement_timeout_ms, settings.lock_timeout_ms)),
        "idle_in_transaction_session_timeout": "60000",
    }


def create_engine_for(url: URL, settings: Settings, *, read_only: bool = False) -> AsyncEngine:
    """An asyncpg engine with the pool limits and the timeouts on every connection.

    `read_only` makes the read engine described in the module docstring. The pool keeps
    `pool_size` connections open and reuses them (overflow connections, if configured, are closed
    again when returned, which is why the default overflow is 0: no connection churn under load).

    Through PgBouncer in transaction pooling mode two things change: asyncpg's prepared-statement
    caches are off and statement names are unique (a cached statement may live on another server
    connection), and the timeouts are set per transaction with SET LOCAL, because PgBouncer does
    not pass startup parameters such as statement_timeout on to the server.
    """
    timeouts = _timeouts(settings)
    server_settings = {"application_name": f"support-db-mcp/{__version__}"}
    connect_args: dict[str, Any] = {"timeout": 10, "server_settings": server_settings}
    options: dict[str, Any] = {}
    if settings.pgbouncer:
        url = url.update_query_dict({"prepared_statement_cache_size": "0"})
        connect_args |= {"statement_cache_size": 0, "prepared_statement_name_func": _unique_statement_name}
    else:
        server_settings |= timeouts
        if read_only:
            server_settings["default_transaction_read_only"] = "on"
            options["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=not read_only,
        connect_args=connect_args,
        **options,
    )
    if settings.pgbouncer:
        set_locals = [f"SET LOCAL {name} = {int(value)}" for name, value in timeouts.items()]

        @event.listens_for(engine.sync_engine, "begin")
        def _timeouts_per_transaction(connection: Connection) -> None:
            for statement in set_locals:
                connection.exec_driver_sql(statement)

        if read_only:
            return engine.execution_options(postgresql_readonly=True)
    return engine


@dataclass(frozen=True)
class Database:
    """The session factories the services use; owned by the server's lifespan.

    `reader` opens READ ONLY transactions, for reads of several statements that belong together
    (prompts, resources, the installation facts); `tool_reader`, on the autocommit read engine,
    serves the read tools, whose every statement stands alone (`run_read`).
    """

    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    tool_reader: async_sessionmaker[AsyncSession]
    engine: AsyncEngine | None = None
    read_engine: AsyncEngine | None = None

    @classmethod
    def from_engine(cls, engine: AsyncEngine, *, read_engine: AsyncEngine | None = None) -> Database:
        """Writes go to `engine`; reads to `read_engine` (made with `read_only=True`, on the primary
        or a replica). Without one, reads share `engine` in READ ONLY transactions."""
        transactions = (read_engine or engine).execution_options(
            isolation_level="READ COMMITTED", postgresql_readonly=True
        )
        return cls(
            reader=async_sessionmaker(transactions, expire_on_commit=False, autoflush=False),
            writer=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
            tool_reader=async_sessionmaker(
                read_engine or transactions, expire_on_commit=False, autoflush=False
            ),
            engine=engine,
            read_engine=read_engine,
        )

    @classmethod
    def open(cls, url: URL, settings: Settings, *, replica: URL | None = None) -> Database:
        """Both engines for `url`; reads from `replica` when given."""
        return cls.from_engine(
            create_engine_for(url, settings),
            read_engine=create_engine_for(replica or url, settings, read_only=True),
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
        return cls(reader=factory, writer=factory, tool_reader=factory)

    def refusing_writes(self) -> Database:
        """The same database with its write sessions in READ ONLY transactions too, so PostgreSQL
        itself refuses any write (read-only mode): the read tools keep their read engine, whose
        connections already refuse writes (or, through PgBouncer, run READ ONLY transactions), and
        with it their one round trip. Sessions bound to an outer transaction (tests) cannot change
        its mode and are returned as they are."""
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
        merged = {**self.session_info, **info}
        for factory in (self.reader, self.writer, self.tool_reader):
            factory.configure(info=merged)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements run in one READ ONLY transaction, rolled back at the end."""
        async with self.reader() as session:
            yield session

    @asynccontextmanager
    async def _tool_read(self) -> AsyncIterator[ReadSession]:
        """A pooled connection of the read engine, carrying the session facts; a session where
        there is none (tests join their transaction through sessions)."""
        if self.read_engine is None:
            async with self.tool_reader() as session:
                yield session
            return
        async with self.read_engine.connect() as connection:
            connection.info.update(self.session_info)
            yield connection

    async def run_read(self, work: Callable[[ReadSession], Awaitable[T]]) -> T:
        """`work` on a read session; repeated once on a fresh connection when the first attempt's
        pooled connection turned out dead (the database restarted since it was opened).

        This replaces the pool's pre-ping, which cost a round trip on every read: a read changes
        nothing, so running it again is safe. The pool's other connections belong to the server
        that went away too, so they are dropped first (ReadConnectionLost from the fast path: the
        pool is disposed; a disconnect SQLAlchemy saw: it invalidated them), and the second attempt
        connects anew; if the database is still down, that attempt's error says so.
        `work` gets a pooled connection rather than an ORM session: the read services only send
        statements, and a session around them cost more than the Python of the whole read.
        """
        try:
            async with self._tool_read() as session:
                return await work(session)
        except ReadConnectionLost:
            # its pool's other connections belong to the server that went away too
            if self.read_engine is not None:
                await self.read_engine.dispose()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        async with self._tool_read() as session:
            return await work(session)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed when the block ends, rolled back on error."""
        async with self.writer() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        for engine in (self.engine, self.read_engine):
            if engine is not None:
                await engine.dispose()
