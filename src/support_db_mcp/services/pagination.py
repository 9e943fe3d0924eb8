"""Opaque keyset cursors: the position after the last row of a page, bound to the filters.

A cursor is base64url(JSON) with an HMAC made with this installation's secret (services/
installation.py), so a hand-edited or re-signed one is refused before any SQL runs, one taken from
a search with other filters is refused too, and every server process of one database accepts the
cursors of the others.
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

_VERSION = 2
MAX_ID = 2**63 - 1
MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class KeysetPosition:
    created_at: datetime
    id: int


def _fingerprint(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _sign(payload: bytes, key: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def encode_cursor(position: KeysetPosition, filters: dict[str, Any], *, key: bytes) -> str:
    body = json.dumps(
        {"v": _VERSION, "c": position.created_at.isoformat(), "i": position.id, "f": _fingerprint(filters)},
        separators=(",", ":"),
    ).encode()
    token = body + b"." + _sign(body, key).encode()
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_cursor(cursor: str, filters: dict[str, Any], *, key: bytes) -> KeysetPosition:
    bad = InvalidInputError("cursor is not valid: pass the next_cursor of a previous search unchanged")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body, signature = token.rsplit(b".", 1)
    except (ValueError, TypeError):
        raise bad from None
    if not hmac.compare_digest(_sign(body, key).encode(), signature):
        raise bad
    try:
        data = json.loads(body)
        created_at, position_id = datetime.fromisoformat(data["c"]), data["i"]
        version, fingerprint = data["v"], data["f"]
    except (ValueError, KeyError, TypeError):
        raise bad from None
    # Signed by us, but checked anyway: a position outside bigint must never reach the database.
    if version != _VERSION or created_at.tzinfo is None:
        raise bad
    if isinstance(position_id, bool) or not isinstance(position_id, int) or not 1 <= position_id <= MAX_ID:
        raise bad
    if fingerprint != _fingerprint(filters):
        raise InvalidInputError(
            "cursor belongs to a search with other filters: repeat the same filters, or drop the cursor "
            "to start from the first page"
        )
    return KeysetPosition(created_at=created_at, id=position_id)
