"""stdio without worker threads: the SDK's stdio transport, reading and writing the pipes on the loop.

The SDK's `stdio_server()` wraps stdin and stdout in anyio's file objects, which run every
readline, write and flush in a worker thread: three thread hand-offs per request, and on a busy
machine waking a thread costs more than our query. Given asyncio-native streams instead, the SDK
runs the same transport on the event loop. Like the SDK's own, this claims fd 0 and fd 1 while
serving: the protocol goes through private duplicates, fd 0 reads /dev/null and fd 1 writes to
stderr, so nothing printed by accident can corrupt the protocol stream. When stdin or stdout is
not a pipe or a socket (a file, a terminal) or on Windows, the SDK's transport is used unchanged.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

LINE_LIMIT = 64 * 2**20  # the largest request line we accept (the SDK has no limit)


class _Lines:
    """`async for line in stdin`, as the SDK's transport reads it."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _Writer:
    """`await stdout.write(text)` and `await stdout.flush()`, as the SDK's transport writes."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode())

    async def flush(self) -> None:
        await self._writer.drain()


def _is_pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextmanager
def _claimed_std_fds() -> Iterator[tuple[int, int]]:
    """Private duplicates of fd 0 and 1 for the protocol; fd 0 reads /dev/null and fd 1 goes to
    stderr meanwhile; both are put back afterwards."""
    saved = os.dup(0), os.dup(1)
    wire = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
        os.dup2(2, 1)
        yield wire
    finally:
        os.close(devnull)
        os.dup2(saved[0], 0)
        os.dup2(saved[1], 1)
        for fd in saved:
            os.close(fd)


@asynccontextmanager
async def _pipe_streams() -> AsyncIterator[tuple[_Lines, _Writer]]:
    loop = asyncio.get_running_loop()
    with _claimed_std_fds() as (wire_in, wire_out):
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
        )
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        try:
            yield _Lines(reader), _Writer(writer)
        finally:
            read_transport.close()
            write_transport.close()


def can_use_pipes() -> bool:
    return sys.platform != "win32" and _is_pipe_or_socket(0) and _is_pipe_or_socket(1)


async def serve_stdio(server: MCPServer) -> None:
    """Serve MCP over stdin/stdout until the client closes stdin."""
    if not can_use_pipes():
        await server.run_stdio_async()
        return
    async with (
        _pipe_streams() as (stdin, stdout),
        stdio_server(stdin=cast(Any, stdin), stdout=cast(Any, stdout)) as (read, write),
    ):
        # What MCPServer.run_stdio_async does with the SDK's own streams.
        lowlevel = server._lowlevel_server
        await lowlevel.run(read, write, lowlevel.create_initialization_options())
