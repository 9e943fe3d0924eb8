"""What one statement would build while PostgreSQL plans it: refused past MAX_BUILT_SIZE.

PostgreSQL folds immutable calls while planning, so `repeat('x', 500000000)` builds its 500 MB
value (and EXPLAIN VERBOSE prints it) even without ANALYZE, and `'x'::char(n)` pads to n
characters. A size must be a plain number, or a column (a size read from each row is bounded by
the data, not by the statement); the numbers of one statement add up to at most MAX_BUILT_SIZE,
and a sized call may not take another one's result (`repeat(repeat('x', 9999), 9999)` multiplies).
"""

from __future__ import annotations

from pglast import ast
from pglast.visitors import Visitor

from support_db_mcp.explain.refusals import names, refuse

# name -> 0-based position of the argument that sets the size of the result
SIZED_FUNCTIONS: dict[str, int] = {"repeat": 1, "lpad": 1, "rpad": 1, "array_fill": 1}
PADDED_TYPES = frozenset({"bpchar", "char", "character"})  # a cast to char(n) pads to n characters
MAX_BUILT_SIZE = 1_000_000  # characters or elements all sized calls of one statement may build


def _number(node: object) -> int | None:
    """The value of an integer constant (through casts and ARRAY[...] of dimensions), else None."""
    if isinstance(node, ast.TypeCast):
        return _number(node.arg)
    if isinstance(node, ast.A_Const) and not node.isnull:
        value = node.val
        if isinstance(value, ast.Integer):
            return abs(int(value.ival or 0))
        if isinstance(value, ast.Float):
            try:
                return abs(int(float(value.fval or "0")))
            except (ValueError, OverflowError):
                return None
    if isinstance(node, ast.A_ArrayExpr):
        product = 1
        for element in node.elements or ():
            size = _number(element)
            if size is None:
                return None
            product *= size
        return product
    return None


def _calls_sized(node: object) -> bool:
    found = False

    class _Finder(Visitor):
        def visit_FuncCall(self, ancestors: object, call: ast.FuncCall) -> None:
            nonlocal found
            parts = names(call.funcname)
            if parts and parts[-1].lower() in SIZED_FUNCTIONS:
                found = True

    if isinstance(node, ast.Node):
        _Finder()(node)
    return found


class BuiltSize:
    """The running total of one statement's sized calls and padded casts."""

    def __init__(self) -> None:
        self.total = 0

    def call(self, name: str, arguments: tuple[object, ...], where: str | None) -> None:
        position = SIZED_FUNCTIONS.get(name.split(".")[-1])
        if position is None or len(arguments) <= position:
            return
        for index, argument in enumerate(arguments):
            if index != position and _calls_sized(argument):
                raise refuse(
                    f"{name}() takes the result of another call that builds a value of a given size; "
                    "the sizes would multiply",
                    where,
                )
        size_argument = arguments[position]
        while isinstance(size_argument, ast.TypeCast):
            size_argument = size_argument.arg
        if isinstance(size_argument, ast.ColumnRef):
            return
        size = _number(size_argument)
        if size is None:
            raise refuse(
                f"{name}() gets its size from an expression; give the size as a plain number "
                f"(at most {MAX_BUILT_SIZE:,}) so the value it builds is known before it runs",
                where,
            )
        self._add(
            size,
            f"{name}() would build a value of {size:,} characters or elements (this statement's sized "
            f"calls may build {MAX_BUILT_SIZE:,} in all); PostgreSQL computes such a constant while "
            "planning, so even analyze=false would build it",
            where,
        )

    def cast(self, node: ast.TypeCast, where: str | None) -> None:
        type_name = node.typeName
        if type_name is None or not type_name.typmods:
            return
        parts = names(type_name.names)
        if not parts or parts[-1].lower() not in PADDED_TYPES:
            return
        size = _number(type_name.typmods[0]) or 0
        self._add(
            size,
            f"a cast to {parts[-1]}({size:,}) pads a value to that many characters (this statement may "
            f"build {MAX_BUILT_SIZE:,} in all); PostgreSQL computes it while planning",
            where,
        )

    def _add(self, size: int, refusal: str, where: str | None) -> None:
        self.total += size
        if self.total > MAX_BUILT_SIZE:
            raise refuse(refusal, where)
