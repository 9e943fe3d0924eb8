"""find_similar_tickets: the tickets closest to a ticket or a text, ranked, with why each matched.

Two statements whatever the limit or the size of the desk:
1. the word stems to compare, with how common each is (services/similar_terms.py);
2. the ranking. Which tickets are candidates works like "more like this" in search engines, with a
   bound on the work whatever the data:
   - a rare stem (in at most 0.2% of tickets) is enough on its own: those tickets are found through
     the GIN index on search_vector, at any age (the newest RARE_CANDIDATES of them);
   - a common stem counts only together with another key stem (the title's, in the other ticket's
     title; or the text's most repeated), and only among the WINDOW newest tickets: common stems
     have posting lists of a large part of the table, which no index makes cheap to intersect;
     where pg_trgm is installed, a title alike (`%`) also makes a candidate there.
   The candidates are ranked by ts_rank_cd over all the stems (title words weigh more than
   description words) plus, with pg_trgm, the titles' similarity; the few kept get their summary
   columns, tags and stems in the same statement.
Both are compiled once (per combination of filters) and sent as they are on the read tools'
connection, like every read (services/ticket_rows.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    any_,
    bindparam,
    cast,
    func,
    null,
    or_,
    select,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY

from support_db_mcp.db.engine import ReadSession
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.similar import (
    SHOWN_TERMS,
    SimilarSearch,
    SimilarTicketsResult,
)
from support_db_mcp.services import installation
from support_db_mcp.services.similar_terms import KEY_TERMS, SOURCE, TEXT_STEMS, Queries, frequencies, queries
from support_db_mcp.services.ticket_rows import (
    CompiledRead,
    compile_read,
    fetch,
    summary_columns,
    summary_fields,
    summary_from,
    tickets_table,
)

t = tickets_table.c
RARE_CANDIDATES = 2_000  # the newest tickets sharing a rare stem that are ranked
WINDOW = 2_000  # the newest tickets searched for common stems in pairs and alike titles


def _tsquery(name: str) -> Any:
    """A tsquery bound as text, computed once per statement (an InitPlan), not once per row."""
    return select(cast(bindparam(name, type_=Text), TSQUERY)).scalar_subquery()


@functools.lru_cache(maxsize=64)
def _ranking(filters: frozenset[str]) -> Select[Any]:
    """The ranking statement for one combination of filters (built once, like search's templates)."""
    title = bindparam("title", type_=Text)
    fuzzy_titles = "title" in filters
    # MATERIALIZED: the newest tickets are read by primary key and checked row by row; otherwise
    # the planner intersects the posting lists of the common stems in the GIN index, which costs
    # more than reading every row of the window.
    newest = select(func.max(t.id)).scalar_subquery()
    window = (
        select(t.id, t.title, t.search_vector)
        .where(t.id > newest - WINDOW)
        .cte("newest_tickets")
        .prefix_with("MATERIALIZED")
    )
    in_window: ColumnElement[bool] = window.c.search_vector.bool_op("@@")(_tsquery("pairs"))
    if fuzzy_titles:
        in_window = or_(in_window, window.c.title.bool_op("%")(title))
    branches: list[Any] = [select(window.c.id).where(in_window)]
    if "rare" in filters:
        # MATERIALIZED again, the other way round: all the (few) tickets with a rare stem come from
        # the GIN index, then the newest of them are kept; with the ORDER BY ... LIMIT inside, the
        # planner walks the primary key backwards hoping to meet matches early, which for a stem
        # only one ticket has means reading the whole table.
        rare = select(t.id).where(t.search_vector.bool_op("@@")(_tsquery("rare"))).cte("rare_matches")
        rare = rare.prefix_with("MATERIALIZED")
        branches.append(select(rare.c.id).order_by(rare.c.id.desc()).limit(RARE_CANDIDATES))
    candidates = union(*branches).subquery("candidates")

    conditions: list[ColumnElement[bool]] = []
    if "exclude_id" in filters:
        conditions.append(t.id != bindparam("exclude_id"))
    if "statuses" in filters:
        # = ANY(array): one SQL text for any number of statuses, so it is compiled once
        conditions.append(t.status == any_(bindparam("statuses", type_=ARRAY(t.status.type))))
    # Half the key stems (title to title, for a ticket), half all the stems: descriptions that share
    # everyday sentences do not outrank a title that is the same. 32: rank / (rank + 1), 0 to 1.
    text_rank = (
        func.ts_rank_cd(t.search_vector, _tsquery("key"), 32)
        + func.ts_rank_cd(t.search_vector, _tsquery("rank"), 32)
    ) / 2
    similarity: Any = func.similarity(t.title, title) if fuzzy_titles else null()
    score = text_rank + similarity if fuzzy_titles else text_rank
    ranked = (
        select(t.id, score.label("score"), similarity.label("title_similarity"))
        .select_from(tickets_table.join(candidates, candidates.c.id == t.id))
        .where(*conditions)
        .order_by(score.desc(), t.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery("ranked")
    )
    return (
        select(
            *summary_columns(),
            ranked.c.score,
            ranked.c.title_similarity,
            func.tsvector_to_array(t.search_vector).label("stems"),
        )
        .select_from(summary_from.join(ranked, ranked.c.id == t.id))
        .order_by(ranked.c.score.desc(), t.id.desc())
    )


@functools.lru_cache(maxsize=64)
def _compiled_ranking(filters: frozenset[str]) -> CompiledRead:
    return compile_read(_ranking(filters))


_SOURCE = {by: compile_read(statement) for by, statement in SOURCE.items()}
_TEXT_STEMS = compile_read(TEXT_STEMS)
# the names of the columns of a source row, for reading it by name (a session's row has positions only)
_SOURCE_KEYS = tuple(str(column.key) for column in SOURCE["id"].selected_columns)
_TEXT_KEYS = tuple(str(column.key) for column in TEXT_STEMS.selected_columns)
# positions in a ranking row, after the summary's columns
_SCORE = len(summary_columns())
_TITLE_SIMILARITY, _STEMS = _SCORE + 1, _SCORE + 2


def ranking_statement(
    search: SimilarSearch, found: Queries, *, exclude_id: int | None = None, title: str | None = None
) -> Select[Any]:
    """The ranking with its values bound (for EXPLAIN and tests); the service sends the template."""
    values = _ranking_values(search, found, exclude_id=exclude_id, title=title)
    return _ranking(frozenset(values)).params(values)


def _ranking_values(
    search: SimilarSearch, found: Queries, *, exclude_id: int | None, title: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "pairs": found.pairs,
        "key": found.key,
        "rank": found.rank,
        "limit": search.limit,
    }
    if found.rare is not None:
        values["rare"] = found.rare
    if title is not None:
        values["title"] = title
    if exclude_id is not None:
        values["exclude_id"] = exclude_id
    if search.status:
        values["statuses"] = [status.value for status in search.status]  # as the driver takes them
    return values


def _similar(row: Sequence[Any], terms: Sequence[str]) -> dict[str, Any]:
    """The fields of a SimilarTicket from a ranking row."""
    stems = set(row[_STEMS] or ())
    similarity = row[_TITLE_SIMILARITY]
    why = {
        "shared_terms": [term for term in terms if term in stems][:SHOWN_TERMS],
        "title_similarity": round(float(similarity), 3) if similarity is not None else None,
    }
    return {**summary_fields(row), "score": round(float(row[_SCORE]), 4), "why": why}


async def find_similar_tickets(session: ReadSession, *, search: SimilarSearch) -> SimilarTicketsResult:
    search.refuse_conflicts()
    fuzzy_titles = installation.of(session).trigram_titles
    with count_statements() as statements:
        if search.ticket is not None:
            ref: TicketRef = search.ticket
            by, key = ("id", ref.id) if ref.id is not None else ("number", ref.number)
            sources = await fetch(session, _SOURCE[by], {"key": key})
            if not sources:
                raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
            source = dict(zip(_SOURCE_KEYS, sources[0], strict=True))
            exclude_id, title, key_terms = source["id"], source["title"], list(source["key_terms"])
        else:
            assert search.text is not None
            [stems] = await fetch(session, _TEXT_STEMS, {"text": search.text})
            source = dict(zip(_TEXT_KEYS, stems, strict=True))
            exclude_id, title, key_terms = None, search.text, list(source["terms"][:KEY_TERMS])
        terms = list(source["terms"])
        rows: Sequence[Any] = ()
        if terms or fuzzy_titles:
            found = queries(terms, key_terms, frequencies(source), in_titles=search.ticket is not None)
            values = _ranking_values(
                search, found, exclude_id=exclude_id, title=title if fuzzy_titles else None
            )
            rows = await fetch(session, _compiled_ranking(frozenset(values)), values)
    note = None
    if not rows:
        note = (
            f"No ticket is close enough: none shares one of its rarer words, and none of the {WINDOW:,} "
            "newest tickets shares two of its words."
            if terms
            else "It has no words full-text search compares (only stop words such as 'the' or 'and')."
        )
    return SimilarTicketsResult.model_validate(
        {
            "tickets": [_similar(row, terms) for row in rows],
            "compared_terms": terms,
            "note": note,
            "sql_statements": statements.count,
        }
    )
