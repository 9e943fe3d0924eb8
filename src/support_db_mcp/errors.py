"""Domain errors, named SQLSTATEs, and the one place where driver errors are translated into them.

Every message here is written for the person (or model) who sent the request: it says what was
wrong and what to do, and never carries SQL, a stack trace or a password. The MCP layer turns a
`SupportDBError` into the error its primitive speaks (server/boundary.py); the command line prints
it as one line.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import asyncpg
from sqlalchemy import exc as sa_exc


class SupportDBError(Exception):
    """Base of every error this package raises on purpose; the message is safe to show."""


class InvalidInputError(SupportDBError):
    """The request is well-formed but asks for something impossible (bad cursor, bad tag, ...)."""


class NotFoundError(SupportDBError):
    """A referenced row does not exist."""


class ConflictError(InvalidInputError):
    """The request conflicts with what is stored (a stale version, a reused idempotency key)."""


class DatabaseUnavailableError(SupportDBError):
    """The database cannot be reached right now; the same call may work later."""


class DatabaseBusyError(SupportDBError):
    """A lock the call needs is held by another transaction past the lock timeout."""


class QueryTimeoutError(SupportDBError):
    """A statement ran past the configured statement timeout."""


class ConfigurationError(SupportDBError):
    """The server was configured in a way it cannot start with (an unknown tool, an unknown user)."""


class EmbeddedDatabaseError(SupportDBError):
    """The embedded PostgreSQL could not be started or prepared."""


class SQLState(StrEnum):
    """The PostgreSQL error codes this package acts on (Appendix A of the PostgreSQL manual)."""

    CONNECTION_EXCEPTION_CLASS = "08"  # a class: every code starting with it
    INSUFFICIENT_RESOURCES_CLASS = "53"
    PROGRAM_LIMIT_CLASS = "54"
    # the classes of errors a query itself causes (explain_query reports them as the caller's)
    FEATURE_NOT_SUPPORTED_CLASS = "0A"
    CARDINALITY_VIOLATION_CLASS = "21"
    DATA_EXCEPTION_CLASS = "22"
    SQL_ROUTINE_EXCEPTION_CLASS = "2F"
    EXTERNAL_ROUTINE_EXCEPTION_CLASS = "38"
    EXTERNAL_ROUTINE_INVOCATION_CLASS = "39"
    INVALID_SCHEMA_NAME_CLASS = "3F"
    SYNTAX_OR_ACCESS_RULE_CLASS = "42"
    PLPGSQL_ERROR_CLASS = "P0"
    INTERNAL_ERROR_CLASS = "XX"
    CONFIGURATION_LIMIT_EXCEEDED = "53400"  # e.g. temp_file_limit
    READ_ONLY_SQL_TRANSACTION = "25006"
    IN_FAILED_TRANSACTION = "25P02"
    INVALID_AUTHORIZATION = "28000"
    INVALID_PASSWORD = "28P01"
    INVALID_CATALOG_NAME = "3D000"  # database does not exist
    INSUFFICIENT_PRIVILEGE = "42501"
    UNIQUE_VIOLATION = "23505"
    LOCK_NOT_AVAILABLE = "55P03"
    QUERY_CANCELED = "57014"
    ADMIN_SHUTDOWN = "57P01"
    CRASH_SHUTDOWN = "57P02"
    CANNOT_CONNECT_NOW = "57P03"
    OUT_OF_MEMORY = "53200"
    DISK_FULL = "53100"

    def matches(self, code: str | None) -> bool:
        """Whether `code` is this code, or belongs to this class (for the two-character classes)."""
        return code is not None and code.startswith(self.value)


_SERVER_GOING_AWAY = (SQLState.ADMIN_SHUTDOWN, SQLState.CRASH_SHUTDOWN, SQLState.CANNOT_CONNECT_NOW)


def _chain(error: BaseException) -> list[BaseException]:
    """The error, what SQLAlchemy wraps (`orig`) and what the adapter wraps (`__cause__`)."""
    seen: list[BaseException] = []
    queue: list[BaseException | None] = [error]
    while queue and len(seen) < 6:
        current = queue.pop(0)
        if current is None or current in seen:
            continue
        seen.append(current)
        queue.extend([getattr(current, "orig", None), current.__cause__])
    return seen


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a driver or SQLAlchemy error, wherever in the chain the driver put it."""
    for candidate in _chain(error):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def server_message(error: BaseException) -> str:
    """PostgreSQL's own message (first line, with its hint), without SQLAlchemy's SQL and parameters."""
    for candidate in _chain(error):
        if isinstance(getattr(candidate, "sqlstate", None), str):
            message = str(getattr(candidate, "message", None) or candidate).splitlines()[0]
            hint = getattr(candidate, "hint", None)
            return f"{message} (hint: {hint})" if hint else message
    original = getattr(error, "orig", None) or error
    return str(original).split(": ", 1)[-1].splitlines()[0] if str(original) else type(original).__name__


def translate_db_error(error: BaseException) -> SupportDBError | None:
    """Map a driver or SQLAlchemy error onto a domain error, or None when it is a bug of ours."""
    if isinstance(error, SupportDBError):
        return error
    state = sqlstate(error)
    if SQLState.LOCK_NOT_AVAILABLE.matches(state):
        return DatabaseBusyError("the rows this call needs are locked by another transaction; retry shortly")
    if SQLState.QUERY_CANCELED.matches(state):
        return QueryTimeoutError(
            "the query took longer than the statement timeout and was cancelled; narrow it"
        )
    if SQLState.CONNECTION_EXCEPTION_CLASS.matches(state) or any(
        s.matches(state) for s in _SERVER_GOING_AWAY
    ):
        return DatabaseUnavailableError("the database is unavailable (it may be restarting); retry shortly")
    if SQLState.READ_ONLY_SQL_TRANSACTION.matches(state):
        return InvalidInputError("this server is read-only here: the database refused to write")
    connection_errors = (OSError, socket.gaierror, asyncio.TimeoutError, asyncpg.PostgresConnectionError)
    if any(isinstance(candidate, connection_errors) for candidate in _chain(error)):
        return DatabaseUnavailableError("the database is unavailable (it may be restarting); retry shortly")
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailableError("all database connections are busy; retry shortly")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailableError("the database connection was lost; retry shortly")
    if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        return DatabaseUnavailableError("the database connection was lost; retry shortly")
    return None


@contextmanager
def domain_errors() -> Iterator[None]:
    """The one translation boundary: driver and SQLAlchemy errors leave the block as domain errors.

    Anything it cannot translate is a bug of ours and propagates unchanged (the MCP layer then
    shows only a generic error and logs the traceback).
    """
    try:
        yield
    except SupportDBError:
        raise
    except (sa_exc.SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        translated = translate_db_error(error)
        if translated is None:
            raise
        raise translated from error
