"""The one error boundary of the MCP layer: domain errors become the error each primitive speaks.

Only a ToolError's message reaches a tool's caller, and only an MCPError's (or a ResourceError's)
reaches a prompt's or resource's caller; any other exception is a bug and the SDK shows a generic
message. So every expected failure passes through `boundary` on its way out, translated once by
`errors.domain_errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from mcp import MCPError
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

from support_db_mcp.errors import InvalidInputError, NotFoundError, SupportDBError, domain_errors

Primitive = Literal["tool", "prompt", "resource"]


def as_mcp_error(error: SupportDBError, primitive: Primitive) -> Exception:
    """The MCP-level error a primitive raises for a domain error."""
    caller_mistake = isinstance(error, InvalidInputError | NotFoundError)
    if primitive == "tool":
        return ToolError(str(error))
    if primitive == "resource":
        if isinstance(error, NotFoundError):
            return ResourceNotFoundError(str(error))
        return ResourceError(str(error))
    return MCPError(INVALID_PARAMS if caller_mistake else INTERNAL_ERROR, str(error))


@contextmanager
def boundary(primitive: Primitive) -> Iterator[None]:
    """Around the body of a tool, prompt or resource handler."""
    try:
        with domain_errors():
            yield
    except SupportDBError as error:
        raise as_mcp_error(error, primitive) from error
