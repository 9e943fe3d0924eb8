"""The command line: version, help, migrate and seed against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from support_db_mcp.cli import failure_lines
from support_db_mcp.config import Settings
from support_db_mcp.errors import DatabaseConnectError
from support_db_mcp.services.provisioning import drop_database, ensure_database
from tests.helpers import scalar

COMMAND = str(Path(sys.executable).with_name("support-db-mcp"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def env_for(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    return env


def test_version_and_help_work_without_a_database() -> None:
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("support-db-mcp ")
    helped = run("--help")
    assert helped.returncode == 0
    for word in ("serve", "migrate", "seed", "--transport", "DATABASE_URL"):
        assert word in helped.stdout


async def test_migrate_then_seed_fill_an_empty_database_deterministically(server_url: URL) -> None:
    counts = []
    for name in ("support_db_cli_a", "support_db_cli_b"):
        await drop_database(server_url, name)
        await ensure_database(server_url, name)
        url = server_url.set(database=name)
        try:
            migrated = run("migrate", env=env_for(url))
            assert migrated.returncode == 0, migrated.stderr
            assert "migrated" in migrated.stderr
            seeded = run(
                "seed", "--users", "40", "--tickets", "300", "--comments-per-ticket", "2", env=env_for(url)
            )
            assert seeded.returncode == 0, seeded.stderr
            assert "seeded 40 users, 300 tickets" in seeded.stderr
            engine = create_async_engine(url)
            async with engine.connect() as connection:
                counts.append(
                    await scalar(
                        connection,
                        "SELECT md5(string_agg(number || title || status || priority "
                        "|| coalesce(assignee_id, 0), ',' ORDER BY id)) FROM tickets",
                    )
                )
                assert await scalar(connection, "SELECT count(*) FROM tickets") == 300
                assert await scalar(connection, "SELECT count(*) FROM comments") > 300
            await engine.dispose()
        finally:
            await drop_database(server_url, name)
    assert counts[0] == counts[1]  # same seed, same rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("seed", "--users", "0"), "--users must be at least 1"),
        (("seed", "--tickets", "-5"), "--tickets must be 0"),
    ],
)
def test_bad_seed_arguments_are_refused_with_a_reason(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SUPPORT_DB_DATA_DIR"] = str(tmp_path)
    result = run(*args, env=env)
    assert result.returncode == 1 and message in result.stderr


def test_a_server_without_the_schema_says_to_run_migrate(server_url: URL, tmp_path: Path) -> None:
    url = server_url.set(database="postgres")
    result = subprocess.run(
        [COMMAND], input="", capture_output=True, text=True, env=env_for(url), timeout=60, check=False
    )
    assert result.returncode == 1
    assert "run `support-db-mcp migrate`" in result.stderr


def test_an_unexpected_error_is_two_lines_that_say_how_to_see_the_traceback() -> None:
    lines = failure_lines(RuntimeError("the index of the world is corrupt\nsecond line"), Settings())

    assert lines == [
        "unexpected error: RuntimeError: the index of the world is corrupt",
        "run again with --log-level DEBUG to see the traceback, and report it if it persists",
    ]


def test_a_domain_error_inside_a_task_group_is_reported_as_itself() -> None:
    error = DatabaseConnectError("nothing is listening at db:5432 (connection refused)", "check the port")
    grouped = ExceptionGroup("unhandled errors in a TaskGroup", [ExceptionGroup("inner", [error.at("db")])])

    assert failure_lines(grouped, Settings()) == [
        "cannot connect to db: nothing is listening at db:5432 (connection refused)",
        "check the port",
    ]
