"""The MCP tools, registered from the operation catalog: validate, run the operation, render.

Every tool has the same shape: its arguments are checked by the operation's input model (unknown
keys refused, one plain sentence per problem), it runs through the one error boundary, and its
result goes out as structured content (published output schema) plus compact text for the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict

from support_db_mcp.schemas.json_schema import output_schema
from support_db_mcp.server.boundary import boundary
from support_db_mcp.server.identity import actor_of
from support_db_mcp.server.rendering import tool_result
from support_db_mcp.services.operations import CATALOG, Operation


class _Arguments(ArgModelBase):
    """Hands the raw arguments to the tool untouched: the operation's own model validates them, so
    its messages (not the SDK's) reach the caller."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def annotations_of(operation: Operation) -> ToolAnnotations:
    return ToolAnnotations(
        title=operation.title,
        read_only_hint=operation.read_only,
        destructive_hint=operation.destructive,
        idempotent_hint=operation.idempotent,
        open_world_hint=False,
    )


def tool_of(operation: Operation) -> Tool:
    async def call(ctx: Context[Any, Any], arguments: dict[str, Any]) -> CallToolResult:
        state = ctx.request_context.lifespan_context
        with boundary("tool"):
            inputs = operation.parse(arguments)
            actor = actor_of(ctx, getattr(state, "actor", None))
            result = await operation.run(state, inputs, actor=actor)
        return tool_result(result)

    return Tool(
        fn=call,
        name=operation.name,
        title=operation.title,
        description=operation.description,
        parameters=operation.input_schema,
        fn_metadata=FuncMetadata(arg_model=_Arguments, output_schema=output_schema(operation.output)),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations_of(operation),
    )


def tools(operations: Iterable[Operation] | None = None) -> list[Tool]:
    """The MCP tools of `operations` (the whole catalog by default; see operations.selected)."""
    return [tool_of(operation) for operation in (CATALOG.values() if operations is None else operations)]
