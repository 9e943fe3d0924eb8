"""The lifespan state of the connection serving the current request.

The SDK hands a Context to tools, prompts and resource templates, but not to static resources or
to the completion handler, and those read the live schema too. A middleware (the SDK's hook that
wraps every inbound request) puts the request's lifespan state into a context variable for the
duration of the request, so they can find the database of *their* connection.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

if TYPE_CHECKING:
    from support_db_mcp.server.app import AppState

_state: ContextVar[Any] = ContextVar("support_db_mcp_request_state", default=None)


async def _remember_state(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    token = _state.set(ctx.lifespan_context)
    try:
        return await call_next(ctx)
    finally:
        _state.reset(token)


def install(mcp: MCPServer) -> None:
    """Idempotent: add the middleware once per server."""
    if _remember_state not in mcp.middleware:
        mcp.middleware.append(_remember_state)


def state() -> AppState:
    """The AppState of the request being handled; only valid inside a request handler."""
    current = _state.get()
    if current is None or not hasattr(current, "database"):
        raise RuntimeError("no request is being handled, or the server has no database")
    found: AppState = current
    return found
