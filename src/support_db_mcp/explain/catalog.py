"""Catalog facts that explain a plan: each scanned table's size, columns, statistics and indexes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class IndexInfo:
    name: str
    method: str
    columns: tuple[str | None, ...]  # key columns in order; None for an expression
    partial: bool


@dataclass
class RelationInfo:
    schema: str
    name: str
    rows: float
    pages: int = 0  # 8 kB pages (relpages at the last VACUUM/ANALYZE)
    columns: dict[str, str] = field(default_factory=dict)  # name -> type
    distinct: dict[str, float] = field(default_factory=dict)  # name -> estimated distinct values
    indexes: list[IndexInfo] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def quote_ident(name: str) -> str:
    if name.isidentifier() and name == name.lower() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


async def relation_facts(
    connection: AsyncConnection, relations: set[tuple[str, str]]
) -> dict[tuple[str, str], RelationInfo]:
    """Size, columns, statistics and indexes of the tables a plan scans."""
    if not relations:
        return {}
    schemas = sorted({schema for schema, _ in relations})
    names = sorted({name for _, name in relations})
    rows = (
        await connection.execute(
            text(
                "SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::float8, c.relpages "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY(:schemas) AND c.relname = ANY(:names) AND c.relkind IN ('r', 'm', 'p')"
            ),
            {"schemas": schemas, "names": names},
        )
    ).all()
    by_oid: dict[int, RelationInfo] = {}
    for oid, schema, name, reltuples, pages in rows:
        if (schema, name) in relations:
            by_oid[oid] = RelationInfo(schema=schema, name=name, rows=float(reltuples), pages=int(pages))
    if not by_oid:
        return {}
    oids = list(by_oid)
    for oid, column, type_name in (
        await connection.execute(
            text(
                "SELECT attrelid, attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = ANY(:oids) AND attnum > 0 AND NOT attisdropped"
            ),
            {"oids": oids},
        )
    ).all():
        by_oid[oid].columns[column] = type_name
    for schema, name, column, n_distinct in (
        await connection.execute(
            text(
                "SELECT schemaname, tablename, attname, n_distinct::float8 FROM pg_stats "
                "WHERE schemaname = ANY(:schemas) AND tablename = ANY(:names)"
            ),
            {"schemas": schemas, "names": names},
        )
    ).all():
        for info in by_oid.values():
            if info.schema == schema and info.name == name and n_distinct is not None:
                info.distinct[column] = n_distinct if n_distinct > 0 else -n_distinct * max(info.rows, 1.0)
    for oid, index_name, method, partial, columns in (
        await connection.execute(
            text(
                "SELECT i.indrelid, c.relname, am.amname, i.indpred IS NOT NULL, "
                "ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
                "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                "WHERE i.indrelid = ANY(:oids)"
            ),
            {"oids": oids},
        )
    ).all():
        by_oid[oid].indexes.append(IndexInfo(index_name, method, tuple(columns), bool(partial)))
    return {(info.schema, info.name): info for info in by_oid.values()}


async def installed_extensions(connection: AsyncConnection) -> set[str]:
    rows = await connection.execute(
        text("SELECT extname FROM pg_extension WHERE extname IN ('hypopg', 'pg_trgm')")
    )
    return {name for (name,) in rows.all()}
