"""Fixtures for explain_query: an Explainer on the test database, logged in as the explain role.

The role is made by migration 0002; on the embedded test server it logs in over the unix socket
without a password. With TEST_DATABASE_URL pointing elsewhere, set TEST_EXPLAIN_DATABASE_URL to a
URL of that role (with its password).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from mcp import Client
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.config import Settings, to_async_url
from support_db_mcp.db import Database
from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.connection import ExplainLimits, create_explain_engine

# Short enough that a runaway query costs the suite little, long enough for every real query here.
TIMEOUT_MS = 2_000
LIMITS = ExplainLimits(timeout_ms=TIMEOUT_MS, lock_timeout_ms=500, verify_max_rows=200_000)


@pytest.fixture(scope="session")
def explain_url(database_url: URL) -> URL:
    configured = os.environ.get("TEST_EXPLAIN_DATABASE_URL")
    if configured:
        return to_async_url(configured).set(database=database_url.database)
    return database_url.set(username=EXPLAIN_ROLE, password=None)


@pytest.fixture(scope="session")
def explain_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"explain_timeout_ms": TIMEOUT_MS, "explain_lock_timeout_ms": LIMITS.lock_timeout_ms}
    )


@pytest_asyncio.fixture(scope="session")
async def explain_engine(
    explain_url: URL, explain_settings: Settings, engine: AsyncEngine
) -> AsyncIterator[AsyncEngine]:
    """The explain role's own engine (no pool); `engine` first, so the database is migrated."""
    explain = create_explain_engine(explain_url, explain_settings)
    yield explain
    await explain.dispose()


@pytest.fixture
def explainer(explain_engine: AsyncEngine, engine: AsyncEngine) -> Explainer:
    """A fresh Explainer per test (it caches the role check), sharing the session's engines."""
    return Explainer(engine=explain_engine, owner=engine, limits=LIMITS, source="the test database")


@pytest.fixture
def explain_client(db: Database, explainer: Explainer) -> Client:
    """The MCP server in process, with explain_query wired to the explain role. Use as
    `async with explain_client:` inside the test (see the `client` fixture for why)."""
    from support_db_mcp.server import create_server

    return Client(create_server(database=db, explainer=explainer))
