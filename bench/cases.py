"""The benchmark's cases, and for each the floor: the best hand-written SQL for the same rows.

A case is one tool call. Its floor is one statement, written by hand for bare asyncpg, that returns
the same rows field for field (a page asks for limit + 1 rows, as the tool does, to know whether
there is more); the TypeScript reference server gets the same statement with the values written
in, since its `query` tool takes SQL text only. `same_rows` checks that the three agree.

find_similar_tickets (case 8) has no hand-written equivalent short of writing its ranking again:
its floor is the two statements our tool sends, as captured from it and sent by bare asyncpg (two
round trips), and the reference server runs the second one (the ranking, which returns the rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.databases import CaseInputs
from support_db_mcp.schemas.tickets import HISTORY_LIMIT

LIMIT = 50

_SUMMARY = """t.id, t.number, t.title, t.status, t.priority, t.created_at, t.updated_at,
  c.id AS creator_id, c.full_name AS creator_full_name, c.email AS creator_email,
  a.id AS assignee_id, a.full_name AS assignee_full_name, a.email AS assignee_email,
  ARRAY(SELECT g.name FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id
        WHERE tt.ticket_id = t.id ORDER BY g.name) AS tags,
  (SELECT count(*) FROM comments m WHERE m.ticket_id = t.id) AS comment_count"""
_FROM = "FROM tickets t JOIN users c ON c.id = t.creator_id LEFT JOIN users a ON a.id = t.assignee_id"
_PAGE = f"ORDER BY t.created_at DESC, t.id DESC LIMIT {LIMIT + 1}"


def _search(where: str) -> str:
    return f"SELECT {_SUMMARY}\n{_FROM}\nWHERE {where}\n{_PAGE}"


_GET = f"""SELECT {_SUMMARY}, t.description,
  (SELECT {{comments}} FROM comments m JOIN users u ON u.id = m.author_id WHERE m.ticket_id = t.id)
    AS comments,
  (SELECT {{history}} FROM (SELECT e.* FROM ticket_events e WHERE e.ticket_id = t.id
                           ORDER BY e.id DESC LIMIT {HISTORY_LIMIT + 1}) e
   JOIN users u ON u.id = e.actor_id) AS history
{_FROM}
WHERE t.id = $1"""  # noqa: S608 (our own fragments, no input)
# bare asyncpg decodes an array of rows in C; node-postgres has no decoder for it, so the
# reference server gets the same comments as JSON (which it parses into objects)
_ROWS = (
    "array_agg((m.id, m.body, m.is_internal, m.created_at, u.id, u.full_name, u.email) "
    "ORDER BY m.created_at, m.id)"
)
_JSON = (
    "json_agg(json_build_object('id', m.id, 'body', m.body, 'internal', m.is_internal, "
    "'created_at', m.created_at, 'author_id', u.id, 'author_full_name', u.full_name, "
    "'author_email', u.email) ORDER BY m.created_at, m.id)"
)
# the latest changes (get_ticket's history), newest first, one more than shown
_EVENT_ROWS = (
    "array_agg((e.created_at, e.tool, e.field, e.old_value, e.new_value, u.id, u.full_name, u.email) "
    "ORDER BY e.id DESC)"
)
_EVENT_JSON = (
    "json_agg(json_build_object('at', e.created_at, 'tool', e.tool, 'field', e.field, 'from', "
    "e.old_value, 'to', e.new_value, 'actor_id', u.id, 'actor_full_name', u.full_name, "
    "'actor_email', u.email) ORDER BY e.id DESC)"
)


@dataclass
class Case:
    key: str
    title: str
    tool: str
    arguments: dict[str, Any]
    floor_sql: str
    floor_args: list[Any]
    reference_sql: str = ""  # the floor's statement with its values written in
    is_search: bool = True  # a list of tickets (else one ticket with its comments)
    notes: list[str] = field(default_factory=list)
    # statements the floor sends before `floor_sql`, each (sql, args): case 8's first statement
    floor_before: list[tuple[str, list[Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.reference_sql:
            self.reference_sql = literal(self.floor_sql, self.floor_args)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def literal(sql: str, args: list[Any]) -> str:
    """`sql` with $1..$n replaced by the values, highest number first ($10 before $1)."""
    for number in range(len(args), 0, -1):
        sql = sql.replace(f"${number}", _quote(args[number - 1]))
    return sql


SIMILAR_ARGUMENTS = {"limit": 5}  # and the ticket: the long ticket of the database


def similar_arguments(inputs: CaseInputs) -> dict[str, Any]:
    return {"ticket": str(inputs.long_ticket), **SIMILAR_ARGUMENTS}


def read_cases(
    inputs: CaseInputs,
    page_position: tuple[datetime, int],
    page: int,
    similar: list[tuple[str, list[Any]]],
) -> list[Case]:
    """Cases 1 to 6 and 8 (7 is create_ticket, timed under HTTP load); case 5's cursor is filled in
    once our server has paged to it; `similar` is what find_similar_tickets sent for case 8 (each
    statement's SQL and values)."""
    get = Case(
        "6_get_ticket_50_comments",
        "get_ticket: a ticket with 50 comments",
        "get_ticket",
        {"ticket": str(inputs.long_ticket)},
        _GET.format(comments=_ROWS, history=_EVENT_ROWS),
        [inputs.long_ticket],
        is_search=False,
    )
    get.reference_sql = literal(_GET.format(comments=_JSON, history=_EVENT_JSON), [inputs.long_ticket])
    *before, (ranking_sql, ranking_args) = similar
    closest = Case(
        "8_similar_to_a_ticket",
        f"find_similar_tickets: the {SIMILAR_ARGUMENTS['limit']} closest to a ticket",
        "find_similar_tickets",
        similar_arguments(inputs),
        ranking_sql,
        ranking_args,
        floor_before=before,
        notes=["floor: our own 2 statements on bare asyncpg; reference: the ranking statement"],
    )
    return [
        Case(
            "1_assignee_open",
            f"search: one assignee's open tickets, newest first, limit {LIMIT}",
            "search_tickets",
            {"assignee_id": inputs.busy_assignee, "status": "open", "limit": LIMIT},
            _search("t.assignee_id = $1 AND t.status = 'open'"),
            [inputs.busy_assignee],
        ),
        Case(
            "2_assignee_without_open",
            "search: same, for an assignee with no open tickets",
            "search_tickets",
            {"assignee_id": inputs.idle_assignee, "status": "open", "limit": LIMIT},
            _search("t.assignee_id = $1 AND t.status = 'open'"),
            [inputs.idle_assignee],
        ),
        Case(
            "3_text_and_status",
            f'search: free text "refund", status open, limit {LIMIT}',
            "search_tickets",
            {"text": "refund", "status": "open", "limit": LIMIT},
            _search("t.search_vector @@ websearch_to_tsquery('english', $1) AND t.status = 'open'"),
            ["refund"],
        ),
        Case(
            "4_tag",
            f'search: tag "vip", limit {LIMIT}',
            "search_tickets",
            {"tag": "vip", "limit": LIMIT},
            _search(
                "t.id IN (SELECT tt.ticket_id FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id "
                "WHERE g.name = $1)"
            ),
            ["vip"],
        ),
        Case(
            "5_page_20",
            f"search: page {page} through next_cursor (no filter, limit {LIMIT})",
            "search_tickets",
            {"limit": LIMIT},
            _search("(t.created_at, t.id) < ($1, $2)"),
            [page_position[0], page_position[1]],
        ),
        get,
        closest,
    ]


# ---------------------------------------------------------------- the same rows, field for field
def _id(value: Any) -> int | None:
    """node-postgres returns bigint as text."""
    return None if value is None else int(value)


def _summary_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        _id(row["id"]),
        row["number"],
        row["title"],
        str(row["status"]),
        str(row["priority"]),
        _id(row["creator_id"]),
        row["creator_email"],
        _id(row["assignee_id"]),
        row["assignee_email"],
        tuple(row["tags"] or ()),
        int(row["comment_count"]),
        _to_ms(row["created_at"]),
    )


def _to_ms(value: Any) -> str:
    """A time to the millisecond as text (node-postgres keeps milliseconds only)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.isoformat(timespec="milliseconds")


def _ours_as_rows(case: Case, structured: dict[str, Any]) -> list[dict[str, Any]]:
    tickets = structured["tickets"] if case.is_search else [structured["ticket"]]
    rows = []
    for ticket in tickets:
        assignee = ticket.get("assignee") or {}
        rows.append(
            {
                **ticket,
                "creator_id": ticket["creator"]["id"],
                "creator_email": ticket["creator"]["email"],
                "assignee_id": assignee.get("id"),
                "assignee_email": assignee.get("email"),
            }
        )
    return rows


def _comments_key(comments: list[Any]) -> list[tuple[Any, ...]]:
    keyed = []
    for comment in comments or ():
        if isinstance(comment, dict):  # ours (author nested) or the reference's JSON (author_*)
            author = comment.get("author") or {"id": comment.get("author_id")}
            keyed.append((_id(comment["id"]), comment["body"], comment["internal"], _id(author["id"])))
        else:  # a row decoded by asyncpg
            keyed.append((comment[0], comment[1], comment[2], comment[4]))
    return keyed


def _history_key(events: list[Any]) -> list[tuple[Any, ...]]:
    """Changes oldest first, as ours shows them, from any of the three (the floor's and the
    reference's come newest first, one more than shown)."""
    keyed = []
    for event in events or ():
        if isinstance(event, dict):
            actor = (event.get("actor") or {}).get("id", event.get("actor_id"))
            keyed.append((event["tool"], event["field"], event["from"], event["to"], _id(actor)))
        else:
            keyed.append((event[1], event[2], event[3], event[4], event[5]))
    return keyed


def same_rows(
    case: Case, ours: dict[str, Any], floor: list[dict[str, Any]], reference: list[dict[str, Any]]
) -> list[str]:
    """What differs between our answer, the floor's rows and the reference server's rows (empty:
    the same rows, field for field). The floor reads limit + 1 rows, as our tool does."""
    problems = []
    mine = [_summary_key(row) for row in _ours_as_rows(case, ours)]
    shown = LIMIT if case.is_search else 1
    for name, rows in (("floor", floor), ("reference server", reference)):
        theirs = [_summary_key(row) for row in rows[:shown]]
        if mine != theirs:
            problems.append(f"{case.key}: our rows differ from the {name}'s")
        comments = _comments_key(rows[0]["comments"]) if rows and not case.is_search else None
        if comments is not None and _comments_key(ours["ticket"]["comments"]) != comments:
            problems.append(f"{case.key}: our comments differ from the {name}'s")
        if rows and not case.is_search:
            latest = _history_key(rows[0]["history"])[:HISTORY_LIMIT]
            if _history_key(ours["history"]) != latest[::-1]:
                problems.append(f"{case.key}: our history differs from the {name}'s")
    return problems
