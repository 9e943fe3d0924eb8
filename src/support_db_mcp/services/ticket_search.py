"""search_tickets: one page of tickets, newest first, keyset-paginated, every filter optional.

A page is one statement whatever its size: the filtered, ordered, limited tickets with their
creator, assignee, tags and comment count. A tag filter adds one before it that resolves the tag's
id, so that the planner sees the real id and can tell a rare tag (read through the tag index) from
a common one (walk the date order); with the id unknown at planning time a rare tag would walk
every ticket.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY

from support_db_mcp.db.engine import ReadSession
from support_db_mcp.db.statements import count_statements
from support_db_mcp.models import TEXT_SEARCH_CONFIG, ticket_tags
from support_db_mcp.schemas.fields import normalise_tag
from support_db_mcp.schemas.tickets import SearchTicketsResult, TicketSearch
from support_db_mcp.services import installation
from support_db_mcp.services.pagination import KeysetPosition, decode_cursor, encode_cursor
from support_db_mcp.services.ticket_rows import (
    ROW_CREATED_AT,
    ROW_ID,
    CompiledRead,
    compile_read,
    fetch,
    summary_columns,
    summary_fields,
    summary_from,
    tags_table,
    tickets_table,
)

# Why a text search found nothing where typos cannot match, and how to get typo matching (the
# migration creates pg_trgm where it exists; a database migrated without it needs the two statements).
NO_TYPO_MATCHING = (
    "No ticket matches {text!r}. Words match by their English stems, so a misspelt word finds nothing "
    "here: typo-tolerant matching needs PostgreSQL's pg_trgm extension, which this database lacks (the "
    "embedded one has none). Check the spelling. To get typo matching, use a PostgreSQL with the contrib "
    "extensions as DATABASE_URL and run there `CREATE EXTENSION pg_trgm; CREATE INDEX "
    "ix_tickets_title_trgm ON tickets USING gin (title gin_trgm_ops);` (or `support-db-mcp migrate` on a "
    "new database), then restart the server."
)


def text_match(text: str | ColumnElement[str]) -> ColumnElement[bool]:
    """Full-text match over title and description, served by the GIN index on search_vector."""
    query = func.websearch_to_tsquery(literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig"), text)
    return tickets_table.c.search_vector.bool_op("@@")(query)


def _search_values(
    search: TicketSearch, after: KeysetPosition | None, tag_id: int | None, *, fuzzy_titles: bool = False
) -> dict[str, Any]:
    """The bind values of a search; their names say which filters the statement needs."""
    values: dict[str, Any] = {"limit": search.limit + 1}
    if search.text:
        values["text"] = search.text
        if fuzzy_titles:
            values["fuzzy_text"] = search.text
    # One value is an equality, which the (assignee, status, created_at) index serves in date
    # order; several are `= ANY(array)`, one SQL text for any number of them.
    if search.status:
        values.update(_one_or_many("status", "statuses", search.status))
    if search.priority:
        values.update(_one_or_many("priority", "priorities", search.priority))
    if search.assignee_id is not None:
        values["assignee_id"] = search.assignee_id
    if search.unassigned:
        values["unassigned"] = True  # names the filter; the statement binds nothing for it
    if search.creator_id is not None:
        values["creator_id"] = search.creator_id
    if tag_id is not None:
        values["tag_id"] = tag_id
    if search.created_after is not None:
        values["created_after"] = search.created_after
    if search.created_before is not None:
        values["created_before"] = search.created_before
    if after is not None:
        values["after_created_at"] = after.created_at
        values["after_id"] = after.id
    return values


def _one_or_many(one: str, many: str, chosen: Sequence[StrEnum]) -> dict[str, Any]:
    labels = [member.value for member in chosen]  # as the driver receives them
    return {one: labels[0]} if len(labels) == 1 else {many: labels}


@functools.lru_cache(maxsize=1024)
def _search_template(filters: frozenset[str]) -> Select[*tuple[Any, ...]]:
    """The search statement for one combination of filters, with bind parameters for the values.

    Built once per combination and reused: building the expression cost a fifth of a search call,
    and a reused statement keeps its cache key, so SQLAlchemy does not compute it again either.
    """
    t = tickets_table.c
    conditions: list[ColumnElement[bool]] = []
    if "text" in filters:
        match = text_match(bindparam("text", type_=Text()))
        if "fuzzy_text" in filters:
            # pg_trgm's word similarity (served by ix_tickets_title_trgm) also finds titles with
            # the words misspelt: "passwrd" finds "Password reset email never arrives".
            match = or_(match, bindparam("fuzzy_text", type_=Text()).bool_op("<%")(t.title))
        conditions.append(match)
    if "status" in filters:
        conditions.append(t.status == bindparam("status", type_=t.status.type))
    if "statuses" in filters:
        conditions.append(t.status == any_(bindparam("statuses", type_=ARRAY(t.status.type))))
    if "priority" in filters:
        conditions.append(t.priority == bindparam("priority", type_=t.priority.type))
    if "priorities" in filters:
        conditions.append(t.priority == any_(bindparam("priorities", type_=ARRAY(t.priority.type))))
    if "assignee_id" in filters:
        conditions.append(t.assignee_id == bindparam("assignee_id"))
    if "unassigned" in filters:
        conditions.append(t.assignee_id.is_(None))  # ix_tickets_unassigned_created_at, in order
    if "creator_id" in filters:
        conditions.append(t.creator_id == bindparam("creator_id"))
    if "tag_id" in filters:
        tagged = select(ticket_tags.c.ticket_id).where(ticket_tags.c.tag_id == bindparam("tag_id"))
        conditions.append(t.id.in_(tagged))
    if "created_after" in filters:
        conditions.append(t.created_at >= bindparam("created_after"))
    if "created_before" in filters:
        conditions.append(t.created_at < bindparam("created_before"))
    if "after_id" in filters:
        position = tuple_(
            bindparam("after_created_at", type_=t.created_at.type), bindparam("after_id", type_=t.id.type)
        )
        conditions.append(tuple_(t.created_at, t.id) < position)
    return (
        select(*summary_columns())
        .select_from(summary_from)
        .where(*conditions)
        .order_by(t.created_at.desc(), t.id.desc())
        .limit(bindparam("limit", type_=Integer()))
    )


@functools.lru_cache(maxsize=1024)
def _compiled_search(filters: frozenset[str]) -> CompiledRead:
    return compile_read(_search_template(filters))


_TAG_ID = compile_read(select(tags_table.c.id).where(tags_table.c.name == bindparam("name")))


def search_statement(
    search: TicketSearch, after: KeysetPosition | None, tag_id: int | None = None
) -> Select[*tuple[Any, ...]]:
    """One page, newest first, keyset-paginated on (created_at, id); limit + 1 rows tell if more exist.

    The tag filter takes the tag's id, resolved beforehand, so the planner sees the real value and
    can tell a rare tag (read through the tag index) from a common one (walk the date order).
    This is the cached template with this search's values bound into it (for EXPLAIN and tests);
    search_tickets executes the template and passes the values.
    """
    values = _search_values(search, after, tag_id)
    return _search_template(frozenset(values)).params(values)


async def search_tickets(session: ReadSession, *, search: TicketSearch) -> SearchTicketsResult:
    search.refuse_conflicts()
    facts = installation.of(session)
    after = None
    if search.cursor:
        after = decode_cursor(search.cursor, search.filters_fingerprint_source(), key=facts.cursor_key)
    with count_statements() as statements:
        tag_id = None
        if search.tag:
            found = await fetch(session, _TAG_ID, {"name": normalise_tag(search.tag)})
            if not found:
                return SearchTicketsResult(
                    tickets=[],
                    next_cursor=None,
                    note=f"No tag named {search.tag!r} exists, so no ticket has it.",
                    sql_statements=statements.count,
                )
            tag_id = found[0][0]
        values = _search_values(search, after, tag_id, fuzzy_titles=facts.trigram_titles)
        rows = await fetch(session, _compiled_search(frozenset(values)), values)
    page = rows[: search.limit]
    next_cursor = None
    note = None
    if len(rows) > search.limit:
        last = page[-1]
        position = KeysetPosition(last[ROW_CREATED_AT], last[ROW_ID])
        next_cursor = encode_cursor(position, search.filters_fingerprint_source(), key=facts.cursor_key)
        note = (
            f"Showing {len(page)} tickets; more match. Call search_tickets again with the same "
            "filters and cursor=next_cursor for the next page."
        )
    elif not page and search.text and search.cursor is None and not facts.trigram_titles:
        note = NO_TYPO_MATCHING.format(text=search.text)
    return SearchTicketsResult.model_validate(
        {
            "tickets": [summary_fields(row) for row in page],
            "next_cursor": next_cursor,
            "note": note,
            "sql_statements": statements.count,
        }
    )
