"""Index advice: the index that would let a scan read only the rows it keeps, in the order wanted.

Equality columns first (the most selective first), then the ORDER BY columns with their direction,
then lists and one range; a boolean filter becomes a partial index, a leading-wildcard pattern a
trigram index. verification.py tries each suggestion before it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from support_db_mcp.explain.catalog import RelationInfo, quote_ident
from support_db_mcp.explain.conditions import sort_keys
from support_db_mcp.explain.findings import (
    JOINS,
    ORDER_PRESERVING,
    Context,
    mine,
    relation_of,
    scan_predicates,
)
from support_db_mcp.explain.plan import PlanNode

MAX_INDEX_COLUMNS = 4


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


def _order_for(node: PlanNode, info: RelationInfo, context: Context) -> tuple[tuple[str, bool], ...]:
    """The order this scan's rows are wanted in: the keys of a Sort above it, or the query's
    ORDER BY when a Limit reads the scan directly (the scan's index provides the order)."""
    current = node
    for ancestor in node.ancestors():
        if ancestor.node_type in {"Sort", "Incremental Sort"}:
            keys = sort_keys(ancestor.sort_key)
            if not keys or not all(mine(node, info, key.qualifier, key.column) for key in keys):
                return ()
            return tuple((key.column, key.descending) for key in keys)
        if ancestor.node_type == "Limit":
            order = context.order_by
            if order and all(mine(node, info, column.qualifier, column.column) for column in order):
                return tuple((column.column, column.descending) for column in order)
            return ()
        # a join can keep its outer side's order (a nested loop does), so rows read in index order
        # under a join on the outer side can still feed the LIMIT without a sort
        outer_of_join = ancestor.node_type in JOINS and ancestor.inputs[0] is current
        if not outer_of_join and (ancestor.node_type not in ORDER_PRESERVING or len(ancestor.inputs) != 1):
            return ()
        current = ancestor
    return ()


def _existing_prefix(info: RelationInfo, columns: tuple[str, ...]) -> str | None:
    for index in info.indexes:
        if index.method == "btree" and not index.partial and index.columns[: len(columns)] == columns:
            return index.name
    return None


def _wanted(node: PlanNode, context: Context, *, with_order: bool) -> IndexCandidate | None:
    """The index this scan's conditions and wanted order call for, whether or not one exists."""
    info = relation_of(node, context)
    if info is None:
        return None
    found = scan_predicates(node, info)
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
    keys = [key for key in keys if all(key[0] != p.column for p in partial)][:MAX_INDEX_COLUMNS]
    where = " AND ".join(f"{p.sql} {quote_ident(p.column)}".strip() for p in partial) or None
    if not keys:
        patterns = [p for p in found if p.kind == "like" and p.pattern and p.pattern.startswith("%")]
        if patterns:
            return IndexCandidate(info, info.schema, info.name, ((patterns[0].column, False),), "gin_trgm")
        return None
    return IndexCandidate(info, info.schema, info.name, tuple(keys), where=where)


def index_candidate(node: PlanNode, context: Context, *, with_order: bool = True) -> IndexCandidate | None:
    """The index that would let this scan read only the rows it keeps, in the order wanted; None
    when there is no such index or one with these leading columns exists already."""
    candidate = _wanted(node, context, with_order=with_order)
    if candidate is None or serving_index(candidate) is not None:
        return None
    return candidate


def serving_index(candidate: IndexCandidate) -> str | None:
    """An existing b-tree index that leads with the candidate's columns (and so serves its shape)."""
    if candidate.where is not None or candidate.method != "btree":
        return None
    return _existing_prefix(candidate.relation, candidate.columns)


def existing_index_for(node: PlanNode, context: Context) -> str | None:
    """The name of an existing index that already has the columns this scan's shape calls for."""
    candidate = _wanted(node, context, with_order=True)
    return serving_index(candidate) if candidate is not None else None
