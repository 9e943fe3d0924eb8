"""Argument completion: live table names and the tools whose SQL can be measured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp.server.mcpserver import MCPServer
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from support_db_mcp.server import current
from support_db_mcp.server.prompts import completing
from support_db_mcp.server.resources import TABLE_TEMPLATE, known_tables
from support_db_mcp.services.query_facts import MEASURED_TOOLS

MAX_VALUES = 100  # the protocol's limit per completion response


def _matching(values: list[str], typed: str) -> Completion:
    prefix = typed.strip().lower()
    found = [value for value in values if value.lower().startswith(prefix)]
    return Completion(values=found[:MAX_VALUES], total=len(found), has_more=len(found) > MAX_VALUES)


# (prompt name or resource template, argument) -> what it completes; the prompts' from their declarations
TABLE_ARGUMENTS = completing("tables") | {(TABLE_TEMPLATE, "name")}
TOOL_ARGUMENTS = completing("tools")

Handler = Callable[
    [PromptReference | ResourceTemplateReference, CompletionArgument, CompletionContext | None],
    Awaitable[Completion | None],
]


async def complete(
    ref: PromptReference | ResourceTemplateReference,
    argument: CompletionArgument,
    context: CompletionContext | None,
) -> Completion | None:
    """One handler for every completion the server offers; None means "nothing to suggest"."""
    key = (ref.name if isinstance(ref, PromptReference) else ref.uri, argument.name)
    if key in TABLE_ARGUMENTS:
        return _matching(await known_tables(current.state()), argument.value)
    if key in TOOL_ARGUMENTS:
        return _matching(list(MEASURED_TOOLS), argument.value)
    return None


def register(mcp: MCPServer) -> None:
    current.install(mcp)
    decorator: Callable[[Handler], Handler] = mcp.completion()  # type: ignore[no-untyped-call]
    decorator(complete)
