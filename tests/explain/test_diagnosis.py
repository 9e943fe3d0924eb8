"""What explain_query finds in real plans of the seeded database, and the indexes it verifies.

The case the tool must get right runs on a scratch copy of the tickets with only single-column
indexes plus (status, created_at): "the 50 newest open tickets of one assignee who has no open
tickets". The scratch schema is committed (the explain role reads through its own connection)
and dropped after the module.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.findings import Context, diagnose
from support_db_mcp.explain.plan import parse_plan
from support_db_mcp.schemas.explain import ExplainFinding, ExplainQueryResult
from tests.helpers import scalar

ONLY_SIMPLE_INDEXES = (
    "CREATE INDEX ON {table} (status, created_at)",
    "CREATE INDEX ON {table} (assignee_id)",
    "CREATE INDEX ON {table} (creator_id)",
    "CREATE INDEX ON {table} (created_at)",
)
NEWEST_OPEN_OF_ASSIGNEE = (
    "SELECT id, title, created_at FROM {table} WHERE assignee_id = $1 AND status = 'open' "
    "ORDER BY created_at DESC LIMIT 50"
)


@dataclass(frozen=True)
class Case:
    schema: str
    idle_agent: int  # an agent with tickets but none open
    open_tickets: int


@pytest_asyncio.fixture(scope="module")
async def case(engine: AsyncEngine) -> AsyncIterator[Case]:
    schema = f"explain_case_{secrets.token_hex(3)}"
    async with engine.begin() as connection:
        # the seed gives every agent but the last one open work
        idle = await scalar(connection, "SELECT max(id) FROM users WHERE role = 'agent'")
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
        for table in ("tickets", "tickets_as_seeded"):
            await connection.execute(
                text(
                    f"CREATE TABLE {schema}.{table} AS SELECT id, title, status, priority, creator_id, "
                    "assignee_id, created_at FROM public.tickets"
                )
            )
            await connection.execute(text(f"ALTER TABLE {schema}.{table} ADD PRIMARY KEY (id)"))
            for index in ONLY_SIMPLE_INDEXES:
                await connection.execute(text(index.format(table=f"{schema}.{table}")))
        # In `tickets` the idle agent worked a third of the finished tickets: the planner now expects
        # plenty of open ones for them and walks the (status, created_at) index newest first.
        await connection.execute(
            text(
                f"UPDATE {schema}.tickets SET assignee_id = :idle "
                "WHERE status IN ('resolved', 'closed') AND id % 3 = 0"
            ),
            {"idle": idle},
        )
        await connection.execute(text(f"ANALYZE {schema}.tickets"))
        await connection.execute(text(f"ANALYZE {schema}.tickets_as_seeded"))
        await connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {EXPLAIN_ROLE}"))
        await connection.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {EXPLAIN_ROLE}"))
        open_tickets = await scalar(
            connection, f"SELECT count(*) FROM {schema}.tickets WHERE status = 'open'"
        )
        assert (
            await scalar(
                connection,
                f"SELECT count(*) FROM {schema}.tickets WHERE status = 'open' AND assignee_id = :idle",
                idle=idle,
            )
            == 0
        )
    try:
        yield Case(schema, idle, open_tickets)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


async def index_count(connection: AsyncConnection, schema: str) -> int:
    return int(await scalar(connection, "SELECT count(*) FROM pg_indexes WHERE schemaname = :s", s=schema))


def only(result: ExplainQueryResult, kind: str) -> ExplainFinding:
    found = [finding for finding in result.findings if finding.kind == kind]
    assert len(found) == 1, [f"{f.kind}: {f.message}" for f in result.findings]
    return found[0]


async def test_an_assignee_without_open_tickets_walks_the_status_index_and_gets_a_verified_index(
    explainer: Explainer, case: Case, connection: AsyncConnection
) -> None:
    indexes = await index_count(connection, case.schema)
    sql = NEWEST_OPEN_OF_ASSIGNEE.format(table=f"{case.schema}.tickets")

    result = await explainer.explain_sql(sql, [case.idle_agent])

    [statement] = result.plan
    scan = statement.plan.children[0]
    assert statement.plan.node_type == "Limit"
    assert scan.label == f"Index Scan Backward using tickets_status_created_at_idx on {case.schema}.tickets"
    assert scan.actual_rows == 0
    assert scan.rows_removed_by_filter == case.open_tickets
    assert f"Rows Removed by Filter: {case.open_tickets:,}" in result.plan_text

    finding = only(result, "rows_removed_by_filter")
    assert finding.node == f"1.1 {scan.label}"
    assert finding.evidence["rows_removed_by_filter"] == case.open_tickets
    assert finding.evidence["rows_kept"] == 0
    assert finding.evidence["limit"] == 50
    assert f"removed {case.open_tickets:,} of them, keeping 0" in finding.message
    assert "no row matches" in finding.message

    suggestion = finding.suggestion
    assert suggestion is not None
    assert suggestion.create_index == (
        f"CREATE INDEX CONCURRENTLY ix_tickets_assignee_id_status_created_at ON {case.schema}.tickets "
        "(assignee_id, status, created_at DESC);"
    )
    assert suggestion.verified and suggestion.used_by_planner and suggestion.method == "rolled_back_build"
    assert suggestion.cost_after is not None and suggestion.cost_after < suggestion.cost_before
    assert suggestion.time_after_ms is not None and suggestion.time_before_ms is not None
    assert suggestion.time_after_ms < suggestion.time_before_ms
    assert f"estimated cost {suggestion.cost_before:,.0f} -> {suggestion.cost_after:,.0f}" in finding.message
    assert await index_count(connection, case.schema) == indexes  # the test index was rolled back


async def test_on_the_seeded_distribution_the_wasted_index_entries_are_named_and_fixed_the_same_way(
    explainer: Explainer, case: Case
) -> None:
    sql = NEWEST_OPEN_OF_ASSIGNEE.format(table=f"{case.schema}.tickets_as_seeded")

    result = await explainer.explain_sql(sql, [case.idle_agent])

    # Here the planner combines the two single-column indexes (BitmapAnd) instead of walking one.
    wasted = [
        f for f in result.findings if f.kind in {"index_covers_part_of_filter", "rows_removed_by_filter"}
    ]
    assert len(wasted) == 1, result.plan_text
    finding = wasted[0]
    read = finding.evidence.get("index_entries_read", finding.evidence.get("rows_removed_by_filter"))
    assert read == case.open_tickets
    assert finding.suggestion is not None and finding.suggestion.verified
    assert finding.suggestion.create_index.endswith(
        f"ON {case.schema}.tickets_as_seeded (assignee_id, status, created_at DESC);"
    )


async def test_a_sequential_scan_that_keeps_few_rows_gets_an_index_on_the_filtered_column(
    explainer: Explainer, connection: AsyncConnection
) -> None:
    title = await scalar(connection, "SELECT title FROM tickets WHERE title LIKE 'Invoice #%' LIMIT 1")
    kept = await scalar(connection, "SELECT count(*) FROM tickets WHERE title = :t", t=title)

    result = await explainer.explain_sql("SELECT id FROM tickets WHERE title = $1", [title])

    finding = only(result, "seq_scan_filter")
    assert finding.severity == "warning"
    assert finding.evidence["rows_kept"] == kept
    assert finding.evidence["rows_read"] == await scalar(connection, "SELECT count(*) FROM tickets")
    assert finding.suggestion is not None and finding.suggestion.verified
    assert (
        finding.suggestion.create_index
        == "CREATE INDEX CONCURRENTLY ix_tickets_title ON public.tickets (title);"
    )


async def test_a_limit_that_sorts_every_matching_row_gets_an_index_in_order_by_order(
    explainer: Explainer,
) -> None:
    result = await explainer.explain_sql(
        "SELECT id FROM tickets WHERE priority = 'low' ORDER BY updated_at DESC LIMIT 10", None
    )

    finding = only(result, "limit_reads_whole_input")
    assert finding.evidence["rows_returned"] == 10
    assert finding.evidence["rows_sorted"] > 5_000  # about a fifth of the tickets are low priority
    assert finding.suggestion is not None and finding.suggestion.verified
    assert finding.suggestion.create_index == (
        "CREATE INDEX CONCURRENTLY ix_tickets_priority_updated_at ON public.tickets "
        "(priority, updated_at DESC);"
    )


async def test_a_sort_larger_than_work_mem_is_reported_as_spilling_to_disk(explainer: Explainer) -> None:
    result = await explainer.explain_sql("SELECT id, description FROM tickets ORDER BY description", None)

    finding = only(result, "sort_spill")
    assert finding.evidence["sort_method"] == "external merge"
    assert int(finding.evidence["disk_kb"]) > 0
    assert finding.advice is not None and "work_mem" in finding.advice
    assert finding.suggestion is None  # a full sort with no LIMIT stays a sort


async def test_correlated_columns_give_a_misestimate_with_extended_statistics_advice(
    explainer: Explainer,
) -> None:
    # recent tickets are mostly open, so "closed and recent" is far rarer than the planner assumes
    result = await explainer.explain_sql(
        "SELECT * FROM tickets WHERE status = 'closed' AND created_at > now() - interval '60 days'", None
    )

    finding = only(result, "misestimate")
    assert float(finding.evidence["estimated_rows"]) > 10 * float(finding.evidence["actual_rows"])
    assert finding.advice is not None
    assert "ANALYZE public.tickets;" in finding.advice
    assert "CREATE STATISTICS st_tickets_created_at_status (dependencies, mcv) ON created_at, status" in (
        finding.advice
    )


async def test_a_nested_loop_repeating_an_index_probe_gets_a_partial_index(explainer: Explainer) -> None:
    result = await explainer.explain_sql(
        "SELECT t.id, x.n FROM (SELECT * FROM tickets ORDER BY id LIMIT 1500) t CROSS JOIN LATERAL "
        "(SELECT count(*) AS n FROM comments c WHERE c.author_id = t.creator_id AND c.is_internal) x",
        None,
    )

    finding = only(result, "nested_loop_many_loops")
    assert finding.evidence["loops"] == 1_500
    assert finding.suggestion is not None and finding.suggestion.verified
    assert finding.suggestion.create_index == (
        "CREATE INDEX CONCURRENTLY ix_comments_author_id_partial ON public.comments (author_id) "
        "WHERE is_internal;"
    )


async def test_a_pattern_with_a_leading_wildcard_gets_a_trigram_index_marked_unverified(
    explainer: Explainer,
) -> None:
    result = await explainer.explain_sql("SELECT id FROM tickets WHERE title ILIKE '%vat number%'", None)

    finding = only(result, "seq_scan_filter")
    suggestion = finding.suggestion
    assert suggestion is not None
    assert suggestion.create_index == (
        "CREATE INDEX CONCURRENTLY ix_tickets_title_trgm ON public.tickets USING gin (title gin_trgm_ops);"
    )
    assert suggestion.verified is False and suggestion.method == "not_verified"
    assert "pg_trgm" in suggestion.note


async def test_the_estimated_plan_runs_nothing_and_still_finds_the_sequential_scan(
    explainer: Explainer, connection: AsyncConnection
) -> None:
    title = await scalar(connection, "SELECT title FROM tickets WHERE title LIKE 'Invoice #%' LIMIT 1")

    result = await explainer.explain_sql("SELECT id FROM tickets WHERE title = $1", [title], analyze=False)

    [statement] = result.plan
    assert statement.analyzed is False and statement.execution_ms is None
    assert statement.plan.actual_rows is None and "actual" not in result.plan_text
    assert "analyze=false: estimated plan only; the query was not run" in result.notes
    finding = only(result, "seq_scan_filter")
    assert "table_rows_estimate" in finding.evidence
    assert finding.suggestion is not None and finding.suggestion.verified
    assert finding.suggestion.time_after_ms is None


async def test_placeholders_without_values_give_the_generic_plan(explainer: Explainer) -> None:
    result = await explainer.explain_sql(
        "SELECT id FROM tickets WHERE assignee_id = $1 AND status = $2", None, analyze=False
    )
    assert "$1" in result.plan_text and "$2" in result.plan_text
    assert result.plan[0].parameters == []


async def test_a_fast_indexed_query_has_no_findings(explainer: Explainer) -> None:
    result = await explainer.explain_sql("SELECT * FROM tickets WHERE id = $1", [42])
    assert result.findings == []
    assert result.plan[0].plan.index == "pk_tickets"
    assert result.sql_statements >= 1 and result.elapsed_ms > 0


def _spilling_plan() -> list[dict[str, Any]]:
    return [
        {
            "Plan": {
                "Node Type": "Hash Join",
                "Join Type": "Inner",
                "Total Cost": 9000.0,
                "Plan Rows": 100000,
                "Actual Rows": 100000.0,
                "Actual Loops": 1,
                "Actual Total Time": 900.0,
                "Hash Cond": "(c.ticket_id = t.id)",
                "Plans": [
                    {"Node Type": "Seq Scan", "Relation Name": "comments", "Schema": "public", "Alias": "c",
                     "Plan Rows": 100000, "Actual Rows": 100000.0, "Actual Loops": 1, "Total Cost": 2000.0},
                    {
                        "Node Type": "Hash",
                        "Plan Rows": 50000,
                        "Actual Rows": 50000.0,
                        "Actual Loops": 1,
                        "Total Cost": 3000.0,
                        "Hash Batches": 8,
                        "Original Hash Batches": 1,
                        "Peak Memory Usage": 4096,
                        "Temp Written Blocks": 2500,
                        "Plans": [
                            {"Node Type": "Seq Scan", "Relation Name": "tickets", "Schema": "public",
                             "Alias": "t", "Plan Rows": 50000, "Actual Rows": 50000.0, "Actual Loops": 1,
                             "Total Cost": 2500.0},
                        ],
                    },
                ],
            },
            "Execution Time": 905.0,
        }
    ]  # fmt: skip


def test_a_hash_split_into_batches_on_disk_is_reported_with_work_mem_advice() -> None:
    plan = parse_plan(_spilling_plan())
    [finding] = [f for f in diagnose(plan, Context(relations={})) if f.kind == "hash_spill"]
    assert finding.node.path == "1.2"
    assert finding.evidence == {"batches": 8, "rows": 50_000, "disk_kb": 20_000}
    assert finding.advice is not None and "work_mem" in finding.advice


def test_a_cross_join_read_through_index_only_scans_is_still_a_cartesian_product() -> None:
    def scan(alias: str) -> dict[str, Any]:
        return {
            "Node Type": "Index Only Scan",
            "Index Name": "pk_tickets",
            "Relation Name": "tickets",
            "Schema": "public",
            "Alias": alias,
            "Plan Rows": 30000,
            "Total Cost": 800.0,
        }

    cross_join = {
        "Node Type": "Nested Loop",
        "Join Type": "Inner",
        "Plan Rows": 900_000_000,
        "Total Cost": 1.1e7,
        "Plans": [scan("a"), {"Node Type": "Materialize", "Plan Rows": 30000, "Plans": [scan("b")]}],
    }
    plan = parse_plan([{"Plan": {"Node Type": "Aggregate", "Plan Rows": 1, "Plans": [cross_join]}}])

    [finding] = diagnose(plan, Context(relations={}))
    assert finding.kind == "cartesian_product" and finding.node.path == "1.1"
    assert finding.evidence["estimated_rows"] == 900_000_000
