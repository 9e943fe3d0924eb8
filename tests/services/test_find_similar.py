"""find_similar_tickets: ranked, the ticket itself excluded, why each matched, two statements."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.schemas.base import describe_validation_error
from support_db_mcp.schemas.similar import SimilarSearch
from support_db_mcp.schemas.tickets import NewTicket
from support_db_mcp.services.similar import find_similar_tickets
from support_db_mcp.services.similar_terms import queries
from support_db_mcp.services.ticket_create import create_ticket
from tests.helpers import a_user, first_row, scalar


def similar(**fields: Any) -> SimilarSearch:
    return SimilarSearch.model_validate(fields)


async def test_tickets_like_a_ticket_are_ranked_share_its_words_and_exclude_it(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    source = await first_row(connection, "SELECT * FROM tickets ORDER BY id DESC LIMIT 1")
    result = await find_similar_tickets(session, search=similar(ticket=source["number"], limit=10))

    assert len(result.tickets) == 10 and source["id"] not in {t.id for t in result.tickets}
    scores = [t.score for t in result.tickets]
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 2 for score in scores)
    title_stems = set(
        await scalar(
            connection,
            "SELECT tsvector_to_array(to_tsvector('english', title)) FROM tickets WHERE id = :id",
            id=source["id"],
        )
    )
    assert set(result.compared_terms[: len(title_stems)]) == title_stems  # the title's stems come first
    for ticket in result.tickets:
        assert set(ticket.why.shared_terms) <= set(result.compared_terms)
        assert len(title_stems & set(ticket.why.shared_terms)) >= 2  # common title words pair up
        assert ticket.why.title_similarity is None  # no pg_trgm on the embedded server
    assert result.tickets[0].title == source["title"]  # the seed repeats titles: the same one is first
    assert result.sql_statements == 2  # the stems to compare, the ranking


async def test_a_duplicate_about_to_be_filed_is_found_first_from_its_text(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    customer = await a_user(connection, "customer")
    filed = await create_ticket(
        session,
        new=NewTicket(
            title="Xylophone module rejects every barcode scan",
            description="Since Monday the xylophone module refuses barcodes from our warehouse.",
            creator=customer["id"],
        ),
    )
    result = await find_similar_tickets(
        session, search=similar(text="The xylophone module rejects barcode scans from the warehouse")
    )
    assert result.tickets[0].id == filed.ticket.id
    assert {"xylophon", "barcod", "warehous"} <= set(result.tickets[0].why.shared_terms)
    assert result.sql_statements == 2


async def test_the_status_filter_and_limit_hold(session: AsyncSession, connection: AsyncConnection) -> None:
    source = await scalar(connection, "SELECT id FROM tickets ORDER BY id DESC LIMIT 1")
    result = await find_similar_tickets(
        session, search=similar(ticket=source, status=["resolved", "closed"], limit=3)
    )
    assert len(result.tickets) == 3 and {t.status for t in result.tickets} <= {"resolved", "closed"}


async def test_stop_words_alone_find_nothing_and_say_why(session: AsyncSession) -> None:
    result = await find_similar_tickets(session, search=similar(text="the and of it"))
    assert result.tickets == [] and result.compared_terms == []
    assert result.note is not None and "only stop words" in result.note


async def test_an_unknown_ticket_is_a_clear_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFoundError, match="no ticket with number TCK-99999999"):
        await find_similar_tickets(session, search=similar(ticket="TCK-99999999"))


def test_rare_stems_match_alone_and_common_title_stems_only_in_pairs_within_titles() -> None:
    found = queries(
        ["refund", "order", "65615", "o'brien\\x"],
        ["refund", "order", "65615"],
        {"refund": 0.1, "order": 0.2},
        in_titles=True,
    )
    assert found.rare == "'65615' | 'o''brien\\\\x'"  # quoted for tsquery, verbatim
    assert found.pairs == "('refund':A & 'order':A)"
    assert found.key == "'refund':A | 'order':A | '65615':A"
    assert found.rank == "'refund' | 'order' | '65615' | 'o''brien\\\\x'"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "x", "limit": 21}, "limit must be between 1 and 20, got 21"),
        ({"text": "x" * 2_001}, "text must be 1 to 2,000 characters long, got 2,001"),
        ({"text": "x", "status": "pending"}, "unknown status 'pending'"),
    ],
)
def test_bad_similar_arguments_are_refused_with_a_readable_reason(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        similar(**fields)
    assert message in describe_validation_error(raised.value, SimilarSearch)


@pytest.mark.parametrize(
    "fields",
    [{}, {"limit": 3}, {"ticket": "1", "text": "x"}, {"ticket": " ", "text": ""}],
    ids=["neither", "only-a-limit", "both", "both-blank"],
)
async def test_a_search_without_exactly_one_of_ticket_or_text_is_refused_when_it_runs_before_any_sql(
    session: AsyncSession, fields: dict[str, Any]
) -> None:
    search = similar(**fields)  # each argument alone is well formed
    with count_statements() as statements, pytest.raises(InvalidInputError) as raised:
        await find_similar_tickets(session, search=search)
    assert str(raised.value) == "give either ticket (to find tickets like it) or text, not both or neither"
    assert statements.count == 0
