"""The database password never appears in anything the command line prints, logs or answers.

Every run below puts a distinctive password into DATABASE_URL and collects all the process's
stdout and stderr (at DEBUG level where it starts) and every tool result, then searches for it.
The test server trusts local connections, so the right database with a password in the URL works;
failures come from an unreachable port, a missing database, malformed URLs, and a server that
checks passwords (the run's OS PostgreSQL 15 cluster) refusing ours.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import empty_database
from tests.os_cluster import OSCluster
from tests.processes import CLI, RunningServer, cli_env, free_port, http_server, run_cli, url_text

SECRET = f"pw-{secrets.token_hex(12)}-never-shown"


def with_secret(url: URL, **changes: object) -> str:
    return url_text(url.set(password=SECRET, **changes))


def unreachable_url() -> str:
    url = URL.create(
        "postgresql", username="support", password=SECRET, host="127.0.0.1", port=free_port(), database="desk"
    )
    return url_text(url)


def assert_secret_absent(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        # Not even a recognisable part of it (a log that cut the password in two would still leak).
        assert SECRET[3:27] not in text


@pytest.fixture(scope="module")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(
        SUPPORT_DB_DATA_DIR=str(tmp_path_factory.mktemp("unused-data-dir")), SUPPORT_DB_LOG_LEVEL="DEBUG"
    )


@pytest_asyncio.fixture(scope="module")
async def scratch_url(server_url: URL) -> AsyncIterator[URL]:
    """An empty database of our own, for the commands that write (migrate, seed)."""
    async with empty_database(server_url, "support_db_secret") as url:
        yield url


def test_migrate_and_seed_log_the_url_with_the_password_masked(
    scratch_url: URL, base_env: dict[str, str]
) -> None:
    env = {**base_env, "DATABASE_URL": with_secret(scratch_url)}

    migrate = run_cli(["--log-level", "DEBUG", "migrate"], env)
    seed = run_cli(["--log-level", "DEBUG", "seed", "--users", "3", "--tickets", "5"], env)

    assert migrate.returncode == 0, migrate.stderr
    assert seed.returncode == 0, seed.stderr
    assert ":***@" in migrate.stderr  # the URL is logged, masked
    assert "seeded 3 users, 5 tickets" in seed.stderr
    assert_secret_absent(migrate.stdout, migrate.stderr, seed.stdout, seed.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["seed", "--users", "1", "--tickets", "0"],
        ["serve"],
        ["--transport", "http", "--port", "0"],
    ],
    ids=["migrate", "seed", "serve-stdio", "serve-http"],
)
def test_a_database_that_cannot_be_reached_is_reported_without_the_password(
    args: list[str], base_env: dict[str, str]
) -> None:
    result = run_cli(["--log-level", "DEBUG", *args], {**base_env, "DATABASE_URL": unreachable_url()})

    assert result.returncode != 0
    assert "127.0.0.1" in result.stderr  # the failure names where it tried to connect
    assert_secret_absent(result.stdout, result.stderr)


@pytest.mark.parametrize("args", [["migrate"], ["serve"]], ids=["migrate", "serve-stdio"])
def test_a_missing_database_is_reported_without_the_password(
    args: list[str], server_url: URL, base_env: dict[str, str]
) -> None:
    missing = with_secret(server_url, database=f"no_such_db_{secrets.token_hex(4)}")

    result = run_cli(["--log-level", "DEBUG", *args], {**base_env, "DATABASE_URL": missing})

    assert result.returncode != 0
    assert "no_such_db_" in result.stderr
    assert_secret_absent(result.stdout, result.stderr)


@pytest.mark.parametrize("args", [["migrate"], ["serve"]], ids=["migrate", "serve-stdio"])
@pytest.mark.parametrize(
    ("host", "said"),
    [("127.0.0.1", "password authentication failed"), ("no-such-host.invalid", "unknown host")],
    ids=["wrong-password", "unknown-host"],
)
def test_a_refused_password_and_an_unknown_host_are_reported_without_the_password(
    args: list[str], host: str, said: str, os_postgres: OSCluster, base_env: dict[str, str]
) -> None:
    """The server that checks passwords (the OS PostgreSQL 15 cluster) gets our secret as a wrong one."""
    url = with_secret(os_postgres.tcp_url(), host=host)

    result = run_cli(["--log-level", "DEBUG", *args], {**base_env, "DATABASE_URL": url})

    assert result.returncode == 1
    assert said in result.stderr
    assert_secret_absent(result.stdout, result.stderr)


@pytest.mark.parametrize(
    "database_url",
    [
        f"mysql://support:{SECRET}@127.0.0.1:3306/desk",
        f"postgresql://support:{SECRET}@127.0.0.1:notaport/desk",
        f"postgresql://support:{SECRET}@127.0.0.1:5432/",
        f"support:{SECRET}@127.0.0.1/desk",
    ],
    ids=["other-scheme", "bad-port", "no-database", "no-scheme"],
)
def test_an_invalid_database_url_is_rejected_without_repeating_it(
    database_url: str, base_env: dict[str, str]
) -> None:
    result = run_cli(["migrate"], {**base_env, "DATABASE_URL": database_url})

    assert result.returncode == 2
    assert "invalid configuration: DATABASE_URL" in result.stderr
    assert_secret_absent(result.stdout, result.stderr)


async def exercise_tools(client: Client) -> list[str]:
    """Every tool with no arguments (argument errors), plus real reads and refused calls."""
    answers = []
    tools = (await client.list_tools()).tools
    answers.append(str([tool.model_dump() for tool in tools]))
    for tool in tools:
        answers.append((await client.call_tool(tool.name, {})).model_dump_json(by_alias=True))
    calls: list[tuple[str, dict[str, object]]] = [
        ("search_tickets", {"limit": 3}),
        ("search_tickets", {"cursor": "forged-cursor"}),
        ("get_ticket", {"ticket": "TCK-999999999"}),
        ("get_ticket", {"ticket": "1"}),
        ("create_ticket", {"title": "t", "description": "d", "creator": "nobody@example.invalid"}),
    ]
    for name, arguments in calls:
        answers.append((await client.call_tool(name, arguments)).model_dump_json(by_alias=True))
    return answers


async def test_tools_over_stdio_never_show_the_password(
    database_url: URL, engine: AsyncEngine, base_env: dict[str, str], tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=CLI[0],
        args=list(CLI[1:]),
        env={**base_env, "DATABASE_URL": with_secret(database_url)},
    )
    log_path = tmp_path / "stderr.log"
    with log_path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            answers = await exercise_tools(client)

    log = log_path.read_text()
    assert "serving the support desk from" in log
    assert any('"isError":true' in answer for answer in answers)
    assert_secret_absent(log, *answers)


@pytest.fixture
def http_with_secret(
    database_url: URL, engine: AsyncEngine, base_env: dict[str, str]
) -> Iterator[RunningServer]:
    with http_server({**base_env, "DATABASE_URL": with_secret(database_url)}) as server:
        yield server


async def test_tools_over_http_never_show_the_password(http_with_secret: RunningServer) -> None:
    async with Client(http_with_secret.url) as client:
        answers = await exercise_tools(client)

    assert "serving the support desk from" in http_with_secret.output
    assert any('"isError":true' in answer for answer in answers)
    assert_secret_absent(http_with_secret.output, *answers)
