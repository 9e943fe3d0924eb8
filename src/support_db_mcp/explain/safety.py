"""Safety layer 1: PostgreSQL's own parser (libpg_query, through pglast) decides what may be explained.

Only one plain query is accepted: SELECT, WITH ... SELECT, VALUES or TABLE, with no data-modifying
CTE, no SELECT INTO, no FOR UPDATE/SHARE, no call of a function that has side effects, reaches
outside the database or runs SQL given as text, no read of secrets or other sessions' SQL, and no
constant that would build a huge value while planning (refusals.py lists them with their reasons).
This is the early, readable refusal; the read-only transaction, the timeouts, the pg_proc check
and the read-only login stop the same things again on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast, parse_sql
from pglast.enums import SortByDir
from pglast.parser import ParseError
from pglast.visitors import Visitor

from support_db_mcp.explain.refusals import (
    REFUSED_RELATIONS,
    STATEMENT_NAMES,
    WRITES,
    UnsafeQueryError,
    names,
    refusal_reason,
    refuse,
    snippet,
)
from support_db_mcp.explain.sizes import BuiltSize
from support_db_mcp.schemas.explain import MAX_PARAMS, MAX_SQL_CHARS


@dataclass(frozen=True)
class FunctionName:
    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class SortColumn:
    qualifier: str | None
    column: str
    descending: bool


@dataclass(frozen=True)
class CheckedQuery:
    """A statement that passed the parser checks, with what the later layers need from it."""

    sql: str  # the statement's own text, without a trailing semicolon
    param_count: int
    functions: frozenset[FunctionName] = field(default_factory=frozenset)
    operators: frozenset[str] = field(default_factory=frozenset)
    order_by: tuple[SortColumn, ...] = ()


class _Walker(Visitor):
    """Collects calls, operators and placeholders, and raises on the first forbidden construct."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.sql = sql
        self.functions: set[FunctionName] = set()
        self.operators: set[str] = set()
        self.max_param = 0
        self.built_size = BuiltSize()

    def visit(self, ancestors: object, node: ast.Node) -> None:
        kind = type(node).__name__
        if kind in WRITES:
            raise refuse(
                f"it contains {WRITES[kind]}, a data-modifying statement (in a WITH clause); "
                "only plain reads can be explained",
                snippet(self.sql, _location_of(node)),
            )
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise refuse("SELECT INTO creates a table; use a plain SELECT")
            if node.lockingClause:
                raise refuse(
                    "FOR UPDATE/FOR SHARE takes row locks; remove the locking clause to explain the read"
                )
        elif isinstance(node, ast.FuncCall):
            self._call(node)
        elif isinstance(node, ast.A_Expr):
            self.operators.update(names(node.name) or ())
        elif isinstance(node, ast.ParamRef):
            self.max_param = max(self.max_param, node.number or 0)
        elif isinstance(node, ast.TypeCast):
            self.built_size.cast(node, snippet(self.sql, node.location))
        elif isinstance(node, ast.RangeVar):
            reason = REFUSED_RELATIONS.get((node.relname or "").lower())
            if reason is not None:
                raise refuse(f"it reads {node.relname}, which {reason}", snippet(self.sql, node.location))

    def _call(self, node: ast.FuncCall) -> None:
        parts = names(node.funcname)
        where = snippet(self.sql, node.location)
        if not parts:
            raise refuse("it calls a function whose name cannot be read", where)
        name = FunctionName(schema=parts[-2].lower() if len(parts) > 1 else None, name=parts[-1].lower())
        arguments = tuple(node.args or ())
        reason = refusal_reason(name.name, len(arguments))
        if reason is not None:
            raise refuse(f"it calls {name}(), which {reason}", where)
        self.functions.add(name)
        self.built_size.call(str(name), arguments, where)


def _location_of(node: ast.Node) -> int | None:
    relation = getattr(node, "relation", None)
    location = getattr(relation, "location", None)
    return location if isinstance(location, int) else None


def _top_level_order(statement: ast.SelectStmt) -> tuple[SortColumn, ...]:
    columns: list[SortColumn] = []
    for item in statement.sortClause or ():
        target = item.node
        if not isinstance(target, ast.ColumnRef):
            return ()
        fields = names(target.fields)
        if not fields:
            return ()
        columns.append(
            SortColumn(
                qualifier=fields[-2] if len(fields) > 1 else None,
                column=fields[-1],
                descending=item.sortby_dir == SortByDir.SORTBY_DESC,
            )
        )
    return tuple(columns)


def parse(sql: str) -> tuple[ast.RawStmt, ...]:
    """PostgreSQL's parse of `sql`; a parser failure is a refusal that says what to change."""
    try:
        return tuple(parse_sql(sql))
    except ParseError as error:
        if "memory exhausted" in str(error):
            raise refuse("it is nested too deeply to be checked; simplify the expression") from None
        raise UnsafeQueryError(f"the statement is not valid SQL: {error}") from None
    except RecursionError:
        raise refuse("it is nested too deeply to be checked; simplify the expression") from None


def check_query(sql: str) -> CheckedQuery:
    """Parse `sql` and accept it only if it is exactly one plain read; raise UnsafeQueryError otherwise."""
    if not sql.strip():
        raise refuse("the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise refuse(f"the statement is {len(sql):,} characters long; the limit is {MAX_SQL_CHARS:,}")
    if "\x00" in sql:
        raise refuse("the statement contains a NUL character")
    statements = parse(sql)
    if len(statements) != 1:
        raise refuse(
            f"it holds {len(statements)} statements; pass exactly one query"
            if statements
            else "it holds no statement (only comments?)"
        )
    raw = statements[0]
    statement = raw.stmt
    kind = type(statement).__name__
    if not isinstance(statement, ast.SelectStmt):
        what = STATEMENT_NAMES.get(kind) or WRITES.get(kind) or kind.removesuffix("Stmt")
        raise refuse(
            f"only a plain query (SELECT, WITH ... SELECT, VALUES, TABLE) can be explained, not {what}"
        )
    walker = _Walker(sql)
    try:
        walker(raw)
    except RecursionError:
        raise refuse("it is nested too deeply to be checked; simplify the expression") from None
    if walker.max_param > MAX_PARAMS:
        raise refuse(f"it uses ${walker.max_param}; at most ${MAX_PARAMS} placeholders are supported")
    start = raw.stmt_location or 0
    text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
    return CheckedQuery(
        sql=text.strip().rstrip(";").strip(),
        param_count=walker.max_param,
        functions=frozenset(walker.functions),
        operators=frozenset(walker.operators),
        order_by=_top_level_order(statement),
    )


def assert_one_statement(sql: str, kinds: tuple[type[ast.Node], ...]) -> None:
    """What we are about to send is parsed once more: exactly one statement of these kinds."""
    statements = parse(sql)
    if len(statements) != 1 or not isinstance(statements[0].stmt, kinds):
        raise refuse("it does not stay one statement")


__all__ = [
    "CheckedQuery",
    "FunctionName",
    "SortColumn",
    "UnsafeQueryError",
    "assert_one_statement",
    "check_query",
    "names",
    "refuse",
]
