"""Idempotency keys of the write tools, built once for create_ticket, update_ticket and add_comment.

A call with a `request_id` first claims the key (one INSERT ... ON CONFLICT DO NOTHING in the call's
transaction). A new key lets the call go ahead; the ids it writes are stored with its history
(`settle`, sent in the same statement as its history). A key an earlier call claimed is compared by
fingerprint, a hash of the tool, its arguments and the acting user: the same call gets what the
first stored (a replay), any other call is refused with what the key belongs to. A concurrent
duplicate waits on the key's unique index until the first transaction ends, then replays its
result; if the first rolled back, the duplicate goes ahead as new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from pydantic import BaseModel
from sqlalchemy import Table, Update, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import ConflictError
from support_db_mcp.models import Ticket, WriteRequest

requests_table = cast(Table, WriteRequest.__table__)
_tickets = Ticket.__table__


@dataclass(frozen=True)
class WriteKey:
    request_id: str
    tool: str
    fingerprint: str

    @classmethod
    def of(cls, tool: str, inputs: BaseModel, actor_email: str | None) -> WriteKey | None:
        """The key of a call, or None when it has no request_id.

        The fingerprint covers the arguments as sent (unset ones left out, so a retry of the same
        request matches exactly), and who acts: another agent's call with the same key is another call.
        """
        request_id = getattr(inputs, "request_id", None)
        if request_id is None:
            return None
        arguments = inputs.model_dump(mode="json", exclude_unset=True, exclude={"request_id"})
        canonical = json.dumps(
            {"tool": tool, "actor": actor_email, "arguments": arguments},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return cls(request_id, tool, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class StoredWrite:
    """What an earlier call with the same key wrote."""

    request_id: str
    tool: str
    fingerprint: str | None
    ticket_id: int | None
    comment_id: int | None
    created_at: datetime
    ticket_number: str | None

    def __str__(self) -> str:
        what = f"comment {self.comment_id} on " if self.comment_id is not None else ""
        ticket = self.ticket_number or "a ticket"
        return f"{self.tool} for {what}{ticket}"


_CLAIM = (
    pg_insert(WriteRequest)
    .values(
        request_id=bindparam("request_id"),
        tool=bindparam("tool"),
        fingerprint=bindparam("fingerprint"),
    )
    .on_conflict_do_nothing(index_elements=[WriteRequest.request_id])
    .returning(WriteRequest.request_id)
)
_STORED = (
    select(
        requests_table.c.request_id,
        requests_table.c.tool,
        requests_table.c.fingerprint,
        requests_table.c.ticket_id,
        requests_table.c.comment_id,
        requests_table.c.created_at,
        _tickets.c.number,
    )
    .outerjoin(_tickets, _tickets.c.id == requests_table.c.ticket_id)
    .where(requests_table.c.request_id == bindparam("request_id"))
)


async def claim(session: AsyncSession, key: WriteKey) -> StoredWrite | None:
    """Reserve `key` for this call (None: go ahead), or return what the earlier call with it stored.

    One statement for a new key, two for a replay. A key used by another call is a ConflictError
    that names what it belongs to; nothing is written then.
    """
    values = {"request_id": key.request_id, "tool": key.tool, "fingerprint": key.fingerprint}
    if await session.scalar(_CLAIM, values) is not None:
        return None
    stored = StoredWrite(*(await session.execute(_STORED, {"request_id": key.request_id})).one())
    if stored.tool != key.tool or stored.fingerprint not in (None, key.fingerprint):
        raise ConflictError(
            f"request_id {key.request_id!r} was already used by {stored} with other arguments; "
            "to retry that call repeat exactly its arguments, otherwise use a new request_id"
        )
    return stored


@dataclass(frozen=True)
class Settlement:
    """What a call wrote, to store under its key: a statement and its bind values."""

    statement: Update
    values: dict[str, object]


_SETTLE = (
    update(requests_table)
    .where(requests_table.c.request_id == bindparam("settle_request_id"))
    .values(ticket_id=bindparam("settle_ticket_id"), comment_id=bindparam("settle_comment_id"))
)


def settle(key: WriteKey, *, ticket_id: int, comment_id: int | None = None) -> Settlement:
    """Store what a call wrote under its key. Writes send it along with their history
    (history.record) so that settling costs no round trip of its own."""
    values = {
        "settle_request_id": key.request_id,
        "settle_ticket_id": ticket_id,
        "settle_comment_id": comment_id,
    }
    return Settlement(_SETTLE, values)
