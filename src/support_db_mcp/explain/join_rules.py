"""Rules about how rows are combined and counted: nested loops run many times, cartesian products,
and estimates far from the real row counts."""

from __future__ import annotations

from support_db_mcp.explain.advice import index_candidate
from support_db_mcp.explain.catalog import quote_ident
from support_db_mcp.explain.conditions import predicates
from support_db_mcp.explain.findings import (
    CARTESIAN_SHARE,
    INNER_SHARE_OF_TIME,
    MANY_LOOPS,
    MISESTIMATE_MIN_ROWS,
    MISESTIMATE_RATIO,
    MISESTIMATE_WARNING_FACTOR,
    SCANS,
    Context,
    Finding,
    count,
    relation_of,
    scan_predicates,
    stops_early,
    where,
)
from support_db_mcp.explain.plan import Plan, PlanNode
from support_db_mcp.schemas.explain import Severity


def _inner_scan(node: PlanNode) -> PlanNode:
    while node.node_type in {"Materialize", "Memoize", "Aggregate", "Result"} and len(node.inputs) == 1:
        node = node.inputs[0]
    return node


def _loops_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    """A nested loop that runs its inner side once per outer row, many times over."""
    if node.node_type != "Nested Loop" or len(node.inputs) != 2:
        return []
    outer, inner = node.inputs
    scan = _inner_scan(inner)
    candidate = index_candidate(scan, context, with_order=False) if scan.node_type in SCANS else None
    evidence: dict[str, int | float | str]
    if not node.analyzed:
        # estimated plan: a sequential scan repeated for every expected outer row
        if scan.node_type != "Seq Scan" or outer.plan_rows < MANY_LOOPS:
            return []
        message = (
            f"{where(node)} is expected to run {scan.label} about {count(outer.plan_rows)} times, once "
            "per outer row, each time reading the whole table."
        )
        evidence = {"estimated_loops": round(outer.plan_rows), "inner_table_rows": round(scan.plan_rows)}
        return [Finding("critical", "nested_loop_many_loops", node, message, evidence, candidate=candidate)]
    if inner.loops < MANY_LOOPS:
        return []
    inner_time = inner.total_time_ms or 0.0
    statement_time = plan.execution_ms or plan.root.total_time_ms or 0.0
    if (
        scan.node_type not in {"Seq Scan", "Bitmap Heap Scan"}
        and inner_time < INNER_SHARE_OF_TIME * statement_time
    ):
        return []
    severity: Severity = "critical" if scan.node_type == "Seq Scan" else "warning"
    message = (
        f"{where(node)} ran its inner side ({scan.label}) {inner.loops:,} times, once per outer row, "
        f"for {inner_time:,.1f} ms of the statement's {statement_time:,.1f} ms"
    )
    if scan.node_type == "Seq Scan":
        message += ": each loop reads the whole table"
    evidence = {
        "loops": inner.loops,
        "inner_time_ms": round(inner_time, 3),
        "rows_per_loop": round(inner.rows_per_loop or 0.0, 2),
    }
    advice = (
        None
        if candidate
        else "An index on the inner table's join columns, or a hash join (ANALYZE the tables so the "
        "planner sees the real row counts)."
    )
    return [
        Finding(
            severity,
            "nested_loop_many_loops",
            node,
            message + ".",
            evidence,
            advice=advice,
            candidate=candidate,
        )
    ]


def _cartesian_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    if node.node_type != "Nested Loop" or len(node.inputs) != 2 or node.join_filter:
        return []
    outer, inner = node.inputs
    inner_scan = inner
    while inner_scan.node_type in {"Materialize", "Memoize"} and inner_scan.inputs:
        inner_scan = inner_scan.inputs[0]
    # an inner side read through an index condition, or filtered on the outer row's values, is a join
    driven = any(not predicate.constant for predicate in predicates(inner_scan.filter))
    if inner_scan.index_cond or inner_scan.recheck_cond or driven:
        return []
    if outer.plan_rows < 2 or inner_scan.plan_rows < 2:
        return []
    if node.plan_rows < CARTESIAN_SHARE * outer.plan_rows * inner_scan.plan_rows:
        return []
    message = (
        f"{where(node)} joins every row of {outer.label} with every row of {inner_scan.label}: "
        f"no join condition links them (~{count(node.plan_rows)} rows estimated)."
    )
    evidence: dict[str, int | float | str] = {
        "outer_rows_estimate": round(outer.plan_rows),
        "inner_rows_estimate": round(inner_scan.plan_rows),
        "estimated_rows": round(node.plan_rows),
    }
    advice = (
        "Add the missing join condition (ON / WHERE a.x = b.y), or CROSS JOIN only if every pair is wanted."
    )
    return [Finding("critical", "cartesian_product", node, message, evidence, advice=advice)]


_BITMAP_NODES = {"Bitmap Index Scan", "BitmapAnd", "BitmapOr"}


def _misestimated(node: PlanNode) -> str | None:
    # bitmap nodes count index entries, not rows; their Bitmap Heap Scan carries the same estimate
    if (
        not node.analyzed
        or node.never_executed
        or node.rows_per_loop is None
        or node.node_type in _BITMAP_NODES
    ):
        return None
    estimate, actual = node.plan_rows, node.rows_per_loop
    if actual >= MISESTIMATE_RATIO * max(estimate, 1) and actual * node.loops >= MISESTIMATE_MIN_ROWS:
        return "under"
    if (
        estimate >= MISESTIMATE_RATIO * max(actual, 1)
        and estimate * node.loops >= MISESTIMATE_MIN_ROWS
        and not stops_early(node)
    ):
        return "over"
    return None


def _misestimate_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    direction = _misestimated(node)
    if direction is None:
        return []
    if any(_misestimated(child) == direction for child in node.children):
        return []  # report where the error starts, not every node it propagates to
    estimate, actual = node.plan_rows, node.rows_per_loop or 0.0
    factor = max(estimate, actual) / max(min(estimate, actual), 1)
    info = relation_of(node, context)
    if info is not None:
        columns = sorted({p.column for p in scan_predicates(node, info) if p.kind in {"eq", "in", "range"}})
        advice = f"Refresh the statistics: ANALYZE {info.qualified};"
        if len(columns) >= 2:
            statistics = f"st_{info.name}_{'_'.join(columns)}"[:63]
            advice += (
                f" if the estimate stays off, the columns are correlated: CREATE STATISTICS "
                f"{quote_ident(statistics)} (dependencies, mcv) ON {', '.join(map(quote_ident, columns))} "
                f"FROM {info.qualified}; then ANALYZE {info.qualified};"
            )
    else:
        advice = (
            "Refresh the statistics of the tables below this node (ANALYZE); for correlated join or "
            "filter columns, CREATE STATISTICS (dependencies, mcv) on them."
        )
    message = (
        f"{where(node)} was estimated at {count(estimate)} rows per loop but returned {count(actual)} "
        f"({factor:,.0f}x {'more' if direction == 'under' else 'fewer'}); plans built on it may be poor."
    )
    evidence: dict[str, int | float | str] = {
        "estimated_rows": round(estimate, 2),
        "actual_rows": round(actual, 2),
        "loops": node.loops,
        "factor": round(factor, 1),
    }
    severity: Severity = "warning" if factor >= MISESTIMATE_WARNING_FACTOR else "info"
    return [Finding(severity, "misestimate", node, message, evidence, advice=advice)]


RULES = (_loops_rule, _cartesian_rule, _misestimate_rule)
