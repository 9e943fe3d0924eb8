"""With READ_REPLICA_URL set, the read tools read from the replica and create_ticket writes to the primary."""

from __future__ import annotations

from mcp import Client
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from support_db_mcp.config import Settings
from support_db_mcp.server import create_server
from tests.helpers import scalar
from tests.processes import url_text
from tests.reliability.conftest import ScratchFactory


async def test_reads_go_to_the_replica_and_writes_to_the_primary(scratch_database: ScratchFactory) -> None:
    # Two databases stand in for a primary and its replica; a row written to one and absent from
    # the other shows where each tool went.
    primary, replica = await scratch_database(), await scratch_database()
    settings = Settings(
        database_url=SecretStr(url_text(primary)),
        read_replica_url=SecretStr(url_text(replica)),
        seed_on_first_start=False,
    )
    async with Client(create_server(settings)) as client:
        created = await client.call_tool(
            "create_ticket", {"title": "Replica check", "description": "d", "creator": "1", "tags": "replica"}
        )
        assert created.is_error is False and created.structured_content is not None
        number = created.structured_content["ticket"]["number"]

        on_replica = await client.call_tool("get_ticket", {"ticket": number})
        assert on_replica.is_error is True
        assert f"no ticket with number {number}" in on_replica.content[0].text  # type: ignore[union-attr]
        searched = await client.call_tool("search_tickets", {"tag": "replica"})
        assert searched.structured_content is not None and searched.structured_content["tickets"] == []

    engine = create_async_engine(primary)
    async with engine.connect() as connection:
        assert (
            await scalar(connection, "SELECT title FROM tickets WHERE number = :n", n=number)
            == "Replica check"
        )
    await engine.dispose()
