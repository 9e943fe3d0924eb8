"""The real command line in a subprocess: run it, or serve over HTTP on a free loopback port.

Everything the process prints (stdout and stderr) is kept, so tests can read the log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import URL

CLI = (sys.executable, "-m", "support_db_mcp")
# A raw JSON-RPC initialize request, for tests that talk to the server without the SDK client.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
# uvicorn logs this once the socket listens; nothing answers before it.
READY_LINE = "Uvicorn running on"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def url_text(url: URL) -> str:
    """A URL as a client would write it into DATABASE_URL, password included."""
    return url.render_as_string(hide_password=False)


def cli_env(**variables: str) -> dict[str, str]:
    """This process's environment without any of our settings, plus `variables`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SUPPORT_DB_") and name not in {"DATABASE_URL", "TEST_DATABASE_URL"}
    }
    env.update(variables)
    return env


def run_cli(
    args: Sequence[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    host: str
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextmanager
def logged_process(
    command: Sequence[str], env: dict[str, str], *, ready_line: str, timeout: float, what: str
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`command` running until the block ends (SIGTERM, then SIGKILL after 60 s), started once it
    has printed `ready_line`; every line it prints (stdout and stderr) is kept in the list."""
    process = subprocess.Popen(
        list(command),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if ready_line in line:
                ready.set()
        ready.set()  # the process ended: stop waiting

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout) or process.poll() is not None:
            raise AssertionError(f"{what} did not start; its output:\n{''.join(lines)}")
        yield process, lines
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def http_server(
    env: dict[str, str],
    *,
    host: str | None = "127.0.0.1",
    args: Sequence[str] = (),
    startup_timeout: float = 120,
) -> Iterator[RunningServer]:
    """`support-db-mcp --transport http` on a free port; stopped with SIGTERM at the end of the block.

    With `host=None` no --host is passed, so the server binds its default address.
    """
    host_args = [] if host is None else ["--host", host]
    host = host or "127.0.0.1"
    port = free_port(host)
    command = [*CLI, "--transport", "http", *host_args, "--port", str(port), *args]
    with logged_process(command, env, ready_line=READY_LINE, timeout=startup_timeout, what="the server") as (
        process,
        lines,
    ):
        yield RunningServer(process=process, host=host, port=port, lines=lines)
