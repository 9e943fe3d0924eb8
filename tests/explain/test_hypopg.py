"""With the hypopg extension, a suggested index is tried hypothetically: nothing is built, nothing
is locked. The embedded PostgreSQL has no hypopg, so this runs on the run's OS PostgreSQL 15
cluster (tests/os_cluster.py) with Debian's postgresql-15-hypopg, in a database of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.db import Database, create_engine_for
from support_db_mcp.db.migrate import upgrade_to_head
from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.connection import create_explain_engine
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.server import create_server
from tests.explain.conftest import LIMITS
from tests.helpers import empty_database, scalar
from tests.os_cluster import OSCluster
from tests.os_packages import require

LOW_PRIORITY_NEWEST = "SELECT id FROM tickets WHERE priority = 'low' ORDER BY updated_at DESC LIMIT 10"
INDEXES = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"


@dataclass(frozen=True)
class HypopgDatabase:
    owner: AsyncEngine  # the application's login (the cluster's superuser)
    explain: AsyncEngine  # the explain login made by migration 0002


@pytest_asyncio.fixture(scope="module")
async def hypopg_database(os_postgres: OSCluster, settings: Settings) -> AsyncIterator[HypopgDatabase]:
    require("postgresql-15-hypopg")
    async with empty_database(os_postgres.socket_url(), "support_db_hypopg") as url:
        owner = create_engine_for(url, settings)
        await upgrade_to_head(owner)
        await seed(url, SeedPlan(users=60, tickets=10_000, comments_per_ticket=0, rng_seed=5))
        async with owner.begin() as connection:
            await connection.execute(text("CREATE EXTENSION hypopg"))
        explain = create_explain_engine(url.set(username=EXPLAIN_ROLE), settings)
        try:
            yield HypopgDatabase(owner, explain)
        finally:
            await explain.dispose()
            await owner.dispose()


async def test_with_hypopg_a_suggestion_is_tried_hypothetically_without_building_anything(
    hypopg_database: HypopgDatabase,
) -> None:
    explainer = Explainer(engine=hypopg_database.explain, owner=hypopg_database.owner, limits=LIMITS)
    async with hypopg_database.owner.connect() as connection:
        indexes = await scalar(connection, INDEXES)

    result = await explainer.explain_sql(LOW_PRIORITY_NEWEST, None)

    [finding] = [f for f in result.findings if f.kind == "limit_reads_whole_input"]
    suggestion = finding.suggestion
    assert suggestion is not None and suggestion.method == "hypopg"  # preferred to a real build
    assert suggestion.verified and suggestion.used_by_planner
    assert suggestion.cost_after is not None and suggestion.cost_after < suggestion.cost_before
    assert suggestion.time_after_ms is None  # EXPLAIN ANALYZE cannot use a hypothetical index
    assert suggestion.create_index == (
        "CREATE INDEX CONCURRENTLY ix_tickets_priority_updated_at ON public.tickets "
        "(priority, updated_at DESC);"
    )
    assert "hypothetical index (hypopg)" in suggestion.note
    async with hypopg_database.owner.connect() as connection:
        assert await scalar(connection, INDEXES) == indexes


async def test_over_mcp_both_run_and_estimated_plans_get_hypothetical_verification(
    hypopg_database: HypopgDatabase,
) -> None:
    explainer = Explainer(engine=hypopg_database.explain, owner=hypopg_database.owner, limits=LIMITS)
    server = create_server(database=Database.from_engine(hypopg_database.owner), explainer=explainer)
    calls = [
        ({"sql": LOW_PRIORITY_NEWEST}, "limit_reads_whole_input"),
        (
            {"sql": "SELECT id FROM tickets WHERE title = $1", "params": ["no such"], "analyze": False},
            "seq_scan_filter",
        ),
        ({"sql": LOW_PRIORITY_NEWEST}, "limit_reads_whole_input"),  # no hypothetical index left over
    ]
    async with Client(server) as client:
        for arguments, kind in calls:
            result = await client.call_tool("explain_query", arguments)
            assert result.structured_content is not None, result.content
            [finding] = [f for f in result.structured_content["findings"] if f["kind"] == kind]
            assert finding["suggestion"]["method"] == "hypopg" and finding["suggestion"]["verified"]
            # hypopg names its indexes "<oid>btree_...": the plan itself never uses one left over
            assert "using <" not in result.structured_content["plan_text"]
