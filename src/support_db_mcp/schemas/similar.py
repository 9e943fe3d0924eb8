"""find_similar_tickets' contract: a ticket or a text to compare, and the closest tickets with why."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from support_db_mcp.schemas.base import CUSTOMER_TEXT, ToolInput
from support_db_mcp.schemas.fields import CleanText, StatusFilter, between, sized
from support_db_mcp.schemas.keys import TicketKey
from support_db_mcp.schemas.tickets import SqlStatements, TicketSummary

MAX_SIMILAR = 20
DEFAULT_SIMILAR = 5
MAX_TEXT = 2_000
MAX_TERMS = 32  # word stems compared: a ticket's title first, then its most repeated words
SHOWN_TERMS = 10


class SimilarSearch(ToolInput):
    """The arguments of find_similar_tickets: a ticket, or a text, to find tickets like."""

    ticket: Annotated[
        TicketKey | None,
        Field(
            description="Find tickets like this one, the ticket itself excluded: its id (e.g. 123) or number "
            "(e.g. TCK-000123), as text. Give ticket or text, not both.",
            examples=["TCK-000123", "123"],
        ),
    ] = None
    text: Annotated[
        Annotated[CleanText, sized("text", 1, MAX_TEXT)] | None,
        Field(
            description=f"Or: find tickets like this text (up to {MAX_TEXT:,} characters), e.g. the title "
            "and description of a ticket about to be created, to spot a duplicate. Give ticket or text, "
            "not both.",
            json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT},
            examples=["Refund not received for my order"],
        ),
    ] = None
    limit: Annotated[
        int,
        between(1, MAX_SIMILAR),
        Field(
            description=f"Tickets to return, 1 to {MAX_SIMILAR} (default {DEFAULT_SIMILAR}).",
            json_schema_extra={"minimum": 1, "maximum": MAX_SIMILAR},
            examples=[10],
        ),
    ] = DEFAULT_SIMILAR
    status: StatusFilter = None

    def across_arguments(self) -> str | None:
        if (self.ticket is None) == (self.text is None):
            return "give either ticket (to find tickets like it) or text, not both or neither"
        return None


class MatchReason(BaseModel):
    shared_terms: Annotated[list[str], CUSTOMER_TEXT] = Field(
        description=f"Word stems both share (at most {SHOWN_TERMS}), as full-text search compares them."
    )
    title_similarity: float | None = Field(
        description="How alike the titles are, 0 to 1 (pg_trgm trigrams); null without pg_trgm."
    )


class SimilarTicket(TicketSummary):
    score: float = Field(
        description="Full-text rank (0 to 1) plus title similarity (0 to 1, with pg_trgm); higher is closer."
    )
    why: MatchReason


class SimilarTicketsResult(BaseModel):
    tickets: list[SimilarTicket] = Field(description="Closest first.")
    compared_terms: Annotated[list[str], CUSTOMER_TEXT] = Field(
        description=f"The word stems searched for (at most {MAX_TERMS}: the title's first, then the most "
        "repeated)."
    )
    note: str | None = Field(default=None, description="Why nothing matched.")
    sql_statements: SqlStatements
