"""With hypopg, explain_query tries a suggested index hypothetically: nothing is built.

The embedded server has no hypopg, so this runs on the run's OS PostgreSQL 15 cluster
(tests/os_cluster.py) with Debian's postgresql-15-hypopg, in a database of its own, migrated and
seeded like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import URL

from support_db_mcp.config import Settings
from support_db_mcp.db import create_engine_for
from support_db_mcp.db.migrate import upgrade_to_head
from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.runner import create_explain_engine
from support_db_mcp.seed import SeedPlan, seed
from tests.explain.conftest import LIMITS
from tests.explain.test_diagnosis import index_count, only
from tests.helpers import empty_database
from tests.os_cluster import OSCluster
from tests.os_packages import require

# Enough low-priority tickets (a few thousand) that sorting them all is worth a finding.
PLAN = SeedPlan(users=50, tickets=15_000, comments_per_ticket=0, rng_seed=5)


@pytest_asyncio.fixture(scope="module")
async def hypopg_database(os_postgres: OSCluster, settings: Settings) -> AsyncIterator[URL]:
    require("postgresql-15-hypopg")
    async with empty_database(os_postgres.socket_url(), "support_db_hypopg") as url:
        engine = create_engine_for(url, settings)
        try:
            await upgrade_to_head(engine)
            await seed(url, PLAN)
            async with engine.begin() as connection:
                await connection.execute(text("CREATE EXTENSION hypopg"))
                await connection.execute(text("ANALYZE tickets"))
        finally:
            await engine.dispose()
        yield url


async def test_with_hypopg_a_suggestion_is_tried_hypothetically_without_building_anything(
    hypopg_database: URL, explain_settings: Settings
) -> None:
    explain_engine = create_explain_engine(hypopg_database.set(username=EXPLAIN_ROLE), explain_settings)
    owner = create_engine_for(hypopg_database, explain_settings)
    try:
        explainer = Explainer(engine=explain_engine, owner=None, limits=LIMITS)
        async with owner.connect() as connection:
            indexes = await index_count(connection, "public")

        result = await explainer.explain_sql(
            "SELECT id FROM tickets WHERE priority = 'low' ORDER BY updated_at DESC LIMIT 10", None
        )

        suggestion = only(result, "limit_reads_whole_input").suggestion
        assert suggestion is not None and suggestion.method == "hypopg"
        assert suggestion.verified and suggestion.used_by_planner
        assert suggestion.cost_after is not None and suggestion.cost_after < suggestion.cost_before
        assert suggestion.time_after_ms is None  # EXPLAIN ANALYZE cannot use a hypothetical index
        async with owner.connect() as connection:
            assert await index_count(connection, "public") == indexes
    finally:
        await explain_engine.dispose()
        await owner.dispose()
