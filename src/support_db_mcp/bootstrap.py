"""Opening the application's database: embedded or configured, migrated, seeded on first start."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from support_db_mcp.config import Settings, safe_url
from support_db_mcp.db import Database
from support_db_mcp.db.embedded import EmbeddedPostgres
from support_db_mcp.db.migrate import current_revision, head_revision, upgrade_to_head
from support_db_mcp.errors import DatabaseUnavailableError, SupportDBError, translate_db_error
from support_db_mcp.explain.runner import EXPLAIN_ROLE
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.services import installation
from support_db_mcp.services.installation import Installation
from support_db_mcp.services.provisioning import ensure_database, has_users

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "support_desk"


class SchemaNotReadyError(SupportDBError):
    """The configured database is not at the schema this version needs."""


@dataclass(frozen=True)
class OpenDatabase:
    database: Database
    url: URL
    source: str  # where we serve from, without any password


async def start_embedded(settings: Settings) -> tuple[EmbeddedPostgres, URL]:
    """Start the embedded server and make sure the application database exists on it."""
    server = EmbeddedPostgres(settings.embedded_data_dir)
    server_url = await anyio.to_thread.run_sync(server.start)
    try:
        await ensure_database(server_url, EMBEDDED_DATABASE)
    except BaseException:
        server.stop()
        raise
    return server, server_url.set(database=EMBEDDED_DATABASE)


async def _check_schema(database: Database, url: URL) -> None:
    assert database.engine is not None
    try:
        revision = await current_revision(database.engine)
    except (SQLAlchemyError, OSError) as error:
        translated = translate_db_error(error)
        original = getattr(error, "orig", None) or error
        detail = (
            str(translated) if translated else f"{type(original).__name__}: {str(original).splitlines()[0]}"
        )
        if isinstance(error, DBAPIError | OSError) or translated is not None:
            raise DatabaseUnavailableError(f"cannot connect to {safe_url(url)}: {detail}") from None
        raise
    if revision != head_revision():
        raise SchemaNotReadyError(
            f"the database {safe_url(url)} is at schema revision {revision or 'none (empty)'}, this server "
            f"needs {head_revision()}: run `support-db-mcp migrate` against it first"
        )


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[OpenDatabase]:
    """The database the server uses, for the lifetime of the block."""
    embedded: EmbeddedPostgres | None = None
    if settings.uses_embedded:
        embedded, url = await start_embedded(settings)
        source = f"embedded PostgreSQL in {embedded.pgdata}"
    else:
        url = settings.async_url  # type: ignore[assignment]
        source = safe_url(url)
    replica = settings.replica_url
    database = Database.open(url, settings, replica=replica)
    if replica is not None:
        source += f" (reads from the replica {safe_url(replica)})"
    try:
        if embedded is not None:
            assert database.engine is not None
            await upgrade_to_head(database.engine)
            if settings.seed_on_first_start:
                async with database.read() as session:
                    empty = not await has_users(session)
                if empty:
                    plan = SeedPlan(
                        users=settings.demo_users,
                        tickets=settings.demo_tickets,
                        comments_per_ticket=settings.demo_comments_per_ticket,
                    )
                    report = await seed(url, plan)
                    log.info(
                        "first start: seeded %d users, %d tickets, %d comments in %.1fs",
                        report.users,
                        report.tickets,
                        report.comments,
                        report.seconds,
                    )
        else:
            await _check_schema(database, url)
        yield OpenDatabase(database=database, url=url, source=source)
    finally:
        await database.dispose()
        if embedded is not None:
            await anyio.to_thread.run_sync(embedded.stop)


@asynccontextmanager
async def open_engine_url(settings: Settings) -> AsyncIterator[URL]:
    """The URL of the configured database (starting the embedded one when needed), for admin commands."""
    if settings.uses_embedded:
        embedded, url = await start_embedded(settings)
        try:
            yield url
        finally:
            await anyio.to_thread.run_sync(embedded.stop)
    else:
        assert settings.async_url is not None
        yield settings.async_url


def explain_url_for(settings: Settings, url: URL) -> URL | None:
    """Where explain_query logs in: EXPLAIN_DATABASE_URL, or on the embedded server the read-only
    role that migration 0002 creates (it trusts local logins, so no password); None otherwise."""
    if settings.explain_async_url is not None:
        return settings.explain_async_url
    if settings.uses_embedded:
        return url.set(username=EXPLAIN_ROLE, password=None)
    return None


async def adopt_installation(database: Database, settings: Settings) -> Installation:
    """Read what the database offers beyond core PostgreSQL, and the cursor key, for every session."""
    secret = settings.cursor_secret.get_secret_value() if settings.cursor_secret is not None else None
    async with database.read() as session:
        found = await installation.detect(session, cursor_secret=secret)
    database.set_session_info(**{installation.SESSION_KEY: found})
    if found.trigram_titles:
        log.info("pg_trgm is installed: search_tickets also matches titles with typos")
    return found
