"""Each index of the schema is justified by a real plan of a query the tools run.

The plans are read with EXPLAIN (ANALYZE, FORMAT JSON) on the seeded test database (30,000
tickets), from the exact statements the services build.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.schemas.keys import TicketRef
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.services.ticket_read import ticket_statement
from support_db_mcp.services.ticket_search import search_statement
from tests.helpers import scalar


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def plan_of(connection: AsyncConnection, statement: Executable | str) -> list[dict[str, Any]]:
    """The plan of `statement` as the services send it: the same SQL, its values as bind parameters."""
    if isinstance(statement, str):
        result = await connection.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}"))
    else:
        compiled = statement.compile(dialect=connection.dialect)
        values = compiled.construct_params()
        arguments = tuple(values[name] for name in compiled.positiontup or ())
        result = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled.string}", arguments
        )
    document = result.scalar_one()
    return list(_nodes(document[0]["Plan"]))


def _main_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The nodes that produce the result's rows, without the per-row subplans (a ticket's tags)."""
    yield plan
    for child in plan.get("Plans", []):
        if child.get("Parent Relationship") != "SubPlan":
            yield from _main_nodes(child)


async def main_plan_of(connection: AsyncConnection, statement: Executable) -> list[dict[str, Any]]:
    nodes = await plan_of(connection, statement)
    return list(_main_nodes(nodes[0]))


def scans_of(nodes: list[dict[str, Any]], table: str) -> list[tuple[str, str | None]]:
    return [(n["Node Type"], n.get("Index Name")) for n in nodes if n.get("Relation Name") == table]


async def test_the_unfiltered_newest_first_page_walks_the_created_at_index_without_sorting(
    connection: AsyncConnection,
) -> None:
    nodes = await plan_of(connection, search_statement(TicketSearch(limit=20), None))
    assert scans_of(nodes, "tickets") == [("Index Scan", "ix_tickets_created_at_id")]
    # the only sorts are of each ticket's own few tags, inside the per-row subplan
    assert not any(
        n["Node Type"] == "Sort"
        for n in await main_plan_of(connection, search_statement(TicketSearch(limit=20), None))
    )


async def test_the_next_page_starts_inside_the_index_instead_of_skipping_rows(
    connection: AsyncConnection,
) -> None:
    from support_db_mcp.services.pagination import KeysetPosition

    row = (
        await connection.execute(text("SELECT created_at, id FROM tickets ORDER BY id LIMIT 1 OFFSET 15000"))
    ).one()
    nodes = await plan_of(
        connection, search_statement(TicketSearch(limit=20), KeysetPosition(row[0], row[1]))
    )
    [ticket_scan] = [n for n in nodes if n.get("Relation Name") == "tickets"]
    assert ticket_scan["Index Name"] == "ix_tickets_created_at_id"
    assert "Index Cond" in ticket_scan  # the keyset bound is an index condition, not a filter
    assert ticket_scan["Actual Rows"] * ticket_scan["Actual Loops"] == 21


async def test_open_tickets_of_an_assignee_with_none_cost_one_probe_of_the_assignee_index(
    connection: AsyncConnection,
) -> None:
    idle_agent = await scalar(
        connection,
        "SELECT u.id FROM users u WHERE u.role = 'agent' AND NOT EXISTS "
        "(SELECT 1 FROM tickets t WHERE t.assignee_id = u.id AND t.status = 'open') "
        "AND EXISTS (SELECT 1 FROM tickets t WHERE t.assignee_id = u.id) ORDER BY u.id LIMIT 1",
    )
    assert idle_agent is not None, "the seed keeps one agent without open tickets"
    search = TicketSearch(assignee_id=idle_agent, status=["open"], limit=50)
    nodes = await plan_of(connection, search_statement(search, None))
    [ticket_scan] = [n for n in nodes if n.get("Relation Name") == "tickets"]
    assert ticket_scan["Index Name"] == "ix_tickets_assignee_status_created_at"
    assert "assignee_id" in ticket_scan["Index Cond"] and "status" in ticket_scan["Index Cond"]
    assert ticket_scan.get("Rows Removed by Filter", 0) == 0
    assert ticket_scan["Actual Rows"] == 0


async def test_the_unassigned_queue_walks_its_partial_index_in_order_without_sorting(
    connection: AsyncConnection,
) -> None:
    for search in (TicketSearch(unassigned=True, status=["open"], limit=50), TicketSearch(unassigned=True)):
        main = await main_plan_of(connection, search_statement(search, None))
        assert scans_of(main, "tickets") == [("Index Scan", "ix_tickets_unassigned_created_at")], search
        assert not any(n["Node Type"] == "Sort" for n in main), search


async def test_a_creators_tickets_come_from_the_creator_index(connection: AsyncConnection) -> None:
    creator = await scalar(
        connection, "SELECT creator_id FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    nodes = await plan_of(connection, search_statement(TicketSearch(creator_id=creator), None))
    assert scans_of(nodes, "tickets") == [("Index Scan", "ix_tickets_creator_created_at")]


async def test_a_rare_word_is_found_through_the_full_text_gin_index(connection: AsyncConnection) -> None:
    await connection.execute(
        text("UPDATE tickets SET description = description || ' xylophone' WHERE id IN (5, 500, 5000)")
    )
    nodes = await plan_of(connection, search_statement(TicketSearch(text="xylophone"), None))
    assert ("Bitmap Index Scan", "ix_tickets_search_vector") in [
        (n["Node Type"], n.get("Index Name")) for n in nodes
    ]


async def test_a_rare_tag_is_found_through_the_tag_index(connection: AsyncConnection) -> None:
    await connection.execute(text("INSERT INTO tags (name) VALUES ('rare-tag')"))
    await connection.execute(
        text(
            "INSERT INTO ticket_tags (ticket_id, tag_id) "
            "SELECT id, (SELECT id FROM tags WHERE name = 'rare-tag') FROM tickets WHERE id % 5000 = 1"
        )
    )
    tag_id = await scalar(connection, "SELECT id FROM tags WHERE name = 'rare-tag'")
    nodes = await main_plan_of(connection, search_statement(TicketSearch(tag="rare-tag"), None, tag_id))
    assert scans_of(nodes, "ticket_tags") == [("Index Only Scan", "ix_ticket_tags_tag_id_ticket_id")]


async def test_old_open_tickets_come_from_the_status_index(connection: AsyncConnection) -> None:
    oldest = await scalar(connection, "SELECT min(created_at) FROM tickets")
    search = TicketSearch(status=["open"], created_before=oldest + timedelta(days=200), limit=20)
    nodes = await plan_of(connection, search_statement(search, None))
    assert scans_of(nodes, "tickets") == [("Index Scan", "ix_tickets_status_created_at_id")]


async def test_a_tickets_comments_come_from_the_comment_index(connection: AsyncConnection) -> None:
    ticket_id = await scalar(connection, "SELECT ticket_id FROM comments ORDER BY ticket_id DESC LIMIT 1")
    from support_db_mcp.models import Comment

    statement = Comment.__table__.select().where(Comment.ticket_id == ticket_id).order_by(Comment.created_at)
    nodes = await plan_of(connection, statement)
    assert scans_of(nodes, "comments")[0][1] == "ix_comments_ticket_id_created_at"
    nodes = await plan_of(connection, ticket_statement(TicketRef(id=ticket_id)))
    assert scans_of(nodes, "tickets") == [("Index Scan", "pk_tickets")]


async def test_removing_a_user_checks_their_comments_through_the_author_index(
    connection: AsyncConnection,
) -> None:
    author = await scalar(connection, "SELECT author_id FROM comments GROUP BY 1 ORDER BY count(*) LIMIT 1")
    nodes = await plan_of(connection, f"SELECT count(*) FROM comments WHERE author_id = {int(author)}")
    assert [n.get("Index Name") for n in nodes if "Index" in n["Node Type"]] == ["ix_comments_author_id"]


async def test_similar_tickets_come_from_the_full_text_index_and_the_newest_rows_by_primary_key(
    connection: AsyncConnection,
) -> None:
    from support_db_mcp.schemas.similar import SimilarSearch
    from support_db_mcp.services.similar import ranking_statement
    from support_db_mcp.services.similar_terms import queries

    await connection.execute(
        text("UPDATE tickets SET description = description || ' xylophone' WHERE id IN (5, 500, 5000)")
    )
    found = queries(
        ["xylophon", "refund", "order"], ["refund", "order"], {"refund": 0.1, "order": 0.2}, in_titles=True
    )
    statement = ranking_statement(SimilarSearch(ticket=5, limit=5), found, exclude_id=5)
    nodes = await plan_of(connection, statement)
    scans = [(n["Node Type"], n.get("Index Name")) for n in nodes if n.get("Relation Name") == "tickets"]
    # the rare stem through the GIN index, the window of the newest tickets through the primary key
    assert ("Bitmap Index Scan", "ix_tickets_search_vector") in [
        (n["Node Type"], n.get("Index Name")) for n in nodes
    ]
    assert ("Index Scan", "pk_tickets") in scans
    assert not any(node == "Seq Scan" for node, _ in scans)
