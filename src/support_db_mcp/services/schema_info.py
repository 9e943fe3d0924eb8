"""The schema as the database has it right now: tables, columns, indexes, keys, sizes.

SQLAlchemy's inspector (through `conn.run_sync(inspect)`) reads columns, keys and constraints;
the catalog gives what the inspector does not: index definitions and sizes, row estimates.
Nothing is cached: every call reads the live catalog, so a column added a second ago is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, bindparam, inspect, text
from sqlalchemy.dialects.postgresql.base import PGInspector
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import NotFoundError
from support_db_mcp.schemas.base import closest, shown

# Alembic's bookkeeping and the installation's secrets (migration 0004) are not support data: they are
# left out of listings and completions.
HIDDEN_TABLES = frozenset({"alembic_version", "installation_secrets"})


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    default: str | None  # the server default as PostgreSQL shows it, e.g. now() or 'open'::ticket_status
    generated: str | None  # "identity" or "always as (...) stored" for columns the database fills in
    primary_key: bool

    @property
    def required_on_insert(self) -> bool:
        """An INSERT must give a value: NOT NULL, and neither a default nor database-generated."""
        return not self.nullable and self.default is None and self.generated is None


@dataclass(frozen=True)
class IndexInfo:
    name: str
    definition: str  # pg_get_indexdef: CREATE [UNIQUE] INDEX ... USING btree (...)
    size_bytes: int
    size: str  # pg_size_pretty
    unique: bool
    primary: bool
    constraint: str | None  # the constraint the index backs (primary key / unique), if any


@dataclass(frozen=True)
class ForeignKeyInfo:
    name: str | None
    columns: list[str]
    referred_table: str
    referred_columns: list[str]
    on_delete: str | None


@dataclass(frozen=True)
class CheckInfo:
    name: str | None
    expression: str


@dataclass(frozen=True)
class EnumInfo:
    name: str
    labels: list[str]


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: list[ColumnInfo]
    primary_key: list[str]
    indexes: list[IndexInfo]
    foreign_keys: list[ForeignKeyInfo]
    checks: list[CheckInfo]
    row_estimate: int | None  # pg_class.reltuples; None when the table was never analysed
    total_size: str  # table + indexes + TOAST
    enums: list[EnumInfo]  # the enum types its columns use

    def column(self, name: str) -> ColumnInfo | None:
        return next((column for column in self.columns if column.name == name), None)

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required_on_insert]


# ---------------------------------------------------------------- catalog queries
_INDEXES = text(
    """
    SELECT t.relname AS table_name, i.relname AS index_name,
           pg_get_indexdef(i.oid) AS definition,
           pg_relation_size(i.oid) AS size_bytes,
           pg_size_pretty(pg_relation_size(i.oid)) AS size,
           x.indisunique AS is_unique, x.indisprimary AS is_primary,
           con.conname AS constraint_name
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.contype IN ('p', 'u', 'x')
    WHERE n.nspname = current_schema() AND t.relname IN :names
    ORDER BY t.relname, x.indisprimary DESC, i.relname
    """
).bindparams(bindparam("names", expanding=True))

_TABLES = text(
    """
    SELECT c.relname AS table_name, c.reltuples::bigint AS row_estimate,
           pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN :names
    """
).bindparams(bindparam("names", expanding=True))


# ---------------------------------------------------------------- the inspector part
def _generated(column: ReflectedColumn) -> str | None:
    identity = column.get("identity")
    if identity:
        kind = "always" if identity.get("always") else "by default"
        return f"identity (generated {kind})"
    computed = column.get("computed")
    if computed:
        stored = " stored" if computed.get("persisted") else ""
        return f"generated always as {computed['sqltext']}{stored}"
    return None


def _inspect(connection: Connection, names: Sequence[str] | None) -> dict[str, Any]:
    inspector = cast(PGInspector, inspect(connection))
    available = [name for name in inspector.get_table_names() if name not in HIDDEN_TABLES]
    wanted = [name for name in available if names is None or name in names]
    if not wanted:
        return {"tables": [], "available": available}
    dialect = connection.dialect
    columns = inspector.get_multi_columns(filter_names=wanted)
    primary_keys = inspector.get_multi_pk_constraint(filter_names=wanted)
    foreign_keys = inspector.get_multi_foreign_keys(filter_names=wanted)
    checks = inspector.get_multi_check_constraints(filter_names=wanted)
    enums = {enum["name"]: list(enum["labels"]) for enum in inspector.get_enums()}
    tables = []
    for name in wanted:
        key = (None, name)
        pk = primary_keys.get(key)
        pk_columns = list(pk["constrained_columns"]) if pk else []
        table_columns = []
        used_enums: list[str] = []
        for column in columns.get(key, []):
            type_name = column["type"].compile(dialect=dialect)
            enum_name = getattr(column["type"], "name", None)
            if isinstance(enum_name, str) and enum_name in enums and enum_name not in used_enums:
                used_enums.append(enum_name)
            table_columns.append(
                ColumnInfo(
                    name=column["name"],
                    type=type_name,
                    nullable=bool(column["nullable"]),
                    default=column.get("default"),
                    generated=_generated(column),
                    primary_key=column["name"] in pk_columns,
                )
            )
        tables.append(
            {
                "name": name,
                "columns": table_columns,
                "primary_key": pk_columns,
                "foreign_keys": [
                    ForeignKeyInfo(
                        name=fk.get("name"),
                        columns=list(fk["constrained_columns"]),
                        referred_table=fk["referred_table"],
                        referred_columns=list(fk["referred_columns"]),
                        on_delete=(fk.get("options") or {}).get("ondelete"),
                    )
                    for fk in foreign_keys.get(key, [])
                ],
                "checks": [
                    CheckInfo(name=check.get("name"), expression=check["sqltext"])
                    for check in checks.get(key, [])
                ],
                "enums": [EnumInfo(name=enum, labels=enums[enum]) for enum in used_enums],
            }
        )
    return {"tables": tables, "available": available}


# ---------------------------------------------------------------- services
async def table_names(session: AsyncSession) -> list[str]:
    """The support tables of the current schema, in the order PostgreSQL lists them."""
    connection = await session.connection()
    names: list[str] = await connection.run_sync(
        lambda sync: [name for name in inspect(sync).get_table_names() if name not in HIDDEN_TABLES]
    )
    return names


async def describe_tables(session: AsyncSession, *, names: Sequence[str] | None = None) -> list[TableInfo]:
    """Every table (or the named ones) with columns, keys, indexes, sizes and row estimates."""
    connection = await session.connection()
    inspected = await connection.run_sync(_inspect, names)
    tables = inspected["tables"]
    if not tables:
        return []
    wanted = [table["name"] for table in tables]
    indexes: dict[str, list[IndexInfo]] = {name: [] for name in wanted}
    for row in (await session.execute(_INDEXES, {"names": wanted})).mappings():
        indexes[row["table_name"]].append(
            IndexInfo(
                name=row["index_name"],
                definition=row["definition"],
                size_bytes=int(row["size_bytes"]),
                size=row["size"],
                unique=bool(row["is_unique"]),
                primary=bool(row["is_primary"]),
                constraint=row["constraint_name"],
            )
        )
    stats = {row["table_name"]: row for row in (await session.execute(_TABLES, {"names": wanted})).mappings()}
    result = []
    for table in tables:
        stat = stats.get(table["name"])
        estimate = int(stat["row_estimate"]) if stat is not None else -1
        result.append(
            TableInfo(
                name=table["name"],
                columns=table["columns"],
                primary_key=table["primary_key"],
                indexes=indexes[table["name"]],
                foreign_keys=table["foreign_keys"],
                checks=table["checks"],
                row_estimate=estimate if estimate >= 0 else None,
                total_size=stat["total_size"] if stat is not None else "unknown",
                enums=table["enums"],
            )
        )
    return result


async def describe_table(session: AsyncSession, *, name: str) -> TableInfo:
    """One table; NotFoundError names the tables that do exist."""
    tables = await describe_tables(session, names=[name])
    if not tables:
        known = await table_names(session)
        close = closest(name, list(known))
        hint = f" (did you mean {close!r}?)" if close else ""
        raise NotFoundError(f"no table named {shown(name)}{hint}; the tables are: {', '.join(known)}")
    return tables[0]
