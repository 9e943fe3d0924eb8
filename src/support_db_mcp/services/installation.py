"""Facts of this installation, read once when the server starts and carried by every session:
what the database offers beyond core PostgreSQL, and the secret that signs pagination cursors."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.models import installation_secrets

TRIGRAM_INDEX = "ix_tickets_title_trgm"
SESSION_KEY = "support_db_mcp.installation"
CURSOR_SECRET = "cursor"


@dataclass(frozen=True)
class Installation:
    trigram_titles: bool  # pg_trgm and the index of migration 0003: typo-tolerant title matching
    cursor_key: bytes = field(
        repr=False
    )  # signs keyset cursors (migration 0004, or SUPPORT_DB_CURSOR_SECRET)


# For sessions the server did not open (a service called directly): core PostgreSQL only, and a
# key that lives as long as this process, never a constant anyone could re-sign cursors with.
_PROCESS_ONLY = Installation(trigram_titles=False, cursor_key=secrets.token_bytes(32))


def of(session: AsyncSession | AsyncConnection) -> Installation:
    """The installation facts the server read at start, carried by every session it opens."""
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Installation) else _PROCESS_ONLY


def key_from_setting(secret: str) -> bytes:
    """SUPPORT_DB_CURSOR_SECRET as a key: any text, stretched to 32 bytes."""
    return hashlib.sha256(b"support-db-mcp/cursor/" + secret.encode()).digest()


async def detect(session: AsyncSession, *, cursor_secret: str | None = None) -> Installation:
    trigram = await session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexname = :name)"
        ),
        {"name": TRIGRAM_INDEX},
    )
    if cursor_secret is not None:
        key = key_from_setting(cursor_secret)
    else:
        stored = await session.scalar(
            select(installation_secrets.c.secret).where(installation_secrets.c.name == CURSOR_SECRET)
        )
        key = bytes(stored) if stored is not None else _PROCESS_ONLY.cursor_key
    return Installation(trigram_titles=bool(trigram), cursor_key=key)
