"""What find_similar_tickets compares: the word stems of a ticket or a text, how common each is,
and the tsquery texts built from them (see services/similar.py for how they are used).

The stems come from the ticket's stored search_vector (the title's first, then the most repeated),
or from the text, at most MAX_TERMS. How common each is comes from PostgreSQL's own statistics of
the column (pg_stats.most_common_elems, kept by ANALYZE), read in the same statement: a stem
ANALYZE did not list is rarer than any it did.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, any_, bindparam, cast, column, func, literal_column, select, table
from sqlalchemy.dialects.postgresql import ARRAY, REAL

from support_db_mcp.models import TEXT_SEARCH_CONFIG, Ticket
from support_db_mcp.schemas.similar import MAX_TERMS
from support_db_mcp.services.ticket_rows import tickets_table

t = tickets_table.c
KEY_TERMS = 8  # stems that may match in pairs: the title's, or the text's most repeated
RARE = 0.002  # a stem in at most this share of tickets matches on its own, through the index
RARE_STEMS = 8  # the rarest stems that do


def _stems(vector: Any, *, title_only: bool = False) -> Any:
    """ARRAY(...) of a tsvector's lexemes: those in the title (weight A) first, then the most frequent."""
    lexemes = func.unnest(vector).table_valued("lexeme", "positions", "weights").render_derived(name="u")
    in_title = literal_column("'A'") == any_(lexemes.c.weights)
    ordered = select(lexemes.c.lexeme)
    if title_only:
        ordered = ordered.where(in_title)
    ordered = ordered.order_by(
        in_title.desc(), func.cardinality(lexemes.c.positions).desc(), lexemes.c.lexeme
    ).limit(KEY_TERMS if title_only else MAX_TERMS)
    return func.array(ordered.scalar_subquery())


_pg_stats = table(
    "pg_stats",
    column("schemaname"),
    column("tablename"),
    column("attname"),
    column("most_common_elems"),
    column("most_common_elem_freqs"),
)


def _statistic(name: str, type_: Any) -> Any:
    """One column of the search_vector's statistics, gathered by ANALYZE (NULL before the first)."""
    value = cast(cast(_pg_stats.c[name], Text), type_)  # anyarray in the view: through text
    return (
        select(value)
        .where(
            _pg_stats.c.schemaname == func.current_schema(),
            _pg_stats.c.tablename == Ticket.__tablename__,
            _pg_stats.c.attname == t.search_vector.name,
        )
        .scalar_subquery()
        .label(name)
    )


_STATISTICS = (
    _statistic("most_common_elems", ARRAY(Text)),
    _statistic("most_common_elem_freqs", ARRAY(REAL)),
)
SOURCE = {
    by: select(
        t.id,
        t.title,
        _stems(t.search_vector).label("terms"),
        _stems(t.search_vector, title_only=True).label("key_terms"),
        *_STATISTICS,
    ).where(t[by] == bindparam("key"))
    for by in ("id", "number")
}
_ENGLISH: ColumnElement[Any] = literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig")
TEXT_STEMS = select(
    _stems(func.to_tsvector(_ENGLISH, bindparam("text", type_=Text))).label("terms"), *_STATISTICS
)


def _quoted(lexeme: str) -> str:
    """A lexeme as tsquery input takes it verbatim (no parsing, no stemming)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def frequencies(row: Mapping[Any, Any]) -> dict[str, float]:
    elements, frequencies = row["most_common_elems"] or [], row["most_common_elem_freqs"] or []
    return dict(zip(elements, frequencies, strict=False))  # the last three frequencies are summaries


@dataclass(frozen=True)
class Queries:
    """The tsquery texts of one search: which tickets are candidates (rare stems, None for none;
    pairs of key stems), and what ranks them (the key stems; all the stems)."""

    rare: str | None
    pairs: str
    key: str
    rank: str


def queries(
    terms: Sequence[str], key_terms: Sequence[str], frequency: Mapping[str, float], *, in_titles: bool
) -> Queries:
    """`in_titles`: the key stems are a ticket's title, so a pair of them must be in the other
    ticket's title too (weight A): two tickets alike, not two descriptions that both say "the
    Enterprise plan"."""
    # stems ANALYZE did not list are rarer than any it did
    rare = sorted(
        (term for term in terms if frequency.get(term, 0.0) <= RARE), key=lambda t: frequency.get(t, 0)
    )
    common_keys = [term for term in key_terms if term not in rare]
    weight = ":A" if in_titles else ""
    if len(common_keys) < 2:  # a title of rare words (or of one word): pair its most repeated stems
        common_keys, weight = [term for term in terms if term not in rare][:KEY_TERMS], ""
    pairs = [
        f"{_quoted(a)}{weight} & {_quoted(b)}{weight}" for a, b in itertools.combinations(common_keys, 2)
    ]
    if not pairs:  # one stem (or none) is all there is to go by
        pairs = [_quoted(term) + weight for term in (common_keys or terms)]
    key_weight = ":A" if in_titles else ""
    return Queries(
        rare=" | ".join(_quoted(term) for term in rare[:RARE_STEMS]) or None,
        pairs=" | ".join(f"({pair})" for pair in pairs) or "''",  # '' matches nothing
        key=" | ".join(_quoted(term) + key_weight for term in key_terms) or "''",
        rank=" | ".join(_quoted(term) for term in terms) or "''",
    )
