"""Every explain_query call is bounded: in time (its timeout plus a second), in what one call may
build in memory, in how long it makes a writer wait, and odd inputs end as clear tool errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.db import Database
from support_db_mcp.errors import SupportDBError
from support_db_mcp.explain import Explainer
from support_db_mcp.explain.transactions import rolled_back_transaction
from support_db_mcp.schemas.tickets import NewTicket
from support_db_mcp.services.ticket_create import create_ticket
from tests.explain.conftest import TIMEOUT_MS
from tests.helpers import scalar

BARE = "Error executing tool explain_query"  # what a client sees for a bug: no reason at all
WITHIN_S = TIMEOUT_MS / 1000 + 1.0


async def timed_call(client: Client, arguments: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await client.call_tool("explain_query", arguments)
    return result, time.perf_counter() - started


HUGE_CONSTANTS = [
    ("SELECT repeat('x', 500000000)", "would build a value of 500,000,000"),
    (
        "SELECT length(repeat('x', 1000000000)) + length(repeat('y', 1000000000))",
        "would build a value of 1,000,000,000",
    ),
    ("SELECT length(repeat('x', 1e9::int))", "would build a value of 1,000,000,000"),
    ("SELECT lpad('x', 400000000)", "would build a value of 400,000,000"),
    ("SELECT array_fill(1, ARRAY[20000, 20000])", "would build a value of 400,000,000"),
    ("SELECT repeat('x', (SELECT 500000000))", "gets its size from an expression"),
    ("SELECT repeat('x', 20000 * 25000)", "gets its size from an expression"),
    ("SELECT repeat(repeat('x', 9999), 9999)", "the sizes would multiply"),
    ("SELECT " + " || ".join(["repeat('x', 300000)"] * 4), "in all"),
    ("SELECT " + ", ".join(["'x'::char(10000000)"] * 3), "pads a value to that many characters"),
]


@pytest.mark.parametrize("analyze", [True, False])
@pytest.mark.parametrize(("sql", "reason"), HUGE_CONSTANTS, ids=[sql[:40] for sql, _ in HUGE_CONSTANTS])
async def test_constants_that_would_take_gigabytes_are_refused_before_planning_within_the_timeout(
    explain_client: Client, sql: str, reason: str, analyze: bool
) -> None:
    async with explain_client:
        result, seconds = await timed_call(explain_client, {"sql": sql, "analyze": analyze})
    assert result.is_error is True
    assert reason in result.content[0].text
    assert seconds < WITHIN_S


async def test_small_sized_calls_and_sizes_read_from_rows_still_run(explain_client: Client) -> None:
    async with explain_client:
        for sql in ("SELECT repeat('ab', 1000), lpad(title, 80) FROM tickets LIMIT 3",
                    "SELECT repeat('x', priority::text::int) FROM (SELECT 3 AS priority) p"):  # fmt: skip
            result, seconds = await timed_call(explain_client, {"sql": sql})
            assert result.is_error is False, result.content[0].text
            assert seconds < WITHIN_S


ODD_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"sql": "SELECT " + "(" * 9990 + "1" + ")" * 9990}, "nested too deeply"),
    ({"tool": "get_ticket", "arguments": {"ticket": [1, 2]}}, "invalid arguments for get_ticket: ticket"),
    ({"sql": "SELECT $1::int", "params": [{"a": 1}]}, "does not fit $1, which PostgreSQL reads as integer"),
    ({"sql": "SELECT $1::timestamptz", "params": ["yesterday-ish"]}, "expected an ISO 8601 string"),
    ({"sql": "SELECT * FROM tickets WHERE id = ANY($1)", "params": [5]}, "expected a list"),
]


@pytest.mark.parametrize(("arguments", "message"), ODD_INPUTS, ids=[str(a)[:40] for a, _ in ODD_INPUTS])
async def test_odd_inputs_are_clear_tool_errors_not_bare_ones(
    explain_client: Client, arguments: dict[str, Any], message: str
) -> None:
    async with explain_client:
        result, seconds = await timed_call(explain_client, arguments)
    assert result.is_error is True
    assert result.content[0].text != BARE
    assert message in result.content[0].text, result.content[0].text
    assert seconds < WITHIN_S


async def test_json_params_are_bound_with_the_types_postgresql_infers(explain_client: Client) -> None:
    sql = (
        "SELECT id FROM tickets WHERE id = ANY($1) AND created_at > $2 AND status = $3 "
        "AND (priority = $4 OR $5) AND $6::numeric > 0"
    )
    params = [["1", 2, 3.0], "2020-01-01T00:00:00Z", "open", "high", "true", 1.5]
    async with explain_client:
        result, _ = await timed_call(explain_client, {"sql": sql, "params": params})
    assert result.is_error is False, result.content[0].text
    [statement] = result.structured_content["plan"]
    assert statement["parameters"] == params  # shown as given
    assert "'{1,2,3}'::bigint[]" in result.structured_content["plan_text"]  # a custom plan of the values


async def test_a_call_whose_run_and_plan_both_take_long_ends_within_its_timeout(
    explain_client: Client,
) -> None:
    async with explain_client:
        result, seconds = await timed_call(
            explain_client, {"sql": "SELECT count(*) FROM tickets a, tickets b, tickets c"}
        )
    assert result.is_error is False, result.content[0].text
    assert "timeout" in {f["kind"] for f in result.structured_content["findings"]}
    assert seconds < WITHIN_S


async def test_a_failed_statement_inside_a_rolled_back_transaction_never_runs_its_cleanup_there(
    engine: AsyncEngine, connection: AsyncConnection
) -> None:
    async with engine.connect() as owner:
        async with rolled_back_transaction(owner, timeout_ms=50, lock_timeout_ms=50) as transaction:
            await transaction.execute("SELECT pg_advisory_lock(4243)")
            with pytest.raises(DBAPIError):
                await transaction.execute("SELECT pg_sleep(1)")  # cancelled: the transaction is aborted
        # leaving the block rolled back first, then released the session's lock, and the
        # connection still works
        assert await scalar(owner, "SELECT 1") == 1
        await owner.rollback()
    taken = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4243"
    assert await scalar(connection, taken) == 0


async def test_a_build_that_cannot_get_its_lock_at_once_is_skipped_saying_so(
    explainer: Explainer, connection: AsyncConnection
) -> None:
    # the test's open transaction holds a lock that conflicts with CREATE INDEX, as a writer would
    await connection.execute(text("LOCK TABLE comments IN ROW EXCLUSIVE MODE"))
    started = time.perf_counter()
    result = await explainer.explain_sql("SELECT id FROM comments WHERE body = $1", ["no such body"])
    [finding] = [f for f in result.findings if f.kind == "seq_scan_filter"]
    assert finding.suggestion is not None and not finding.suggestion.verified
    assert "another session holds a lock on the table" in finding.suggestion.note
    assert time.perf_counter() - started < WITHIN_S


SLOW_DESCRIPTION = (
    "SELECT * FROM tickets t WHERE t.description = 'zzz-no-such' "
    "AND (SELECT count(*) FROM generate_series(1, 5000000)) > 0"
)


async def test_creates_made_while_an_explain_builds_a_test_index_wait_under_a_second_and_never_fail(
    engine: AsyncEngine, explainer: Explainer
) -> None:
    database = Database.from_engine(engine)  # real commits, on connections of their own
    async with engine.connect() as reader:
        creator = await scalar(reader, "SELECT min(id) FROM users WHERE is_active")
    explaining = asyncio.create_task(explainer.explain_sql(SLOW_DESCRIPTION, None))
    waits: list[float] = []
    failures: list[SupportDBError] = []
    created: list[int] = []
    try:
        while not explaining.done() and len(waits) < 2_000:
            started = time.perf_counter()
            try:
                async with database.write() as session:
                    made = await create_ticket(
                        session,
                        new=NewTicket(
                            title=f"Created during explain {len(waits)}",
                            description="Concurrency check",
                            creator=str(creator),
                        ),
                    )
                created.append(made.ticket.id)
            except SupportDBError as error:
                failures.append(error)
            waits.append(time.perf_counter() - started)
        result = await explaining
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(text("DELETE FROM tickets WHERE id = ANY(:ids)"), {"ids": created})
    methods = {f.suggestion.method for f in result.findings if f.suggestion is not None}
    assert "rolled_back_build" in methods  # the index was really built while the creates ran
    assert failures == []
    assert len(waits) >= 10 and max(waits) < 1.0, f"max wait {max(waits):.3f} s over {len(waits)} creates"
