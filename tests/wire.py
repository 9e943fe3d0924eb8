"""A PostgreSQL protocol proxy that counts round trips: what really crosses the wire.

SQLAlchemy's events see the statements we execute, but not the pool's pre-ping, nor the BEGIN and
ROLLBACK the driver sends around them. Every exchange in which the client waits for the server ends
with one ReadyForQuery message ('Z') from the server, whether it was a simple query, a prepared
statement's parse or its execution; so counting them, after the start-up exchange, counts round
trips. The proxy listens on a unix socket of its own and forwards to the real server's.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

SOCKET_NAME = ".s.PGSQL.{port}"


@dataclass
class WireCounter:
    url: URL  # the database, reached through the proxy
    round_trips: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def reset(self) -> None:
        self.round_trips = 0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _count_server_messages(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: WireCounter
) -> None:
    """Forward the server's messages, counting ReadyForQuery; every server message is typed."""
    try:
        first = True
        while True:
            header = await reader.readexactly(5)
            kind, length = header[:1], struct.unpack("!i", header[1:])[0]
            body = await reader.readexactly(length - 4)
            if kind == b"Z":
                if first:
                    first = False  # the end of the start-up exchange, not a round trip
                else:
                    counter.round_trips += 1
            writer.write(header + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def counting_proxy(url: URL, folder: Path) -> AsyncIterator[WireCounter]:
    """A proxy in front of the unix-socket server of `url`, listening in the existing `folder`;
    `counter.url` goes through it."""
    socket_dir = url.query.get("host")
    assert isinstance(socket_dir, str) and socket_dir.startswith("/"), "needs a unix-socket server"
    port = url.port or 5432
    target = str(Path(socket_dir) / SOCKET_NAME.format(port=port))
    counter = WireCounter(url.update_query_dict({"host": str(folder)}))

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(target)
        tasks = [
            asyncio.create_task(_pipe(client_reader, server_writer)),
            asyncio.create_task(_count_server_messages(server_reader, client_writer, counter)),
        ]
        counter._tasks.update(tasks)
        await asyncio.gather(*tasks)
        counter._tasks.difference_update(tasks)

    server = await asyncio.start_unix_server(serve, path=str(folder / SOCKET_NAME.format(port=port)))
    try:
        yield counter
    finally:
        server.close()
        for task in list(counter._tasks):
            task.cancel()
        await asyncio.gather(*counter._tasks, return_exceptions=True)
        await server.wait_closed()
