"""A stand-in MCP server with no database: the protocol's own cost for the tools' real responses.

`python -m bench.canned_server <payloads.json>` serves over stdio one tool per bench case, named
`case_<key>`, whose output schema is the real tool's (SearchTicketsResult or GetTicketResult) and whose
result is the response the real tool gave for that case, validated once at start. Timing a call to it
with the same client gives what the SDK alone costs for that response (server dispatch, output
validation and serialisation, the pipe, the client's parsing and schema check): the part of a tool
call that no query, index or ORM change can remove.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from support_db_mcp.schemas.tickets import GetTicketResult, SearchTicketsResult

RESULT_MODELS: dict[str, type[BaseModel]] = {
    "search_tickets": SearchTicketsResult,
    "get_ticket": GetTicketResult,
}


def _tool(result: BaseModel) -> Any:
    if isinstance(result, SearchTicketsResult):

        async def canned_search() -> SearchTicketsResult:
            """A search_tickets response recorded from the real server."""
            return result

        return canned_search

    assert isinstance(result, GetTicketResult)

    async def canned_get() -> GetTicketResult:
        """A get_ticket response recorded from the real server."""
        return result

    return canned_get


def build(payloads: dict[str, dict[str, Any]]) -> MCPServer:
    server = MCPServer("support-db-mcp-canned", log_level="WARNING")
    for key, payload in payloads.items():
        result = RESULT_MODELS[payload["tool"]].model_validate(payload["structured_content"])
        server.add_tool(_tool(result), name=f"case_{key}")
    return server


def main() -> None:
    payloads = json.loads(Path(sys.argv[1]).read_text())
    build(payloads).run()


if __name__ == "__main__":
    main()
