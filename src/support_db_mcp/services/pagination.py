"""Opaque keyset cursors: the position after the last row of a page, bound to the filters.

A cursor is base64url(JSON) with a keyed checksum, so a hand-edited or forged one is refused
before any SQL runs, and one taken from a search with other filters is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from support_db_mcp.errors import InvalidInputError

_VERSION = 1
_DEFAULT_KEY = b"support-db-mcp/cursor/v1"


@dataclass(frozen=True)
class KeysetPosition:
    created_at: datetime
    id: int


def _fingerprint(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _sign(payload: bytes, key: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def encode_cursor(position: KeysetPosition, filters: dict[str, Any], key: bytes = _DEFAULT_KEY) -> str:
    body = json.dumps(
        {"v": _VERSION, "c": position.created_at.isoformat(), "i": position.id, "f": _fingerprint(filters)},
        separators=(",", ":"),
    ).encode()
    token = body + b"." + _sign(body, key).encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_cursor(cursor: str, filters: dict[str, Any], key: bytes = _DEFAULT_KEY) -> KeysetPosition:
    bad = InvalidInputError("cursor is not valid: pass the next_cursor of a previous search unchanged")
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body, signature = token.rsplit(b".", 1)
    except (ValueError, TypeError):
        raise bad from None
    if not hmac.compare_digest(_sign(body, key).encode(), signature):
        raise bad
    try:
        data = json.loads(body)
        position = KeysetPosition(created_at=datetime.fromisoformat(data["c"]), id=int(data["i"]))
        version, fingerprint = data["v"], data["f"]
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if version != _VERSION or position.created_at.tzinfo is None:
        raise bad
    if fingerprint != _fingerprint(filters):
        raise InvalidInputError(
            "cursor belongs to a search with other filters: repeat the same filters, or drop the cursor "
            "to start from the first page"
        )
    return position
