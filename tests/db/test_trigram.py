"""Where pg_trgm exists, migration 0003 adds a trigram index and search_tickets also matches titles
with typos; where it does not (the embedded server), full-text matching alone.

The pg_trgm side runs on a throw-away cluster of the OS PostgreSQL 15 binaries, whose contrib
package has pg_trgm (the embedded server's build does not).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
from tests.processes import url_text

OS_POSTGRES = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def contrib_server() -> Iterator[URL]:
    """A PostgreSQL 15 cluster with contrib, on a unix socket in a temporary folder."""
    assert (OS_POSTGRES / "initdb").exists(), "the OS PostgreSQL 15 binaries (postgresql-15) are missing"
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    home = Path(tempfile.mkdtemp(prefix="support-db-pg15-", dir="/tmp"))
    home.chmod(0o755)
    data, sockets, logs = home / "data", home / "sockets", home / "logs"
    for folder in (data, sockets, logs):
        folder.mkdir()
        if user:
            shutil.chown(folder, user, user)

    def run(*args: str) -> None:
        subprocess.run(args, user=user, check=True, capture_output=True, timeout=120)

    run(str(OS_POSTGRES / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    pg_ctl = str(OS_POSTGRES / "pg_ctl")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-o",
        f"-k {sockets} -h ''",
        "-l",
        str(logs / "postgresql.log"),
        "-w",
        "start",
    )
    try:
        yield URL.create(
            "postgresql+asyncpg", username="postgres", database="postgres", query={"host": str(sockets)}
        )
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


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
    assert explained.structured_content is not None, explained.content
    assert "<%" in explained.structured_content["plan_text"]  # explain_query saw the SQL the tool sends
    assert typo.structured_content is not None and exact.structured_content is not None
    titles = [t["title"] for t in typo.structured_content["tickets"]]
    assert titles and all("password" in title.lower() for title in titles)
    assert typo.structured_content["sql_statements"] == 1
    assert len(exact.structured_content["tickets"]) >= len(titles)


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
