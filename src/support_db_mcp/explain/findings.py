"""What stands out in a plan: each finding names its node, the figures behind it and what to do.

Rules work on totals over loops (see plan.py). Thresholds are deliberately plain numbers so a
finding can be checked by hand against the plan text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from support_db_mcp.explain.conditions import Predicate, predicates, sort_keys
from support_db_mcp.explain.plan import Plan, PlanNode
from support_db_mcp.explain.runner import RelationInfo, quote_ident
from support_db_mcp.explain.safety import SortColumn
from support_db_mcp.schemas.explain import FindingKind, Severity

MIN_REMOVED = 1_000  # rows removed by a filter before it is worth a word
REMOVED_RATIO = 10  # removed at least this many times the rows kept
CRITICAL_REMOVED = 50_000
MISESTIMATE_RATIO = 10
MISESTIMATE_MIN_ROWS = 1_000
MANY_LOOPS = 1_000
LARGE_TABLE_ROWS = 10_000
_SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
_ORDER_PRESERVING = {"Limit", "Gather Merge", "Result", "Unique", "Materialize", "Memoize"}
_JOINS = {"Nested Loop", "Hash Join", "Merge Join"}
_EARLY_STOP_JOINS = {"Semi", "Anti", "Right Semi", "Right Anti"}


@dataclass(frozen=True)
class IndexCandidate:
    """An index that would serve one scan: equality columns, then the sort, then lists and ranges."""

    relation: RelationInfo = field(compare=False, hash=False)
    schema: str
    table: str
    keys: tuple[tuple[str, bool], ...]  # (column, descending)
    method: Literal["btree", "gin_trgm"] = "btree"
    where: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.keys)

    def key_sql(self) -> str:
        if self.method == "gin_trgm":
            return f"USING gin ({quote_ident(self.keys[0][0])} gin_trgm_ops)"
        parts = [quote_ident(column) + (" DESC" if descending else "") for column, descending in self.keys]
        return "(" + ", ".join(parts) + ")"

    def definition(self, name: str, *, concurrently: bool) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        sql = f"CREATE INDEX {how}{quote_ident(name)} ON {self.relation.qualified} {self.key_sql()}"
        return sql + (f" WHERE {self.where}" if self.where else "")

    def suggested_name(self) -> str:
        """ix_<table>_<columns>, the schema's naming convention, never the name of an existing index."""
        suffix = "_trgm" if self.method == "gin_trgm" else "_partial" if self.where else ""
        base = f"ix_{self.table}_{'_'.join(self.columns)}"[: 63 - len(suffix)] + suffix
        taken = {index.name for index in self.relation.indexes}
        name, number = base, 2
        while name in taken:
            name = f"{base[:60]}_{number}"
            number += 1
        return name

    def describe(self) -> str:
        return f"{self.table} {self.key_sql()}" + (f" WHERE {self.where}" if self.where else "")


@dataclass
class Finding:
    severity: Severity
    kind: FindingKind
    node: PlanNode
    message: str
    evidence: dict[str, int | float | str]
    advice: str | None = None
    candidate: IndexCandidate | None = None


@dataclass
class Context:
    """What the rules may consult besides the plan itself."""

    relations: dict[tuple[str, str], RelationInfo]
    order_by: tuple[SortColumn, ...] = ()
    timed_out: bool = False
    timeout_ms: int | None = None


# ---------------------------------------------------------------- helpers
def _relation(node: PlanNode, context: Context) -> RelationInfo | None:
    if node.relation is None or node.schema is None:
        return None
    return context.relations.get((node.schema, node.relation))


def _mine(node: PlanNode, info: RelationInfo, qualifier: str | None, column: str) -> bool:
    if column not in info.columns:
        return False
    return qualifier is None or qualifier in {node.alias, node.relation}


def _conditions(node: PlanNode) -> list[str]:
    return [c for c in (node.index_cond, node.recheck_cond, node.filter) if c]


def _scan_predicates(node: PlanNode, info: RelationInfo) -> list[Predicate]:
    found: list[Predicate] = []
    for condition in _conditions(node):
        found.extend(p for p in predicates(condition) if _mine(node, info, p.qualifier, p.column))
    return found


def _order_for(node: PlanNode, info: RelationInfo, context: Context) -> tuple[tuple[str, bool], ...]:
    """The order this scan's rows are wanted in: the keys of a Sort above it, or the query's
    ORDER BY when a Limit reads the scan directly (the scan's index provides the order)."""
    current = node
    for ancestor in node.ancestors():
        if ancestor.node_type in {"Sort", "Incremental Sort"}:
            keys = sort_keys(ancestor.sort_key)
            if not keys or not all(_mine(node, info, key.qualifier, key.column) for key in keys):
                return ()
            return tuple((key.column, key.descending) for key in keys)
        if ancestor.node_type == "Limit":
            order = context.order_by
            if order and all(_mine(node, info, column.qualifier, column.column) for column in order):
                return tuple((column.column, column.descending) for column in order)
            return ()
        # a join can keep its outer side's order (a nested loop does), so rows read in index order
        # under a join on the outer side can still feed the LIMIT without a sort
        outer_of_join = ancestor.node_type in _JOINS and ancestor.inputs[0] is current
        if not outer_of_join and (ancestor.node_type not in _ORDER_PRESERVING or len(ancestor.inputs) != 1):
            return ()
        current = ancestor
    return ()


def _existing_prefix(info: RelationInfo, columns: tuple[str, ...]) -> str | None:
    for index in info.indexes:
        if index.method == "btree" and not index.partial and index.columns[: len(columns)] == columns:
            return index.name
    return None


def index_candidate(node: PlanNode, context: Context, *, with_order: bool = True) -> IndexCandidate | None:
    """The index that would let this scan read only the rows it keeps, in the order wanted."""
    info = _relation(node, context)
    if info is None:
        return None
    found = _scan_predicates(node, info)
    order = _order_for(node, info, context) if with_order else ()

    def distinct(column: str) -> float:
        return info.distinct.get(column, 0.0)

    equality: list[str] = []
    for predicate in found:
        if predicate.kind == "eq" and predicate.column not in equality:
            equality.append(predicate.column)
    # the most selective equality first: it narrows the index the most
    equality.sort(key=lambda column: -distinct(column))
    keys: list[tuple[str, bool]] = [(column, False) for column in equality]
    for column, descending in order:
        if column not in equality and all(column != key for key, _ in keys):
            keys.append((column, descending))
    for kind in ("in", "range"):
        for predicate in found:
            if predicate.kind == kind and all(predicate.column != key for key, _ in keys):
                keys.append((predicate.column, False))
                if kind == "range":
                    break
    partial = [p for p in found if p.kind == "bool"]
    keys = [key for key in keys if all(key[0] != p.column for p in partial)][:4]
    where = " AND ".join(f"{p.sql} {quote_ident(p.column)}".strip() for p in partial) or None
    if not keys:
        patterns = [p for p in found if p.kind == "like" and p.pattern and p.pattern.startswith("%")]
        if patterns:
            return IndexCandidate(info, info.schema, info.name, ((patterns[0].column, False),), "gin_trgm")
        return None
    candidate = IndexCandidate(info, info.schema, info.name, tuple(keys), where=where)
    if where is None and _existing_prefix(info, candidate.columns) is not None:
        return None
    return candidate


def _under_limit(node: PlanNode) -> PlanNode | None:
    """The Limit that reads this node's rows in the order it produces them, if there is one."""
    current = node
    for ancestor in node.ancestors():
        if ancestor.node_type == "Limit":
            return ancestor
        outer_of_join = ancestor.node_type in _JOINS and ancestor.inputs[0] is current
        keeps_order = (
            ancestor.node_type in _ORDER_PRESERVING | {"Incremental Sort"} and len(ancestor.inputs) == 1
        )
        if not (outer_of_join or keeps_order):
            return None
        current = ancestor
    return None


def _stops_early(node: PlanNode) -> bool:
    """Whether something above may stop reading this node before it is exhausted (a Limit, a
    semi/anti or merge join, a correlated subquery): then fewer rows than estimated is no error."""
    child = node
    for ancestor in node.ancestors():
        if child.parent_relationship == "SubPlan" or ancestor.node_type in {"Limit", "Merge Join"}:
            return True
        if ancestor.join_type in _EARLY_STOP_JOINS:
            return True
        child = ancestor
    return child.parent_relationship == "SubPlan"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _where(node: PlanNode) -> str:
    return node.label


# ---------------------------------------------------------------- rules
def _filter_rules(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    if node.node_type not in _SCANS or node.never_executed:
        return []
    info = _relation(node, context)
    if node.analyzed:
        kept = node.total_rows or 0
        removed = node.total_removed_by_filter
        if removed < MIN_REMOVED or removed < REMOVED_RATIO * max(kept, 1):
            return []
        examined = kept + removed
        limit = _under_limit(node)
        severity: Severity = "critical" if removed >= CRITICAL_REMOVED else "warning"
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
                f"{_where(node)} read {_count(examined)} rows and the filter {node.filter} removed "
                f"{_count(removed)} of them, keeping {_count(kept)}"
            )
        else:
            kind = "rows_removed_by_filter"
            covered = node.index_cond or node.recheck_cond
            index = node.index_name or ", ".join(
                scan.index_name for scan in _bitmap_inputs(node) if scan.index_name
            )
            message = (
                f"{_where(node)} read {_count(examined)} rows and the filter {node.filter} removed "
                f"{_count(removed)} of them, keeping {_count(kept)}: the index {index} covers only "
                f"{covered or 'part of the conditions'}"
            )
            if index:
                evidence["index"] = index
        if node.loops > 1:
            message += f" (over {node.loops:,} loops)"
        if limit is not None and node.node_type in {"Index Scan", "Index Only Scan"}:
            wanted = _count(limit.plan_rows)
            message += (
                f". PostgreSQL walks the index in ORDER BY order expecting to find the {wanted} rows of "
                f"the LIMIT early, but {'no row matches' if kept == 0 else 'matching rows are rare'}, "
                "so it reads on through the whole range"
            )
            evidence["limit"] = round(limit.plan_rows)
        candidate = index_candidate(node, context)
        return [Finding(severity, kind, node, message + ".", evidence, candidate=candidate)]
    # estimated plan only: a sequential scan of a large table that is expected to keep few rows
    if node.node_type != "Seq Scan" or info is None or node.filter is None:
        return []
    if info.rows < LARGE_TABLE_ROWS or node.plan_rows > info.rows / REMOVED_RATIO:
        return []
    message = (
        f"{_where(node)} is expected to read all ~{_count(info.rows)} rows to keep about "
        f"{_count(node.plan_rows)} ({node.filter})."
    )
    evidence = {"table_rows_estimate": round(info.rows), "estimated_rows_kept": round(node.plan_rows)}
    return [
        Finding(
            "warning", "seq_scan_filter", node, message, evidence, candidate=index_candidate(node, context)
        )
    ]


def _bitmap_inputs(node: PlanNode) -> list[PlanNode]:
    found: list[PlanNode] = []
    for child in node.children:
        if child.node_type == "Bitmap Index Scan":
            found.append(child)
        elif child.node_type in {"BitmapAnd", "BitmapOr"}:
            found.extend(_bitmap_inputs(child))
    return found


def _bitmap_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    """A Bitmap Heap Scan whose bitmap index scans read far more entries than rows survive the
    combined condition: each index covers only part of it, the BitmapAnd throws the rest away."""
    if node.node_type != "Bitmap Heap Scan" or not node.analyzed or node.never_executed:
        return []
    if not any(child.node_type == "BitmapAnd" for child in node.children):
        return []
    matched = (node.total_rows or 0) + node.total_removed_by_filter + node.total_removed_by_recheck
    widest = max(_bitmap_inputs(node), key=lambda scan: scan.total_rows or 0, default=None)
    if widest is None:
        return []
    read = widest.total_rows or 0
    if read < MIN_REMOVED or read < REMOVED_RATIO * max(matched, 1):
        return []
    message = (
        f"{widest.label} read {_count(read)} index entries for {widest.index_cond}, but only "
        f"{_count(matched)} rows matched the whole condition {node.recheck_cond} of {node.label}: each "
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
    if read < MIN_REMOVED or read < REMOVED_RATIO * max(returned, 1):
        return []
    scan = sorted_input
    while scan.node_type not in _SCANS and len(scan.inputs) == 1:
        scan = scan.inputs[0]
    candidate = index_candidate(scan, context) if scan.node_type in _SCANS else None
    message = (
        f"LIMIT {_count(node.plan_rows)} needed {_count(returned)} rows, but {_count(read)} rows were read "
        f"and sorted on {', '.join(below.sort_key)} ({below.sort_method or 'sort'}) because no index returns "
        "them in that order"
    )
    evidence: dict[str, int | float | str] = {
        "limit": round(node.plan_rows),
        "rows_returned": returned,
        "rows_sorted": read,
    }
    if below.total_time_ms is not None:
        evidence["sort_time_ms"] = round(below.total_time_ms, 3)
    severity: Severity = "critical" if read >= CRITICAL_REMOVED else "warning"
    return [Finding(severity, "limit_reads_whole_input", below, message + ".", evidence, candidate=candidate)]


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
        and not _stops_early(node)
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
    info = _relation(node, context)
    if info is not None:
        columns = sorted({p.column for p in _scan_predicates(node, info) if p.kind in {"eq", "in", "range"}})
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
        f"{_where(node)} was estimated at {_count(estimate)} rows per loop but returned {_count(actual)} "
        f"({factor:,.0f}x {'more' if direction == 'under' else 'fewer'}); plans built on it may be poor."
    )
    evidence: dict[str, int | float | str] = {
        "estimated_rows": round(estimate, 2),
        "actual_rows": round(actual, 2),
        "loops": node.loops,
        "factor": round(factor, 1),
    }
    severity: Severity = "warning" if factor >= 100 else "info"
    return [Finding(severity, "misestimate", node, message, evidence, advice=advice)]


def _work_mem_advice(kilobytes: int) -> str:
    megabytes = max(4, 1 << max(kilobytes * 2 // 1024, 1).bit_length())
    return f"SET work_mem = '{megabytes}MB' for this query (or its role)"


def _spill_rule(node: PlanNode, context: Context, plan: Plan) -> list[Finding]:
    if not node.analyzed or not node.spilled:
        return []
    if node.node_type in {"Sort", "Incremental Sort"}:
        used = node.sort_space_kb or 0
        scan = node.inputs[0] if node.inputs else None
        while scan is not None and scan.node_type not in _SCANS and len(scan.inputs) == 1:
            scan = scan.inputs[0]
        # an index only replaces a sort when a LIMIT stops early; a full sort of a table stays a sort
        wanted = scan is not None and scan.node_type in _SCANS and _under_limit(node) is not None
        candidate = index_candidate(scan, context) if wanted and scan is not None else None
        message = (
            f"{_where(node)} on {', '.join(node.sort_key)} spilled to disk ({node.sort_method}, "
            f"{used:,} kB) while sorting {_count(node.total_rows or 0)} rows."
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
        f"{_where(node)} did not fit in work_mem and was split into {node.hash_batches} batches "
        "written to disk."
    )
    evidence = {"batches": node.hash_batches, "rows": node.total_rows or 0}
    if used:
        evidence["disk_kb"] = used
    advice = (
        f"{_work_mem_advice(max(used, 4096))}, or make the hashed side smaller with a more selective filter."
    )
    return [Finding("warning", "hash_spill", node, message, evidence, advice=advice)]


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
    candidate = index_candidate(scan, context, with_order=False) if scan.node_type in _SCANS else None
    evidence: dict[str, int | float | str]
    if not node.analyzed:
        # estimated plan: a sequential scan repeated for every expected outer row
        if scan.node_type != "Seq Scan" or outer.plan_rows < MANY_LOOPS:
            return []
        message = (
            f"{_where(node)} is expected to run {scan.label} about {_count(outer.plan_rows)} times, once "
            "per outer row, each time reading the whole table."
        )
        evidence = {"estimated_loops": round(outer.plan_rows), "inner_table_rows": round(scan.plan_rows)}
        return [Finding("critical", "nested_loop_many_loops", node, message, evidence, candidate=candidate)]
    if inner.loops < MANY_LOOPS:
        return []
    inner_time = inner.total_time_ms or 0.0
    statement_time = plan.execution_ms or plan.root.total_time_ms or 0.0
    if scan.node_type not in {"Seq Scan", "Bitmap Heap Scan"} and inner_time < 0.2 * statement_time:
        return []
    severity: Severity = "critical" if scan.node_type == "Seq Scan" else "warning"
    message = (
        f"{_where(node)} ran its inner side ({scan.label}) {inner.loops:,} times, once per outer row, "
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
    if node.plan_rows < 0.9 * outer.plan_rows * inner_scan.plan_rows:
        return []
    message = (
        f"{_where(node)} joins every row of {outer.label} with every row of {inner_scan.label}: "
        f"no join condition links them (~{_count(node.plan_rows)} rows estimated)."
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


_RULES = (
    _filter_rules,
    _bitmap_rule,
    _limit_rule,
    _loops_rule,
    _spill_rule,
    _cartesian_rule,
    _misestimate_rule,
)
_ORDER = {"critical": 0, "warning": 1, "info": 2}


def diagnose(plan: Plan, context: Context) -> list[Finding]:
    """Every finding of the plan, most severe first (then in plan order)."""
    findings: list[Finding] = []
    if context.timed_out:
        findings.append(
            Finding(
                "critical",
                "timeout",
                plan.root,
                f"The query did not finish within the {context.timeout_ms:,} ms explain timeout, so it was "
                "cancelled and this is the estimated plan (its real rows and times are unknown).",
                {"timeout_ms": context.timeout_ms or 0, "estimated_total_cost": round(plan.total_cost, 2)},
                advice="Look for the large estimated row counts and sequential scans below.",
            )
        )
    for node in plan.nodes():
        for rule in _RULES:
            findings.extend(rule(node, context, plan))
    findings.sort(key=lambda finding: _ORDER[finding.severity])
    return findings
