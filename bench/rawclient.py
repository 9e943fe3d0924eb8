"""A raw JSON-RPC client over a subprocess's pipes: newline-delimited JSON, no validation.

What a client costs should not be part of what a server is timed for, so this client does the least
a client can: it writes one request line, reads lines until the response with the same id arrives,
and stops the clock there, before it parses anything. The same client times every server of the
benchmark (ours, the TypeScript reference server, an earlier build of ours), so the pipes and the
client weigh on all of them alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

PROTOCOL_VERSION = "2025-11-25"
LINE_LIMIT = 64 * 2**20  # one response line may be large (a 100-ticket page is ~100 KB)
CALL_TIMEOUT_S = 120


@dataclass(frozen=True)
class Reply:
    seconds: float  # from the first byte written to the matching line read, before parsing it
    line_bytes: int  # the whole JSON-RPC response line as it crossed the pipe
    message: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        if "error" in self.message:
            raise RuntimeError(f"JSON-RPC error: {self.message['error']}")
        result: dict[str, Any] = self.message["result"]
        return result

    @property
    def text(self) -> str:
        """The text content of a tool result (all text blocks, joined)."""
        return "".join(block.get("text", "") for block in self.result.get("content", []))

    @property
    def text_bytes(self) -> int:
        return len(self.text.encode())

    def tool_result(self, what: str) -> dict[str, Any]:
        """The tool result, or an error that says what failed and why."""
        result = self.result
        if result.get("isError"):
            raise RuntimeError(f"{what} failed: {self.text[:500]}")
        return result


class RawStdioClient:
    """One server process and the JSON-RPC session on its stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self._next_id = 0

    @classmethod
    async def start(
        cls, name: str, command: list[str], *, env: dict[str, str], errlog: TextIO, cwd: Path | None = None
    ) -> RawStdioClient:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errlog,
            env=env,
            cwd=cwd,
            limit=LINE_LIMIT,
        )
        client = cls(process, name)
        try:
            await client.request(
                "initialize",
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "support-db-mcp-bench", "version": "1"},
                },
            )
            await client.notify("notifications/initialized")
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await self.process.stdin.drain()

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._write(message)

    async def request(self, method: str, params: dict[str, Any]) -> Reply:
        self._next_id += 1
        request_id = self._next_id
        wanted = f'"id":{request_id}'.encode()
        assert self.process.stdout is not None
        started = time.perf_counter()
        await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        async with asyncio.timeout(CALL_TIMEOUT_S):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} closed its stdout (exit code {self.process.returncode})")
                # A cheap pre-check keeps parsing out of the timed part; notifications carry no id.
                if wanted in line or b'"id": ' in line:
                    seconds = time.perf_counter() - started
                    message = json.loads(line)
                    if message.get("id") == request_id:
                        return Reply(seconds, len(line.rstrip(b"\n")), message)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Reply:
        return await self.request("tools/call", {"name": name, "arguments": arguments})

    async def close(self) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await self.process.wait()
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any of our server settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_DB_") and k != "DATABASE_URL"}
    return env | extra
