"""The embedded PostgreSQL: started by us, stopped by us (also after SIGTERM), recovered after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from support_db_mcp.config import Settings, default_data_dir
from support_db_mcp.db.embedded import EmbeddedPostgres, prune_dead_handles
from support_db_mcp.errors import EmbeddedDatabaseError
from tests.processes import INITIALIZE


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SUPPORT_DB_DATABASE_URL"}}
    env.update(
        {"SUPPORT_DB_DATA_DIR": str(data_dir), "SUPPORT_DB_DEMO_TICKETS": "50", "SUPPORT_DB_DEMO_USERS": "20"}
    )
    return env


def _start_ready_server(data_dir: Path) -> subprocess.Popen[bytes]:
    """Start `support-db-mcp` over stdio and wait for its answer to initialize (so it is serving)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "support_db_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_server_env(data_dir),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "support-db-mcp"
    return process


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Server processes a test starts; killed if still alive and their pipes closed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().split()[0])


def _handles(data_dir: Path) -> list[int]:
    return list(json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text()))


def test_the_default_data_directory_of_root_is_outside_root_home() -> None:
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root, as CI does")
    assert default_data_dir() == Path("/var/lib/support-db-mcp")
    assert not Settings(database_url=None).embedded_data_dir.is_relative_to("/root")


def test_a_data_directory_under_root_home_is_refused_when_running_as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root, as CI does")
    with pytest.raises(EmbeddedDatabaseError, match="refusing to keep the embedded database under /root"):
        EmbeddedPostgres(Path("/root/.local/share/support-db-mcp")).start()


def test_sigterm_stops_the_server_and_its_embedded_postgresql(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    process = _start_ready_server(tmp_path)
    servers.append(process)
    postmaster = _postmaster_pid(tmp_path)
    assert postmaster is not None and psutil.pid_exists(postmaster)
    assert _handles(tmp_path) == [process.pid]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert _postmaster_pid(tmp_path) is None
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE


def test_a_postgresql_left_running_by_a_killed_server_is_adopted_and_stopped_by_the_next_one(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    killed = _start_ready_server(tmp_path)
    servers.append(killed)
    stale_postmaster = _postmaster_pid(tmp_path)
    killed.kill()
    killed.wait(timeout=10)
    assert stale_postmaster is not None and psutil.pid_exists(stale_postmaster)
    assert _handles(tmp_path) == [killed.pid]  # the package's bug: a dead handle keeps it alive

    successor = _start_ready_server(tmp_path)
    servers.append(successor)
    assert _postmaster_pid(tmp_path) == stale_postmaster  # adopted, not started twice
    assert _handles(tmp_path) == [successor.pid]
    assert successor.stdin is not None
    successor.stdin.close()  # the client goes away: a normal exit
    assert successor.wait(timeout=30) == 0
    assert _postmaster_pid(tmp_path) is None


def test_pruning_forgets_only_handles_of_dead_processes(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (pgdata / ".handle_pids.json").write_text(json.dumps([os.getpid(), dead.pid]))
    assert prune_dead_handles(pgdata) == [dead.pid]
    assert json.loads((pgdata / ".handle_pids.json").read_text()) == [os.getpid()]
