"""A slow or blocked query never holds the server: every tool has a statement and a lock timeout,
and other calls keep being answered while one waits."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from support_db_mcp.config import Settings
from support_db_mcp.server import create_server
from tests.processes import url_text
from tests.reliability.conftest import ScratchFactory


@pytest.mark.parametrize(
    ("timeouts", "message", "limit_s"),
    [
        ({"lock_timeout_ms": 400}, "locked by another transaction; retry shortly", 0.4),
        (
            {"statement_timeout_ms": 300, "lock_timeout_ms": 60_000},
            "took longer than the statement timeout and was cancelled",
            0.3,
        ),
    ],
)
async def test_a_blocked_call_gives_up_in_time_while_other_calls_are_answered(
    scratch_database: ScratchFactory, timeouts: dict[str, int], message: str, limit_s: float
) -> None:
    url = await scratch_database()
    settings = Settings(database_url=SecretStr(url_text(url)), seed_on_first_start=False, **timeouts)  # type: ignore[arg-type]
    blocker = create_async_engine(url)
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    async with blocker.connect() as holder, Client(create_server(settings)) as client:
        await holder.execute(text("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE"))  # held until rollback
        started = time.perf_counter()

        async def call(name: str, tool: str, arguments: dict[str, Any]) -> None:
            results[name] = await client.call_tool(tool, arguments)
            timings[name] = time.perf_counter() - started

        async with anyio.create_task_group() as group:
            group.start_soon(call, "blocked", "get_ticket", {"ticket": "1"})
            group.start_soon(
                call, "free", "create_ticket", {"title": "t", "description": "d", "creator": "1"}
            )
        await holder.rollback()
    await blocker.dispose()

    assert results["free"].is_error is False
    assert results["blocked"].is_error is True
    assert message in results["blocked"].content[0].text
    assert timings["free"] < timings["blocked"]
    assert limit_s * 0.9 <= timings["blocked"] < limit_s + 2.0
