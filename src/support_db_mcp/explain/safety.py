"""Safety layer 1: PostgreSQL's own parser (libpg_query, through pglast) decides what may be explained.

Only one plain query is accepted: SELECT, WITH ... SELECT, VALUES or TABLE, with no data-modifying
CTE, no SELECT INTO, no FOR UPDATE/SHARE and no call of a function that has side effects or reaches
outside the database. This is the early, readable refusal; the read-only transaction, the timeouts,
the pg_proc volatility check and the read-only login role stop the same things again on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast, parse_sql
from pglast.enums import SortByDir
from pglast.parser import ParseError
from pglast.visitors import Visitor

from support_db_mcp.errors import InvalidInputError

MAX_SQL_CHARS = 20_000
MAX_PARAMS = 100


class UnsafeQueryError(InvalidInputError):
    """The statement was refused before it reached the database; the message names why and where."""


# (prefix or exact name, what it would do): a name matches when it equals the entry or, for entries
# ending in "*", starts with it. Checked on the bare function name, whatever schema was written.
_REFUSED_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("pg_sleep*", "pauses the server process"),
    ("pg_advisory*", "takes an advisory lock, which outlives the transaction"),
    ("pg_try_advisory*", "takes an advisory lock, which outlives the transaction"),
    ("set_config", "changes server settings (including the role and the timeouts)"),
    ("setseed", "changes the session's random seed"),
    ("nextval", "moves a sequence, which no rollback undoes"),
    ("setval", "moves a sequence, which no rollback undoes"),
    ("currval", "reads session sequence state"),
    ("lastval", "reads session sequence state"),
    ("lo_*", "works on large objects (server files and stored blobs)"),
    ("loread", "works on large objects"),
    ("lowrite", "works on large objects"),
    ("pg_read_*", "reads files on the database server"),
    ("pg_stat_file", "reads files on the database server"),
    ("pg_ls_*", "lists folders on the database server"),
    ("pg_file_*", "writes files on the database server"),
    ("pg_logdir_ls", "lists folders on the database server"),
    ("pg_terminate_backend", "kills another database session"),
    ("pg_cancel_backend", "cancels another session's query"),
    ("pg_signal_*", "signals server processes"),
    ("pg_reload_conf", "reloads the server configuration"),
    ("pg_rotate_logfile", "signals the server's logger"),
    ("pg_promote", "promotes a standby server"),
    ("pg_switch_wal", "forces a WAL switch"),
    ("pg_create_*", "creates replication slots or restore points"),
    ("pg_drop_*", "drops replication slots"),
    ("pg_copy_*", "copies replication slots"),
    ("pg_replication_*", "changes replication state"),
    ("pg_logical_*", "writes to or reads from logical replication"),
    ("pg_wal_*", "controls WAL replay"),
    ("pg_backup_*", "starts or stops a backup"),
    ("pg_start_backup", "starts a backup"),
    ("pg_stop_backup", "stops a backup"),
    ("pg_stat_reset*", "resets server statistics"),
    ("pg_stat_statements_reset", "resets server statistics"),
    ("pg_log_*", "writes to the server log"),
    ("pg_export_snapshot", "exports a snapshot to other sessions"),
    ("pg_import_system_collations", "creates collations"),
    ("pg_notify", "sends notifications to other sessions"),
    ("txid_current*", "assigns a transaction id"),
    ("pg_current_xact_id*", "assigns a transaction id"),
    ("pg_prewarm", "loads tables into memory"),
    ("pg_truncate_visibility_map", "changes table files"),
    ("binary_upgrade_*", "is an upgrade-only function"),
    ("dblink*", "reaches another database through dblink"),
    ("postgres_fdw*", "reaches another server"),
    ("query_to_xml*", "runs SQL given as text, out of this check's sight"),
    ("query_to_xmlschema", "runs SQL given as text, out of this check's sight"),
    ("cursor_to_xml*", "reads from a cursor out of this check's sight"),
    ("ts_stat", "runs SQL given as text, out of this check's sight"),
    ("hypopg*", "changes hypothetical indexes (this tool manages them itself)"),
)

# Catalogs a read-only role cannot read anyway; refused here so the message is clear.
_REFUSED_RELATIONS: dict[str, str] = {
    "pg_authid": "holds password hashes",
    "pg_shadow": "holds password hashes",
    "pg_user_mapping": "holds credentials of foreign servers",
    "pg_user_mappings": "holds credentials of foreign servers",
    "pg_largeobject": "holds large objects",
    "pg_statistic": "holds sampled values of every table",
    "pg_hba_file_rules": "shows the server's authentication rules",
    "pg_file_settings": "shows the server's configuration files",
    "pg_ident_file_mappings": "shows the server's authentication mappings",
}

_WRITES = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
}


def names(parts: object) -> list[str] | None:
    """The strings of a name list (funcname, ColumnRef fields), or None if one part is not a name."""
    if not isinstance(parts, tuple | list):
        return None
    found = [part.sval for part in parts if isinstance(part, ast.String) and isinstance(part.sval, str)]
    return found if len(found) == len(parts) else None


def refusal_reason(function_name: str) -> str | None:
    """Why a function of this (bare, lower-case) name may not be called, or None."""
    name = function_name.lower()
    for pattern, reason in _REFUSED_FUNCTIONS:
        if (pattern.endswith("*") and name.startswith(pattern[:-1])) or name == pattern:
            return reason
    return None


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


def _refuse(reason: str, part: str | None = None) -> UnsafeQueryError:
    where = f" (at: {part})" if part else ""
    return UnsafeQueryError(f"explain_query refused the statement: {reason}{where}")


def _snippet(sql: str, location: int | None, width: int = 60) -> str | None:
    if location is None or location < 0:
        return None
    text = " ".join(sql[location : location + width].split())
    return text + ("..." if len(sql) - location > width else "")


class _Walker(Visitor):
    """Collects calls, operators and placeholders, and raises on the first forbidden construct."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self.sql = sql
        self.functions: set[FunctionName] = set()
        self.operators: set[str] = set()
        self.max_param = 0

    def visit(self, ancestors: object, node: ast.Node) -> None:
        kind = type(node).__name__
        if kind in _WRITES:
            raise _refuse(
                f"it contains {_WRITES[kind]}, a data-modifying statement (in a WITH clause); "
                "only plain reads can be explained",
                _snippet(self.sql, _location_of(node)),
            )
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise _refuse("SELECT INTO creates a table; use a plain SELECT")
            if node.lockingClause:
                raise _refuse(
                    "FOR UPDATE/FOR SHARE takes row locks; remove the locking clause to explain the read"
                )
        elif isinstance(node, ast.FuncCall):
            parts = names(node.funcname)
            if not parts:
                raise _refuse(
                    "it calls a function whose name cannot be read", _snippet(self.sql, node.location)
                )
            name = FunctionName(schema=parts[-2].lower() if len(parts) > 1 else None, name=parts[-1].lower())
            reason = refusal_reason(name.name)
            if reason is not None:
                raise _refuse(f"it calls {name}(), which {reason}", _snippet(self.sql, node.location))
            self.functions.add(name)
        elif isinstance(node, ast.A_Expr):
            self.operators.update(names(node.name) or ())
        elif isinstance(node, ast.ParamRef):
            self.max_param = max(self.max_param, node.number or 0)
        elif isinstance(node, ast.RangeVar):
            reason = _REFUSED_RELATIONS.get((node.relname or "").lower())
            if reason is not None:
                raise _refuse(f"it reads {node.relname}, which {reason}", _snippet(self.sql, node.location))


def _location_of(node: ast.Node) -> int | None:
    relation = getattr(node, "relation", None)
    location = getattr(relation, "location", None)
    return location if isinstance(location, int) else None


_STATEMENT_NAMES = {
    "ExplainStmt": "EXPLAIN (this tool adds EXPLAIN itself; pass the query alone)",
    "CopyStmt": "COPY",
    "DoStmt": "a DO block",
    "CallStmt": "CALL",
    "VariableSetStmt": "SET",
    "TransactionStmt": "a transaction command",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "PrepareStmt": "PREPARE",
    "ExecuteStmt": "EXECUTE",
    "LockStmt": "LOCK",
    "VacuumStmt": "VACUUM/ANALYZE",
}


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


def check_query(sql: str) -> CheckedQuery:
    """Parse `sql` and accept it only if it is exactly one plain read; raise UnsafeQueryError otherwise."""
    if not sql.strip():
        raise _refuse("the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(f"the statement is {len(sql):,} characters long; the limit is {MAX_SQL_CHARS:,}")
    if "\x00" in sql:
        raise _refuse("the statement contains a NUL character")
    try:
        statements = parse_sql(sql)
    except ParseError as error:
        raise UnsafeQueryError(f"the statement is not valid SQL: {error}") from None
    if len(statements) != 1:
        raise _refuse(
            f"it holds {len(statements)} statements; pass exactly one query"
            if statements
            else "it holds no statement (only comments?)"
        )
    raw = statements[0]
    statement = raw.stmt
    kind = type(statement).__name__
    if not isinstance(statement, ast.SelectStmt):
        what = _STATEMENT_NAMES.get(kind) or _WRITES.get(kind) or kind.removesuffix("Stmt")
        raise _refuse(
            f"only a plain query (SELECT, WITH ... SELECT, VALUES, TABLE) can be explained, not {what}"
        )
    walker = _Walker(sql)
    walker(raw)
    if walker.max_param > MAX_PARAMS:
        raise _refuse(f"it uses ${walker.max_param}; at most ${MAX_PARAMS} placeholders are supported")
    start = raw.stmt_location or 0
    text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
    return CheckedQuery(
        sql=text.strip().rstrip(";").strip(),
        param_count=walker.max_param,
        functions=frozenset(walker.functions),
        operators=frozenset(walker.operators),
        order_by=_top_level_order(statement),
    )


__all__ = [
    "MAX_PARAMS",
    "MAX_SQL_CHARS",
    "CheckedQuery",
    "FunctionName",
    "SortColumn",
    "UnsafeQueryError",
    "check_query",
    "refusal_reason",
]
