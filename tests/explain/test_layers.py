"""Each safety layer on its own stops what it can stop, with the parser (layer 1) out of the way.

The statements here bypass `check_query` on purpose: they are handed straight to the runner, as
if the parser had a hole, to show that the next layer still holds.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.errors import SQLState, sqlstate
from support_db_mcp.explain import Explainer, ExplainUnavailableError, UnsafeQueryError
from support_db_mcp.explain.connection import create_explain_engine, login_role
from support_db_mcp.explain.parameters import BoundStatement
from support_db_mcp.explain.running import run_explain
from support_db_mcp.explain.safety import CheckedQuery, FunctionName, check_query
from support_db_mcp.explain.transactions import Transaction, read_only_transaction
from support_db_mcp.explain.volatility import refuse_volatile_functions
from tests.explain.conftest import LIMITS, TIMEOUT_MS
from tests.helpers import scalar


def unchecked(sql: str, *functions: str) -> BoundStatement:
    """A statement as if the parser had let it through."""
    names = frozenset(FunctionName(None, name) for name in functions)
    return BoundStatement(CheckedQuery(sql=sql, param_count=0, functions=names))


async def test_the_read_only_transaction_alone_stops_a_write_even_for_a_superuser(
    engine: AsyncEngine, connection: AsyncConnection
) -> None:
    before = await scalar(connection, "SELECT count(*) FROM comments")
    async with engine.connect() as superuser:
        with pytest.raises(DBAPIError) as refused:
            async with read_only_transaction(superuser, timeout_ms=TIMEOUT_MS, lock_timeout_ms=500) as tx:
                await run_explain(
                    tx,
                    unchecked("WITH gone AS (DELETE FROM comments RETURNING id) SELECT count(*) FROM gone"),
                    analyze=True,
                )
        assert sqlstate(refused.value) == SQLState.READ_ONLY_SQL_TRANSACTION
        with pytest.raises(DBAPIError) as refused:
            async with read_only_transaction(superuser, timeout_ms=TIMEOUT_MS, lock_timeout_ms=500) as tx:
                await run_explain(tx, unchecked("SELECT nextval('tickets_id_seq')"), analyze=True)
        assert sqlstate(refused.value) == SQLState.READ_ONLY_SQL_TRANSACTION
    assert await scalar(connection, "SELECT count(*) FROM comments") == before


async def test_the_statement_timeout_alone_stops_a_sleep_even_after_set_config(engine: AsyncEngine) -> None:
    started = time.perf_counter()
    async with engine.connect() as superuser:
        with pytest.raises(DBAPIError) as stopped:
            async with read_only_transaction(superuser, timeout_ms=300, lock_timeout_ms=300) as tx:
                await run_explain(
                    tx,
                    unchecked("SELECT set_config('statement_timeout', '0', true), pg_sleep(30)"),
                    analyze=True,
                )
    assert sqlstate(stopped.value) == SQLState.QUERY_CANCELED
    assert time.perf_counter() - started < 2


async def test_the_pg_proc_check_alone_refuses_volatile_functions_including_user_defined_ones(
    connection: AsyncConnection,
) -> None:
    with pytest.raises(UnsafeQueryError, match=r"pg_catalog\.pg_sleep\(\), which is declared VOLATILE"):
        await refuse_volatile_functions(
            Transaction(connection), unchecked("SELECT pg_sleep(1)", "pg_sleep").checked
        )
    await connection.execute(
        text(
            "CREATE FUNCTION public.bump_priority() RETURNS int LANGUAGE sql VOLATILE "
            "AS $$ UPDATE tickets SET priority = 'urgent' RETURNING 1 $$"
        )
    )
    checked = check_query("SELECT bump_priority()")  # the parser knows nothing about it
    with pytest.raises(UnsafeQueryError, match=r"public\.bump_priority\(\)"):
        await refuse_volatile_functions(Transaction(connection), checked)
    with pytest.raises(
        UnsafeQueryError, match=r"pg_catalog\.txid_current\(\), which assigns a transaction id"
    ):
        # declared STABLE, so only its name in the catalog gives it away
        await refuse_volatile_functions(
            Transaction(connection), unchecked("SELECT txid_current()", "txid_current").checked
        )
    await refuse_volatile_functions(
        Transaction(connection), check_query("SELECT lower(title), now(), random() FROM tickets")
    )


async def test_the_explain_role_alone_cannot_read_files_password_hashes_or_kill_sessions(
    explain_engine: AsyncEngine, connection: AsyncConnection
) -> None:
    other_session = await scalar(connection, "SELECT pg_backend_pid()")
    attempts = [
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT rolpassword FROM pg_authid",
        f"SELECT pg_terminate_backend({other_session})",
        "SELECT set_config('role', 'postgres', true)",
        "SELECT lo_import('/etc/passwd')",
    ]
    async with explain_engine.connect() as explain:
        role = await login_role(explain)
        assert role.safe and role.name == "support_db_explain"
        for sql in attempts:
            with pytest.raises(DBAPIError) as refused:
                async with read_only_transaction(explain, timeout_ms=TIMEOUT_MS, lock_timeout_ms=500) as tx:
                    await run_explain(tx, unchecked(sql), analyze=True)
            assert sqlstate(refused.value) in {
                SQLState.INSUFFICIENT_PRIVILEGE,
                SQLState.READ_ONLY_SQL_TRANSACTION,
            }, sql
    assert await scalar(connection, "SELECT 1") == 1  # our session was not killed


async def test_advisory_locks_are_released_before_the_connection_is_given_back(
    explain_engine: AsyncEngine, connection: AsyncConnection
) -> None:
    taken = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
    async with explain_engine.connect() as explain:
        async with read_only_transaction(explain, timeout_ms=TIMEOUT_MS, lock_timeout_ms=500) as tx:
            await run_explain(tx, unchecked("SELECT pg_advisory_lock(4242)"), analyze=True)
            assert await scalar(connection, taken) == 1
        # the transaction was rolled back, the connection is still open, and the lock is gone
        assert await scalar(connection, taken) == 0

        # without the release, a ROLLBACK alone would have kept it
        await explain.exec_driver_sql("SELECT pg_advisory_lock(4242)")
        await explain.rollback()
        assert await scalar(connection, taken) == 1
        await explain.exec_driver_sql("SELECT pg_advisory_unlock_all()")
        await explain.rollback()


async def test_a_superuser_login_for_explain_is_refused_with_how_to_fix_it(
    database_url: URL, explain_settings: Settings, engine: AsyncEngine
) -> None:
    superuser = create_explain_engine(database_url, explain_settings)
    explainer = Explainer(engine=superuser, owner=engine, limits=LIMITS)
    try:
        with pytest.raises(ExplainUnavailableError) as refused:
            await explainer.explain_sql("SELECT 1", None)
    finally:
        await superuser.dispose()
    assert "is a superuser" in str(refused.value)
    assert "EXPLAIN_DATABASE_URL" in str(refused.value)


async def test_without_an_explain_login_the_tool_says_how_to_set_one_up(engine: AsyncEngine) -> None:
    explainer = Explainer.for_url(None, owner=engine, settings=Settings(database_url=None))
    with pytest.raises(ExplainUnavailableError, match="EXPLAIN_DATABASE_URL"):
        await explainer.explain_sql("SELECT 1", None)


async def test_an_analyze_that_runs_too_long_is_cancelled_at_the_timeout(explain_engine: AsyncEngine) -> None:
    started = time.perf_counter()
    async with explain_engine.connect() as explain:
        with pytest.raises(DBAPIError) as stopped:
            async with read_only_transaction(explain, timeout_ms=300, lock_timeout_ms=300) as tx:
                await run_explain(tx, unchecked("SELECT count(*) FROM tickets a, tickets b"), analyze=True)
    assert sqlstate(stopped.value) == SQLState.QUERY_CANCELED
    assert time.perf_counter() - started < 2


async def test_the_explain_login_hides_its_sql_from_other_sessions_and_caps_temporary_files(
    explain_engine: AsyncEngine, connection: AsyncConnection
) -> None:
    marker = "explain-session-marker-7f3a"
    async with explain_engine.connect() as explain:
        assert await scalar(explain, "SHOW track_activities") == "off"  # migration 0005
        assert await scalar(explain, "SHOW temp_file_limit") == "1GB"
        pid = await scalar(explain, f'SELECT pg_backend_pid() AS "{marker}"')
        # even the superuser, who sees every session's SQL, does not see this session's
        shown = await scalar(
            connection, "SELECT coalesce(query, '') FROM pg_stat_activity WHERE pid = :p", p=pid
        )
        assert marker not in shown
        await explain.rollback()


async def test_without_an_explain_login_the_servers_own_login_plans_caller_sql_only_if_it_passes_the_check(
    explain_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    # a server whose DATABASE_URL login may only read (here: the explain role itself)
    read_only_server = Explainer(engine=None, owner=explain_engine, limits=LIMITS, unavailable="none set")
    result = await read_only_server.explain_sql("SELECT count(*) FROM tags", None)
    assert result.plan[0].analyzed is True
    # a superuser DATABASE_URL: refused, with how to set an explain login up
    superuser_server = Explainer.for_url(None, owner=engine, settings=Settings(database_url=None))
    with pytest.raises(ExplainUnavailableError, match="is a superuser"):
        await superuser_server.explain_sql("SELECT count(*) FROM tags", None)


async def test_our_own_tools_sql_may_still_be_planned_on_a_superuser_server_login(
    engine: AsyncEngine,
) -> None:
    from support_db_mcp.schemas.tickets import TicketLookup
    from support_db_mcp.services.ticket_read import get_ticket

    superuser_server = Explainer.for_url(None, owner=engine, settings=Settings(database_url=None))

    async def call(session: Any) -> object:
        return await get_ticket(session, ref=TicketLookup(ticket="TCK-000042").ticket)

    result = await superuser_server.explain_call("get_ticket", call)
    # one statement: the ticket with its tags, its comments and its history
    assert len(result.plan) == 1 and all(statement.analyzed for statement in result.plan)
