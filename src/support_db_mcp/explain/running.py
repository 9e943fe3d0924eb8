"""EXPLAIN itself: the statement we send, its bind parameters, and PostgreSQL's errors made readable.

The statement sent is `EXPLAIN (options) <checked query>` with the caller's values as bind
parameters; without values, PostgreSQL's generic plan (PREPARE, force_generic_plan, EXECUTE with
NULLs). Either way it is parsed once more before it goes out. An error PostgreSQL raises is
echoed only when the login that raised it passed the read-only check: its messages can quote data
(`invalid input syntax for type bigint: "<a value>"`), and such a login may read only that data.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
from pglast import ast
from sqlalchemy.exc import DBAPIError

from support_db_mcp.errors import InvalidInputError, SQLState, SupportDBError, server_message, sqlstate
from support_db_mcp.explain.connection import LoginRole
from support_db_mcp.explain.parameters import BoundStatement, driver_values
from support_db_mcp.explain.plan import Plan, parse_plan
from support_db_mcp.explain.safety import assert_one_statement
from support_db_mcp.explain.transactions import Transaction
from support_db_mcp.explain.volatility import refuse_volatile_functions

PREPARED_PREFIX = "support_db_explain_"


class ExplainUnavailableError(SupportDBError):
    """explain_query cannot run on this configuration (no safe login role); the message says how to fix it."""


class ExplainQueryError(InvalidInputError):
    """PostgreSQL rejected the query (syntax, unknown column, permission, read-only violation, ...)."""


class ExplainTimeoutError(SupportDBError):
    """The statement ran past the time the call had left."""


_CALLERS_MISTAKES = (
    SQLState.SYNTAX_OR_ACCESS_RULE_CLASS,
    SQLState.DATA_EXCEPTION_CLASS,
    SQLState.FEATURE_NOT_SUPPORTED_CLASS,
    SQLState.CARDINALITY_VIOLATION_CLASS,
    SQLState.PROGRAM_LIMIT_CLASS,
    SQLState.INVALID_SCHEMA_NAME_CLASS,
    SQLState.SQL_ROUTINE_EXCEPTION_CLASS,
    SQLState.EXTERNAL_ROUTINE_EXCEPTION_CLASS,
    SQLState.EXTERNAL_ROUTINE_INVOCATION_CLASS,
    SQLState.PLPGSQL_ERROR_CLASS,
    SQLState.INTERNAL_ERROR_CLASS,
)


def translate(error: Exception, role: LoginRole) -> Exception:
    """PostgreSQL's error as one the caller can act on, or `error` itself when it is not the query's."""
    state = sqlstate(error)
    detail = (
        server_message(error)
        if role.safe
        else f"SQLSTATE {state}; its text is not shown because the login '{role.name}' may read more "
        "than explain_query's login"
    )
    if SQLState.QUERY_CANCELED.matches(state):
        return ExplainTimeoutError(detail)
    if SQLState.LOCK_NOT_AVAILABLE.matches(state):
        return ExplainQueryError(
            f"the query waited too long for a lock another session holds ({detail}); try again later"
        )
    if SQLState.INSUFFICIENT_PRIVILEGE.matches(state):
        return ExplainQueryError(
            f"PostgreSQL refused the query as {role.name}: {detail}. explain_query may only read the "
            "application's tables"
        )
    if SQLState.READ_ONLY_SQL_TRANSACTION.matches(state):
        return ExplainQueryError(f"PostgreSQL refused to write in the read-only transaction: {detail}")
    if SQLState.INSUFFICIENT_RESOURCES_CLASS.matches(state):
        return ExplainQueryError(
            f"the query needs more memory or temporary disk than explain_query allows ({detail}); narrow it"
        )
    if any(kind.matches(state) for kind in _CALLERS_MISTAKES):
        return ExplainQueryError(f"PostgreSQL rejected the query: {detail}")
    return error


def _options(analyze: bool) -> str:
    return "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON" if analyze else "VERBOSE, FORMAT JSON"


async def _parameter_types(transaction: Transaction, sql: str) -> list[tuple[str, str]]:
    """The type PostgreSQL infers for each $n of `sql` (it prepares the statement; nothing runs)."""
    raw = await transaction.connection.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        prepared = await driver.prepare(sql)
    except Exception:
        transaction.failed = True
        raise
    return [(parameter.name, parameter.kind) for parameter in prepared.get_parameters()]


async def _generic_plan(transaction: Transaction, bound: BoundStatement, options: str) -> Plan:
    """Placeholders without values: the plan PostgreSQL reuses for any value."""
    checked = bound.checked
    name = PREPARED_PREFIX + secrets.token_hex(6)
    prepare = f"PREPARE {name} AS {checked.sql}"
    assert_one_statement(prepare, (ast.PrepareStmt,))
    await transaction.execute(prepare)
    transaction.prepared.append(name)
    await transaction.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    sql = f"EXPLAIN ({options}) EXECUTE {name}({', '.join(['NULL'] * checked.param_count)})"
    assert_one_statement(sql, (ast.ExplainStmt,))
    return parse_plan((await transaction.execute(sql)).scalar_one())


async def run_explain(transaction: Transaction, bound: BoundStatement, *, analyze: bool) -> Plan:
    """EXPLAIN the statement, its values sent as bind parameters."""
    options = _options(analyze)
    if bound.checked.param_count and bound.values is None:
        return await _generic_plan(transaction, bound, options)
    sql = f"EXPLAIN ({options}) {bound.checked.sql}"
    assert_one_statement(sql, (ast.ExplainStmt,))
    values = bound.values
    if values is not None and not bound.from_driver:
        values = driver_values(await _parameter_types(transaction, sql), values)
    result = await transaction.execute(sql, values)
    return parse_plan(result.scalar_one())


async def explain_statement(
    transaction: Transaction, bound: BoundStatement, *, analyze: bool, role: LoginRole
) -> Plan:
    """run_explain, after the pg_proc check when it will run the query, with errors translated."""
    try:
        if analyze:
            await refuse_volatile_functions(transaction, bound.checked)
        return await run_explain(transaction, bound, analyze=analyze)
    except (DBAPIError, asyncpg.PostgresError) as error:
        translated = translate(error, role)
        if translated is error:
            raise
        raise translated from None
