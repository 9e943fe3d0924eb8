"""Our stdio transport (server/stdio.py) answers exactly what the SDK's own stdio transport answers,
byte for byte: every catalog tool, in both protocol eras, results and errors alike, with the
structured content that tools encode beforehand (server/wire.py) put where the SDK puts it.

Both transports serve the same server in process, on pipes made of memory, one request at a time
as a client sends them. Each exchange runs inside a savepoint that is rolled back, with the
sequences and the nonce of the fences set back, so the writes of both runs store the same rows
and both runs read the same database.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.connection import ExplainLimits, create_explain_engine
from support_db_mcp.server import create_server, rendering
from support_db_mcp.server.stdio import Lines, LineWriter, serve_lines, serve_lines_as_the_sdk
from support_db_mcp.server.wire import ENCODED
from support_db_mcp.services.operations import CATALOG

Transport = Callable[[Any, Any, LineWriter], Awaitable[None]]
MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "wire-test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
# Calls beyond the catalog's examples: a caller's mistakes, a missing row, an unknown tool.
MISTAKES: list[tuple[str, dict[str, Any]]] = [
    ("search_tickets", {"status": ["open"]}),
    ("search_tickets", {"statuz": "open"}),
    ("get_ticket", {"ticket": "999999999"}),
    ("get_ticket", {}),
    ("find_similar_tickets", {"ticket": "1", "text": "both"}),
    ("create_ticket", {"title": "t", "description": "d", "creator": "nobody@example.com"}),
    ("update_ticket", {"ticket": "1", "status": "closed"}),  # no actor
    ("add_comment", {"ticket": "TCK-000001", "body": ""}),
    ("explain_query", {"sql": "DELETE FROM tickets"}),
    ("no_such_tool", {}),
]
# explain_query's examples only plan (analyze=false): a query run twice takes two different times
CALLS = [
    (name, example | {"analyze": False} if name == "explain_query" else example)
    for name, operation in CATALOG.items()
    for example in operation.examples
]
CALLS += MISTAKES
CALLS += [
    ("search_tickets", {"tag": "no-such-tag"}),
    ("find_similar_tickets", {"text": "the and of"}),
]  # notes
# how long explain_query took: the only bytes that may differ between two runs
ELAPSED = re.compile(rb'"elapsed_ms":[0-9.]+|elapsed_ms: [0-9.]+')


class _Pipe:
    """The server's stdout: whole lines, as they are written."""

    def __init__(self) -> None:
        self.buffer = b""
        self.lines: asyncio.Queue[bytes] = asyncio.Queue()

    def write(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.lines.put_nowait(line)

    async def drain(self) -> None:
        return None


def _script(era: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if era == "legacy":
        initialize = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": MODERN["io.modelcontextprotocol/clientInfo"],
        }
        messages += [
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
        ]
    else:
        messages.append({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": MODERN}})
    for number, (tool, arguments) in enumerate(CALLS, start=1):
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if era == "modern":
            params["_meta"] = MODERN
        messages.append({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params})
    return messages


async def _exchange(server: Any, transport: Transport, messages: list[dict[str, Any]]) -> list[bytes]:
    """Send `messages` one by one, each request's answer awaited before the next; every line back."""
    reader = asyncio.StreamReader()
    pipe = _Pipe()
    serving = asyncio.create_task(transport(server, Lines(reader), LineWriter(pipe)))
    answers: list[bytes] = []
    for message in messages:
        reader.feed_data(json.dumps(message).encode() + b"\n")
        if "id" in message:
            answers.append(await asyncio.wait_for(pipe.lines.get(), timeout=60))
    reader.feed_eof()
    await asyncio.wait_for(serving, timeout=60)
    return answers


@pytest_asyncio.fixture
async def explainers(
    database_url: URL, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[Callable[[], Explainer]]:
    """New Explainers on one explain engine: each run starts with no cached check, as a server does."""
    explain = create_explain_engine(database_url.set(username=EXPLAIN_ROLE, password=None), settings)
    limits = ExplainLimits(timeout_ms=2_000, lock_timeout_ms=500, verify_max_rows=200_000)
    yield lambda: Explainer(engine=explain, owner=engine, limits=limits, source="the test database")
    await explain.dispose()


async def _sequences(connection: AsyncConnection) -> list[tuple[str, int | None]]:
    rows = await connection.execute(
        text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1")
    )
    return [(name, value) for name, value in rows]


async def _restore(connection: AsyncConnection, sequences: list[tuple[str, int | None]]) -> None:
    for name, value in sequences:
        if value is None:
            await connection.execute(text("SELECT setval(CAST(:name AS regclass), 1, false)"), {"name": name})
        else:
            await connection.execute(
                text("SELECT setval(CAST(:name AS regclass), :value)"), {"name": name, "value": value}
            )


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_our_stdio_transport_answers_every_tool_byte_for_byte_as_the_sdks(
    era: str,
    db: Database,
    connection: AsyncConnection,
    explainers: Callable[[], Explainer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rendering, "new_nonce", lambda: "0123456789abcdef")
    sequences = await _sequences(connection)
    answers = {}
    for name, transport in (("sdk", serve_lines_as_the_sdk), ("ours", serve_lines)):
        await _restore(connection, sequences)
        savepoint = await connection.begin_nested()
        server = create_server(Settings(), database=db, explainer=explainers())
        answers[name] = await _exchange(server, transport, _script(era))
        await savepoint.rollback()

    assert len(answers["ours"]) == len(CALLS) + 1
    for number, (sdk, ours) in enumerate(zip(answers["sdk"], answers["ours"], strict=True)):
        call = CALLS[number - 1] if number else ("handshake", {})
        assert ELAPSED.sub(b"", ours) == ELAPSED.sub(b"", sdk), call
    # the calls really were what they should be: results and errors of every kind, no encoding left
    replies = [json.loads(line) for line in answers["ours"][1:]]
    assert all(ENCODED not in json.dumps(reply) for reply in replies)
    succeeded = {
        tool for (tool, _), reply in zip(CALLS, replies, strict=True) if not reply["result"].get("isError")
    }
    assert succeeded == set(CATALOG)
    assert sum(bool(reply["result"].get("isError")) for reply in replies) == len(MISTAKES)
