"""A connection that fails says what is wrong: unknown host, nothing listening, no answer, no such
database; "it may be restarting" only where this process has connected before.

Every error here comes from a real connection attempt (a name that does not resolve, a closed
loopback port, a socket that accepts but never answers, the test server itself), not a stand-in.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from support_db_mcp import errors
from support_db_mcp.errors import (
    DatabaseConnectError,
    DatabaseUnavailableError,
    note_reachable,
    translate_db_error,
)
from tests.processes import free_port

RESTARTING = "(it may be restarting); retry shortly"


@pytest.fixture(autouse=True)
def nothing_reached_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process that has connected nowhere (the suite itself has)."""
    monkeypatch.setattr(errors, "_reached", set())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def tcp_url(host: str, port: int, database: str = "desk") -> URL:
    return URL.create(
        "postgresql+asyncpg", username="support", password="pw", host=host, port=port, database=database
    )


async def connection_error(url: URL) -> BaseException:
    engine = create_async_engine(url, connect_args={"timeout": 0.5})
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError(f"connecting to {url} worked")


async def test_a_host_name_that_does_not_resolve_is_an_unknown_host() -> None:
    url = tcp_url("no-such-host.invalid", 5432)

    translated = translate_db_error(await connection_error(url), url=url, setting="DATABASE_URL")

    assert isinstance(translated, DatabaseConnectError)
    assert str(translated) == (
        'unknown host "no-such-host.invalid": the name does not resolve; check the host name in DATABASE_URL'
    )


async def test_a_closed_port_says_nothing_listens_there_until_the_server_was_reached() -> None:
    url = tcp_url("127.0.0.1", free_port())
    error = await connection_error(url)

    first = translate_db_error(error, url=url, setting="DATABASE_URL")
    assert isinstance(first, DatabaseConnectError)
    assert first.problem == f"nothing is listening at 127.0.0.1:{url.port} (connection refused)"
    assert first.remedy == "check the host and port in DATABASE_URL, and that PostgreSQL is running there"
    assert RESTARTING not in str(first)

    note_reachable(url)  # as bootstrap does once it has connected
    later = translate_db_error(error, url=url, setting="DATABASE_URL")
    assert type(later) is DatabaseUnavailableError
    assert str(later) == f"the database at 127.0.0.1:{url.port} is unavailable {RESTARTING}"
    # a tool call (which knows no URL) in a process that has connected reads as an outage too
    assert str(translate_db_error(error)) == f"the database is unavailable {RESTARTING}"


async def test_a_server_that_never_answers_is_a_timeout(silent_port: int) -> None:
    url = tcp_url("127.0.0.1", silent_port)

    translated = translate_db_error(await connection_error(url), url=url, setting="DATABASE_URL")

    assert isinstance(translated, DatabaseConnectError)
    assert translated.problem == f"no answer from 127.0.0.1:{silent_port} within the connection timeout"
    assert "firewall" in translated.remedy


async def test_a_unix_socket_with_no_server_names_the_socket(tmp_path: Path) -> None:
    url = URL.create(
        "postgresql+asyncpg", username="postgres", database="desk", query={"host": str(tmp_path)}
    )

    translated = translate_db_error(await connection_error(url), url=url)

    assert isinstance(translated, DatabaseConnectError)
    assert (
        translated.problem
        == f"nothing is listening at the socket {tmp_path}/.s.PGSQL.5432 (connection refused)"
    )


async def test_a_database_that_does_not_exist_is_named_with_how_to_create_it(server_url: URL) -> None:
    url = server_url.set(database="no_such_database_here")

    translated = translate_db_error(await connection_error(url), url=url, setting="DATABASE_URL")

    assert isinstance(translated, DatabaseConnectError)
    assert str(translated) == (
        'database "no_such_database_here" does not exist; create it (createdb no_such_database_here) '
        "or fix the database name in DATABASE_URL"
    )


def test_a_connection_error_names_the_url_it_tried_on_the_first_line_and_the_fix_on_the_second() -> None:
    error = DatabaseConnectError("nothing is listening at db:5432 (connection refused)", "check the port")

    located = error.at("postgresql+asyncpg://support:***@db:5432/desk")

    assert located.lines() == [
        "cannot connect to postgresql+asyncpg://support:***@db:5432/desk: nothing is listening at db:5432 "
        "(connection refused)",
        "check the port",
    ]
    assert isinstance(located, DatabaseUnavailableError)  # callers that catch outages still catch it


def test_an_error_of_ours_that_is_not_the_network_is_not_disguised_as_an_outage() -> None:
    assert translate_db_error(FileExistsError(17, "File exists")) is None
