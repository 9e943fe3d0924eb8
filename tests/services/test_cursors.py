"""Keyset cursors are signed with this installation's secret: forged ones are refused before any
SQL runs, and every server process of one database accepts the cursors of the others."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from support_db_mcp.bootstrap import adopt_installation
from support_db_mcp.config import Settings
from support_db_mcp.db import Database, create_engine_for
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.services import installation
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar

# The constant the cursors were signed with before migration 0004.
OLD_CONSTANT_KEY = b"support-db-mcp/cursor/v1"


def _forge(cursor: str, key: bytes, **changes: object) -> str:
    """Decode a real cursor, edit its body, sign it again with `key`."""
    token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    body, _ = token.rsplit(b".", 1)
    data = {**json.loads(body), **changes}
    edited = json.dumps(data, separators=(",", ":")).encode()
    signature = hmac.new(key, edited, hashlib.sha256).hexdigest()[:32].encode()
    return base64.urlsafe_b64encode(edited + b"." + signature).decode().rstrip("=")


async def _installation_session(db: Database, settings: Settings) -> AsyncSession:
    await adopt_installation(db, settings)
    return db.reader()


async def test_the_migration_made_a_strong_cursor_secret_that_the_explain_role_cannot_read(
    connection: AsyncConnection,
) -> None:
    length = await scalar(
        connection, "SELECT octet_length(secret) FROM installation_secrets WHERE name = 'cursor'"
    )
    assert length is not None and length >= 16
    readable = await scalar(
        connection, "SELECT has_table_privilege('support_db_explain', 'installation_secrets', 'SELECT')"
    )
    assert readable is False


@pytest.mark.parametrize(
    "changes",
    [
        {"i": 1},  # another position
        {"i": 10**30},  # past bigint: must never reach the database
        {"i": -5},
        {"c": "1970-01-01T00:00:00+00:00"},
    ],
)
async def test_a_cursor_re_signed_with_the_old_constant_key_is_refused_before_any_sql(
    db: Database, settings: Settings, changes: dict[str, object]
) -> None:
    async with await _installation_session(db, settings) as session:
        first = await search_tickets(session, search=TicketSearch(limit=2))
        assert first.next_cursor
        forged = _forge(first.next_cursor, OLD_CONSTANT_KEY, **changes)
        with count_statements() as sent, pytest.raises(InvalidInputError, match="cursor is not valid"):
            await search_tickets(session, search=TicketSearch(limit=2, cursor=forged))
    assert sent.count == 0


async def test_an_out_of_range_position_is_refused_even_with_the_right_key(
    db: Database, settings: Settings
) -> None:
    async with await _installation_session(db, settings) as session:
        key = installation.of(session).cursor_key
        first = await search_tickets(session, search=TicketSearch(limit=2))
        assert first.next_cursor
        with count_statements() as sent, pytest.raises(InvalidInputError, match="cursor is not valid"):
            forged = _forge(first.next_cursor, key, i=10**30)
            await search_tickets(session, search=TicketSearch(limit=2, cursor=forged))
    assert sent.count == 0


async def test_two_server_processes_of_one_database_accept_each_others_cursors(
    engine: AsyncEngine, database_url: URL, settings: Settings
) -> None:
    # Two engines and two adoptions, as two stateless HTTP workers behind a balancer have.
    other_engine = create_engine_for(database_url, settings)
    try:
        first, second = Database.from_engine(engine), Database.from_engine(other_engine)
        await adopt_installation(first, settings)
        await adopt_installation(second, settings)
        async with first.read() as session:
            page_one = await search_tickets(session, search=TicketSearch(limit=3))
        assert page_one.next_cursor
        async with second.read() as session:
            page_two = await search_tickets(
                session, search=TicketSearch(limit=3, cursor=page_one.next_cursor)
            )
        assert {t.id for t in page_one.tickets}.isdisjoint(t.id for t in page_two.tickets)
        assert page_two.tickets[0].created_at <= page_one.tickets[-1].created_at
    finally:
        await other_engine.dispose()


async def test_a_configured_cursor_secret_replaces_the_installation_secret(
    engine: AsyncEngine, settings: Settings
) -> None:
    configured = settings.model_copy(update={"cursor_secret": SecretStr("shared-by-the-fleet")})
    own, fleet = Database.from_engine(engine), Database.from_engine(engine)
    await adopt_installation(own, settings)
    await adopt_installation(fleet, configured)
    async with fleet.read() as session:
        page = await search_tickets(session, search=TicketSearch(limit=1))
    assert page.next_cursor
    async with own.read() as session:
        with pytest.raises(InvalidInputError, match="cursor is not valid"):
            await search_tickets(session, search=TicketSearch(limit=1, cursor=page.next_cursor))
