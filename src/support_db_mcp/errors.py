"""Domain errors, and the one place where driver errors are translated into them.

Every message here is written for the person (or model) who sent the request: it says what was
wrong and what to do, and never carries SQL, a stack trace or a password.
"""

from __future__ import annotations

import asyncio
import socket

import asyncpg
from sqlalchemy import exc as sa_exc


class SupportDBError(Exception):
    """Base of every error this package raises on purpose; the message is safe to show."""


class InvalidInputError(SupportDBError):
    """The request is well-formed but asks for something impossible (bad cursor, bad tag, ...)."""


class NotFoundError(SupportDBError):
    """A referenced row does not exist."""


class DatabaseUnavailableError(SupportDBError):
    """The database cannot be reached right now; the same call may work later."""


class DatabaseBusyError(SupportDBError):
    """A lock the call needs is held by another transaction past the lock timeout."""


class QueryTimeoutError(SupportDBError):
    """A statement ran past the configured statement timeout."""


class EmbeddedDatabaseError(SupportDBError):
    """The embedded PostgreSQL could not be started or prepared."""


def _sqlstate(error: BaseException) -> str | None:
    original = getattr(error, "orig", None)
    for candidate in (original, getattr(original, "__cause__", None), error):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def translate_db_error(error: BaseException) -> SupportDBError | None:
    """Map a driver or SQLAlchemy error onto a domain error, or None when it is a bug of ours."""
    if isinstance(error, SupportDBError):
        return error
    state = _sqlstate(error)
    if state == "55P03":  # lock_not_available: lock_timeout
        return DatabaseBusyError("the rows this call needs are locked by another transaction; retry shortly")
    if state == "57014":  # query_canceled: statement_timeout
        return QueryTimeoutError(
            "the query took longer than the statement timeout and was cancelled; narrow it"
        )
    if state is not None and (state.startswith("08") or state in {"57P01", "57P02", "57P03"}):
        return DatabaseUnavailableError("the database is unavailable (it may be restarting); retry shortly")
    original = getattr(error, "orig", None)
    connection_errors = (OSError, socket.gaierror, asyncio.TimeoutError, asyncpg.PostgresConnectionError)
    if isinstance(error, connection_errors) or isinstance(original, connection_errors):
        return DatabaseUnavailableError("the database is unavailable (it may be restarting); retry shortly")
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailableError("all database connections are busy; retry shortly")
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return DatabaseUnavailableError("the database connection was lost; retry shortly")
    if isinstance(error, asyncpg.InterfaceError | asyncpg.exceptions.ConnectionDoesNotExistError):
        return DatabaseUnavailableError("the database connection was lost; retry shortly")
    return None
