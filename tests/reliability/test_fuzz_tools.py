"""Random and adversarial arguments to every tool (hypothesis): always a valid MCP result; a tool error
that says what is wrong where the input is; never a crash, a stack trace or an internal detail; and
nothing written by a rejected call."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.db import Database
from support_db_mcp.schemas.tickets import CreateTicketResult, GetTicketResult, SearchTicketsResult
from support_db_mcp.server import create_server
from tests.helpers import row_counts

LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "psycopg", "SELECT ", "INSERT ", "password")
OUTPUTS: dict[str, type[BaseModel]] = {
    "search_tickets": SearchTicketsResult,
    "get_ticket": GetTicketResult,
    "create_ticket": CreateTicketResult,
}

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
nasty_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s + "\x00" + s),
    st.sampled_from(
        [
            "'; DROP TABLE tickets; --",
            'refund" OR 1=1 --',
            "!!!&&&|||",
            "ü̈ñíçødé 🚀 工单",
            "a" * 600,
            " ",
            "-",
            '"unterminated',
            "TCK-000001",
        ]
    ),
)
ints = st.one_of(
    st.integers(min_value=-5, max_value=400), st.integers(), st.just(2**63), st.just(-(2**63) - 1)
)
cursors = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.just("eyJ2IjoxLCJjIjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOjEsImYiOiIwIn0uMDA"),
)
statuses = st.one_of(
    st.sampled_from(["open", "closed", "in_progress", "OPEN", "opne", ""]),
    st.lists(st.text(max_size=12), max_size=6),
)
dates = st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=25))

TOOL_ARGUMENTS = {
    "search_tickets": st.fixed_dictionaries(
        {},
        optional={
            "text": nasty_text | junk,
            "status": statuses | junk,
            "priority": statuses | junk,
            "assignee_id": ints | junk,
            "creator_id": ints | junk,
            "tag": nasty_text | junk,
            "created_after": dates | junk,
            "created_before": dates | junk,
            "limit": ints | junk,
            "cursor": cursors | junk,
            "unexpected": junk,
        },
    ),
    "get_ticket": st.fixed_dictionaries({}, optional={"ticket": ints | nasty_text | junk}),
    "create_ticket": st.fixed_dictionaries(
        {},
        optional={
            "title": nasty_text | junk,
            "description": nasty_text | junk,
            "creator": ints | nasty_text | st.sampled_from(["nobody@example.com", "1", "2"]) | junk,
            "priority": statuses | junk,
            "assignee_id": ints | junk,
            "tags": st.lists(nasty_text, max_size=12) | junk,
            "request_id": nasty_text | junk,
        },
    ),
}


async def _check(client: Client, connection: AsyncConnection, tool: str, arguments: dict[str, Any]) -> None:
    before = await row_counts(connection)
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        assert text.strip() != f"Error executing tool {tool}", f"a crash, not a tool error: {arguments!r}"
        assert text.startswith(f"Error executing tool {tool}: ") and len(text) > len(tool) + 25
        for leak in LEAKS:
            assert leak not in text, f"{leak!r} leaked for {arguments!r}: {text}"
        assert await row_counts(connection) == before, f"a rejected call wrote rows: {arguments!r}"
    else:
        assert result.structured_content is not None
        OUTPUTS[tool].model_validate(result.structured_content)


FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("tool", sorted(TOOL_ARGUMENTS))
@FUZZ
@given(data=st.data())
async def test_every_tool_survives_random_arguments(
    db: Database, connection: AsyncConnection, tool: str, data: st.DataObject
) -> None:
    arguments = data.draw(TOOL_ARGUMENTS[tool], label="arguments")
    async with Client(create_server(database=db)) as client:
        await _check(client, connection, tool, arguments)
