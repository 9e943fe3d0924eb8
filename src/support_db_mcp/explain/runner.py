"""Running EXPLAIN safely, and the catalog reads that explain a plan.

Layers enforced here (the parser in safety.py is the first):
2. every statement runs inside `BEGIN READ ONLY` with `SET LOCAL statement_timeout` and
   `lock_timeout`, and the transaction is always rolled back;
3. before ANALYZE executes anything, every function and operator the query names is looked up in
   pg_proc and a volatile one is refused;
4. the connection logs in as a role that can only read (checked here: never a superuser, never a
   member of the roles that read files, run programs or signal backends);
5. session state that outlives a rollback is cleared before the connection is given back: prepared
   statements are deallocated and session advisory locks released (and the explain engine does
   not pool connections at all).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pglast import ast, parse_sql
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from support_db_mcp import __version__
from support_db_mcp.config import Settings
from support_db_mcp.errors import InvalidInputError, SupportDBError
from support_db_mcp.explain.plan import Plan, parse_plan
from support_db_mcp.explain.safety import CheckedQuery, UnsafeQueryError

log = logging.getLogger(__name__)

EXPLAIN_ROLE = "support_db_explain"
PREPARED_PREFIX = "support_db_explain_"

# Volatile by declaration but without side effects worth refusing.
_HARMLESS_VOLATILE = frozenset(
    {"random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "clock_timestamp", "timeofday"}
)
# Predefined roles whose members can read server files, run programs, signal backends or write.
_DANGEROUS_MEMBERSHIPS = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_write_all_data",
)


class ExplainUnavailableError(SupportDBError):
    """explain_query cannot run on this configuration (no safe login role); the message says how to fix it."""


class ExplainQueryError(InvalidInputError):
    """PostgreSQL rejected the query (syntax, unknown column, permission, read-only violation, ...)."""


class ExplainTimeoutError(SupportDBError):
    """The statement ran past explain's statement_timeout."""


@dataclass(frozen=True)
class ExplainLimits:
    timeout_ms: int = 5_000
    lock_timeout_ms: int = 1_000
    verify_max_rows: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> ExplainLimits:
        return cls(
            timeout_ms=settings.explain_timeout_ms,
            lock_timeout_ms=settings.explain_lock_timeout_ms,
            verify_max_rows=settings.explain_verify_max_rows,
        )


def create_explain_engine(url: URL, settings: Settings) -> AsyncEngine:
    """An engine for the explain role that never pools: every connection is closed after use."""
    return create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "timeout": 10,
            "server_settings": {
                "application_name": f"support-db-mcp/{__version__} explain",
                "default_transaction_read_only": "on",
                "statement_timeout": str(settings.explain_timeout_ms),
                "lock_timeout": str(settings.explain_lock_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


# ---------------------------------------------------------------- parameters
def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_element(item) for item in value) + "}"
    text_value = _text_of(value)
    return '"' + text_value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, int | float | Decimal | UUID | str):
        return str(value)
    raise InvalidInputError(f"cannot pass a parameter of type {type(value).__name__}")


def sql_literal(value: Any) -> str:
    """A value as an SQL literal of unknown type, which PostgreSQL converts to the parameter's type.

    Only used with standard_conforming_strings on (set in every explain transaction), where a
    doubled quote is the only escape.
    """
    if value is None:
        return "NULL"
    body = _array_element(value) if isinstance(value, list | tuple) else _text_of(value)
    if "\x00" in body:
        raise InvalidInputError("a parameter contains a NUL character")
    return "'" + body.replace("'", "''") + "'"


def shown(value: Any) -> Any:
    """A parameter as JSON shows it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [shown(item) for item in value]
    return _text_of(value)


@dataclass(frozen=True)
class BoundStatement:
    """A checked statement and the values of its $n placeholders (None: no values, generic plan)."""

    checked: CheckedQuery
    values: tuple[Any, ...] | None = None

    @classmethod
    def bind(cls, checked: CheckedQuery, values: Sequence[Any] | None) -> BoundStatement:
        given = list(values or [])
        if checked.param_count == 0 and given:
            raise InvalidInputError(
                f"{len(given)} params were given but the query has no $1 placeholder; "
                "write $1, $2, ... where the values go"
            )
        if given and len(given) != checked.param_count:
            raise InvalidInputError(
                f"the query uses $1..${checked.param_count} but {len(given)} params were given"
            )
        literals = tuple(given) if given else None
        for value in given:
            sql_literal(value)  # refuse unsupported values before anything runs
        return cls(checked=checked, values=literals)

    @property
    def parameters(self) -> list[Any]:
        return [shown(value) for value in self.values] if self.values is not None else []


# ---------------------------------------------------------------- errors from PostgreSQL
def _driver_error(error: DBAPIError) -> tuple[str | None, str]:
    original: Any = error.orig
    cause = getattr(original, "__cause__", None)
    for candidate in (cause, original):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            message = getattr(candidate, "message", None) or str(candidate)
            hint = getattr(candidate, "hint", None)
            return state, f"{message} (hint: {hint})" if hint else str(message)
    return None, str(original).split(": ", 1)[-1]


def _translate(error: DBAPIError, *, role: str | None = None) -> Exception:
    state, message = _driver_error(error)
    if state == "57014":
        return ExplainTimeoutError(message)
    if state == "55P03":
        return ExplainQueryError(
            f"the query waited too long for a lock another session holds ({message}); try again later"
        )
    if state == "42501":
        who = f" as {role}" if role else ""
        return ExplainQueryError(
            f"PostgreSQL refused the query{who}: {message}. explain_query may only read the "
            "application's tables"
        )
    if state == "25006":
        return ExplainQueryError(f"PostgreSQL refused to write in the read-only transaction: {message}")
    if state is not None and state[:2] in {"42", "22", "0A", "2B", "21", "54", "3F", "39", "P0", "XX"}:
        return ExplainQueryError(f"PostgreSQL rejected the query: {message}")
    return error


# ---------------------------------------------------------------- transactions
@dataclass
class Transaction:
    connection: AsyncConnection
    prepared: list[str] = field(default_factory=list)

    async def execute(self, sql: str) -> Any:
        return await self.connection.exec_driver_sql(sql)


_RELEASE_ADVISORY_LOCKS = "SELECT pg_advisory_unlock_all()"


@asynccontextmanager
async def _always_rolled_back(
    connection: AsyncConnection, *, read_only: bool, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    """One transaction that always ends in ROLLBACK, leaving the session as it found it.

    A ROLLBACK keeps prepared statements and session advisory locks, so they are cleared too:
    inside the transaction when it is still usable (the same server connection, even behind
    PgBouncer), after the rollback when it failed. A connection that cannot be cleaned is
    invalidated, never given back to a pool.
    """
    transaction = Transaction(connection)
    await connection.begin()
    clean = False
    try:
        if read_only:
            await connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        await connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(int(timeout_ms), 1)}")
        await connection.exec_driver_sql(f"SET LOCAL lock_timeout = {max(int(lock_timeout_ms), 1)}")
        await connection.exec_driver_sql("SET LOCAL standard_conforming_strings = on")
        yield transaction
        for name in transaction.prepared:
            await connection.exec_driver_sql(f"DEALLOCATE {name}")
        await connection.exec_driver_sql(_RELEASE_ADVISORY_LOCKS)
        clean = True
    finally:
        if clean:
            await connection.rollback()
        else:
            await _rollback_and_clean(connection, transaction.prepared)


async def _rollback_and_clean(connection: AsyncConnection, prepared: list[str]) -> None:
    try:
        await connection.rollback()
        existing = {
            name
            for (name,) in (await connection.execute(text("SELECT name FROM pg_prepared_statements"))).all()
        }
        for name in prepared:
            if name in existing:
                await connection.exec_driver_sql(f"DEALLOCATE {name}")
        await connection.exec_driver_sql(_RELEASE_ADVISORY_LOCKS)
        await connection.rollback()
    except (DBAPIError, OSError):
        log.warning("explain: could not clean a connection after a failed statement; discarding it")
        await connection.invalidate()


@asynccontextmanager
async def read_only_transaction(
    connection: AsyncConnection, *, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    """BEGIN READ ONLY with local timeouts; always ROLLBACK, with the session's leftovers cleared."""
    async with _always_rolled_back(
        connection, read_only=True, timeout_ms=timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as transaction:
        yield transaction


@asynccontextmanager
async def rolled_back_transaction(
    connection: AsyncConnection, *, timeout_ms: int, lock_timeout_ms: int
) -> AsyncIterator[Transaction]:
    """A read-write transaction (to build an index) that always ends in ROLLBACK, cleared likewise."""
    async with _always_rolled_back(
        connection, read_only=False, timeout_ms=timeout_ms, lock_timeout_ms=lock_timeout_ms
    ) as transaction:
        yield transaction


# ---------------------------------------------------------------- layer 4: who we are
@dataclass(frozen=True)
class LoginRole:
    name: str
    safe: bool
    problem: str | None


async def login_role(connection: AsyncConnection) -> LoginRole:
    """Whether the login can only read: no superuser, no file/program/signal/write-all roles."""
    row = (
        await connection.execute(
            text(
                "SELECT current_user, r.rolsuper, r.rolbypassrls, ARRAY("
                "SELECT m FROM unnest(CAST(:roles AS text[])) AS m "
                "WHERE pg_has_role(current_user, m, 'MEMBER')) "
                "FROM pg_roles r WHERE r.rolname = current_user"
            ),
            {"roles": list(_DANGEROUS_MEMBERSHIPS)},
        )
    ).one()
    name, superuser, bypass_rls, granted = row
    await connection.rollback()
    if superuser:
        return LoginRole(name, False, f"the explain login '{name}' is a superuser")
    if granted:
        return LoginRole(name, False, f"the explain login '{name}' is a member of {', '.join(granted)}")
    if bypass_rls:
        return LoginRole(name, False, f"the explain login '{name}' bypasses row-level security")
    return LoginRole(name, True, None)


# ---------------------------------------------------------------- layer 3: volatility
async def refuse_volatile_functions(connection: AsyncConnection, checked: CheckedQuery) -> None:
    """Look every named function and operator up in pg_proc; refuse a volatile one before ANALYZE."""
    names = sorted({function.name for function in checked.functions})
    if names:
        rows = (
            await connection.execute(
                text(
                    "SELECT n.nspname, p.proname, p.provolatile::text, pg_function_is_visible(p.oid) "
                    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE p.proname = ANY(:names)"
                ),
                {"names": names},
            )
        ).all()
        for function in sorted(checked.functions, key=str):
            for schema, proname, volatility, visible in rows:
                if proname != function.name or (
                    schema != function.schema if function.schema else not visible
                ):
                    continue
                if volatility == "v" and not (schema == "pg_catalog" and proname in _HARMLESS_VOLATILE):
                    raise UnsafeQueryError(
                        f"explain_query refused to run the statement with ANALYZE: it calls "
                        f"{schema}.{proname}(), which is declared VOLATILE (it may change data or reach "
                        "outside the database). Use analyze=false for the estimated plan, which runs nothing"
                    )
    operators = sorted(checked.operators)
    if operators:
        rows = (
            await connection.execute(
                text(
                    "SELECT o.oprname, n.nspname, p.proname, p.provolatile::text "
                    "FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE o.oprname = ANY(:operators) AND pg_operator_is_visible(o.oid) "
                    "AND p.provolatile = 'v'"
                ),
                {"operators": operators},
            )
        ).all()
        for operator, schema, proname, _ in rows:
            raise UnsafeQueryError(
                f"explain_query refused to run the statement with ANALYZE: its operator {operator} calls "
                f"{schema}.{proname}(), which is declared VOLATILE. Use analyze=false for the estimated plan"
            )


# ---------------------------------------------------------------- EXPLAIN itself
def _options(analyze: bool) -> str:
    return "ANALYZE, BUFFERS, VERBOSE, FORMAT JSON" if analyze else "VERBOSE, FORMAT JSON"


def _assert_one_explain(sql: str) -> None:
    """What we send is parsed once more: exactly one EXPLAIN (or PREPARE), nothing after it."""
    statements = parse_sql(sql)
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.ExplainStmt | ast.PrepareStmt):
        raise UnsafeQueryError("explain_query refused the statement: it does not stay one statement")


async def run_explain(transaction: Transaction, bound: BoundStatement, *, analyze: bool) -> Plan:
    """EXPLAIN the statement; with placeholders through PREPARE/EXECUTE so values keep their types."""
    checked = bound.checked
    if checked.param_count == 0:
        sql = f"EXPLAIN ({_options(analyze)}) {checked.sql}"
        _assert_one_explain(sql)
        result = await transaction.execute(sql)
        return parse_plan(result.scalar_one())
    name = PREPARED_PREFIX + secrets.token_hex(6)
    prepare = f"PREPARE {name} AS {checked.sql}"
    _assert_one_explain(prepare)
    await transaction.execute(prepare)
    transaction.prepared.append(name)
    if bound.values is None:
        # no values: the generic plan, the one PostgreSQL reuses for any value
        await transaction.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        arguments = ", ".join(["NULL"] * checked.param_count)
    else:
        await transaction.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        arguments = ", ".join(sql_literal(value) for value in bound.values)
    sql = f"EXPLAIN ({_options(analyze)}) EXECUTE {name}({arguments})"
    _assert_one_explain(sql)
    result = await transaction.execute(sql)
    return parse_plan(result.scalar_one())


async def explain_statement(
    transaction: Transaction, bound: BoundStatement, *, analyze: bool, role: str | None = None
) -> Plan:
    """run_explain with PostgreSQL's errors turned into ones the caller can act on."""
    try:
        if analyze:
            await refuse_volatile_functions(transaction.connection, bound.checked)
        return await run_explain(transaction, bound, analyze=analyze)
    except DBAPIError as error:
        translated = _translate(error, role=role)
        if translated is error:
            raise
        raise translated from None


# ---------------------------------------------------------------- catalog facts for the advice
@dataclass(frozen=True)
class IndexInfo:
    name: str
    method: str
    columns: tuple[str | None, ...]  # key columns in order; None for an expression
    partial: bool


@dataclass
class RelationInfo:
    schema: str
    name: str
    rows: float
    columns: dict[str, str] = field(default_factory=dict)  # name -> type
    distinct: dict[str, float] = field(default_factory=dict)  # name -> estimated distinct values
    indexes: list[IndexInfo] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def quote_ident(name: str) -> str:
    if name.isidentifier() and name == name.lower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


async def relation_facts(
    connection: AsyncConnection, relations: set[tuple[str, str]]
) -> dict[tuple[str, str], RelationInfo]:
    """Size, columns, statistics and indexes of the tables a plan scans."""
    if not relations:
        return {}
    schemas = sorted({schema for schema, _ in relations})
    names = sorted({name for _, name in relations})
    rows = (
        await connection.execute(
            text(
                "SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::float8 "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY(:schemas) AND c.relname = ANY(:names) AND c.relkind IN ('r', 'm', 'p')"
            ),
            {"schemas": schemas, "names": names},
        )
    ).all()
    by_oid: dict[int, RelationInfo] = {}
    for oid, schema, name, reltuples in rows:
        if (schema, name) in relations:
            by_oid[oid] = RelationInfo(schema=schema, name=name, rows=float(reltuples))
    if not by_oid:
        return {}
    oids = list(by_oid)
    for oid, column, type_name in (
        await connection.execute(
            text(
                "SELECT attrelid, attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = ANY(:oids) AND attnum > 0 AND NOT attisdropped"
            ),
            {"oids": oids},
        )
    ).all():
        by_oid[oid].columns[column] = type_name
    for schema, name, column, n_distinct in (
        await connection.execute(
            text(
                "SELECT schemaname, tablename, attname, n_distinct::float8 FROM pg_stats "
                "WHERE schemaname = ANY(:schemas) AND tablename = ANY(:names)"
            ),
            {"schemas": schemas, "names": names},
        )
    ).all():
        for info in by_oid.values():
            if info.schema == schema and info.name == name and n_distinct is not None:
                info.distinct[column] = n_distinct if n_distinct > 0 else -n_distinct * max(info.rows, 1.0)
    for oid, index_name, method, partial, columns in (
        await connection.execute(
            text(
                "SELECT i.indrelid, c.relname, am.amname, i.indpred IS NOT NULL, "
                "ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
                "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                "WHERE i.indrelid = ANY(:oids)"
            ),
            {"oids": oids},
        )
    ).all():
        by_oid[oid].indexes.append(IndexInfo(index_name, method, tuple(columns), bool(partial)))
    return {(info.schema, info.name): info for info in by_oid.values()}


async def installed_extensions(connection: AsyncConnection) -> set[str]:
    rows = await connection.execute(
        text("SELECT extname FROM pg_extension WHERE extname IN ('hypopg', 'pg_trgm')")
    )
    return {name for (name,) in rows.all()}
