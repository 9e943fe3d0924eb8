"""A stand-in MCP server with no database: the protocol's own cost for the tools' real responses.

`python -m bench.canned_server <payloads.json>` serves over stdio one tool per bench case, named
`case_<key>`, whose output schema is the real tool's (its catalog output model) and whose
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

from support_db_mcp.services.operations import CATALOG

RESULT_MODELS: dict[str, type[BaseModel]] = {name: operation.output for name, operation in CATALOG.items()}


def _tool(result: BaseModel) -> Any:
    async def canned() -> BaseModel:
        """A response recorded from the real server."""
        return result

    canned.__annotations__ = {"return": type(result)}  # the real tool's output schema
    return canned


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
