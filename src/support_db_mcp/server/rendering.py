"""What a tool result looks like to the model: compact text with customer-written text fenced.

The structured content keeps every value as stored. The text content, which is what most clients
put in front of the model, is the same data as compact JSON in which every string a customer wrote
(fields marked CUSTOMER_TEXT) is enclosed in <untrusted-data-NONCE> ... </untrusted-data-NONCE>,
with a fresh random NONCE per response, so a ticket that contains a fake closing tag cannot end
the fence early.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from support_db_mcp.schemas.base import CustomerText

NONCE_BYTES = 8  # 16 hex digits


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def fence(text: str, nonce: str) -> str:
    return f"<untrusted-data-{nonce}>{text}</untrusted-data-{nonce}>"


def _fence_customer_text(model: BaseModel, dumped: dict[str, Any], nonce: str) -> None:
    """Wrap, in `dumped` (model's JSON dump), every value of a field marked as customer text: a
    string, or each string of a list."""
    by_alias = bool(type(model).model_config.get("serialize_by_alias"))
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = (info.serialization_alias or info.alias or name) if by_alias else name
        if key not in dumped:
            continue
        marked = any(isinstance(marker, CustomerText) for marker in info.metadata)
        if marked and isinstance(value, str):
            dumped[key] = fence(value, nonce)
        elif isinstance(value, BaseModel):
            _fence_customer_text(value, dumped[key], nonce)
        elif isinstance(value, list):
            for index, (item, item_dumped) in enumerate(zip(value, dumped[key], strict=True)):
                if isinstance(item, BaseModel):
                    _fence_customer_text(item, item_dumped, nonce)
                elif marked and isinstance(item, str):
                    dumped[key][index] = fence(item, nonce)


def tool_result(result: BaseModel) -> CallToolResult:
    structured = result.model_dump(mode="json")
    readable = result.model_dump(mode="json")
    _fence_customer_text(result, readable, new_nonce())
    text = json.dumps(readable, separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)
