"""Structured content that crosses the stdio pipe already encoded as JSON, once.

The SDK handles a tool result's structured content four times on its way out: it dumps the
CallToolResult, checks and dumps it again against the protocol version's result schema, wraps it
in the JSON-RPC response and encodes that as JSON; each pass walks every value of a 50-ticket page
(about a quarter of such a call's CPU). Over our stdio transport the tool instead hands the SDK the
content already encoded (one pass, `structured_content`), under a key no result has; the SDK does
everything else as always (the result's other fields, the protocol era's extras, errors,
middleware), and the transport's writer (`response_line`) puts the encoded content back where the
SDK's own encoding would have put it. The bytes on the wire are the same: pydantic-core encodes the
content in both cases, and tests/server/test_wire.py compares the two transports byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import mcp.types as types
from pydantic_core import to_json

# NUL never occurs in what we store (the inputs refuse it), so no result has this key.
ENCODED: Final = "\x00support-db-mcp/encoded-json"
_HOLE: Final = {ENCODED: 0}
_FIELD: Final = '"structuredContent":'
# Where the content goes in the SDK's encoding of a response. Only the response's own structure
# can contain it: inside a JSON string every quote is escaped.
_HOLE_JSON: Final = _FIELD + to_json(_HOLE).decode()

_encoding: ContextVar[bool] = ContextVar("support_db_mcp_encoded_content", default=False)


@contextmanager
def encoded_content() -> Iterator[None]:
    """Within the block (a serve loop whose writer is `response_line`), tools encode their content."""
    token = _encoding.set(True)
    try:
        yield
    finally:
        _encoding.reset(token)


def structured_content(structured: dict[str, Any]) -> dict[str, Any]:
    """A tool result's structured content as the SDK is handed it: the JSON dump itself, or within
    `encoded_content`, its JSON text under ENCODED."""
    if not _encoding.get():
        return structured
    return {ENCODED: to_json(structured).decode()}


def response_line(message: types.JSONRPCMessage) -> str:
    """The JSON text of `message` exactly as the SDK's stdio transport writes it, encoded content
    put in place."""
    if isinstance(message, types.JSONRPCResponse) and isinstance(message.result, dict):
        structured = message.result.get("structuredContent")
        if isinstance(structured, dict) and ENCODED in structured:
            holed = message.model_copy(update={"result": {**message.result, "structuredContent": _HOLE}})
            line = holed.model_dump_json(by_alias=True, exclude_unset=True)
            return line.replace(_HOLE_JSON, _FIELD + structured[ENCODED], 1)
    return message.model_dump_json(by_alias=True, exclude_unset=True)
