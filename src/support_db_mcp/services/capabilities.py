"""What this database offers beyond core PostgreSQL, read once when the server starts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TRIGRAM_INDEX = "ix_tickets_title_trgm"


@dataclass(frozen=True)
class Capabilities:
    trigram_titles: bool  # pg_trgm and the index of migration 0003: typo-tolerant title matching


SESSION_KEY = "support_db_mcp.capabilities"
CORE_ONLY = Capabilities(trigram_titles=False)


def of(session: AsyncSession) -> Capabilities:
    """The capabilities the server detected at start, carried by every session it opens."""
    found = session.info.get(SESSION_KEY)
    return found if isinstance(found, Capabilities) else CORE_ONLY


async def detect(session: AsyncSession) -> Capabilities:
    found = await session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexname = :name)"
        ),
        {"name": TRIGRAM_INDEX},
    )
    return Capabilities(trigram_titles=bool(found))
