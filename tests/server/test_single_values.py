"""One value where a list is expected, as a command-line client sends it (the MCP Inspector's
`--tool-arg status=open tags=billing`): every list input of every tool takes it as a one-item list."""

from __future__ import annotations

from typing import Any

from mcp import Client
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.schemas.json_schema import input_schema
from support_db_mcp.services.operations import CATALOG
from tests.helpers import scalar


def list_inputs() -> list[tuple[str, str]]:
    """(tool, argument) for every argument published as an array."""
    found = []
    for operation in CATALOG.values():
        for name, schema in input_schema(operation.inputs)["properties"].items():
            if schema.get("type") == "array":
                found.append((operation.name, name))
    return found


async def structured(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    return result.structured_content


def test_the_list_inputs_are_the_ones_these_tests_cover() -> None:
    assert sorted(list_inputs()) == [
        ("create_ticket", "tags"),
        ("explain_query", "params"),
        ("search_tickets", "priority"),
        ("search_tickets", "status"),
    ]


async def test_search_takes_a_single_status_and_priority_as_a_one_item_list(client: Client) -> None:
    async with client:
        single = await structured(
            client, "search_tickets", {"status": "open", "priority": "high", "limit": 10}
        )
        listed = await structured(
            client, "search_tickets", {"status": ["open"], "priority": ["high"], "limit": 10}
        )

    assert single["tickets"] and single["tickets"] == listed["tickets"]
    assert {(t["status"], t["priority"]) for t in single["tickets"]} == {("open", "high")}


async def test_create_takes_a_single_tag_as_a_one_item_list(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        created = await structured(
            client,
            "create_ticket",
            {"title": "One tag", "description": "from a command line", "creator": 1, "tags": "billing"},
        )

    assert created["ticket"]["tags"] == ["billing"]
    stored = await scalar(
        connection,
        "SELECT string_agg(tags.name, ',') FROM ticket_tags JOIN tags ON tags.id = ticket_tags.tag_id "
        "WHERE ticket_tags.ticket_id = :id",
        id=created["ticket"]["id"],
    )
    assert stored == "billing"


async def test_a_single_value_that_is_not_allowed_is_still_refused_by_name(client: Client) -> None:
    async with client:
        result = await client.call_tool("search_tickets", {"status": "opne"})

    assert result.is_error is True
    assert "unknown status 'opne'" in result.content[0].text  # type: ignore[union-attr]
