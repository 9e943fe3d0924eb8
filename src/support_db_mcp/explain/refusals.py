"""What the parser refuses, and why: functions, relations and statement kinds, each with its reason.

Names are matched on the bare, lower-case function or relation name, whatever schema was written,
so `pg_catalog.pg_sleep`, `PG_SLEEP` and `U&"\\0070g_sleep"` are all the same call.
"""

from __future__ import annotations

from pglast import ast

from support_db_mcp.errors import InvalidInputError


class UnsafeQueryError(InvalidInputError):
    """The statement was refused before it reached the database; the message names why and where."""


def refuse(reason: str, part: str | None = None) -> UnsafeQueryError:
    where = f" (at: {part})" if part else ""
    return UnsafeQueryError(f"explain_query refused the statement: {reason}{where}")


def snippet(sql: str, location: int | None, width: int = 60) -> str | None:
    """The part of the statement a refusal points at."""
    if location is None or location < 0:
        return None
    text = " ".join(sql[location : location + width].split())
    return text + ("..." if len(sql) - location > width else "")


def names(parts: object) -> list[str] | None:
    """The strings of a name list (funcname, ColumnRef fields), or None if one part is not a name."""
    if not isinstance(parts, tuple | list):
        return None
    found = [part.sval for part in parts if isinstance(part, ast.String) and isinstance(part.sval, str)]
    return found if len(found) == len(parts) else None


# (exact name, or prefix ending in "*"; what a call would do)
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
    ("pg_stat_statements*", "shows or resets other sessions' SQL"),
    ("pg_stat_get_activity", "shows other sessions' SQL"),
    ("pg_stat_get_backend_*", "shows other sessions' SQL and state"),
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
    ("table_to_xml*", "reads a table named as text, out of this check's sight"),
    ("schema_to_xml*", "reads every table of a schema named as text, out of this check's sight"),
    ("database_to_xml*", "reads every table of the database, out of this check's sight"),
    ("cursor_to_xml*", "reads from a cursor out of this check's sight"),
    ("ts_stat", "runs SQL given as text, out of this check's sight"),
    ("hypopg*", "changes hypothetical indexes (this tool manages them itself)"),
)

# Functions refused only in one form: (name, number of arguments, reason).
_REFUSED_FORMS: tuple[tuple[str, int, str], ...] = (
    ("ts_rewrite", 2, "runs SQL given as text (its second argument), out of this check's sight"),
)

# Relations refused by name: secrets, server configuration, other sessions' SQL. A read-only role
# cannot read most of them anyway; refusing here makes the message clear and adds a layer.
REFUSED_RELATIONS: dict[str, str] = {
    "pg_authid": "holds password hashes",
    "pg_shadow": "holds password hashes",
    "pg_user_mapping": "holds credentials of foreign servers",
    "pg_user_mappings": "holds credentials of foreign servers",
    "pg_largeobject": "holds large objects",
    "pg_statistic": "holds sampled values of every table",
    "pg_hba_file_rules": "shows the server's authentication rules",
    "pg_file_settings": "shows the server's configuration files",
    "pg_ident_file_mappings": "shows the server's authentication mappings",
    "pg_stat_activity": "shows other sessions' SQL",
    "pg_stat_statements": "shows other sessions' SQL",
    "pg_stat_statements_info": "shows statistics of other sessions' SQL",
    "installation_secrets": "holds this installation's secrets (the cursor-signing key)",
}

WRITES = {
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
}

STATEMENT_NAMES = {
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


def refusal_reason(function_name: str, argument_count: int | None = None) -> str | None:
    """Why a function of this (bare, lower-case) name may not be called, or None."""
    name = function_name.lower()
    for pattern, reason in _REFUSED_FUNCTIONS:
        if (pattern.endswith("*") and name.startswith(pattern[:-1])) or name == pattern:
            return reason
    for refused, arguments, reason in _REFUSED_FORMS:
        if name == refused and (argument_count is None or argument_count == arguments):
            return reason
    return None
