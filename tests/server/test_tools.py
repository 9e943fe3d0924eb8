"""The ticket tools through a real MCP round trip (the SDK's in-process Client)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.helpers import first_row, row_counts, scalar, unassigned_open_ids

TICKET_TOOLS = {
    "search_tickets",
    "get_ticket",
    "find_similar_tickets",
    "create_ticket",
    "update_ticket",
    "add_comment",
}


def _error_text(result: Any) -> str:
    assert result.is_error is True, result
    return " ".join(block.text for block in result.content)


async def test_the_ticket_tools_are_listed_with_titles_schemas_and_honest_annotations(client: Client) -> None:
    async with client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) >= TICKET_TOOLS
        for name in TICKET_TOOLS:
            tool = tools[name]
            assert tool.title and tool.description
            assert tool.output_schema is not None and "sql_statements" in tool.output_schema["properties"]
            assert tool.annotations is not None and tool.annotations.open_world_hint is False
        for name in ("search_tickets", "get_ticket", "find_similar_tickets"):
            annotations = tools[name].annotations
            assert annotations is not None
            assert annotations.read_only_hint is True and annotations.idempotent_hint is True
        writes = {name: tools[name].annotations for name in ("create_ticket", "update_ticket", "add_comment")}
        # (read-only, destructive, idempotent): update overwrites values; none is idempotent without
        # a request_id
        assert {
            name: (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
            for name, a in writes.items()
            if a is not None
        } == {
            "create_ticket": (False, False, False),
            "update_ticket": (False, True, False),
            "add_comment": (False, False, False),
        }
        for name in TICKET_TOOLS:  # what customers wrote is fenced, and the model is told so
            assert "<untrusted-data-NONCE>" in (tools[name].description or "")
        search_schema = tools["search_tickets"].input_schema["properties"]
        assert search_schema["limit"]["minimum"] == 1 and search_schema["limit"]["maximum"] == 100
        assert all(search_schema[name]["description"] for name in search_schema)
        # the creator defaults to the acting user, so only what the ticket says is required
        assert set(tools["create_ticket"].input_schema["required"]) == {"title", "description"}


async def test_search_tickets_returns_structured_summaries_that_match_the_database(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        result = await client.call_tool("search_tickets", {"status": "in_progress", "limit": 3})
        assert result.is_error is False
        content = result.structured_content
        assert content is not None
        assert content["sql_statements"] == 1 and content["next_cursor"]
        assert len(content["tickets"]) == 3
        for summary in content["tickets"]:
            row = await first_row(
                connection,
                "SELECT t.*, c.email AS creator_email, c.full_name AS creator_name, "
                "a.email AS assignee_email, "
                "(SELECT count(*) FROM comments WHERE ticket_id = t.id) AS comments, "
                "(SELECT coalesce(array_agg(g.name ORDER BY g.name), '{}') FROM ticket_tags tt "
                " JOIN tags g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id) AS tags "
                "FROM tickets t JOIN users c ON c.id = t.creator_id "
                "LEFT JOIN users a ON a.id = t.assignee_id "
                "WHERE t.id = :id",
                id=summary["id"],
            )
            assert summary["number"] == row["number"] and summary["title"] == row["title"]
            assert summary["status"] == row["status"] == "in_progress"
            assert summary["priority"] == row["priority"]
            assert summary["creator"] == {
                "id": row["creator_id"],
                "full_name": row["creator_name"],
                "email": row["creator_email"],
            }
            assert (summary["assignee"] or {}).get("email") == row["assignee_email"]
            assert summary["comment_count"] == row["comments"]
            assert summary["tags"] == list(row["tags"])
            assert summary["created_at"].startswith(row["created_at"].strftime("%Y-%m-%dT%H:%M:%S"))

        second = await client.call_tool(
            "search_tickets", {"status": "in_progress", "limit": 3, "cursor": content["next_cursor"]}
        )
        assert second.structured_content is not None
        first_ids = {t["id"] for t in content["tickets"]}
        assert first_ids.isdisjoint(t["id"] for t in second.structured_content["tickets"])


async def test_the_unassigned_open_queue_comes_back_with_nobody_assigned(
    client: Client, connection: AsyncConnection
) -> None:
    newest = await unassigned_open_ids(connection, limit=5)
    async with client:
        result = await client.call_tool("search_tickets", {"unassigned": True, "status": "open", "limit": 5})
        assert result.is_error is False and result.structured_content is not None
        tickets = result.structured_content["tickets"]
        assert [t["id"] for t in tickets] == newest and len(newest) == 5
        assert all(t["assignee"] is None for t in tickets)
        assert result.structured_content["sql_statements"] == 1


async def test_get_ticket_by_number_returns_the_whole_ticket_with_comments(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        row = await first_row(
            connection,
            "SELECT t.id, t.number, t.description FROM tickets t "
            "WHERE (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id) >= 2 ORDER BY t.id LIMIT 1",
        )
        result = await client.call_tool("get_ticket", {"ticket": row["number"]})
        assert result.is_error is False and result.structured_content is not None
        ticket = result.structured_content["ticket"]
        assert (ticket["id"], ticket["description"]) == (row["id"], row["description"])
        bodies = (
            await connection.execute(
                text("SELECT body FROM comments WHERE ticket_id = :id ORDER BY created_at, id"),
                {"id": row["id"]},
            )
        ).scalars()
        assert [c["body"] for c in ticket["comments"]] == list(bodies)
        assert set(ticket["comments"][0]["author"]) == {"id", "full_name", "email"}
        # the ticket with its tags, its comments and its history: one statement
        assert result.structured_content["sql_statements"] == 1


async def test_a_created_ticket_can_be_read_back_by_its_number(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        email = await scalar(
            connection, "SELECT email FROM users WHERE role = 'customer' AND is_active LIMIT 1"
        )
        created = await client.call_tool(
            "create_ticket",
            {
                "title": "VPN drops every hour",
                "description": "Since Monday.",
                "creator": email,
                "tags": "network",
            },
        )
        assert created.is_error is False and created.structured_content is not None
        ticket = created.structured_content["ticket"]
        assert (
            ticket["number"].startswith("TCK-")
            and ticket["status"] == "open"
            and ticket["priority"] == "normal"
        )
        assert ticket["creator"]["email"] == email and ticket["tags"] == ["network"]
        again = await client.call_tool("get_ticket", {"ticket": ticket["number"]})
        assert again.structured_content is not None
        assert again.structured_content["ticket"]["title"] == "VPN drops every hour"


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search_tickets", {"limit": 0}, "limit must be between 1 and 100, got 0"),
        ("search_tickets", {"limit": 500}, "limit must be between 1 and 100, got 500"),
        (
            "search_tickets",
            {"status": "opne"},
            "unknown status 'opne'; expected one of: open, in_progress, resolved, closed",
        ),
        (
            "search_tickets",
            {"priority": "p1"},
            "unknown priority 'p1'; expected one of: low, normal, high, urgent",
        ),
        ("search_tickets", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor is not valid"),
        ("search_tickets", {"assignee_id": -1}, "assignee_id must be a positive id"),
        ("search_tickets", {"text": "a\x00b"}, "NUL"),
        ("search_tickets", {"created_after": "yesterday"}, "created_after"),
        ("get_ticket", {"ticket": "TCK-abc"}, "neither an id like 123 nor a number like TCK-000123"),
        ("get_ticket", {"ticket": "99999999"}, "no ticket with id 99999999"),
        ("get_ticket", {}, "ticket"),
        (
            "create_ticket",
            {"title": "t", "description": "d", "creator": "x@y.org"},
            "no user with email x@y.org",
        ),
        (
            "create_ticket",
            {"title": " ", "description": "d", "creator": "1"},
            "title must be 1 to 200 characters",
        ),
        ("create_ticket", {"description": "d", "creator": "1"}, "title"),
        (
            "create_ticket",
            {"title": "t", "description": "d", "creator": "1", "priority": "critical"},
            "unknown priority 'critical'",
        ),
        (
            "create_ticket",
            {"title": "t", "description": "d", "creator": "1", "tags": "ok, no/slash"},
            "tag 'no/slash' is not valid",
        ),
        (
            "search_tickets",
            {"unassigned": True, "assignee_id": 7},
            "give assignee_id (one assignee's tickets) or unassigned=true (nobody's), not both",
        ),
        ("search_tickets", {"unassigned": "yes"}, "unassigned must be true or false, e.g. true; got 'yes'"),
    ],
)
async def test_bad_input_is_a_tool_error_that_says_what_to_fix_and_writes_nothing(
    client: Client, connection: AsyncConnection, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with client:
        before = await row_counts(connection)
        result = await client.call_tool(tool, arguments)
        error = _error_text(result)
        assert message in error
        assert (
            "Traceback" not in error and "sqlalchemy" not in error.lower() and "asyncpg" not in error.lower()
        )
        assert await row_counts(connection) == before


async def test_assigning_to_a_customer_is_refused_and_the_new_tag_is_not_left_behind(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        customer = await scalar(
            connection, "SELECT id FROM users WHERE role = 'customer' AND is_active LIMIT 1"
        )
        before = await row_counts(connection)
        result = await client.call_tool(
            "create_ticket",
            {
                "title": "t",
                "description": "d",
                "creator": str(customer),
                "assignee_id": str(customer),
                "tags": "fresh-tag",
            },
        )
        assert "can be assigned only to active agents or admins" in _error_text(result)
        assert await row_counts(connection) == before
