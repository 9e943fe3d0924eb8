"""The database restarts in the middle of a session: clear errors during the outage, recovery after."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
from mcp import Client
from pydantic import SecretStr

from support_db_mcp.config import Settings
from support_db_mcp.db.embedded import EmbeddedPostgres
from support_db_mcp.server import create_server
from tests.processes import url_text
from tests.reliability.conftest import make_scratch_database

OUTAGE_MESSAGE = "the database is unavailable (it may be restarting); retry shortly"


async def test_calls_during_an_outage_fail_clearly_and_the_first_call_after_it_succeeds(
    tmp_path: Path, settings: Settings
) -> None:
    postgres = EmbeddedPostgres(tmp_path)  # a server of its own, so stopping it harms no other test
    server_url = await anyio.to_thread.run_sync(postgres.start)
    try:
        url = await make_scratch_database(server_url, settings, "restart_me")
        app_settings = Settings(database_url=SecretStr(url_text(url)), seed_on_first_start=False)
        async with Client(create_server(app_settings)) as client:
            before = await client.call_tool("search_tickets", {"limit": 3})
            assert before.is_error is False

            await anyio.to_thread.run_sync(postgres.stop)
            for tool, arguments in [
                ("search_tickets", {"limit": 3}),
                ("get_ticket", {"ticket": "1"}),
                ("create_ticket", {"title": "t", "description": "d", "creator": "1"}),
            ]:
                during = await client.call_tool(tool, arguments)
                assert during.is_error is True
                assert OUTAGE_MESSAGE in during.content[0].text  # type: ignore[union-attr]

            await anyio.to_thread.run_sync(postgres.start)
            restarted = time.perf_counter()
            after = await client.call_tool("search_tickets", {"limit": 3})
            recovery = time.perf_counter() - restarted
            assert after.is_error is False, after.content
            assert after.structured_content is not None
            assert after.structured_content["tickets"] == before.structured_content["tickets"]  # type: ignore[index]
            created = await client.call_tool(
                "create_ticket", {"title": "after", "description": "d", "creator": "1"}
            )
            assert created.is_error is False
            print(f"\nfirst call after the restart answered in {recovery * 1000:.0f} ms")
    finally:
        await anyio.to_thread.run_sync(postgres.stop)
