"""Honest verdicts on a desk the size of the demo one: small tables still get the advice their
query shape calls for, verified; tables of a few pages get no alarm; the verdict never says
"nothing to fix" while a node reads or sorts ten times what it returns.

The scratch schema holds 2,000 tickets with the production indexes on (created_at, id) and
(status, created_at, id), a deterministic status and priority mix, and a 300-row users table of a
few pages. It is committed (the explain role reads through its own connection) and dropped after
the module.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.explain.catalog import RelationInfo
from support_db_mcp.explain.diagnosis import diagnose
from support_db_mcp.explain.findings import Context
from support_db_mcp.explain.plan import parse_plan
from support_db_mcp.explain.verdict import verdict
from support_db_mcp.schemas.explain import ExplainQueryResult
from tests.helpers import scalar

NOTHING_TO_FIX = "explain_query found nothing to fix"


@pytest_asyncio.fixture(scope="module")
async def desk(engine: AsyncEngine) -> AsyncIterator[str]:
    schema = f"small_desk_{secrets.token_hex(3)}"
    async with engine.begin() as connection:
        for statement in (
            f"CREATE SCHEMA {schema}",
            f"CREATE TABLE {schema}.tickets AS SELECT id, title, status, priority, creator_id, created_at "
            "FROM public.tickets ORDER BY id LIMIT 2000",
            # one ticket in seven open, one in twenty urgent: the counts below follow from the ids
            f"UPDATE {schema}.tickets SET status = CASE WHEN id % 7 = 0 THEN 'open' ELSE 'closed' END::"
            "ticket_status, priority = CASE WHEN id % 20 = 0 THEN 'urgent' "
            "ELSE (ARRAY['low','normal','high'])[id % 3 + 1] END::ticket_priority",
            f"ALTER TABLE {schema}.tickets ADD PRIMARY KEY (id)",
            f"CREATE INDEX ON {schema}.tickets (created_at DESC, id DESC)",
            f"CREATE INDEX ON {schema}.tickets (status, created_at DESC, id DESC)",
            f"CREATE TABLE {schema}.users AS SELECT id, email, full_name, role FROM public.users",
            f"ANALYZE {schema}.tickets",
            f"ANALYZE {schema}.users",
            f"GRANT USAGE ON SCHEMA {schema} TO {EXPLAIN_ROLE}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {EXPLAIN_ROLE}",
        ):
            await connection.execute(text(statement))
        assert (
            await scalar(connection, f"SELECT relpages FROM pg_class WHERE oid = '{schema}.users'::regclass")
            <= 10
        )
    try:
        yield schema
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def kinds(result: ExplainQueryResult) -> list[str]:
    return [finding.kind for finding in result.findings]


async def test_a_sort_of_every_open_ticket_to_return_twenty_is_a_finding_with_a_verified_index(
    explainer: Explainer, desk: str
) -> None:
    result = await explainer.explain_sql(
        f"SELECT id, title FROM {desk}.tickets WHERE status = 'open' "
        "ORDER BY priority, created_at DESC LIMIT 20",
        None,
    )

    [statement] = result.plan
    [finding] = result.findings
    assert finding.kind == "limit_reads_whole_input" and finding.severity == "info"
    assert finding.evidence["rows_returned"] == 20
    assert finding.evidence["rows_sorted"] == 2000 // 7  # every open ticket was read and sorted
    assert "tickets is small (~2,000 rows" in finding.message
    assert finding.suggestion is not None and finding.suggestion.verified
    assert finding.suggestion.create_index == (
        f"CREATE INDEX CONCURRENTLY ix_tickets_status_priority_created_at ON {desk}.tickets "
        "(status, priority, created_at DESC);"
    )
    for claim in ("stops early", "stop early", NOTHING_TO_FIX):
        assert claim not in statement.verdict and claim not in result.plan_text
    assert statement.verdict.startswith("It returned 20 rows after reading 285 table rows and sorting 285")
    assert "Every table it reads is small" in statement.verdict
    assert f"Verdict: {statement.verdict}" in result.plan_text


async def test_an_index_walk_that_filters_away_most_rows_on_a_small_table_gets_the_index_a_large_one_needs(
    explainer: Explainer, desk: str
) -> None:
    result = await explainer.explain_sql(
        f"SELECT id FROM {desk}.tickets WHERE priority = 'urgent' ORDER BY created_at DESC LIMIT 20",
        None,
    )

    assert result.findings, result.plan_text
    finding = result.findings[0]
    assert finding.suggestion is not None and finding.suggestion.verified, finding.message
    assert finding.suggestion.create_index.endswith(f"ON {desk}.tickets (priority, created_at DESC);")
    assert NOTHING_TO_FIX not in result.plan[0].verdict


async def test_a_walk_that_an_existing_index_would_serve_names_that_index_instead_of_a_new_one(
    explainer: Explainer, desk: str
) -> None:
    # ascending order: the planner may walk (created_at DESC, id DESC) backwards and filter on status,
    # although (status, created_at DESC, id DESC) serves the shape
    result = await explainer.explain_sql(
        f"SELECT id FROM {desk}.tickets WHERE status = 'open' ORDER BY created_at LIMIT 20", None
    )
    for finding in result.findings:
        assert finding.suggestion is None
        assert "already leads with the columns this shape calls for, so no new index is needed" in (
            finding.message
        )
    if not result.findings:
        assert result.plan[0].plan.children[0].index == "tickets_status_created_at_id_idx"


async def test_a_sequential_scan_of_a_table_of_a_few_pages_raises_no_alarm_but_the_verdict_says_why(
    explainer: Explainer, desk: str, engine: AsyncEngine
) -> None:
    async with engine.connect() as connection:
        name = await scalar(connection, f"SELECT full_name FROM {desk}.users ORDER BY id LIMIT 1")
        users = await scalar(connection, f"SELECT count(*) FROM {desk}.users")

    result = await explainer.explain_sql(f"SELECT id FROM {desk}.users WHERE full_name = $1", [name])

    assert result.findings == []
    verdict_text = result.plan[0].verdict
    assert NOTHING_TO_FIX in verdict_text
    assert f"an index would save next to nothing: users ({users:,} rows read, 1 kept)" in verdict_text
    assert "Every table it reads is small (the largest, users" in verdict_text


async def test_a_sort_without_a_limit_gets_no_limit_advice(explainer: Explainer, desk: str) -> None:
    result = await explainer.explain_sql(
        f"SELECT id FROM {desk}.tickets WHERE status = 'open' ORDER BY priority", None
    )
    assert "limit_reads_whole_input" not in kinds(result)
    assert all("LIMIT" not in finding.message for finding in result.findings)


async def test_an_estimated_plan_says_its_rows_are_guesses(explainer: Explainer, desk: str) -> None:
    result = await explainer.explain_sql(f"SELECT id FROM {desk}.tickets WHERE id = $1", None, analyze=None)
    [statement] = result.plan
    assert not statement.analyzed
    assert statement.verdict.startswith("Estimated plan only (not run)")
    assert "guesses" in statement.verdict


# ---------------------------------------------------------------- the rules on a plan document
def _top_n_plan(sorted_rows: int, relation_rows: float, pages: int) -> tuple[Any, Context]:
    document = [
        {
            "Plan": {
                "Node Type": "Limit", "Plan Rows": 20, "Actual Rows": 20.0, "Actual Loops": 1,
                "Total Cost": 50.0, "Actual Total Time": 0.3,
                "Plans": [{
                    "Node Type": "Sort", "Plan Rows": sorted_rows, "Actual Rows": 20.0, "Actual Loops": 1,
                    "Sort Key": ["t.priority", "t.created_at DESC"], "Sort Method": "top-N heapsort",
                    "Total Cost": 49.0, "Actual Total Time": 0.29,
                    "Plans": [{
                        "Node Type": "Seq Scan", "Relation Name": "tickets", "Schema": "public", "Alias": "t",
                        "Plan Rows": sorted_rows, "Actual Rows": float(sorted_rows), "Actual Loops": 1,
                        "Total Cost": 40.0, "Actual Total Time": 0.2,
                    }],
                }],
            },
            "Execution Time": 0.31,
        }
    ]  # fmt: skip
    info = RelationInfo("public", "tickets", rows=relation_rows, pages=pages, columns={"priority": "x"})
    return parse_plan(document), Context(relations={("public", "tickets"): info})


def test_a_limit_over_a_sort_of_ten_times_its_rows_on_a_small_table_is_an_info_finding() -> None:
    plan, context = _top_n_plan(206, 2_000, 40)
    [finding] = diagnose(plan, context)
    assert finding.kind == "limit_reads_whole_input" and finding.severity == "info"
    said = verdict(plan, [finding], context)
    assert NOTHING_TO_FIX not in said and "stops early" not in said
    assert "work that grows with the table" in said


def test_the_same_sort_of_a_table_of_a_few_pages_is_no_finding_and_the_verdict_names_it() -> None:
    plan, context = _top_n_plan(206, 206, 3)
    assert diagnose(plan, context) == []
    said = verdict(plan, [], context)
    assert "tickets (206 rows sorted for 20)" in said


def test_on_a_large_table_a_sort_of_ten_times_the_limit_is_still_below_the_alarm_threshold() -> None:
    plan, context = _top_n_plan(206, 1_000_000, 40_000)
    assert diagnose(plan, context) == []  # not small, and under MIN_REMOVED: nothing to say
    said = verdict(plan, [], context)
    assert "Every table it reads is small" not in said
    assert "an index would save next to nothing: tickets (206 rows sorted for 20)" in said
