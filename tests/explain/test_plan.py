"""The typed plan tree: totals over loops, the text form, and reading EXPLAIN's conditions back."""

from __future__ import annotations

import json
from typing import Any

from support_db_mcp.explain.conditions import Predicate, SortKey, predicates, sort_keys
from support_db_mcp.explain.plan import parse_plan
from support_db_mcp.explain.plan_text import render_text


def _nested_loop_document() -> list[dict[str, Any]]:
    """A plan as EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) gives it (trimmed)."""
    return [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Join Type": "Inner",
                "Startup Cost": 0.29,
                "Total Cost": 2100.5,
                "Plan Rows": 40,
                "Actual Total Time": 35.5,
                "Actual Rows": 2500.0,
                "Actual Loops": 1,
                "Shared Hit Blocks": 3000,
                "Shared Read Blocks": 12,
                "Plans": [
                    {
                        "Node Type": "Seq Scan",
                        "Parent Relationship": "Outer",
                        "Relation Name": "users",
                        "Schema": "public",
                        "Alias": "u",
                        "Startup Cost": 0.0,
                        "Total Cost": 7.75,
                        "Plan Rows": 30,
                        "Actual Total Time": 0.2,
                        "Actual Rows": 1000.0,
                        "Actual Loops": 1,
                        "Filter": "(u.role = 'agent'::user_role)",
                        "Rows Removed by Filter": 270,
                    },
                    {
                        "Node Type": "Index Scan",
                        "Parent Relationship": "Inner",
                        "Scan Direction": "Backward",
                        "Index Name": "ix_tickets_created_at_id",
                        "Relation Name": "tickets",
                        "Schema": "public",
                        "Alias": "t",
                        "Startup Cost": 0.29,
                        "Total Cost": 69.7,
                        "Plan Rows": 1,
                        "Actual Total Time": 0.03,
                        "Actual Rows": 2.5,
                        "Actual Loops": 1000,
                        "Index Cond": "(t.assignee_id = u.id)",
                        "Filter": "(t.status = 'open'::ticket_status)",
                        "Rows Removed by Filter": 40.25,
                    },
                ],
            },
            "Planning Time": 0.4,
            "Execution Time": 36.1,
        }
    ]


def test_per_loop_averages_are_multiplied_by_the_loops() -> None:
    plan = parse_plan(_nested_loop_document())
    inner = plan.root.children[1]
    assert inner.path == "1.2" and inner.parent is plan.root
    assert inner.rows_per_loop == 2.5 and inner.loops == 1000
    assert inner.total_rows == 2_500
    assert inner.total_removed_by_filter == 40_250
    assert inner.total_time_ms == 30.0
    assert plan.analyzed and plan.execution_ms == 36.1 and plan.total_cost == 2100.5


def test_a_json_text_document_parses_like_the_decoded_one() -> None:
    assert parse_plan(json.dumps(_nested_loop_document())).root.children[0].relation == "users"


def test_the_text_form_is_an_indented_tree_with_totals_over_loops() -> None:
    text = render_text(parse_plan(_nested_loop_document()))
    lines = text.splitlines()
    assert lines[0].startswith("Nested Loop  (cost=0.29..2100.50 est rows=40) (actual rows=2,500 loops=1")
    assert "  Buffers: shared hit=3,000 read=12" in lines
    assert any(
        line.startswith("  ->  Index Scan Backward using ix_tickets_created_at_id on public.tickets t")
        and "actual rows=2,500 [2.50 per loop] loops=1,000 time=30.0 ms" in line
        for line in lines
    )
    assert "        Rows Removed by Filter: 40,250 (all loops)" in lines
    assert "        Index Cond: (t.assignee_id = u.id)" in lines
    assert lines[-2:] == ["Planning Time: 0.400 ms", "Execution Time: 36.1 ms"]


def test_an_estimated_plan_shows_no_actual_figures() -> None:
    document = _nested_loop_document()
    for node in (document[0]["Plan"], *document[0]["Plan"]["Plans"]):
        for key in ("Actual Total Time", "Actual Rows", "Actual Loops", "Rows Removed by Filter"):
            node.pop(key, None)
    del document[0]["Execution Time"]
    plan = parse_plan(document)
    assert not plan.analyzed and plan.root.total_rows is None
    assert "actual" not in render_text(plan)


def test_conditions_are_read_back_into_column_predicates() -> None:
    found = predicates(
        "((t.assignee_id = $1) AND (t.status = ANY ('{open,in_progress}'::ticket_status[])) "
        "AND (t.created_at >= now()) AND ((t.title)::text ~~* '%refund%'::text) AND (NOT t.is_internal))"
    )
    assert found == [
        Predicate("t", "assignee_id", "eq", constant=True),
        Predicate("t", "status", "in", constant=True),
        Predicate("t", "created_at", "range", constant=True),
        Predicate("t", "title", "like", constant=True, pattern="%refund%"),
        Predicate("t", "is_internal", "bool", constant=True, sql="NOT"),
    ]


def test_join_conditions_give_both_columns_and_subplans_are_skipped() -> None:
    assert predicates("(c.ticket_id = t.id)") == [
        Predicate("c", "ticket_id", "eq", constant=False),
        Predicate("t", "id", "eq", constant=False),
    ]
    assert predicates("((hashed SubPlan 1) AND (t.priority = 'high'::ticket_priority))") == [
        Predicate("t", "priority", "eq", constant=True)
    ]
    assert predicates("(ANY (t.id = (hashed SubPlan 2).col1))") == []


def test_sort_keys_are_read_with_their_direction() -> None:
    assert sort_keys(["t.created_at DESC", "t.id"]) == [
        SortKey("t", "created_at", True),
        SortKey("t", "id", False),
    ]
    assert sort_keys(["(count(*)) DESC"]) is None
