"""Scratch databases for tests whose writes are committed by other processes (HTTP servers,
PgBouncer): each gets its own migrated, seeded database, dropped afterwards, so the shared test
database stays as the seed made it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from sqlalchemy.engine import URL

from support_db_mcp.config import Settings
from support_db_mcp.db import create_engine_for
from support_db_mcp.db.migrate import upgrade_to_head
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.services.provisioning import drop_database, ensure_database

SMALL_PLAN = SeedPlan(users=40, tickets=400, comments_per_ticket=2, rng_seed=11)

ScratchFactory = Callable[[], Awaitable[URL]]


async def make_scratch_database(server_url: URL, settings: Settings, name: str) -> URL:
    await ensure_database(server_url, name)
    url = server_url.set(database=name)
    engine = create_engine_for(url, settings)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    await seed(url, SMALL_PLAN)
    return url


@pytest_asyncio.fixture
async def scratch_database(server_url: URL, settings: Settings) -> AsyncIterator[ScratchFactory]:
    """A factory of fresh, migrated, seeded databases on the test server; all dropped at the end."""
    names: list[str] = []

    async def create() -> URL:
        name = f"support_db_scratch_{secrets.token_hex(4)}"
        names.append(name)
        return await make_scratch_database(server_url, settings, name)

    yield create
    for name in names:
        await drop_database(server_url, name)
