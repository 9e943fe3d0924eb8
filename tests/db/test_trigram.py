"""Where pg_trgm exists, migration 0003 adds a trigram index and search_tickets also matches titles
with typos; where it does not (the embedded server), full-text matching alone.

The pg_trgm side runs on the run's throw-away cluster of the OS PostgreSQL 15 (tests/os_cluster.py),
whose contrib has pg_trgm (the embedded server's build does not).
"""

from __future__ import annotations

import pytest
from mcp import Client
from pydantic import SecretStr
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from support_db_mcp.config import Settings
from support_db_mcp.db import create_engine_for
from support_db_mcp.db.migrate import schema_drift, upgrade_to_head
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.server import create_server
from support_db_mcp.services.provisioning import ensure_database
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar
from tests.os_cluster import OSCluster
from tests.os_packages import require
from tests.processes import url_text


@pytest.fixture(scope="module")
def contrib_server(os_postgres: OSCluster) -> URL:
    """The OS PostgreSQL 15 cluster of the run, whose contrib package has pg_trgm."""
    require("postgresql-15")
    return os_postgres.socket_url()


async def test_with_pg_trgm_the_migration_adds_the_index_and_search_forgives_typos(
    contrib_server: URL, settings: Settings
) -> None:
    await ensure_database(contrib_server, "trigram")
    url = contrib_server.set(database="trigram")
    engine = create_engine_for(url, settings)
    try:
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            assert (
                await scalar(connection, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 1
            )
            definition = await scalar(
                connection, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tickets_title_trgm'"
            )
            assert "gin (title gin_trgm_ops)" in definition
        assert await schema_drift(engine) == []  # the optional index is not drift
    finally:
        await engine.dispose()
    await seed(url, SeedPlan(users=30, tickets=600, comments_per_ticket=0, rng_seed=3))

    app_settings = Settings(
        database_url=SecretStr(url_text(url)),
        explain_database_url=SecretStr(url_text(url.set(username="support_db_explain"))),
        seed_on_first_start=False,
    )
    async with Client(create_server(app_settings)) as client:
        typo = await client.call_tool("search_tickets", {"text": "passwrd", "limit": 100})
        exact = await client.call_tool("search_tickets", {"text": "password", "limit": 100})
        explained = await client.call_tool(
            "explain_query", {"tool": "search_tickets", "arguments": {"text": "passwrd"}, "analyze": False}
        )
        alike = await client.call_tool("find_similar_tickets", {"text": "Pasword reset emial nevr arives"})
    assert explained.structured_content is not None, explained.content
    assert "<%" in explained.structured_content["plan_text"]  # explain_query saw the SQL the tool sends
    assert typo.structured_content is not None and exact.structured_content is not None
    titles = [t["title"] for t in typo.structured_content["tickets"]]
    assert titles and all("password" in title.lower() for title in titles)
    assert typo.structured_content["sql_statements"] == 1
    assert len(exact.structured_content["tickets"]) >= len(titles)
    # find_similar_tickets adds the titles' trigram similarity: misspelt words still find the title
    assert alike.structured_content is not None, alike.content
    best = alike.structured_content["tickets"][0]
    assert best["title"] == "Password reset email never arrives"
    assert best["why"]["title_similarity"] > 0.3 and best["score"] > best["why"]["title_similarity"]
    assert typo.structured_content["note"] is None  # typos are matched here: nothing to explain
    async with Client(create_server(app_settings)) as client:
        nothing = await client.call_tool("search_tickets", {"text": "xylophonequartz"})
    assert nothing.structured_content is not None
    assert nothing.structured_content["tickets"] == [] and nothing.structured_content["note"] is None


async def test_without_pg_trgm_a_typo_finds_nothing_and_no_trigram_index_exists(
    session: AsyncSession,
) -> None:
    connection = await session.connection()
    assert (
        await scalar(connection, "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'") == 0
    )
    assert (
        await scalar(connection, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_tickets_title_trgm'")
        == 0
    )
    assert (await search_tickets(session, search=TicketSearch(text="passwrd"))).tickets == []
    assert (await search_tickets(session, search=TicketSearch(text="password"))).tickets


async def test_the_pg15_cluster_is_really_a_different_server(contrib_server: URL) -> None:
    engine = create_async_engine(contrib_server)
    async with engine.connect() as connection:
        assert str(await scalar(connection, "SHOW server_version")).startswith("15.")
    await engine.dispose()
