"""A minimal HTTP/1.1 keep-alive client for the HTTP load: one JSON-RPC tools/call per request.

It posts to the stateless MCP endpoint and reads the answer, a JSON body or an SSE stream (the
baseline build answers with SSE), with nothing else in the way: the SDK's client would cost this
machine more CPU than the server it measures.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Any


class HttpClient:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.request_id = 0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**24)

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        self.request_id += 1
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": self.request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        ).encode()
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            payload = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            await self.close()
        if not status_line.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"HTTP {status_line.decode().strip()}: {payload[:200]!r}")
        text = payload.decode()
        if headers.get("content-type", "").startswith("text/event-stream"):
            text = "".join(line[5:].strip() for line in text.splitlines() if line.startswith("data:"))
        message: dict[str, Any] = json.loads(text)
        if "error" in message or message["result"].get("isError"):
            raise RuntimeError(f"{tool} failed: {str(message)[:300]}")
        return message

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None
