"""search_tickets against the seeded database: filters, order, keyset pages, cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.models import TicketPriority, TicketStatus
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar, unassigned_open_ids


def _order_key(summary: object) -> tuple[datetime, int]:
    return (summary.created_at, summary.id)  # type: ignore[attr-defined]


async def test_unfiltered_search_returns_the_newest_tickets_first(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    result = await search_tickets(session, search=TicketSearch(limit=5))
    newest = (
        await connection.execute(text("SELECT id FROM tickets ORDER BY created_at DESC, id DESC LIMIT 5"))
    ).scalars()
    assert [t.id for t in result.tickets] == list(newest)
    assert result.next_cursor is not None and result.note is not None


async def test_status_and_priority_filters_keep_only_matching_tickets(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    search = TicketSearch(status=["open", "in_progress"], priority=["urgent"], limit=100)
    result = await search_tickets(session, search=search)
    expected = await scalar(
        connection,
        "SELECT count(*) FROM tickets WHERE status IN ('open', 'in_progress') AND priority = 'urgent'",
    )
    assert result.tickets, "the seed has urgent open tickets"
    assert all(t.status in {TicketStatus.OPEN, TicketStatus.IN_PROGRESS} for t in result.tickets)
    assert all(t.priority is TicketPriority.URGENT for t in result.tickets)
    assert len(result.tickets) == min(100, expected)


async def test_assignee_creator_and_tag_filters_match_raw_sql(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    row = (
        await connection.execute(
            text(
                "SELECT t.assignee_id, t.creator_id, g.name FROM tickets t "
                "JOIN ticket_tags tt ON tt.ticket_id = t.id JOIN tags g ON g.id = tt.tag_id "
                "WHERE t.assignee_id IS NOT NULL ORDER BY t.id LIMIT 1"
            )
        )
    ).one()
    assignee, creator, tag = row
    result = await search_tickets(
        session, search=TicketSearch(assignee_id=assignee, creator_id=creator, tag=tag, limit=100)
    )
    expected = await scalar(
        connection,
        "SELECT count(*) FROM tickets t JOIN ticket_tags tt ON tt.ticket_id = t.id "
        "JOIN tags g ON g.id = tt.tag_id WHERE t.assignee_id = :a AND t.creator_id = :c AND g.name = :g",
        a=assignee,
        c=creator,
        g=tag,
    )
    assert len(result.tickets) == expected >= 1
    for ticket in result.tickets:
        assert ticket.assignee is not None and ticket.assignee.id == assignee
        assert ticket.creator.id == creator
        assert tag in ticket.tags


async def test_the_unassigned_queue_has_every_unassigned_ticket_of_the_status_once_newest_first(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    expected = await unassigned_open_ids(connection)
    assert len(expected) > 100, "the seed leaves open tickets unassigned"
    seen: list[int] = []
    cursor = None
    while True:
        search = TicketSearch(unassigned=True, status=["open"], limit=100, cursor=cursor)
        result = await search_tickets(session, search=search)
        assert all(t.assignee is None and t.status is TicketStatus.OPEN for t in result.tickets)
        seen += [t.id for t in result.tickets]
        cursor = result.next_cursor
        if cursor is None:
            break
    assert seen == expected


async def test_a_cursor_of_the_unassigned_queue_does_not_page_through_all_tickets(
    session: AsyncSession,
) -> None:
    first = await search_tickets(session, search=TicketSearch(unassigned=True, limit=1))
    assert first.next_cursor
    with pytest.raises(InvalidInputError, match="other filters"):
        await search_tickets(session, search=TicketSearch(limit=1, cursor=first.next_cursor))


async def test_unassigned_together_with_an_assignee_is_refused_before_any_query(
    session: AsyncSession,
) -> None:
    from support_db_mcp.db.statements import count_statements

    with count_statements() as log, pytest.raises(InvalidInputError, match="not both"):
        await search_tickets(session, search=TicketSearch(unassigned=True, assignee_id=7))
    assert log.count == 0


async def test_free_text_matches_word_stems_in_title_or_description(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    result = await search_tickets(session, search=TicketSearch(text="refunds", limit=50))
    assert len(result.tickets) == 50
    ids = [t.id for t in result.tickets]
    rows = await connection.execute(
        text("SELECT title || ' ' || description FROM tickets WHERE id = ANY(:ids)"), {"ids": ids}
    )
    assert all("refund" in body.lower() for (body,) in rows)


async def test_free_text_that_matches_nothing_returns_an_empty_last_page(session: AsyncSession) -> None:
    result = await search_tickets(session, search=TicketSearch(text="xylophonequartz"))
    assert result.tickets == [] and result.next_cursor is None


async def test_without_pg_trgm_a_text_search_that_finds_nothing_says_typos_need_it_and_how_to_get_it(
    session: AsyncSession,
) -> None:
    """The test database is the embedded PostgreSQL, which has no pg_trgm (tests/db/test_trigram.py)."""
    result = await search_tickets(session, search=TicketSearch(text="passwrd"))

    assert result.tickets == [] and result.note is not None
    assert result.note.startswith("No ticket matches 'passwrd'.")
    assert (
        "typo-tolerant matching needs PostgreSQL's pg_trgm extension, which this database lacks"
        in result.note
    )
    assert "CREATE EXTENSION pg_trgm;" in result.note and "restart the server" in result.note


async def test_a_search_that_finds_nothing_without_text_has_no_typo_note(session: AsyncSession) -> None:
    result = await search_tickets(session, search=TicketSearch(assignee_id=999_999))
    assert result.tickets == [] and result.note is None


async def test_date_range_is_inclusive_after_and_exclusive_before(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    newest = await scalar(connection, "SELECT max(created_at) FROM tickets")
    after, before = newest - timedelta(days=30), newest - timedelta(days=10)
    result = await search_tickets(
        session, search=TicketSearch(created_after=after, created_before=before, limit=100)
    )
    assert result.tickets
    assert all(after <= t.created_at < before for t in result.tickets)


async def test_naive_timestamps_are_taken_as_utc() -> None:
    search = TicketSearch(created_after=datetime(2026, 1, 1))  # noqa: DTZ001
    assert search.created_after == datetime(2026, 1, 1, tzinfo=UTC)


async def test_walking_every_page_visits_each_matching_ticket_once_in_order(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    filters = {"status": ["open"], "priority": ["high", "urgent"]}
    expected = await scalar(
        connection, "SELECT count(*) FROM tickets WHERE status = 'open' AND priority IN ('high', 'urgent')"
    )
    seen: list[int] = []
    keys = []
    cursor = None
    pages = 0
    while True:
        result = await search_tickets(session, search=TicketSearch(**filters, limit=100, cursor=cursor))
        seen += [t.id for t in result.tickets]
        keys += [_order_key(t) for t in result.tickets]
        pages += 1
        cursor = result.next_cursor
        if cursor is None:
            break
    assert pages > 2
    assert len(seen) == len(set(seen)) == expected
    assert keys == sorted(keys, reverse=True)


async def test_a_cursor_from_other_filters_is_refused(session: AsyncSession) -> None:
    first = await search_tickets(session, search=TicketSearch(status=["open"], limit=1))
    assert first.next_cursor
    with pytest.raises(InvalidInputError, match="other filters"):
        await search_tickets(
            session, search=TicketSearch(status=["closed"], limit=1, cursor=first.next_cursor)
        )


@pytest.mark.parametrize("forged", ["abc", "", "eyJ2IjoxfQ", "!!!", "eyJ2IjoxLCJjIjoiMjAyNiJ9LmFiYw"])
async def test_a_forged_cursor_is_refused_before_any_query(session: AsyncSession, forged: str) -> None:
    with pytest.raises(InvalidInputError, match="cursor is not valid"):
        await search_tickets(session, search=TicketSearch(limit=1, cursor=forged or "x"))


async def test_a_tampered_cursor_is_refused(session: AsyncSession) -> None:
    first = await search_tickets(session, search=TicketSearch(limit=1))
    assert first.next_cursor
    tampered = first.next_cursor[:-2] + ("A" if first.next_cursor[-2] != "A" else "B") + first.next_cursor[-1]
    with pytest.raises(InvalidInputError, match="cursor is not valid"):
        await search_tickets(session, search=TicketSearch(limit=1, cursor=tampered))
