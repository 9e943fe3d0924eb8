"""Rules about how rows are read: filters that throw rows away, bitmaps that cover part of a
condition, a LIMIT that sorts everything, sorts and hashes that spill to disk."""

from __future__ import annotations

from support_db_mcp.explain.advice import existing_index_for, index_candidate
from support_db_mcp.explain.catalog import RelationInfo
from support_db_mcp.explain.findings import (
    CRITICAL_REMOVED,
    LARGE_TABLE_ROWS,
    MIN_REMOVED,
    REMOVED_RATIO,
    SCANS,
    SMALL_MIN_READ,
    TINY_TABLE_PAGES,
    Context,
    Finding,
    bitmap_inputs,
    count,
    relation_of,
    small_table,
    small_table_note,
    under_limit,
    where,
)
from support_db_mcp.explain.plan import Plan, PlanNode
from support_db_mcp.schemas.explain import FindingKind, Severity


def _worth_a_word(wasted: int, kept: int, info: RelationInfo | None, node: PlanNode) -> Severity | None:
    """The severity of a node whose `wasted` rows (removed by a filter, or sorted) dwarf the `kept`
    ones, or None when it is no finding: warning or critical from MIN_REMOVED, info on a small
    table (see findings.py)."""
    if wasted < REMOVED_RATIO * max(kept, 1):
        return None
    if wasted >= MIN_REMOVED:
        return "critical" if wasted >= CRITICAL_REMOVED else "warning"
    if not small_table(info) or wasted + kept < SMALL_MIN_READ:
        return None
    assert info is not None
    if node.node_type == "Seq Scan" and info.pages <= TINY_TABLE_PAGES:
        return None
    return "info"


def _already_indexed(node: PlanNode, context: Context) -> str:
    existing = existing_index_for(node, context)
    if existing is None:
        return ""
    return (
        f". The index {existing} already leads with the columns this shape calls for, so no new index is "
        "needed: the planner preferred this plan from its estimates (see the estimated rows above; "
        "ANALYZE the table if its statistics are stale)"
    )


def _filter_rules(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    if node.node_type not in SCANS or node.never_executed:
        return []
    info = relation_of(node, context)
    if node.analyzed:
        kept = node.total_rows or 0
        removed = node.total_removed_by_filter
        examined = kept + removed
        severity = _worth_a_word(removed, kept, info, node)
        if severity is None:
            return []
        limit = under_limit(node)
        evidence: dict[str, int | float | str] = {
            "rows_read": examined,
            "rows_kept": kept,
            "rows_removed_by_filter": removed,
            "loops": node.loops,
        }
        if node.total_time_ms is not None:
            evidence["time_ms"] = round(node.total_time_ms, 3)
        if info is not None:
            evidence["table_rows_estimate"] = round(info.rows)
        kind: FindingKind
        if node.node_type == "Seq Scan":
            kind = "seq_scan_filter"
            message = (
                f"{where(node)} read {count(examined)} rows and the filter {node.filter} removed "
                f"{count(removed)} of them, keeping {count(kept)}"
            )
        else:
            kind = "rows_removed_by_filter"
            covered = node.index_cond or node.recheck_cond
            index = node.index_name or ", ".join(
                scan.index_name for scan in bitmap_inputs(node) if scan.index_name
            )
            covers = (
                f"covers only {covered}" if covered else "gives the order but checks none of the conditions"
            )
            message = (
                f"{where(node)} read {count(examined)} rows and the filter {node.filter} removed "
                f"{count(removed)} of them, keeping {count(kept)}: the index {index} {covers}"
            )
            if index:
                evidence["index"] = index
        if node.loops > 1:
            message += f" (over {node.loops:,} loops)"
        if limit is not None and node.node_type in {"Index Scan", "Index Only Scan"}:
            wanted = limit.plan_rows
            if kept < wanted:
                outcome = (
                    f"{'no row matches' if kept == 0 else 'matching rows are rare'}, so it reads on "
                    "through the whole range"
                )
            else:
                outcome = (
                    f"matching rows are rare in that order, so it read {count(examined)} rows to find them"
                )
            message += (
                f". PostgreSQL walks the index in ORDER BY order expecting to find the {count(wanted)} rows "
                f"of the LIMIT early, but {outcome}"
            )
            evidence["limit"] = round(wanted)
        if severity == "info" and info is not None:
            message += ". " + small_table_note(info, node)
        candidate = index_candidate(node, context)
        if candidate is None:
            message += _already_indexed(node, context)
        return [Finding(severity, kind, node, message + ".", evidence, candidate=candidate)]
    # estimated plan only: a sequential scan of a large table that is expected to keep few rows
    if node.node_type != "Seq Scan" or info is None or node.filter is None:
        return []
    if info.rows < LARGE_TABLE_ROWS or node.plan_rows > info.rows / REMOVED_RATIO:
        return []
    message = (
        f"{where(node)} is expected to read all ~{count(info.rows)} rows to keep about "
        f"{count(node.plan_rows)} ({node.filter})."
    )
    evidence = {"table_rows_estimate": round(info.rows), "estimated_rows_kept": round(node.plan_rows)}
    return [
        Finding(
            "warning", "seq_scan_filter", node, message, evidence, candidate=index_candidate(node, context)
        )
    ]


def _bitmap_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    """A Bitmap Heap Scan whose bitmap index scans read far more entries than rows survive the
    combined condition: each index covers only part of it, the BitmapAnd throws the rest away."""
    if node.node_type != "Bitmap Heap Scan" or not node.analyzed or node.never_executed:
        return []
    if not any(child.node_type == "BitmapAnd" for child in node.children):
        return []
    matched = (node.total_rows or 0) + node.total_removed_by_filter + node.total_removed_by_recheck
    widest = max(bitmap_inputs(node), key=lambda scan: scan.total_rows or 0, default=None)
    if widest is None:
        return []
    read = widest.total_rows or 0
    if read < MIN_REMOVED or read < REMOVED_RATIO * max(matched, 1):
        return []
    message = (
        f"{widest.label} read {count(read)} index entries for {widest.index_cond}, but only "
        f"{count(matched)} rows matched the whole condition {node.recheck_cond} of {node.label}: each "
        "index covers only part of the condition, and the BitmapAnd throws the rest away"
    )
    evidence: dict[str, int | float | str] = {
        "index_entries_read": read,
        "rows_matched": matched,
        "rows_kept": node.total_rows or 0,
        "index": widest.index_name or "",
    }
    if node.total_time_ms is not None:
        evidence["time_ms"] = round(node.total_time_ms, 3)
    severity: Severity = "critical" if read >= CRITICAL_REMOVED else "warning"
    return [
        Finding(
            severity,
            "index_covers_part_of_filter",
            node,
            message + ".",
            evidence,
            candidate=index_candidate(node, context),
        )
    ]


def _limit_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    """LIMIT over a Sort that had to read and sort everything: no index gives the ORDER BY order."""
    if node.node_type != "Limit" or not node.analyzed or node.never_executed:
        return []
    below = node.inputs[0] if node.inputs else None
    while below is not None and below.node_type in {"Gather Merge", "Result"} and below.inputs:
        below = below.inputs[0]
    if below is None or below.node_type not in {"Sort", "Incremental Sort"} or not below.inputs:
        return []
    sorted_input = below.inputs[0]
    read = sorted_input.total_rows or 0
    returned = node.total_rows or 0
    scan = sorted_input
    while scan.node_type not in SCANS and len(scan.inputs) == 1:
        scan = scan.inputs[0]
    info = relation_of(scan, context) if scan.node_type in SCANS else None
    severity = _worth_a_word(read, returned, info, scan)
    if severity is None:
        return []
    candidate = index_candidate(scan, context) if scan.node_type in SCANS else None
    message = (
        f"LIMIT {count(node.plan_rows)} needed {count(returned)} rows, but {count(read)} rows were read "
        f"and sorted on {', '.join(below.sort_key)} ({below.sort_method or 'sort'}) because no index returns "
        "them in that order"
    )
    if severity == "info" and info is not None:
        message += ". " + small_table_note(info, below)
    if candidate is None and scan.node_type in SCANS:
        message += _already_indexed(scan, context)
    evidence: dict[str, int | float | str] = {
        "limit": round(node.plan_rows),
        "rows_returned": returned,
        "rows_sorted": read,
    }
    if below.total_time_ms is not None:
        evidence["sort_time_ms"] = round(below.total_time_ms, 3)
    return [Finding(severity, "limit_reads_whole_input", below, message + ".", evidence, candidate=candidate)]


def _work_mem_advice(kilobytes: int) -> str:
    megabytes = max(4, 1 << max(kilobytes * 2 // 1024, 1).bit_length())
    return f"SET work_mem = '{megabytes}MB' for this query (or its role)"


def _spill_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    if not node.analyzed or not node.spilled:
        return []
    if node.node_type in {"Sort", "Incremental Sort"}:
        used = node.sort_space_kb or 0
        scan = node.inputs[0] if node.inputs else None
        while scan is not None and scan.node_type not in SCANS and len(scan.inputs) == 1:
            scan = scan.inputs[0]
        # an index only replaces a sort when a LIMIT stops early; a full sort of a table stays a sort
        wanted = scan is not None and scan.node_type in SCANS and under_limit(node) is not None
        candidate = index_candidate(scan, context) if wanted and scan is not None else None
        message = (
            f"{where(node)} on {', '.join(node.sort_key)} spilled to disk ({node.sort_method}, "
            f"{used:,} kB) while sorting {count(node.total_rows or 0)} rows."
        )
        advice = f"{_work_mem_advice(used)}, or an index that returns the rows already in this order."
        evidence: dict[str, int | float | str] = {
            "sort_method": node.sort_method or "",
            "disk_kb": used,
            "rows": node.total_rows or 0,
        }
        return [Finding("warning", "sort_spill", node, message, evidence, advice=advice, candidate=candidate)]
    used = node.disk_usage_kb or (node.temp_written * 8)
    message = (
        f"{where(node)} did not fit in work_mem and was split into {node.hash_batches} batches "
        "written to disk."
    )
    evidence = {"batches": node.hash_batches, "rows": node.total_rows or 0}
    if used:
        evidence["disk_kb"] = used
    advice = (
        f"{_work_mem_advice(max(used, 4096))}, or make the hashed side smaller with a more selective filter."
    )
    return [Finding("warning", "hash_spill", node, message, evidence, advice=advice)]


RULES = (_filter_rules, _bitmap_rule, _limit_rule, _spill_rule)
