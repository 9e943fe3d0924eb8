"""stdio on the event loop, with tool results encoded once: the SDK's stdio transport, done leaner.

The SDK's `stdio_server()` wraps stdin and stdout in anyio's file objects, which run every
readline, write and flush in a worker thread: three thread hand-offs per request, and on a busy
machine waking a thread costs more than our query. This transport reads and writes the pipes on
the event loop instead and otherwise does what the SDK's does, line for line: each line read is
parsed as a JSON-RPC message (or handed on as the error it raised), each message written is the
SDK's JSON of it. Its writer also puts in place the structured content tools encoded beforehand
(server/wire.py), so that a result's content is not walked four times.

Like the SDK's own, this claims fd 0 and fd 1 while serving: the protocol goes through private
duplicates, fd 0 reads /dev/null and fd 1 writes to stderr, so nothing printed by accident can
corrupt the protocol stream. When stdin or stdout is not a pipe or a socket (a file, a terminal)
or on Windows, the SDK's transport is used unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, cast

import anyio
import mcp.types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from support_db_mcp.server.wire import encoded_content, response_line

LINE_LIMIT = 64 * 2**20  # the largest request line we accept (the SDK has no limit)
logger = logging.getLogger(__name__)


class LineTooLong(ValueError):
    """A request line over LINE_LIMIT: dropped (as the SDK drops a line it cannot parse), not read."""


class Lines:
    """`async for line in stdin`, as the SDK's transport reads it; a line over LINE_LIMIT is
    skipped without being held in memory and comes out as LineTooLong."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> str | LineTooLong:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:  # the last line, without its newline
            line = end.partial
        except asyncio.LimitOverrunError as overrun:
            await self._skip_line(overrun.consumed)
            return LineTooLong(f"a request line over {LINE_LIMIT // 2**20} MiB was dropped")
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")

    async def _skip_line(self, consumed: int) -> None:
        while True:
            await self._reader.readexactly(consumed)
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError as overrun:
                consumed = overrun.consumed


class Pipe(Protocol):
    """Where the lines go: an asyncio.StreamWriter, or anything that writes and drains like one."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class LineWriter:
    """`await stdout.write(text)` and `await stdout.flush()`, as the SDK's transport writes."""

    def __init__(self, writer: Pipe) -> None:
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
async def _pipe_streams() -> AsyncIterator[tuple[Lines, LineWriter]]:
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
            yield Lines(reader), LineWriter(writer)
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
    async with _pipe_streams() as (stdin, stdout):
        await serve_lines(server, stdin, stdout)


async def serve_lines(server: MCPServer, lines: AsyncIterator[str | LineTooLong], out: LineWriter) -> None:
    """Serve MCP on newline-delimited JSON: `lines` in, `out` out, until `lines` ends."""
    inbound_send, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outbound, outbound_receive = anyio.create_memory_object_stream[SessionMessage](0)

    async def read() -> None:
        async with inbound_send:
            async for line in lines:
                if isinstance(line, LineTooLong):
                    logger.warning("%s", line)
                    await inbound_send.send(line)
                    continue
                try:
                    message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                except Exception as error:  # as the SDK's transport: the server answers it
                    await inbound_send.send(error)
                    continue
                await inbound_send.send(SessionMessage(message))

    async def write() -> None:
        async with outbound_receive:
            async for session_message in outbound_receive:
                await out.write(response_line(session_message.message) + "\n")
                await out.flush()

    lowlevel = server._lowlevel_server
    with encoded_content():
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            tasks.start_soon(write)
            # What MCPServer.run_stdio_async does with the SDK's own streams.
            await lowlevel.run(inbound, outbound, lowlevel.create_initialization_options())


async def serve_lines_as_the_sdk(server: MCPServer, lines: AsyncIterator[str], out: LineWriter) -> None:
    """The same, through the SDK's own stdio transport (what serve_lines must answer exactly as)."""
    async with stdio_server(stdin=cast(Any, lines), stdout=cast(Any, out)) as (read, write):
        lowlevel = server._lowlevel_server
        await lowlevel.run(read, write, lowlevel.create_initialization_options())
