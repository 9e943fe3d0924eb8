"""Domain errors, named SQLSTATEs, and the one place where driver errors are translated into them.

Every message here is written for the person (or model) who sent the request: it says what was
wrong and what to do, and never carries SQL, a stack trace or a password. The MCP layer turns a
`SupportDBError` into the error its primitive speaks (server/boundary.py); the command line prints
it as one line.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL


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


class DatabaseConnectError(DatabaseUnavailableError):
    """The database cannot be connected to as configured (wrong host, port, login or name): retrying
    will not help until the configuration or the server changes. `problem` says what is wrong,
    `remedy` what to do; `where` (set by whoever knows it) is the URL tried, without its password."""

    def __init__(self, problem: str, remedy: str, *, where: str | None = None) -> None:
        self.problem, self.remedy, self.where = problem, remedy, where
        prefix = f"cannot connect to {where}: " if where else ""
        super().__init__(f"{prefix}{problem}; {remedy}")

    def at(self, where: str) -> DatabaseConnectError:
        """The same error, naming the URL that was tried (already stripped of its password)."""
        return DatabaseConnectError(self.problem, self.remedy, where=where)

    def lines(self) -> list[str]:
        """For a terminal: what failed and where on the first line, what to do on the second."""
        prefix = f"cannot connect to {self.where}: " if self.where else ""
        return [f"{prefix}{self.problem}", self.remedy]


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
    TOO_MANY_CONNECTIONS = "53300"
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


# Where (host:port or unix socket) this process has connected before: a refused or silent
# connection there means the server went away (it may be restarting), not that the URL is wrong.
_reached: set[str] = set()


def connection_target(url: URL) -> str:
    """What a URL connects to: `host:port`, or the path of the unix socket."""
    query_port = url.query.get("port")
    port = url.port or (query_port if isinstance(query_port, str) else 5432)
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return f"the socket {socket_dir.rstrip('/')}/.s.PGSQL.{port}"
    return f"{url.host or 'localhost'}:{port}"


def note_reachable(url: URL) -> None:
    """Record that a connection to `url` worked, so later failures there read as an outage."""
    _reached.add(connection_target(url))


def _was_reachable(url: URL | None) -> bool:
    return connection_target(url) in _reached if url is not None else bool(_reached)


def _url_setting(setting: str | None) -> str:
    return setting or "the database URL"


def _login_failure(
    state: str | None, error: BaseException, url: URL | None, setting: str | None
) -> DatabaseConnectError | None:
    """What PostgreSQL itself said when it refused the connection (its message names the user or
    the database, never the password)."""
    said = server_message(error)
    where = _url_setting(setting)
    if SQLState.INVALID_PASSWORD.matches(state):
        user = url.username if url is not None and url.username else None
        problem = f'password authentication failed for user "{user}"' if user else said
        return DatabaseConnectError(problem, f"check the user name and password in {where}")
    if SQLState.INVALID_AUTHORIZATION.matches(state):
        return DatabaseConnectError(
            f"the server refused the login: {said}",
            f"check the user name in {where}, and that the server's pg_hba.conf admits it",
        )
    if SQLState.INVALID_CATALOG_NAME.matches(state):
        name = url.database if url is not None and url.database else None
        problem = f'database "{name}" does not exist' if name else said
        create = f"create it (createdb {name})" if name else "create it"
        return DatabaseConnectError(problem, f"{create} or fix the database name in {where}")
    return None


# OSErrors a connection attempt or a dropped connection raises; any other OSError is not the
# database's (a missing file of ours, say) and is left for the caller to treat as a bug.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ENOENT,  # a unix socket path with no socket file: no server there
        errno.EACCES,  # a unix socket we may not open
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ETIMEDOUT,
        errno.EADDRNOTAVAIL,
    }
)


def _is_network_error(error: OSError) -> bool:
    return (
        isinstance(error, socket.gaierror | TimeoutError)
        or error.errno in _NETWORK_ERRNOS
        or _all_refused(error)
    )


def _all_refused(error: OSError) -> bool:
    """asyncio's OSError("Multiple exceptions: ...") when every address of a host refused."""
    return error.errno is None and "Connect call failed" in str(error)


def _network_failure(error: BaseException, url: URL | None, setting: str | None) -> SupportDBError | None:
    """A connection that never reached PostgreSQL: name resolution, refusal, no socket, silence."""
    network = next((c for c in _chain(error) if isinstance(c, OSError) and _is_network_error(c)), None)
    if not isinstance(network, OSError):
        return None
    target = connection_target(url) if url is not None else None
    where = _url_setting(setting)
    if isinstance(network, socket.gaierror):
        problem = (
            f'unknown host "{url.host}": the name does not resolve'
            if url is not None and url.host
            else "unknown host: the database's host name does not resolve"
        )
        return DatabaseConnectError(problem, f"check the host name in {where}")
    if _was_reachable(url):
        at = f"at {target} " if target else ""
        if isinstance(network, TimeoutError):
            return DatabaseUnavailableError(
                f"the database {at}did not answer in time (it may be overloaded or restarting); retry shortly"
            )
        return DatabaseUnavailableError(
            f"the database {at}is unavailable (it may be restarting); retry shortly"
        )
    if isinstance(network, TimeoutError):
        return DatabaseConnectError(
            f"no answer from {target or 'the database server'} within the connection timeout",
            f"check the host and port in {where}, and that no firewall drops the connection",
        )
    if network.errno in (errno.ECONNREFUSED, errno.ENOENT) or _all_refused(network):
        return DatabaseConnectError(
            f"nothing is listening at {target or 'the database host and port'} (connection refused)",
            f"check the host and port in {where}, and that PostgreSQL is running there",
        )
    reason = network.strerror or type(network).__name__
    return DatabaseConnectError(
        f"cannot reach {target or 'the database server'} ({reason})",
        f"check the host and port in {where}, and the network between",
    )


def translate_db_error(
    error: BaseException, *, url: URL | None = None, setting: str | None = None
) -> SupportDBError | None:
    """Map a driver or SQLAlchemy error onto a domain error, or None when it is a bug of ours.

    `url` and `setting` (the variable it came from, e.g. "DATABASE_URL"), when the caller knows
    them, make a connection failure name the host, user or database and the variable to fix.
    """
    if isinstance(error, SupportDBError):
        return error
    state = sqlstate(error)
    if SQLState.LOCK_NOT_AVAILABLE.matches(state):
        return DatabaseBusyError("the rows this call needs are locked by another transaction; retry shortly")
    if SQLState.QUERY_CANCELED.matches(state):
        return QueryTimeoutError(
            "the query took longer than the statement timeout and was cancelled; narrow it"
        )
    login = _login_failure(state, error, url, setting)
    if login is not None:
        return login
    if SQLState.TOO_MANY_CONNECTIONS.matches(state):
        return DatabaseUnavailableError(
            "the database server has no free connection slots (too many connections); retry shortly"
        )
    if SQLState.CONNECTION_EXCEPTION_CLASS.matches(state) or any(
        s.matches(state) for s in _SERVER_GOING_AWAY
    ):
        return DatabaseUnavailableError("the database is unavailable (it may be restarting); retry shortly")
    if SQLState.READ_ONLY_SQL_TRANSACTION.matches(state):
        return InvalidInputError("this server is read-only here: the database refused to write")
    network = _network_failure(error, url, setting)
    if network is not None:
        return network
    if any(isinstance(candidate, asyncpg.PostgresConnectionError) for candidate in _chain(error)):
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
