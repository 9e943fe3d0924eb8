"""Reading the conditions and sort keys that EXPLAIN prints, with PostgreSQL's own parser.

EXPLAIN VERBOSE prints each condition as an SQL expression with qualified columns, such as
`((t.assignee_id = $1) AND (t.status = 'open'::ticket_status))`. Parsing it back (as the WHERE of
a dummy SELECT) tells which columns of which table a scan compares with equality, ranges, lists or
patterns: the raw material of an index suggestion. Parts that are not plain SQL (`SubPlan 1`,
`hashed SubPlan`) are skipped, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SortByDir
from pglast.parser import ParseError

from support_db_mcp.explain.safety import names

PredicateKind = Literal["eq", "in", "range", "like", "fts", "bool"]

_RANGE_OPERATORS = {"<", "<=", ">", ">="}
_LIKE_OPERATORS = {"~~", "~~*"}


@dataclass(frozen=True)
class Predicate:
    qualifier: str | None
    column: str
    kind: PredicateKind
    constant: bool  # compared with a constant or a parameter (not another table's column)
    pattern: str | None = None  # the LIKE pattern, when it is a constant
    sql: str | None = None  # bool kind: "" for `column`, "NOT" for `NOT column`


@dataclass(frozen=True)
class SortKey:
    qualifier: str | None
    column: str
    descending: bool


def _column(node: object) -> tuple[str | None, str] | None:
    """(qualifier, column) of a plain column reference, looking through casts."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    fields = names(node.fields)
    if not fields or len(fields) > 3:
        return None
    return (fields[-2] if len(fields) > 1 else None), fields[-1]


def _references_columns(node: object) -> bool:
    if isinstance(node, ast.ColumnRef):
        return True
    if isinstance(node, ast.Node):
        for name in node:
            if _references_columns(getattr(node, name)):
                return True
    elif isinstance(node, tuple | list):
        return any(_references_columns(item) for item in node)
    return False


def _constant_text(node: object) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return node.val.sval
    return None


def _conjuncts(node: object) -> list[object]:
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        parts: list[object] = []
        for arg in node.args or ():
            parts.extend(_conjuncts(arg))
        return parts
    return [node]


def _split_top_level_and(text: str) -> list[str]:
    """Split `(a) AND (b) AND ...` at depth-0 ANDs, for conditions that do not parse as a whole."""
    body = text.strip()
    if body.startswith("(") and body.endswith(")"):
        depth = 0
        for index, char in enumerate(body):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and index < len(body) - 1:
                break
        else:
            body = body[1:-1]
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    index = 0
    while index < len(body):
        char = body[index]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif depth == 0 and body[index : index + 5] == " AND ":
                parts.append(body[start:index])
                start = index + 5
                index += 5
                continue
        index += 1
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def _parse_where(text: str) -> object | None:
    try:
        statements = parse_sql(f"SELECT 1 WHERE {text}")
    except ParseError:
        return None
    statement = statements[0].stmt if statements else None
    return statement.whereClause if isinstance(statement, ast.SelectStmt) else None


def _predicates(node: object) -> list[Predicate]:
    if isinstance(node, ast.NullTest):
        column = _column(node.arg)
        if column is None:
            return []
        kind: PredicateKind = "eq" if node.nulltesttype == NullTestType.IS_NULL else "range"
        return [Predicate(column[0], column[1], kind, constant=True)]
    target: object = None
    prefix = ""
    if isinstance(node, ast.ColumnRef):
        target = node
    elif isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.NOT_EXPR and node.args:
        target, prefix = node.args[0], "NOT"
    if isinstance(target, ast.ColumnRef):
        column = _column(target)
        if column is None:
            return []
        return [Predicate(column[0], column[1], "bool", constant=True, sql=prefix)]
    if not isinstance(node, ast.A_Expr):
        return []
    operator_names = names(node.name)
    if not operator_names:
        return []
    operator = operator_names[-1]
    left = _column(node.lexpr)
    if node.kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY):
        if left is None or operator != "=":
            return []
        return [Predicate(left[0], left[1], "in", constant=not _references_columns(node.rexpr))]
    if node.kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_BETWEEN_SYM):
        if left is None:
            return []
        return [Predicate(left[0], left[1], "range", constant=not _references_columns(node.rexpr))]
    if node.kind != A_Expr_Kind.AEXPR_OP:
        return []
    right = _column(node.rexpr)
    if left is not None and right is not None:
        # a join condition: each side is a column of its own table, compared with the other table
        if operator == "=":
            return [Predicate(*left, "eq", constant=False), Predicate(*right, "eq", constant=False)]
        if operator in _RANGE_OPERATORS:
            return [Predicate(*left, "range", constant=False), Predicate(*right, "range", constant=False)]
        return []
    column, other = (left, node.rexpr) if left is not None else (right, node.lexpr)
    if column is None:
        return []
    constant = not _references_columns(other)
    if operator == "=":
        return [Predicate(column[0], column[1], "eq", constant)]
    if operator in _RANGE_OPERATORS:
        return [Predicate(column[0], column[1], "range", constant)]
    if operator in _LIKE_OPERATORS and left is not None:
        return [Predicate(column[0], column[1], "like", constant, pattern=_constant_text(node.rexpr))]
    if operator == "@@" and left is not None:
        return [Predicate(column[0], column[1], "fts", constant)]
    return []


def predicates(condition: str | None) -> list[Predicate]:
    """The usable column predicates of one EXPLAIN condition (AND-ed parts; OR-ed ones are skipped)."""
    if not condition:
        return []
    parsed = _parse_where(condition)
    parts: list[object] = []
    if parsed is not None:
        parts = _conjuncts(parsed)
    else:
        for text in _split_top_level_and(condition):
            piece = _parse_where(text)
            if piece is not None:
                parts.extend(_conjuncts(piece))
    found: list[Predicate] = []
    for part in parts:
        found.extend(_predicates(part))
    return found


def sort_keys(keys: list[str]) -> list[SortKey] | None:
    """Sort keys as printed by EXPLAIN ('t.created_at DESC'); None when one is not a plain column."""
    result: list[SortKey] = []
    for key in keys:
        try:
            statements = parse_sql(f"SELECT 1 ORDER BY {key}")
        except ParseError:
            return None
        statement = statements[0].stmt
        if not isinstance(statement, ast.SelectStmt) or not statement.sortClause:
            return None
        item = statement.sortClause[0]
        column = _column(item.node)
        if column is None:
            return None
        result.append(SortKey(column[0], column[1], item.sortby_dir == SortByDir.SORTBY_DESC))
    return result
