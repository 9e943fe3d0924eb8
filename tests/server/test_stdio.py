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

        found = await client.call_tool("search_tickets", {"status": ["open"], "limit": 5})
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
                "tags": ["e2e"],
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
