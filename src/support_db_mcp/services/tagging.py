"""The statements that put tags on a ticket and take them off, shared by create_ticket and update_ticket.

Each is one statement whatever the number of tags, and one cached statement: the names travel as
arrays (unnest), so SQLAlchemy compiles it once; a multi-row VALUES list cannot be cached and was
compiled anew on every call (the largest cost of create_ticket under load).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, any_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from support_db_mcp.models import Tag, ticket_tags


def _upserted(names: Any) -> Any:
    """Create the missing tags named `names`; RETURNING yields the ids of all of them.

    ON CONFLICT DO UPDATE (not DO NOTHING) so RETURNING also yields tags that already exist, even
    ones another transaction is inserting concurrently.
    """
    new_tags = pg_insert(Tag).from_select(["name"], select(func.unnest(names)))
    return (
        new_tags.on_conflict_do_update(index_elements=[Tag.name], set_={"name": new_tags.excluded.name})
        .returning(Tag.id)
        .cte("upserted_tags")
    )


def _linked(upserted: Any, ticket_id: Any) -> Any:
    return (
        pg_insert(ticket_tags)
        .from_select(["ticket_id", "tag_id"], select(ticket_id, upserted.c.id))
        .add_cte(upserted)
    )


_TAG_NAMES = bindparam("tag_names", type_=ARRAY(String))
_TICKET_ID = bindparam("tagged_ticket_id", type_=BigInteger)
_LINK = _linked(_upserted(_TAG_NAMES), _TICKET_ID)

_ADDED = _upserted(bindparam("added_tags", type_=ARRAY(String)))
_REMOVED = (
    delete(ticket_tags)
    .where(
        ticket_tags.c.ticket_id == _TICKET_ID,
        ticket_tags.c.tag_id.in_(
            select(Tag.id).where(Tag.name == any_(bindparam("removed_tags", type_=ARRAY(String))))
        ),
    )
    .cte("removed_tags")
)
# A ticket already carrying an added tag keeps its one link (the primary key).
_RETAG = _linked(_ADDED, _TICKET_ID).add_cte(_REMOVED).on_conflict_do_nothing()


def link_tags(ticket_id: int, names: list[str]) -> tuple[Any, dict[str, Any]]:
    """Create the missing tags and link all of them to a new ticket: a statement and its values."""
    return _LINK, {"tag_names": names, "tagged_ticket_id": ticket_id}


def retag(ticket_id: int, *, added: list[str], removed: list[str]) -> tuple[Any, dict[str, Any]]:
    """Take `removed` off a ticket and put `added` on it (created if new), in one statement."""
    return _RETAG, {"added_tags": added, "removed_tags": removed, "tagged_ticket_id": ticket_id}
