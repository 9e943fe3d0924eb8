"""Inputs that take several values take them as one text, as a command-line client sends it (the
MCP Inspector's `--tool-arg status=open tags=billing`): one value, or several separated by commas."""

from __future__ import annotations

from typing import Any

from mcp import Client
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.services.operations import CATALOG
from tests.helpers import scalar


async def structured(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    return result.structured_content


def test_only_explain_query_params_is_published_as_an_array() -> None:
    """A form renders an array as a JSON editor: every list of names is a text field instead."""
    arrays = sorted(
        (operation.name, name)
        for operation in CATALOG.values()
        for name, schema in operation.input_schema["properties"].items()
        if schema.get("type") == "array"
    )
    assert arrays == [("explain_query", "params")]


async def test_search_takes_one_status_or_several_separated_by_commas(client: Client) -> None:
    async with client:
        single = await structured(
            client, "search_tickets", {"status": "open", "priority": "high", "limit": 10}
        )
        several = await structured(
            client, "search_tickets", {"status": "open, in_progress", "priority": "high", "limit": 50}
        )

    assert single["tickets"]
    assert {(t["status"], t["priority"]) for t in single["tickets"]} == {("open", "high")}
    assert {t["status"] for t in several["tickets"]} == {"open", "in_progress"}


async def test_create_takes_one_tag_as_text(client: Client, connection: AsyncConnection) -> None:
    creator = await scalar(
        connection, "SELECT email FROM users WHERE role = 'customer' AND is_active LIMIT 1"
    )
    async with client:
        created = await structured(
            client,
            "create_ticket",
            {"title": "One tag", "description": "from a command line", "creator": creator, "tags": "billing"},
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
