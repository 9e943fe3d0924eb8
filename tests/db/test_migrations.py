"""Alembic is the only way the schema is made; the models and the head migration agree."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.db import create_engine_for
from support_db_mcp.db.migrate import current_revision, head_revision, schema_drift, upgrade_to_head
from support_db_mcp.models import TicketStatus
from support_db_mcp.services.provisioning import drop_database, ensure_database
from tests.helpers import scalar


async def test_the_test_database_is_at_the_head_revision(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()


async def test_autogenerate_finds_no_difference_between_models_and_migrations(engine: AsyncEngine) -> None:
    assert await schema_drift(engine) == []


async def test_migrating_twice_changes_nothing_and_an_empty_database_reaches_head(
    server_url: URL, settings: Settings
) -> None:
    name = "support_db_migrate_twice"
    await drop_database(server_url, name)
    await ensure_database(server_url, name)
    engine = create_engine_for(server_url.set(database=name), settings)
    try:
        assert await current_revision(engine) is None
        await upgrade_to_head(engine)
        await upgrade_to_head(engine)
        assert await current_revision(engine) == head_revision()
        assert await schema_drift(engine) == []
    finally:
        await engine.dispose()
        await drop_database(server_url, name)


async def test_enums_are_stored_by_value_so_raw_sql_can_filter_on_them(connection: AsyncConnection) -> None:
    labels = (
        await connection.execute(
            text(
                "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                "WHERE t.typname = 'ticket_status' ORDER BY e.enumsortorder"
            )
        )
    ).scalars()
    assert list(labels) == [status.value for status in TicketStatus]
    assert await scalar(connection, "SELECT count(*) FROM tickets WHERE status = 'in_progress'") > 0


async def test_ticket_numbers_are_made_by_the_database_from_the_id(connection: AsyncConnection) -> None:
    creator = await scalar(connection, "SELECT min(id) FROM users")
    number = await scalar(
        connection,
        "INSERT INTO tickets (title, description, creator_id) VALUES ('t', 'd', :c) RETURNING number",
        c=creator,
    )
    ticket_id = await scalar(connection, "SELECT id FROM tickets WHERE number = :n", n=number)
    assert number == f"TCK-{ticket_id:06d}"
    wide = await scalar(
        connection,
        "INSERT INTO tickets (id, title, description, creator_id) "
        "VALUES (12345678, 't', 'd', :c) RETURNING number",
        c=creator,
    )
    assert wide == "TCK-12345678"  # widens past six digits instead of truncating
