"""200 concurrent create_ticket calls over streamable HTTP: nothing lost, nothing duplicated."""

from __future__ import annotations

import time

import anyio
from mcp import Client
from sqlalchemy.ext.asyncio import create_async_engine

from tests.helpers import scalar
from tests.processes import cli_env, http_server, url_text
from tests.reliability.conftest import ScratchFactory

CALLS = 200
CLIENTS = 20


async def test_two_hundred_concurrent_creates_store_two_hundred_distinct_tickets(
    scratch_database: ScratchFactory,
) -> None:
    url = await scratch_database()
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        tickets_before = await scalar(connection, "SELECT count(*) FROM tickets")

    numbers: list[str] = []
    replays: list[tuple[str, bool]] = []
    env = cli_env(DATABASE_URL=url_text(url), SUPPORT_DB_POOL_SIZE="10")
    with http_server(env) as server:

        async def one_client(index: int) -> None:
            async with Client(server.url) as client:
                for call in range(CALLS // CLIENTS):
                    result = await client.call_tool(
                        "create_ticket",
                        {
                            "title": f"load {index}-{call}",
                            "description": "concurrent",
                            "creator": str(1 + index % 30),
                        },
                    )
                    assert result.is_error is False, result.content
                    assert result.structured_content is not None
                    numbers.append(result.structured_content["ticket"]["number"])

        async def retrying_client(attempt: int) -> None:
            # The same create sent five times at once, as a client retrying on a timeout would.
            async with Client(server.url) as client:
                result = await client.call_tool(
                    "create_ticket",
                    {"title": "retried", "description": "d", "creator": "2", "request_id": "retry-once"},
                )
                assert result.is_error is False, result.content
                assert result.structured_content is not None
                replays.append(
                    (result.structured_content["ticket"]["number"], result.structured_content["replayed"])
                )

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for index in range(CLIENTS):
                group.start_soon(one_client, index)
            for attempt in range(5):
                group.start_soon(retrying_client, attempt)
        elapsed = time.perf_counter() - started

    assert len(numbers) == CALLS and len(set(numbers)) == CALLS
    assert len({number for number, _ in replays}) == 1  # every retry got the same ticket
    assert sorted(replayed for _, replayed in replays) == [False, True, True, True, True]
    async with engine.connect() as connection:
        assert await scalar(connection, "SELECT count(*) FROM tickets") == tickets_before + CALLS + 1
        stored = await scalar(
            connection, "SELECT count(DISTINCT number) FROM tickets WHERE description = 'concurrent'"
        )
        assert stored == CALLS
        assert await scalar(connection, "SELECT count(*) FROM tickets WHERE title = 'retried'") == 1
        assert (
            await scalar(
                connection,
                "SELECT t.number FROM write_requests w JOIN tickets t ON t.id = w.ticket_id "
                "WHERE w.request_id = 'retry-once'",
            )
            == replays[0][0]
        )
    await engine.dispose()
    print(f"\n{CALLS} concurrent creates over HTTP in {elapsed:.2f}s ({CALLS / elapsed:.0f} tickets/s)")
