"""A typed plan tree parsed from EXPLAIN (FORMAT JSON), and its readable text form.

PostgreSQL reports `Actual Rows`, `Rows Removed by Filter` and the times of a node as averages per
loop; every `total_*` property here multiplies by `Actual Loops` (for a parallel scan, the workers
plus the leader), which is what a person means by "how many rows did it read".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_RENDERED_NODES = 150  # beyond this a plan is cut, in its text and in its structured form


def _float(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return float(value) if isinstance(value, int | float) else None


def _int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return int(value) if isinstance(value, int | float) else None


def text_of(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


@dataclass
class PlanNode:
    node_type: str
    raw: dict[str, Any] = field(repr=False)
    children: list[PlanNode] = field(default_factory=list)
    path: str = "1"  # position in the tree: "1", "1.1", "1.2.1", ...
    parent: PlanNode | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- identity
    @property
    def relation(self) -> str | None:
        return text_of(self.raw, "Relation Name")

    @property
    def schema(self) -> str | None:
        return text_of(self.raw, "Schema")

    @property
    def alias(self) -> str | None:
        return text_of(self.raw, "Alias")

    @property
    def index_name(self) -> str | None:
        return text_of(self.raw, "Index Name")

    @property
    def scan_direction(self) -> str | None:
        return text_of(self.raw, "Scan Direction")

    @property
    def join_type(self) -> str | None:
        return text_of(self.raw, "Join Type")

    @property
    def parent_relationship(self) -> str | None:
        return text_of(self.raw, "Parent Relationship")

    @property
    def subplan_name(self) -> str | None:
        return text_of(self.raw, "Subplan Name")

    @property
    def parallel_aware(self) -> bool:
        return bool(self.raw.get("Parallel Aware"))

    @property
    def is_scan(self) -> bool:
        return self.relation is not None and "Scan" in self.node_type

    @property
    def label(self) -> str:
        """How EXPLAIN's text format names the node: 'Index Scan Backward using ix on tickets t'."""
        name = self.node_type
        if self.parallel_aware:
            name = f"Parallel {name}"
        if self.node_type in {"Index Scan", "Index Only Scan"} and self.scan_direction == "Backward":
            name += " Backward"
        if self.join_type and self.join_type != "Inner":
            if self.node_type == "Nested Loop":
                name += f" {self.join_type} Join"
            elif self.node_type in {"Hash Join", "Merge Join"}:
                name = name.replace(" Join", f" {self.join_type} Join")
        strategy = text_of(self.raw, "Strategy")
        if self.node_type == "Aggregate" and strategy in {"Hashed", "Sorted", "Mixed"}:
            name = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}[
                strategy
            ]
        if self.index_name and self.node_type != "Bitmap Index Scan":
            name += f" using {self.index_name}"
        elif self.index_name:
            name += f" on {self.index_name}"
        if self.relation:
            qualified = f"{self.schema}.{self.relation}" if self.schema else self.relation
            name += f" on {qualified}"
            if self.alias and self.alias != self.relation:
                name += f" {self.alias}"
        return name

    # ---------------------------------------------------------------- estimates
    @property
    def startup_cost(self) -> float:
        return _float(self.raw, "Startup Cost") or 0.0

    @property
    def total_cost(self) -> float:
        return _float(self.raw, "Total Cost") or 0.0

    @property
    def plan_rows(self) -> float:
        """Estimated rows per loop."""
        return _float(self.raw, "Plan Rows") or 0.0

    # ---------------------------------------------------------------- actuals (ANALYZE only)
    @property
    def analyzed(self) -> bool:
        return "Actual Loops" in self.raw

    @property
    def loops(self) -> int:
        return _int(self.raw, "Actual Loops") or 0

    @property
    def never_executed(self) -> bool:
        return self.analyzed and self.loops == 0

    @property
    def rows_per_loop(self) -> float | None:
        return _float(self.raw, "Actual Rows")

    @property
    def total_rows(self) -> int | None:
        per_loop = self.rows_per_loop
        return None if per_loop is None else round(per_loop * self.loops)

    @property
    def total_removed_by_filter(self) -> int:
        return round((_float(self.raw, "Rows Removed by Filter") or 0.0) * self.loops)

    @property
    def total_removed_by_join_filter(self) -> int:
        return round((_float(self.raw, "Rows Removed by Join Filter") or 0.0) * self.loops)

    @property
    def total_removed_by_recheck(self) -> int:
        return round((_float(self.raw, "Rows Removed by Index Recheck") or 0.0) * self.loops)

    @property
    def total_time_ms(self) -> float | None:
        """Inclusive time of the node over all its loops (children included)."""
        per_loop = _float(self.raw, "Actual Total Time")
        return None if per_loop is None else per_loop * max(self.loops, 1)

    @property
    def shared_hit(self) -> int | None:
        return _int(self.raw, "Shared Hit Blocks")

    @property
    def shared_read(self) -> int | None:
        return _int(self.raw, "Shared Read Blocks")

    @property
    def temp_written(self) -> int:
        return _int(self.raw, "Temp Written Blocks") or 0

    # ---------------------------------------------------------------- conditions and sorting
    @property
    def filter(self) -> str | None:
        return text_of(self.raw, "Filter")

    @property
    def index_cond(self) -> str | None:
        return text_of(self.raw, "Index Cond")

    @property
    def recheck_cond(self) -> str | None:
        return text_of(self.raw, "Recheck Cond")

    @property
    def join_filter(self) -> str | None:
        return text_of(self.raw, "Join Filter")

    @property
    def join_condition(self) -> str | None:
        return text_of(self.raw, "Hash Cond") or text_of(self.raw, "Merge Cond") or self.join_filter

    @property
    def sort_key(self) -> list[str]:
        value = self.raw.get("Sort Key")
        return [str(item) for item in value] if isinstance(value, list) else []

    @property
    def sort_method(self) -> str | None:
        return text_of(self.raw, "Sort Method")

    @property
    def sort_space_type(self) -> str | None:
        return text_of(self.raw, "Sort Space Type")

    @property
    def sort_space_kb(self) -> int | None:
        return _int(self.raw, "Sort Space Used")

    @property
    def hash_batches(self) -> int:
        return max(_int(self.raw, "Hash Batches") or 1, _int(self.raw, "Original Hash Batches") or 1)

    @property
    def disk_usage_kb(self) -> int | None:
        return _int(self.raw, "Disk Usage")

    @property
    def spilled(self) -> bool:
        if self.node_type in {"Sort", "Incremental Sort"}:
            method = (self.sort_method or "").lower()
            return self.sort_space_type == "Disk" or "external" in method
        if self.node_type == "Hash":
            return self.hash_batches > 1
        if self.node_type == "Aggregate":
            return (_int(self.raw, "HashAgg Batches") or 0) > 1 or (self.disk_usage_kb or 0) > 0
        return False

    # ---------------------------------------------------------------- navigation
    @property
    def inputs(self) -> list[PlanNode]:
        """The children that feed this node's rows: all but its InitPlans and SubPlans."""
        return [child for child in self.children if child.parent_relationship not in {"InitPlan", "SubPlan"}]

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def ancestors(self) -> Iterator[PlanNode]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


@dataclass
class Plan:
    """The whole document of one EXPLAIN: the root node and the run's own figures."""

    root: PlanNode
    planning_ms: float | None
    execution_ms: float | None
    analyzed: bool

    @property
    def total_cost(self) -> float:
        return self.root.total_cost

    def nodes(self) -> Iterator[PlanNode]:
        return self.root.walk()

    def index_names(self) -> set[str]:
        return {node.index_name for node in self.nodes() if node.index_name}


def _build(raw: dict[str, Any], path: str, parent: PlanNode | None) -> PlanNode:
    node = PlanNode(node_type=str(raw.get("Node Type", "?")), raw=raw, path=path, parent=parent)
    children = raw.get("Plans")
    if isinstance(children, list):
        node.children = [
            _build(child, f"{path}.{index}", node)
            for index, child in enumerate(children, start=1)
            if isinstance(child, dict)
        ]
    return node


def parse_plan(document: Any) -> Plan:
    """Parse what EXPLAIN (FORMAT JSON) returned: a list with one object, or its JSON text."""
    if isinstance(document, str):
        document = json.loads(document)
    if isinstance(document, list):
        document = document[0]
    if not isinstance(document, dict) or not isinstance(document.get("Plan"), dict):
        raise ValueError("not an EXPLAIN (FORMAT JSON) document")
    root = _build(document["Plan"], "1", None)
    return Plan(
        root=root,
        planning_ms=_float(document, "Planning Time"),
        execution_ms=_float(document, "Execution Time"),
        analyzed="Actual Loops" in document["Plan"],
    )
