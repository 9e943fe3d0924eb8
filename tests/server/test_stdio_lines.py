"""Reading request lines on the event loop: a line over the limit is dropped, not held or fatal."""

from __future__ import annotations

import asyncio

from support_db_mcp.server.stdio import Lines, LineTooLong


async def _read_all(data: bytes, limit: int) -> list[str | LineTooLong]:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return [line async for line in Lines(reader)]


async def test_lines_come_out_as_sent_and_the_last_one_needs_no_newline() -> None:
    assert await _read_all(b'{"a": 1}\n{"b": 2}\n{"c": 3}', limit=64) == [
        '{"a": 1}\n',
        '{"b": 2}\n',
        '{"c": 3}',
    ]


async def test_a_line_over_the_limit_is_dropped_and_the_next_line_is_read_whole() -> None:
    long_line = b"x" * 1000 + b"\n"  # many times the limit: skipped in limit-sized pieces
    lines = await _read_all(b'{"a": 1}\n' + long_line + b'{"b": 2}\n', limit=64)
    assert lines[0] == '{"a": 1}\n'
    assert isinstance(lines[1], LineTooLong) and "was dropped" in str(lines[1])
    assert lines[2:] == ['{"b": 2}\n']


async def test_a_too_long_last_line_without_a_newline_ends_the_stream_cleanly() -> None:
    lines = await _read_all(b'{"a": 1}\n' + b"y" * 500, limit=64)
    assert lines[0] == '{"a": 1}\n' and isinstance(lines[1], LineTooLong) and len(lines) == 2
