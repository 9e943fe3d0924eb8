"""What stands out in a plan: each finding names its node, the figures behind it and what to do.

Rules work on totals over loops (see plan.py). Thresholds are plain, named numbers so a finding can
be checked by hand against the plan text. The rules are in scan_rules.py and join_rules.py,
diagnosis.py runs them; advice.py turns a scan into the index that would serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from support_db_mcp.explain.catalog import RelationInfo
from support_db_mcp.explain.conditions import Predicate, predicates
from support_db_mcp.explain.plan import PlanNode
from support_db_mcp.explain.safety import SortColumn
from support_db_mcp.schemas.explain import FindingKind, Severity

if TYPE_CHECKING:
    from support_db_mcp.explain.advice import IndexCandidate

MIN_REMOVED = 1_000  # rows removed by a filter before it is worth a word
REMOVED_RATIO = 10  # removed at least this many times the rows kept
CRITICAL_REMOVED = 50_000  # rows removed (or sorted, or index entries wasted) that make it critical
MISESTIMATE_RATIO = 10  # estimate and actual rows this many times apart
MISESTIMATE_MIN_ROWS = 1_000  # ... over at least this many rows in all loops
MANY_LOOPS = 1_000  # a nested loop's inner side run this often
LARGE_TABLE_ROWS = 10_000  # smallest table whose estimated sequential scan is worth a word
# On a table below LARGE_TABLE_ROWS a node that reads far more rows than it keeps costs little today,
# but what it reads grows with the table while what it keeps does not: such a node is an `info`
# finding (with the index its shape calls for) once it reads SMALL_MIN_READ rows, except a
# sequential scan of at most TINY_TABLE_PAGES pages, which no index would beat at any size it has.
SMALL_MIN_READ = 100
TINY_TABLE_PAGES = 10
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
ORDER_PRESERVING = {"Limit", "Gather Merge", "Result", "Unique", "Materialize", "Memoize"}
JOINS = {"Nested Loop", "Hash Join", "Merge Join"}
_EARLY_STOPJOINS = {"Semi", "Anti", "Right Semi", "Right Anti"}
INNER_SHARE_OF_TIME = 0.2  # an indexed inner side of a nested loop matters from this share of the time
CARTESIAN_SHARE = 0.9  # a join returning this share of outer x inner rows joins every pair
MISESTIMATE_WARNING_FACTOR = 100  # from this factor on a misestimate is a warning, below it info


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


def relation_of(node: PlanNode, context: Context) -> RelationInfo | None:
    if node.relation is None or node.schema is None:
        return None
    return context.relations.get((node.schema, node.relation))


def mine(node: PlanNode, info: RelationInfo, qualifier: str | None, column: str) -> bool:
    if column not in info.columns:
        return False
    return qualifier is None or qualifier in {node.alias, node.relation}


def conditions_of(node: PlanNode) -> list[str]:
    return [c for c in (node.index_cond, node.recheck_cond, node.filter) if c]


def scan_predicates(node: PlanNode, info: RelationInfo) -> list[Predicate]:
    found: list[Predicate] = []
    for condition in conditions_of(node):
        found.extend(p for p in predicates(condition) if mine(node, info, p.qualifier, p.column))
    return found


def under_limit(node: PlanNode) -> PlanNode | None:
    """The Limit that reads this node's rows in the order it produces them, if there is one."""
    current = node
    for ancestor in node.ancestors():
        if ancestor.node_type == "Limit":
            return ancestor
        outer_of_join = ancestor.node_type in JOINS and ancestor.inputs[0] is current
        keeps_order = (
            ancestor.node_type in ORDER_PRESERVING | {"Incremental Sort"} and len(ancestor.inputs) == 1
        )
        if not (outer_of_join or keeps_order):
            return None
        current = ancestor
    return None


def stops_early(node: PlanNode) -> bool:
    """Whether something above may stop reading this node before it is exhausted (a Limit, a
    semi/anti or merge join, a correlated subquery): then fewer rows than estimated is no error."""
    child = node
    for ancestor in node.ancestors():
        if child.parent_relationship == "SubPlan" or ancestor.node_type in {"Limit", "Merge Join"}:
            return True
        if ancestor.join_type in _EARLY_STOPJOINS:
            return True
        child = ancestor
    return child.parent_relationship == "SubPlan"


def small_table(info: RelationInfo | None) -> bool:
    """Too small for the planner's choice between an index and reading everything to say much."""
    return info is not None and info.rows < LARGE_TABLE_ROWS


def small_table_note(info: RelationInfo, node: PlanNode) -> str:
    """Why a finding on a small table still matters, with the table's size."""
    took = f" ({node.total_time_ms:,.1f} ms here)" if node.total_time_ms is not None else ""
    return (
        f"{info.name} is small (~{count(info.rows)} rows, {info.pages:,} pages), so this costs little "
        f"now{took}, but the rows read grow with the table while the rows kept do not: on a large "
        "table the same plan reads that much more for the same answer"
    )


def count(value: float) -> str:
    return f"{value:,.0f}"


def where(node: PlanNode) -> str:
    return node.label


def bitmap_inputs(node: PlanNode) -> list[PlanNode]:
    found: list[PlanNode] = []
    for child in node.children:
        if child.node_type == "Bitmap Index Scan":
            found.append(child)
        elif child.node_type in {"BitmapAnd", "BitmapOr"}:
            found.extend(bitmap_inputs(child))
    return found
