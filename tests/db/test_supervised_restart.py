"""The embedded PostgreSQL is supervised: when its postmaster is killed (SIGKILL, as the OOM killer
does), it runs again on the same data directory within a fraction of a second and the next call
succeeds, with every committed row still there.

Where nobody reaps the killed postmaster (this project's CI containers), it stays a zombie, which
is the harder case: PostgreSQL's own lock files still name it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from support_db_mcp.bootstrap import open_service
from support_db_mcp.config import Settings
from support_db_mcp.db.embedded import postmaster_pid
from support_db_mcp.server import create_server
from tests.processes import CLI, cli_env

RESTART_TIMEOUT_S = 30
RESTARTED = "died; it runs again on"
OUTAGE = "the database is unavailable (it may be restarting); retry shortly"


def kill_postmaster(data_dir: Path) -> int:
    pid = postmaster_pid(data_dir / "pgdata")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def small_embedded(data_dir: Path) -> Settings:
    return Settings(database_url=None, data_dir=data_dir, demo_users=10, demo_tickets=40)


async def test_after_sigkill_the_postmaster_is_restarted_and_the_next_calls_succeed(tmp_path: Path) -> None:
    async with open_service(small_embedded(tmp_path)) as service:
        assert service.embedded is not None
        async with Client(create_server(small_embedded(tmp_path), service=service)) as client:
            created = await client.call_tool(
                "create_ticket", {"title": "before the crash", "description": "committed", "creator": "1"}
            )
            assert created.structured_content is not None, created.content
            number = created.structured_content["ticket"]["number"]

            for kill in (1, 2):  # and again: the new postmaster is watched too
                killed = kill_postmaster(tmp_path)
                began = time.perf_counter()
                if kill == 1:  # at once, before the supervisor can have noticed: an honest outage
                    during = await client.call_tool("get_ticket", {"ticket": number})
                    assert during.is_error is True
                    assert OUTAGE in during.content[0].text  # type: ignore[union-attr]
                assert await anyio.to_thread.run_sync(
                    service.embedded.wait_for_restart, kill, RESTART_TIMEOUT_S
                )
                after = await client.call_tool("get_ticket", {"ticket": number})
                recovered = time.perf_counter() - began

                assert after.is_error is False, after.content
                assert after.structured_content is not None
                assert after.structured_content["ticket"]["title"] == "before the crash"
                assert postmaster_pid(tmp_path / "pgdata") not in (None, killed)
                print(f"\nkill {kill}: the next call succeeded {recovered:.2f}s after SIGKILL")
            written = await client.call_tool(
                "create_ticket", {"title": "after the crash", "description": "d", "creator": "1"}
            )
            assert written.is_error is False

    # a deliberate stop is not a death: nobody starts it again
    assert postmaster_pid(tmp_path / "pgdata") is None
    assert service.embedded.restarts == 2


class StderrLines:
    """A server's stderr as a pipe, read line by line in a thread, so a test can wait for a line."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        self.writer = os.fdopen(write_end, "w")
        self._reader = os.fdopen(read_end, "r")
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self._reader:
            self._lines.put(line)
        self._reader.close()

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(
            f"no line with {text!r} within {timeout}s; the server said:\n{''.join(self.seen)}"
        )


async def test_two_servers_sharing_a_data_directory_both_recover_from_a_killed_postmaster(
    tmp_path: Path,
) -> None:
    """Two clients (an IDE and a desktop app, say) each start a server on the default folder; one
    of them restarts the PostgreSQL they share, the other finds it running again."""
    env = cli_env(SUPPORT_DB_DATA_DIR=str(tmp_path), SUPPORT_DB_DEMO_TICKETS="40", SUPPORT_DB_DEMO_USERS="10")
    params = StdioServerParameters(command=CLI[0], args=list(CLI[1:]), env=env)
    stderr = StderrLines()  # both servers' stderr, one whole log line per write
    with ExitStack() as cleanup:
        cleanup.callback(stderr.writer.close)
        async with (
            Client(stdio_client(params, errlog=stderr.writer)) as one,
            Client(stdio_client(params, errlog=stderr.writer)) as two,
        ):
            for client in (one, two):
                assert (await client.call_tool("get_ticket", {"ticket": "1"})).is_error is False

            killed = kill_postmaster(tmp_path)
            line = await anyio.to_thread.run_sync(stderr.wait_for, RESTARTED, RESTART_TIMEOUT_S)
            assert f"(pid {killed}) died" in line

            for client in (one, two):
                again = await client.call_tool("get_ticket", {"ticket": "1"})
                assert again.is_error is False, again.content
            running = postmaster_pid(tmp_path / "pgdata")
            assert running is not None and running != killed
            handles = json.loads((tmp_path / "pgdata" / ".handle_pids.json").read_text())
            assert len(handles) == 2  # both servers still hold the one restarted PostgreSQL
    assert postmaster_pid(tmp_path / "pgdata") is None  # the last one out stopped it
