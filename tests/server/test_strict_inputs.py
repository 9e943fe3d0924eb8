"""Every tool refuses arguments it does not know, names the closest real one, and writes nothing.

A misspelt filter that is silently ignored sends an assistant off with unfiltered rows, so this
runs over every operation of the catalog through a real MCP round trip.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.services.operations import CATALOG, Operation
from tests.helpers import row_counts


def _misspelt(name: str) -> str:
    """A typo a person makes: two neighbouring letters swapped."""
    return name[:2] + name[3] + name[2] + name[4:] if len(name) > 4 else name + "s"


def _text(result: Any) -> str:
    return " ".join(block.text for block in result.content)


@pytest.mark.parametrize("operation", CATALOG.values(), ids=lambda op: op.name)
async def test_a_misspelt_argument_is_refused_with_the_closest_real_name(
    operation: Operation, client: Client, connection: AsyncConnection
) -> None:
    example = dict(operation.examples[0])
    real = next(iter(example))
    arguments = {**example, _misspelt(real): example[real]}
    del arguments[real]
    before = await row_counts(connection)
    async with client:
        result = await client.call_tool(operation.name, arguments)
    assert result.is_error is True
    message = _text(result)
    assert f"unknown argument '{_misspelt(real)}'; did you mean '{real}'?" in message
    assert "validation error" not in message and "errors.pydantic.dev" not in message
    assert await row_counts(connection) == before


async def test_search_with_a_misspelt_status_does_not_return_unfiltered_tickets(client: Client) -> None:
    async with client:
        result = await client.call_tool("search_tickets", {"stauts": ["open"]})
    assert result.is_error is True and result.structured_content is None
    assert "unknown argument 'stauts'; did you mean 'status'?" in _text(result)


async def test_an_argument_nothing_resembles_lists_what_the_tool_takes(client: Client) -> None:
    async with client:
        result = await client.call_tool("get_ticket", {"ticket": 1, "zzz": True})
    assert result.is_error is True
    assert "unknown argument 'zzz'; it takes: ticket" in _text(result)


async def test_several_problems_are_one_plain_sentence_each(client: Client) -> None:
    async with client:
        result = await client.call_tool("search_tickets", {"limit": 500, "status": ["opne"], "colour": "x"})
    message = _text(result)
    assert "limit must be between 1 and 100, got 500" in message
    assert "unknown status 'opne'; expected one of: open, in_progress, resolved, closed" in message
    assert "unknown argument 'colour'" in message
    assert message.count(";") >= 2 and "\n" not in message


@pytest.mark.parametrize("operation", CATALOG.values(), ids=lambda op: op.name)
async def test_every_published_input_schema_refuses_unknown_properties(
    operation: Operation, client: Client
) -> None:
    async with client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    schema = tools[operation.name].input_schema
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(operation.inputs.model_fields)
