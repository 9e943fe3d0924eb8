"""A plan as EXPLAIN's text format prints it, with totals over loops, cut after MAX_RENDERED_NODES."""

from __future__ import annotations

from support_db_mcp.explain.plan import MAX_RENDERED_NODES, Plan, PlanNode, text_of


def _count(value: float | int | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:,.2f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"


def _node_lines(node: PlanNode) -> tuple[str, list[str]]:
    cost = f"cost={node.startup_cost:.2f}..{node.total_cost:.2f}"
    head = f"{node.label}  ({cost} est rows={_count(node.plan_rows)})"
    if node.never_executed:
        head += " (never executed)"
    elif node.analyzed:
        rows = _count(node.total_rows)
        if node.loops > 1:
            rows += f" [{_count(node.rows_per_loop)} per loop]"
        head += f" (actual rows={rows} loops={node.loops:,} time={_ms(node.total_time_ms)})"
    details: list[str] = []
    for key in ("Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter"):
        value = text_of(node.raw, key)
        if value:
            details.append(f"{key}: {value}")
    if node.analyzed:
        for label, amount in (
            ("Rows Removed by Filter", node.total_removed_by_filter),
            ("Rows Removed by Join Filter", node.total_removed_by_join_filter),
            ("Rows Removed by Index Recheck", node.total_removed_by_recheck),
        ):
            if amount:
                details.append(f"{label}: {amount:,}" + (" (all loops)" if node.loops > 1 else ""))
    if node.sort_key:
        details.append("Sort Key: " + ", ".join(node.sort_key))
    if node.sort_method:
        space = f"  {node.sort_space_type or 'Memory'}: {node.sort_space_kb or 0:,}kB"
        details.append(f"Sort Method: {node.sort_method}{space}")
    if node.node_type == "Hash" and node.analyzed:
        details.append(f"Hash Batches: {node.hash_batches}")
    if node.disk_usage_kb:
        details.append(f"Disk Usage: {node.disk_usage_kb:,}kB")
    if node.shared_hit is not None or node.shared_read is not None:
        buffers = f"Buffers: shared hit={node.shared_hit or 0:,} read={node.shared_read or 0:,}"
        if node.temp_written:
            buffers += f" temp written={node.temp_written:,}"
        details.append(buffers)
    return head, details


def render_text(plan: Plan) -> str:
    """The plan as an indented tree, close to EXPLAIN's own text format but with totals over loops."""
    lines: list[str] = []
    rendered = 0

    def emit(node: PlanNode, depth: int) -> None:
        nonlocal rendered
        if rendered >= MAX_RENDERED_NODES:
            return
        rendered += 1
        head, details = _node_lines(node)
        # EXPLAIN's own layout: each level six columns further in, an arrow before every child.
        head_pad = "" if depth == 0 else " " * (6 * depth - 4) + "->  "
        detail_pad = " " * (6 * depth + 2)
        relationship = node.subplan_name or ("InitPlan" if node.parent_relationship == "InitPlan" else None)
        if relationship:
            lines.append(" " * max(6 * depth - 4, 0) + relationship)
        lines.append(head_pad + head)
        lines.extend(detail_pad + detail for detail in details)
        for child in node.children:
            emit(child, depth + 1)

    emit(plan.root, 0)
    total = sum(1 for _ in plan.nodes())
    if total > rendered:
        lines.append(f"... {total - rendered:,} more plan nodes not shown (the structured plan is cut too)")
    if plan.planning_ms is not None:
        lines.append(f"Planning Time: {_ms(plan.planning_ms)}")
    if plan.execution_ms is not None:
        lines.append(f"Execution Time: {_ms(plan.execution_ms)}")
    return "\n".join(lines)
