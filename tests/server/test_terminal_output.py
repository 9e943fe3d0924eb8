"""In a terminal the server says where its data is and how to connect (on stderr); stdout carries
nothing but protocol messages."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from tests.processes import INITIALIZE, cli_env

REQUESTS = [
    INITIALIZE,
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "get_ticket", "arguments": {"ticket": "1"}},
    },
]


def test_stdout_holds_only_protocol_messages_and_the_terminal_gets_connection_help(tmp_path: Path) -> None:
    primary, replica = pty.openpty()  # stderr is a terminal, as when a person starts the server
    process = subprocess.Popen(
        [sys.executable, "-m", "support_db_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=replica,
        env=cli_env(
            SUPPORT_DB_DATA_DIR=str(tmp_path), SUPPORT_DB_DEMO_TICKETS="30", SUPPORT_DB_DEMO_USERS="10"
        ),
    )
    os.close(replica)
    terminal = bytearray()

    def read_terminal() -> None:  # drain it as we go: a full pty would block the server's stderr
        try:
            while chunk := os.read(primary, 65536):
                terminal.extend(chunk)
        except OSError:
            pass  # the pty reports EIO once the server has exited

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write("".join(json.dumps(r) + "\n" for r in REQUESTS).encode())
        process.stdin.flush()
        answers: dict[int, dict[str, object]] = {}
        while len(answers) < 3:
            line = process.stdout.readline()
            assert line, "the server closed stdout before answering"
            message = json.loads(line)  # every line on stdout is JSON-RPC
            assert message["jsonrpc"] == "2.0"
            if "id" in message:
                answers[int(message["id"])] = message
        process.stdin.close()
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0
        assert rest == b"", f"stdout got non-protocol output: {rest!r}"
        assert {tool["name"] for tool in answers[2]["result"]["tools"]} >= {"get_ticket"}  # type: ignore[index]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if not pipe.closed:
                pipe.close()

    reader.join(timeout=30)
    os.close(primary)
    said = terminal.decode(errors="replace")
    assert f"database: {tmp_path.resolve()}" in said
    # the README's command (the installed script), keeping this server's data folder
    script = str(Path(sys.executable).with_name("support-db-mcp"))
    assert f"inspector@0.15.0 --cli {script} --data-dir {tmp_path.resolve()} --method tools/list" in said
    config = json.loads(said.split("claude_desktop_config.json): ", 1)[1].splitlines()[0])
    assert config == {
        "mcpServers": {"support-db": {"command": script, "args": ["--data-dir", str(tmp_path.resolve())]}}
    }
    assert "INFO" not in said  # the banner says where the data is; the log shows warnings only
