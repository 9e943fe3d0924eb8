"""Hostile inputs through the explain_query tool: each is refused with its reason or runs harmlessly.

After every call: no row changed, no sequence moved, no index or lock left behind, no file
touched, the server still answers, and the call came back within the timeout plus a margin.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.explain.conftest import TIMEOUT_MS
from tests.helpers import row_counts

MARGIN_S = 1.0  # a call returns within its timeout plus this
MARKER = Path("/tmp") / f"support_db_explain_marker_{secrets.token_hex(4)}"

# A UNION of many small selects: a plan of hundreds of nodes, within the length limit.
MANY_NODES = " UNION ALL ".join(f"SELECT {n} AS n FROM tags WHERE id = {n}" for n in range(350))


@dataclass(frozen=True)
class State:
    rows: dict[str, int]
    sequences: dict[str, int | None]
    indexes: int


async def state_of(connection: AsyncConnection) -> State:
    sequences = (
        await connection.execute(
            text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
        )
    ).all()
    indexes = (
        await connection.execute(
            text(
                "SELECT count(*) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        )
    ).scalar_one()
    return State(await row_counts(connection), dict(sequences), indexes)  # type: ignore[arg-type]


async def locks_left(connection: AsyncConnection) -> int:
    """Advisory locks anywhere, and any lock held by an explain session."""
    return int(
        (
            await connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' OR a.application_name LIKE '%explain%' "
                    "OR a.usename = 'support_db_explain'"
                )
            )
        ).scalar_one()
    )


async def call_explain(client: Client, arguments: dict[str, Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await client.call_tool("explain_query", arguments)
    return result, time.perf_counter() - started


REFUSED: list[tuple[str, str]] = [
    ("SELECT 1; DELETE FROM tickets", "holds 2 statements"),
    ("SELECT 1 --\n; DELETE FROM tickets", "holds 2 statements"),
    ("SELECT 1 /* ; */; DROP TABLE tickets", "holds 2 statements"),
    ("WITH gone AS (DELETE FROM comments RETURNING id) SELECT count(*) FROM gone", "contains DELETE"),
    ("EXPLAIN ANALYZE DELETE FROM tickets", "adds EXPLAIN itself"),
    (f"COPY (SELECT 1) TO PROGRAM 'touch {MARKER}'", "not COPY"),
    (f"DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {MARKER}'''; END $$", "not a DO block"),
    ("SELECT pg_sleep(30)", "pauses the server process"),
    ("SELECT pg_advisory_lock(4242)", "advisory lock"),
    ("SELECT * FROM tickets FOR UPDATE", "FOR UPDATE/FOR SHARE"),
    ("SELECT nextval('tickets_id_seq')", "moves a sequence"),
    ("SELECT set_config('role', 'none', true), pg_read_file('/etc/passwd')", "changes server settings"),
    ("SELECT lo_import('/etc/passwd')", "large objects"),
    (f"SELECT lo_export(lo_from_bytea(0, 'x'), '{MARKER}')", "large objects"),
    ("SELECT rolname, rolpassword FROM pg_authid", "password hashes"),
    ("SELECT pg_terminate_backend(pid) FROM pg_locks", "kills another database session"),
    ("SELECT usename, query FROM pg_stat_activity", "shows other sessions' SQL"),
    ("SELECT pg_stat_get_backend_activity(1)", "shows other sessions' SQL"),
    ("SELECT * INTO stolen FROM users", "SELECT INTO"),
    ("SELECT query_to_xml('DELETE FROM tickets RETURNING 1', true, true, '')", "runs SQL given as text"),
    ('SELECT U&"\\0070g_sleep"(30)', "pauses the server process"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED, ids=[sql[:40] for sql, _ in REFUSED])
async def test_hostile_statements_are_refused_and_leave_everything_as_it_was(
    explain_client: Client, connection: AsyncConnection, sql: str, reason: str
) -> None:
    before = await state_of(connection)
    async with explain_client:
        result, seconds = await call_explain(explain_client, {"sql": sql})
        assert result.is_error is True
        assert reason in result.content[0].text
        assert "explain_query refused the statement" in result.content[0].text
        await assert_untouched(explain_client, connection, before, seconds)


HARMLESS: list[tuple[str, str | None]] = [
    ("SELECT 'a'';DELETE FROM tickets;--' AS quoted", None),
    ("SELECT $x$; DELETE FROM tickets $x$ AS dollar_quoted", None),
    ("SELECT count(*) FROM tickets a, tickets b", "timeout"),  # a cartesian product of 900 million rows
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", "timeout"),
    ("SELECT repeat(md5(g::text), 100000) FROM generate_series(1, 10000000) g", "timeout"),  # huge output
    (MANY_NODES, None),  # a huge plan
]


@pytest.mark.parametrize(("sql", "finding"), HARMLESS, ids=[sql[:40] for sql, _ in HARMLESS])
async def test_hostile_reads_run_within_the_timeout_and_leave_everything_as_it_was(
    explain_client: Client, connection: AsyncConnection, sql: str, finding: str | None
) -> None:
    before = await state_of(connection)
    async with explain_client:
        result, seconds = await call_explain(explain_client, {"sql": sql})
        assert result.is_error is False, result.content[0].text
        answer = result.structured_content
        assert len(answer["plan_text"]) < 60_000
        kinds = {f["kind"] for f in answer["findings"]}
        if finding is not None:
            assert finding in kinds
        await assert_untouched(explain_client, connection, before, seconds)


async def test_a_cartesian_product_is_named_as_such_with_the_estimated_rows(explain_client: Client) -> None:
    async with explain_client:
        result, seconds = await call_explain(
            explain_client, {"sql": "SELECT count(*) FROM tickets a, tickets b"}
        )
    findings = {f["kind"]: f for f in result.structured_content["findings"]}
    assert findings["timeout"]["severity"] == "critical"
    assert findings["timeout"]["evidence"]["timeout_ms"] == TIMEOUT_MS
    cartesian = findings["cartesian_product"]
    evidence = cartesian["evidence"]
    # per parallel worker when the plan is parallel: still hundreds of millions of pairs
    assert (
        evidence["estimated_rows"] >= 0.9 * evidence["outer_rows_estimate"] * evidence["inner_rows_estimate"]
    )
    assert evidence["estimated_rows"] > 100_000_000
    assert "no join condition" in cartesian["message"]
    assert seconds < TIMEOUT_MS / 1000 + MARGIN_S


async def test_a_huge_plan_is_cut_and_says_how_much_is_left_out(explain_client: Client) -> None:
    async with explain_client:
        result, _ = await call_explain(explain_client, {"sql": MANY_NODES})
    [statement] = result.structured_content["plan"]
    assert statement["nodes_cut"] > 0
    assert "more plan nodes not shown" in result.structured_content["plan_text"]


async def test_a_table_locked_by_another_session_stops_at_the_lock_timeout(
    explain_client: Client, connection: AsyncConnection
) -> None:
    await connection.execute(text("LOCK TABLE tags IN ACCESS EXCLUSIVE MODE"))
    async with explain_client:
        result, seconds = await call_explain(explain_client, {"sql": "SELECT count(*) FROM tags"})
    assert result.is_error is True
    assert "waited too long for a lock" in result.content[0].text
    assert seconds < TIMEOUT_MS / 1000 + MARGIN_S


async def assert_untouched(
    client: Client, connection: AsyncConnection, before: State, seconds: float
) -> None:
    assert seconds < TIMEOUT_MS / 1000 + MARGIN_S
    assert await state_of(connection) == before
    assert await locks_left(connection) == 0
    assert not MARKER.exists()
    after, _ = await call_explain(
        client, {"sql": "SELECT count(*) FROM tags WHERE name = $1", "params": ["vip"]}
    )
    assert after.is_error is False, after.content[0].text
