"""Through a real PgBouncer in transaction pooling mode, where asyncpg's prepared statements break
unless SUPPORT_DB_PGBOUNCER is set. tests/run.sh installs pgbouncer from the OS packages when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr
from sqlalchemy.engine import URL

from support_db_mcp.config import Settings
from support_db_mcp.server import create_server
from tests.os_packages import require
from tests.processes import free_port
from tests.reliability.conftest import ScratchFactory

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _run_as(url: URL) -> str | None:
    """PgBouncer refuses to run as root; run it as the owner of the server's socket folder."""
    if os.geteuid() != 0:
        return None
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        import pwd

        return pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name
    return "postgres"


@pytest.fixture
def pgbouncer(server_url: URL, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A PgBouncer in transaction mode on a free loopback port, in front of the test server."""
    require("pgbouncer")
    port = free_port()
    socket_dir = server_url.query.get("host")
    backend = f"host={socket_dir}" if isinstance(socket_dir, str) else f"host={server_url.host}"
    backend += f" port={server_url.port or 5432} user={server_url.username or 'postgres'}"
    if server_url.password:
        backend += f" password={server_url.password}"
    user = _run_as(server_url)
    tmp_path.chmod(0o777)
    config = tmp_path / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = {backend}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        "default_pool_size = 3\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {tmp_path / 'pgbouncer.log'}\n"
    )
    config.chmod(0o644)
    process = subprocess.Popen(
        [PGBOUNCER, str(config)], user=user, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ready = threading.Event()

    def watch() -> None:
        log = tmp_path / "pgbouncer.log"
        while process.poll() is None and not ready.is_set():
            if log.exists() and "listening on" in log.read_text():
                ready.set()
            ready.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert ready.wait(20), f"pgbouncer did not start: {(tmp_path / 'pgbouncer.log').read_text()}"
        yield "127.0.0.1", port
    finally:
        ready.set()
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


async def test_every_tool_works_through_pgbouncer_in_transaction_mode(
    pgbouncer: tuple[str, int], scratch_database: ScratchFactory
) -> None:
    host, port = pgbouncer
    direct = await scratch_database()
    through = URL.create(
        "postgresql+asyncpg", username="postgres", host=host, port=port, database=direct.database
    )
    settings = Settings(
        database_url=SecretStr(through.render_as_string(hide_password=False)),
        pgbouncer=True,
        pool_size=10,
        seed_on_first_start=False,
    )
    async with Client(create_server(settings)) as client:
        numbers: list[str] = []

        async def create(index: int) -> None:
            result = await client.call_tool(
                "create_ticket",
                {"title": f"via pgbouncer {index}", "description": "d", "creator": "1", "tags": "pgb"},
            )
            assert result.is_error is False, result.content
            assert result.structured_content is not None
            numbers.append(result.structured_content["ticket"]["number"])

        async def search(index: int) -> None:
            result = await client.call_tool("search_tickets", {"status": "open", "limit": 1 + index % 20})
            assert result.is_error is False, result.content

        # More concurrent calls than PgBouncer has server connections (3), so statements prepared
        # on one server connection are executed by clients that land on another.
        async with anyio.create_task_group() as group:
            for index in range(40):
                group.start_soon(create, index)
                group.start_soon(search, index)

        assert len(set(numbers)) == 40
        found = await client.call_tool("search_tickets", {"tag": "pgb", "limit": 100})
        assert found.structured_content is not None
        assert sorted(t["number"] for t in found.structured_content["tickets"]) == sorted(numbers)
        read = await client.call_tool("get_ticket", {"ticket": numbers[0]})
        assert read.is_error is False

        # the other write and read tools, and an idempotent replay, through the same pool
        async def work(number: str) -> None:
            for tool, arguments in (
                (
                    "update_ticket",
                    {"ticket": number, "status": "in_progress", "actor": "2", "request_id": number},
                ),
                (
                    "update_ticket",
                    {"ticket": number, "status": "in_progress", "actor": "2", "request_id": number},
                ),
                ("add_comment", {"ticket": number, "body": "through pgbouncer", "author": "2"}),
                ("find_similar_tickets", {"ticket": number, "limit": 3}),
            ):
                result = await client.call_tool(tool, arguments)
                assert result.is_error is False, (tool, result.content)

        async with anyio.create_task_group() as group:
            for number in numbers[:10]:
                group.start_soon(work, number)
        read = await client.call_tool("get_ticket", {"ticket": numbers[0]})
        assert read.structured_content is not None
        assert [e["tool"] for e in read.structured_content["history"]] == [
            "create_ticket",
            "update_ticket",
            "add_comment",
        ]
