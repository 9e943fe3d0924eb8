"""End to end: `support-db-mcp` as a stdio subprocess with no DATABASE_URL (the embedded default)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

COMMAND = str(Path(sys.executable).with_name("support-db-mcp"))


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SUPPORT_DB_DATABASE_URL"}}
    env["SUPPORT_DB_DATA_DIR"] = str(data_dir)
    return env


async def test_a_fresh_embedded_server_over_stdio_seeds_itself_and_serves_all_ticket_tools(
    tmp_path: Path,
) -> None:
    params = StdioServerParameters(command=COMMAND, args=[], env=embedded_env(tmp_path))
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"search_tickets", "get_ticket", "create_ticket"} <= names

        found = await client.call_tool("search_tickets", {"status": "open", "limit": 5})
        assert found.is_error is False and found.structured_content is not None
        tickets = found.structured_content["tickets"]
        assert len(tickets) == 5 and all(t["status"] == "open" for t in tickets)
        assert found.structured_content["sql_statements"] == 1

        read = await client.call_tool("get_ticket", {"ticket": tickets[0]["number"]})
        assert read.structured_content is not None
        assert read.structured_content["ticket"]["id"] == tickets[0]["id"]

        created = await client.call_tool(
            "create_ticket",
            {
                "title": "Stdio end to end",
                "description": "Created by the test suite.",
                "creator": tickets[0]["creator"]["email"],
                "priority": "high",
                "tags": "e2e",
            },
        )
        assert created.is_error is False and created.structured_content is not None
        number = created.structured_content["ticket"]["number"]
        again = await client.call_tool("search_tickets", {"tag": "e2e"})
        assert again.structured_content is not None
        assert [t["number"] for t in again.structured_content["tickets"]] == [number]

        refused = await client.call_tool("get_ticket", {"ticket": "TCK-999999999"})
        assert refused.is_error is True
        assert "no ticket with number TCK-999999999" in refused.content[0].text  # type: ignore[union-attr]

    # the embedded PostgreSQL was stopped with the server, and its data stays for the next start
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "pgdata" / "postmaster.pid").exists()

    async with Client(StdioServerParameters(command=COMMAND, args=[], env=embedded_env(tmp_path))) as client:
        kept = await client.call_tool("search_tickets", {"tag": "e2e"})
        assert kept.structured_content is not None
        assert [t["number"] for t in kept.structured_content["tickets"]] == [number]


async def test_over_stdio_an_acting_agent_works_a_ticket_and_read_only_serves_its_history_without_writes(
    tmp_path: Path,
) -> None:
    env = embedded_env(tmp_path)
    async with Client(StdioServerParameters(command=COMMAND, args=[], env=env)) as client:
        page = await client.call_tool("search_tickets", {"status": "open", "limit": 50})
        assert page.structured_content is not None
        tickets = page.structured_content["tickets"]
        agent = next(t["assignee"]["email"] for t in tickets if t["assignee"])
        ticket = next(t["number"] for t in tickets if (t["assignee"] or {}).get("email") != agent)

    acting = {**env, "SUPPORT_DB_ACTOR": agent}
    async with Client(StdioServerParameters(command=COMMAND, args=[], env=acting)) as client:
        steps = [
            (
                "update_ticket",
                {"ticket": ticket, "assignee_id": "me", "status": "in_progress", "request_id": "s-1"},
            ),
            ("add_comment", {"ticket": ticket, "body": "Checked the payment logs.", "internal": True}),
            ("update_ticket", {"ticket": ticket, "status": "resolved"}),
        ]
        results = []
        for tool, arguments in steps:
            result = await client.call_tool(tool, arguments)
            assert result.is_error is False, result.content
            results.append(result.structured_content)
        replay = await client.call_tool("update_ticket", steps[0][1])
        similar = await client.call_tool("find_similar_tickets", {"ticket": ticket, "limit": 3})
    assert replay.structured_content is not None and replay.structured_content["replayed"] is True
    assert replay.structured_content["changes"] == results[0]["changes"]  # type: ignore[index]
    assert similar.structured_content is not None and len(similar.structured_content["tickets"]) == 3
    assert [r["sql_statements"] for r in results] == [5, 4, 4]  # type: ignore[index]

    read_only = {**env, "SUPPORT_DB_READ_ONLY": "true"}
    async with Client(StdioServerParameters(command=COMMAND, args=[], env=read_only)) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        read = await client.call_tool("get_ticket", {"ticket": ticket})
    assert not names & {"create_ticket", "update_ticket", "add_comment"} and "find_similar_tickets" in names
    assert read.structured_content is not None
    history = [
        (e["tool"], e["field"], e["to"], e["actor"]["email"]) for e in read.structured_content["history"]
    ]
    assert history[0] == ("update_ticket", "status", "in_progress", agent)
    assert history[1] == ("update_ticket", "assignee", agent, agent)
    assert history[2][:2] == ("add_comment", "internal_note") and history[2][3] == agent
    assert history[3] == ("update_ticket", "status", "resolved", agent)
