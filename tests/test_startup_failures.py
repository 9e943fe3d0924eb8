"""A start that fails is two lines on stderr (what failed, the URL without its password; what to
do), exit status 1, no traceback unless --log-level DEBUG; over stdio the server exits at once,
even while its client keeps stdin open waiting for the answer to `initialize`.

The wrong password and the missing database are tried against the run's OS PostgreSQL 15 cluster,
which checks passwords over TCP (the embedded server trusts every local login).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.config import safe_url
from tests.os_cluster import OSCluster
from tests.processes import CLI, INITIALIZE, cli_env, free_port, run_cli, url_text

# Long enough for a loaded machine to import the package and try once; a server that waits for its
# client instead of exiting never gets there.
PROMPT_EXIT_S = 30


@dataclass(frozen=True)
class Failure:
    url: Callable[[OSCluster], URL]
    problem: Callable[[URL], str]
    remedy: str


FAILURES = {
    "wrong-password": Failure(
        url=lambda cluster: cluster.tcp_url(password=f"wrong-{secrets.token_hex(6)}"),
        problem=lambda url: 'password authentication failed for user "postgres"',
        remedy="check the user name and password in DATABASE_URL",
    ),
    "unresolvable-host": Failure(
        url=lambda cluster: cluster.tcp_url().set(host="no-such-host.invalid"),
        problem=lambda url: 'unknown host "no-such-host.invalid": the name does not resolve',
        remedy="check the host name in DATABASE_URL",
    ),
    "closed-port": Failure(
        url=lambda cluster: cluster.tcp_url().set(port=free_port()),
        problem=lambda url: f"nothing is listening at 127.0.0.1:{url.port} (connection refused)",
        remedy="check the host and port in DATABASE_URL, and that PostgreSQL is running there",
    ),
    "missing-database": Failure(
        url=lambda cluster: cluster.tcp_url(database="no_such_desk"),
        problem=lambda url: 'database "no_such_desk" does not exist',
        remedy="create it (createdb no_such_desk) or fix the database name in DATABASE_URL",
    ),
}


def expected_lines(url: URL, failure: Failure) -> list[str]:
    return [
        f"support-db-mcp: cannot connect to {safe_url(url)}: {failure.problem(url)}",
        f"  {failure.remedy}",
    ]


def serve_stdio_with_a_waiting_client(env: dict[str, str], *args: str) -> tuple[int, str, str, float]:
    """Start the server over stdio, send `initialize` and keep stdin open, as a client does."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [*CLI, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        process.stdin.write(json.dumps(INITIALIZE) + "\n")
        process.stdin.flush()
        code = process.wait(timeout=PROMPT_EXIT_S)  # stdin is still open: the server must leave by itself
        elapsed = time.perf_counter() - began
        return code, process.stdout.read(), process.stderr.read(), elapsed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            pipe.close()


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_start_over_stdio_is_two_lines_and_the_server_exits_at_once(
    kind: str, os_postgres: OSCluster, tmp_path: Path
) -> None:
    failure = FAILURES[kind]
    url = failure.url(os_postgres)

    code, stdout, stderr, elapsed = serve_stdio_with_a_waiting_client(
        cli_env(DATABASE_URL=url_text(url), SUPPORT_DB_DATA_DIR=str(tmp_path))
    )

    assert code == 1
    assert stderr.splitlines() == expected_lines(url, failure)
    assert stdout == ""  # nothing but protocol messages, and there are none to send
    print(f"\n{kind}: exited {elapsed:.1f}s after start")


@pytest.mark.parametrize("kind", FAILURES)
def test_migrate_against_a_database_it_cannot_reach_is_two_lines(
    kind: str, os_postgres: OSCluster, tmp_path: Path
) -> None:
    failure = FAILURES[kind]
    url = failure.url(os_postgres)

    result = run_cli(["migrate"], cli_env(DATABASE_URL=url_text(url), SUPPORT_DB_DATA_DIR=str(tmp_path)))

    assert result.returncode == 1
    assert result.stderr.splitlines() == expected_lines(url, failure)


def test_with_log_level_debug_the_same_failure_also_shows_its_traceback(
    os_postgres: OSCluster, tmp_path: Path
) -> None:
    failure = FAILURES["wrong-password"]
    url = failure.url(os_postgres)

    result = run_cli(
        ["--log-level", "DEBUG", "migrate"],
        cli_env(DATABASE_URL=url_text(url), SUPPORT_DB_DATA_DIR=str(tmp_path)),
    )

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    first = lines.index(expected_lines(url, failure)[0])
    assert lines[first + 1] == expected_lines(url, failure)[1]
    assert "Traceback (most recent call last):" in result.stderr
    assert "InvalidPasswordError" in result.stderr  # the driver's own error, for whoever debugs it


def test_a_failed_start_over_http_is_the_same_two_lines(os_postgres: OSCluster, tmp_path: Path) -> None:
    failure = FAILURES["wrong-password"]
    url = failure.url(os_postgres)

    result = run_cli(
        ["--transport", "http", "--port", str(free_port())],
        cli_env(DATABASE_URL=url_text(url), SUPPORT_DB_DATA_DIR=str(tmp_path)),
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == expected_lines(url, failure)


def test_running_as_root_a_data_folder_under_root_is_refused_in_one_line_over_stdio() -> None:
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root, as CI does")

    refused = Path("/root/.local/share/support-db-mcp-refused")

    code, stdout, stderr, _ = serve_stdio_with_a_waiting_client(cli_env(SUPPORT_DB_DATA_DIR=str(refused)))

    assert code == 1 and stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith(f"support-db-mcp: refusing to keep the embedded database under {refused}")
    assert "Set SUPPORT_DB_DATA_DIR to a folder outside /root" in line
    assert not refused.exists()


def test_a_read_replica_that_cannot_be_reached_is_refused_at_start_naming_its_variable(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Reads go only to the replica, so it is checked when the server starts, not at the first read."""
    replica = URL.create(
        "postgresql+asyncpg", username="reader", host="127.0.0.1", port=free_port(), database="desk"
    )

    code, stdout, stderr, _ = serve_stdio_with_a_waiting_client(
        cli_env(
            DATABASE_URL=url_text(database_url),
            READ_REPLICA_URL=url_text(replica),
            SUPPORT_DB_DATA_DIR=str(tmp_path),
        )
    )

    assert code == 1 and stdout == ""
    assert "Traceback" not in stderr  # before the failure: the primary's INFO lines, at the INFO level
    assert stderr.splitlines()[-2:] == [
        f"support-db-mcp: cannot connect to {safe_url(replica)}: "
        f"nothing is listening at 127.0.0.1:{replica.port} (connection refused)",
        "  check the host and port in READ_REPLICA_URL, and that PostgreSQL is running there",
    ]
