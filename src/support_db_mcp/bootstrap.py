"""Opening the application's database: embedded or configured, migrated, seeded on first start.

Everything that can fail here fails as a `SupportDBError` whose message names what failed, the URL
(without its password) and what to do, so the command line can print it as one or two lines.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio
import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.config import Settings, safe_url
from support_db_mcp.db import Database
from support_db_mcp.db.embedded import EmbeddedPostgres
from support_db_mcp.db.migrate import current_revision, head_revision, upgrade_to_head
from support_db_mcp.errors import (
    DatabaseConnectError,
    SupportDBError,
    note_reachable,
    server_message,
    translate_db_error,
)
from support_db_mcp.explain import Explainer
from support_db_mcp.explain.connection import EXPLAIN_ROLE
from support_db_mcp.seed import SeedPlan, seed
from support_db_mcp.services import installation
from support_db_mcp.services.actors import Actor, check_acting_users
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
    embedded: EmbeddedPostgres | None = None  # supervised: restarted when its postmaster dies


@dataclass(frozen=True)
class Service:
    """Everything the MCP server serves from: the database, explain_query's engine, the acting user."""

    database: Database
    source: str
    explainer: Explainer
    embedded: EmbeddedPostgres | None = None
    actor: Actor | None = None  # who writes are done for when a request names no one (SUPPORT_DB_ACTOR)


@contextmanager
def connection_errors(url: URL, setting: str | None) -> Iterator[None]:
    """Driver errors of the block leave as domain errors; a failed connection names `url` (without
    its password) and `setting`, the variable to correct. Untranslatable errors propagate."""
    try:
        yield
    except SupportDBError:
        raise
    except (SQLAlchemyError, OSError, asyncpg.PostgresError) as error:
        translated = translate_db_error(error, url=url, setting=setting)
        if translated is None:
            raise
        if isinstance(translated, DatabaseConnectError):
            translated = translated.at(safe_url(url))
        raise translated from error


def url_setting(settings: Settings) -> str | None:
    """The variable a configured database's URL came from (none for the embedded one)."""
    return None if settings.uses_embedded else "DATABASE_URL"


async def start_embedded(settings: Settings) -> tuple[EmbeddedPostgres, URL]:
    """Start the embedded server and make sure the application database exists on it."""
    server = EmbeddedPostgres(settings.embedded_data_dir)
    server_url = await anyio.to_thread.run_sync(server.start)
    try:
        with connection_errors(server_url, None):
            await ensure_database(server_url, EMBEDDED_DATABASE)
    except BaseException:
        await anyio.to_thread.run_sync(server.stop)
        raise
    note_reachable(server_url)
    return server, server_url.set(database=EMBEDDED_DATABASE)


async def _check_schema(engine: AsyncEngine, url: URL) -> None:
    try:
        with connection_errors(url, "DATABASE_URL"):
            revision = await current_revision(engine)
    except DBAPIError as error:  # connected, but could not read alembic_version (a permission, say)
        raise SupportDBError(
            f"cannot read the schema revision of {safe_url(url)}: {server_message(error)}"
        ) from error
    note_reachable(url)
    if revision != head_revision():
        raise SchemaNotReadyError(
            f"the database {safe_url(url)} is at schema revision {revision or 'none (empty)'}, this server "
            f"needs {head_revision()}: run `support-db-mcp migrate` against it first"
        )


async def _check_replica(engine: AsyncEngine, url: URL) -> None:
    """Reads go only to the replica, so a replica that cannot be reached is refused at start, with
    the reason, instead of failing every read later."""
    with connection_errors(url, "READ_REPLICA_URL"):
        async with engine.connect():
            pass
    note_reachable(url)


async def _seed_first_start(database: Database, url: URL, settings: Settings) -> None:
    async with database.read() as session:
        empty = not await has_users(session)
    if not empty:
        return
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
        assert database.engine is not None
        if embedded is not None:
            with connection_errors(url, None):
                await upgrade_to_head(database.engine)
                if settings.seed_on_first_start:
                    await _seed_first_start(database, url, settings)
            embedded.supervise()
        else:
            await _check_schema(database.engine, url)
        if replica is not None and database.read_engine is not None:
            await _check_replica(database.read_engine, replica)
        yield OpenDatabase(database=database, url=url, source=source, embedded=embedded)
    finally:
        await database.dispose()
        if embedded is not None:
            await anyio.to_thread.run_sync(embedded.stop)


async def serving(database: Database, settings: Settings) -> tuple[Database, Actor | None]:
    """The database as the server uses it, with its installation facts, and its acting user.

    Read-only mode makes PostgreSQL refuse writes on the write sessions too (no write tool is
    listed, and nothing could write through one anyway). Every user the configuration acts for
    must exist: a typo in SUPPORT_DB_ACTOR or a token file stops the start, not the first write.
    """
    served = database.refusing_writes() if settings.read_only else database
    await adopt_installation(served, settings)
    acting = settings.acting_users()
    if acting:
        async with served.read() as session:
            await check_acting_users(session, acting)
    if settings.read_only:
        log.info("read-only: no write tool is served, and the database refuses writes")
    actor = Actor(settings.actor, "SUPPORT_DB_ACTOR") if settings.actor is not None else None
    if actor is not None:
        log.info("acting for %s", actor)
    return served, actor


@asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[Service]:
    """The database, its installation facts, explain_query's engine and the acting user, for the
    life of a server."""
    async with open_database(settings) as opened:
        with connection_errors(opened.url, url_setting(settings)):
            served, actor = await serving(opened.database, settings)
        log.info("serving the support desk from %s", opened.source)
        # a read-only server never builds a test index to verify a suggestion (hypopg still may)
        owner = None if settings.read_only else opened.database.engine
        explainer = Explainer.for_url(explain_url_for(settings, opened.url), owner=owner, settings=settings)
        try:
            yield Service(
                database=served,
                source=opened.source,
                explainer=explainer,
                embedded=opened.embedded,
                actor=actor,
            )
        finally:
            await explainer.dispose()


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
