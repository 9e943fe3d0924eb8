"""The statements of a bulk load (seed): locks, id ranges, index drop/rebuild, COPY.

Runs on a raw asyncpg connection inside the caller's transaction, so a failed load leaves the
database as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

LOADED_TABLES = ("users", "tags", "tickets", "ticket_tags", "comments")


async def prepare_session(connection: asyncpg.Connection) -> None:
    await connection.execute("SET LOCAL synchronous_commit = off")
    await connection.execute("SET LOCAL maintenance_work_mem = '512MB'")
    await connection.execute("SET LOCAL statement_timeout = 0")


async def lock_tables(connection: asyncpg.Connection) -> None:
    """Keep other writers out while we hand out ids ourselves."""
    await connection.execute(f"LOCK TABLE {', '.join(LOADED_TABLES)} IN SHARE ROW EXCLUSIVE MODE")


async def max_ids(connection: asyncpg.Connection) -> dict[str, int]:
    row = await connection.fetchrow(
        "SELECT (SELECT coalesce(max(id), 0) FROM users) AS users,"
        " (SELECT coalesce(max(id), 0) FROM tickets) AS tickets,"
        " (SELECT coalesce(max(id), 0) FROM comments) AS comments"
    )
    return dict(row)


async def count_tickets(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM tickets"))


async def secondary_indexes(connection: asyncpg.Connection, tables: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CREATE INDEX ...) of the indexes that do not back a constraint: safe to drop and rebuild."""
    rows = await connection.fetch(
        """
        SELECT i.relname AS name, pg_get_indexdef(ix.indexrelid) AS definition
        FROM pg_index ix
        JOIN pg_class i ON i.oid = ix.indexrelid
        JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = current_schema()
          AND t.relname = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)
        ORDER BY i.relname
        """,
        list(tables),
    )
    return [(row["name"], row["definition"]) for row in rows]


async def drop_indexes(connection: asyncpg.Connection, names: Iterable[str]) -> None:
    for name in names:
        await connection.execute(f'DROP INDEX "{name}"')


async def create_indexes(connection: asyncpg.Connection, definitions: Iterable[str]) -> None:
    for definition in definitions:
        await connection.execute(definition)


async def upsert_tags(connection: asyncpg.Connection, names: Sequence[str]) -> dict[str, int]:
    rows = await connection.fetch(
        "INSERT INTO tags (name) SELECT unnest($1::text[]) "
        "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name",
        list(names),
    )
    return {row["name"]: row["id"] for row in rows}


async def copy_rows(
    connection: asyncpg.Connection, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
) -> None:
    await connection.copy_records_to_table(table, records=records, columns=list(columns))


async def advance_identities(connection: asyncpg.Connection) -> None:
    """After loading explicit ids, move each identity past the largest id."""
    for table in ("users", "tickets", "comments"):  # our own table names, never input
        sql = "SELECT setval(pg_get_serial_sequence($1, 'id'), (SELECT greatest(max(id), 1) FROM %s))"
        await connection.execute(sql % table, table)


async def analyze(connection: asyncpg.Connection) -> None:
    for table in LOADED_TABLES:
        await connection.execute(f"ANALYZE {table}")


async def foreign_keys(connection: asyncpg.Connection, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the foreign keys on `tables`: checked once after a big load."""
    rows = await connection.fetch(
        """
        SELECT t.relname AS table_name, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname = ANY($1::text[])
        ORDER BY t.relname, c.conname
        """,
        list(tables),
    )
    return [(row["table_name"], row["name"], row["definition"]) for row in rows]


async def drop_foreign_keys(connection: asyncpg.Connection, keys: Iterable[tuple[str, str, str]]) -> None:
    for table, name, _ in keys:
        await connection.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')


async def add_foreign_keys(connection: asyncpg.Connection, keys: Iterable[tuple[str, str, str]]) -> None:
    for table, name, definition in keys:
        await connection.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
