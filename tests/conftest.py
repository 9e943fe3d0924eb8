"""Database fixtures: a real PostgreSQL, a fresh database per run, a rolled-back transaction per test.

With TEST_DATABASE_URL set (any PostgreSQL URL whose user may create databases), the run creates
its database there; otherwise it starts its own embedded PostgreSQL in a temporary folder. The
database is migrated with Alembic and filled by the seed command's code, once per run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from support_db_mcp.config import Settings, to_async_url
from support_db_mcp.db import Database, create_engine_for
from support_db_mcp.db.embedded import EmbeddedPostgres
from support_db_mcp.db.migrate import upgrade_to_head
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.services.provisioning import drop_database, ensure_database
from tests.os_cluster import os_postgres  # noqa: F401  (the run's OS PostgreSQL 15 cluster, for every test)

# Big enough that the planner prefers our indexes to sequential scans (see test_indexes.py),
# small enough to seed in a few seconds.
TEST_PLAN = SeedPlan(users=300, tickets=30_000, comments_per_ticket=2, rng_seed=7)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url=None, statement_timeout_ms=10_000, pool_size=5)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A PostgreSQL server on which the run may create databases."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield to_async_url(configured)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    url = embedded.start()
    yield url.set(database="postgres")
    embedded.stop()


@pytest_asyncio.fixture(scope="session")
async def database_url(server_url: URL) -> AsyncIterator[URL]:
    """A fresh database for this run: migrated to head and seeded."""
    name = f"support_db_test_{os.getpid()}_{secrets.token_hex(3)}"
    await ensure_database(server_url, name)
    url = server_url.set(database=name)
    try:
        yield url
    finally:
        await drop_database(server_url, name)


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: URL, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for(database_url, settings)
    await upgrade_to_head(engine)
    await seed(database_url, TEST_PLAN)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One outer transaction per test, rolled back at the end: nothing a test writes survives it."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def db(connection: AsyncConnection) -> Database:
    """Session factories joined to the test's transaction (commits become savepoints)."""
    return Database.bound_to(connection)


@pytest_asyncio.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def client(db: Database) -> Client:
    """The MCP server in process, over the test's transaction. Use as `async with client:` inside the
    test: the SDK client holds an anyio task group, which must be entered and left in the same task
    (an async fixture's set-up and tear-down run in different tasks under pytest-asyncio)."""
    from support_db_mcp.server import create_server

    return Client(create_server(database=db))


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
