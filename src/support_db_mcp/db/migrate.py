"""Alembic, driven from code: the only way the schema is made."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.models import Base

SCRIPT_LOCATION = "support_db_mcp:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Apply every migration not yet applied, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


# Indexes a migration creates only where the server can (migration 0003: pg_trgm); the models do
# not declare them, so autogenerate must not propose to drop them.
OPTIONAL_INDEXES = frozenset({"ix_tickets_title_trgm"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and reflected and name in OPTIONAL_INDEXES)


async def schema_drift(engine: AsyncEngine) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: they agree)."""
    options = {"compare_type": True, "compare_server_default": True, "include_object": include_object}
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts=options), Base.metadata)
        )
