"""One plain verdict per explained statement, from the plan's own figures and the findings on it.

It states what the plan did (rows returned, rows read from tables, rows sorted), whether a rule
found work to save, and, when every table it reads is small, that the planner's choice there says
little about a large table. It never claims more than the rules checked: "nothing to fix" means
no rule of findings.py fired, and the sentence says which checks those are.
"""

from __future__ import annotations

from support_db_mcp.explain.findings import (
    LARGE_TABLE_ROWS,
    REMOVED_RATIO,
    SCANS,
    Context,
    Finding,
    count,
    relation_of,
)
from support_db_mcp.explain.plan import Plan, PlanNode

_SORTS = {"Sort", "Incremental Sort"}


def _rows_read(node: PlanNode) -> int:
    """Rows a table scan looked at: those it returned plus those its filter or recheck removed."""
    return (node.total_rows or 0) + node.total_removed_by_filter + node.total_removed_by_recheck


def _smallest_to_largest(plan: Plan, context: Context) -> list[tuple[str, float, int]]:
    seen: dict[str, tuple[str, float, int]] = {}
    for node in plan.nodes():
        info = relation_of(node, context)
        if info is not None:
            seen[info.qualified] = (info.name, info.rows, info.pages)
    return sorted(seen.values(), key=lambda table: table[1])


def _table_below(node: PlanNode, context: Context) -> str | None:
    while node.node_type not in SCANS and len(node.inputs) == 1:
        node = node.inputs[0]
    info = relation_of(node, context)
    return info.name if info is not None else None


def _exempt(plan: Plan, findings: list[Finding], context: Context) -> str:
    """Scans that filter away, and sorts under a LIMIT that read, ten times what they keep but are
    too small to be a finding (findings.py: TINY_TABLE_PAGES, SMALL_MIN_READ)."""
    flagged = {id(finding.node) for finding in findings}
    quiet = []
    for node in plan.nodes():
        if id(node) in flagged or not node.analyzed or node.never_executed:
            continue
        kept = node.total_rows or 0
        info = relation_of(node, context)
        if info is not None and node.node_type in SCANS:
            if node.total_removed_by_filter >= REMOVED_RATIO * max(kept, 1):
                quiet.append(f"{info.name} ({count(_rows_read(node))} rows read, {count(kept)} kept)")
        elif node.node_type in _SORTS and node.inputs and node.parent and node.parent.node_type == "Limit":
            sorted_rows = node.inputs[0].total_rows or 0
            returned = node.parent.total_rows or 0
            table = _table_below(node.inputs[0], context)
            if table and sorted_rows >= REMOVED_RATIO * max(returned, 1):
                quiet.append(f"{table} ({count(sorted_rows)} rows sorted for {count(returned)})")
    if not quiet:
        return ""
    return (
        ", except where so few rows or pages are involved that an index would save next to nothing: "
        + ", ".join(quiet)
    )


def verdict(plan: Plan, findings: list[Finding], context: Context) -> str:
    """What the plan of one statement did, and what explain_query makes of it, in two sentences."""
    sentences: list[str] = []
    if plan.analyzed:
        scans = [node for node in plan.nodes() if node.node_type in SCANS and not node.never_executed]
        read = sum(_rows_read(node) for node in scans)
        sorted_rows = max(
            (
                node.inputs[0].total_rows or 0
                for node in plan.nodes()
                if node.node_type in _SORTS and node.inputs
            ),
            default=0,
        )
        what = f"It returned {count(plan.root.total_rows or 0)} rows after reading {count(read)} table rows"
        if sorted_rows:
            what += f" and sorting {count(sorted_rows)}"
        if plan.execution_ms is not None:
            what += f", in {plan.execution_ms:,.3f} ms"
        sentences.append(what + ".")
    else:
        sentences.append(
            f"Estimated plan only (not run): about {count(plan.root.plan_rows)} rows, cost "
            f"{plan.total_cost:,.0f}; the row counts are the planner's guesses."
        )
    serious = [finding for finding in findings if finding.severity != "info"]
    if serious:
        sentences.append(f"{len(serious)} finding(s) below say where the work goes and what saves it.")
    elif findings:
        sentences.append(
            "It is cheap on tables this small, but the finding(s) below show work that grows with the "
            "table, and the index that avoids it."
        )
    else:
        sentences.append(
            "explain_query found nothing to fix: no scan's filter removes ten times the rows it keeps, no "
            "LIMIT sorts ten times the rows it returns, nothing spills to disk or repeats a scan per row, "
            f"and no estimate is off by 10x{_exempt(plan, findings, context)}."
        )
    tables = _smallest_to_largest(plan, context)
    if tables and all(rows < LARGE_TABLE_ROWS for _, rows, _ in tables):
        name, rows, pages = tables[-1]
        sentences.append(
            f"Every table it reads is small (the largest, {name}, has ~{count(rows)} rows in {pages:,} "
            "pages), so whether the planner picks an index or reads a whole table here says little "
            "about a large table; judge the plan by its shape, not its milliseconds."
        )
    return " ".join(sentences)
