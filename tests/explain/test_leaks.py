"""No secret through any path: the payloads that once leaked through the optimize_performance
prompt, sent through the prompt and through explain_query, with and without the explain login,
on the test suite's superuser login (as a superuser DATABASE_URL would be).

Each payload makes PostgreSQL compute a secret while planning (a STABLE call in a condition is
evaluated to estimate it) and then fail to cast it, so the secret would be in the error message.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp.types import TextContent
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.explain import Explainer
from support_db_mcp.server import create_server
from tests.helpers import scalar

PROBE_ROLE = f"leak_probe_{secrets.token_hex(3)}"


def payloads(role: str) -> dict[str, str]:
    as_number = "SELECT * FROM tickets WHERE id = CAST(CAST({} AS text) AS bigint)"
    return {
        "password hash": as_number.format(
            f"(xpath('/pg_authid/row[rolname=\"{role}\"]/rolpassword/text()', "
            "table_to_xml('pg_authid'::regclass, true, false, '')))[1]"
        ),
        "data directory": (
            "SELECT * FROM tickets WHERE id = CAST(current_setting('data_directory') AS bigint)"
        ),
        "hba rules": as_number.format("table_to_xml('pg_hba_file_rules'::regclass, true, false, '')"),
        "config lines": as_number.format("table_to_xml('pg_file_settings'::regclass, true, false, '')"),
        "config lines, read directly": "SELECT * FROM tickets WHERE id = CAST((SELECT string_agg("
        "sourcefile || ':' || name || '=' || setting, ',') FROM pg_file_settings) AS bigint)",
        "SQL as text": as_number.format("query_to_xml('SELECT rolpassword FROM pg_authid', true, false, '')"),
    }


@pytest_asyncio.fixture(scope="module")
async def probe_role(engine: AsyncEngine) -> AsyncIterator[str]:
    """A committed role with a password, so pg_authid really holds a SCRAM hash to leak."""
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE ROLE {PROBE_ROLE} PASSWORD 'probe-{secrets.token_hex(8)}'"))
    yield PROBE_ROLE
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP ROLE {PROBE_ROLE}"))


async def secrets_of(connection: AsyncConnection) -> list[str]:
    """Strings that must never appear in what a client is told."""
    data_directory = await scalar(connection, "SHOW data_directory")
    assert await scalar(connection, "SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'SCRAM-SHA-256$%'")
    return [
        "SCRAM-SHA-256$",
        data_directory,
        "<auth_method>",
        "<sourcefile>",
        "postgresql.conf",
        "rolpassword>",
    ]


def texts(result: Any) -> str:
    """Everything a tool or prompt result shows: text blocks and structured content."""
    parts = [block.text for block in getattr(result, "content", []) if isinstance(block, TextContent)]
    for message in getattr(result, "messages", []):
        if isinstance(message.content, TextContent):
            parts.append(message.content.text)
    parts.append(str(getattr(result, "structured_content", "")))
    return "\n".join(parts)


def without_explain_login(engine: AsyncEngine) -> Explainer:
    """What the server builds for a DATABASE_URL with no EXPLAIN_DATABASE_URL (bootstrap)."""
    return Explainer.for_url(None, owner=engine, settings=Settings(database_url=None))


@pytest.mark.parametrize("login", ["explain login", "no explain login"])
@pytest.mark.parametrize("kind", list(payloads("x")))
async def test_leak_payloads_reveal_nothing_through_the_prompt(
    db: Database,
    connection: AsyncConnection,
    engine: AsyncEngine,
    explainer: Explainer,
    probe_role: str,
    login: str,
    kind: str,
) -> None:
    chosen = explainer if login == "explain login" else without_explain_login(engine)
    forbidden = await secrets_of(connection)
    async with Client(create_server(database=db, explainer=chosen)) as client:
        result = await client.get_prompt("optimize_performance", {"query": payloads(probe_role)[kind]})
    shown = texts(result)
    assert "There is no plan" in shown  # refused, or failed without its text
    for secret in forbidden:
        assert secret not in shown, (kind, login, secret)


@pytest.mark.parametrize("analyze", [True, False])
@pytest.mark.parametrize("login", ["explain login", "no explain login"])
@pytest.mark.parametrize("kind", list(payloads("x")))
async def test_leak_payloads_reveal_nothing_through_the_tool(
    db: Database,
    connection: AsyncConnection,
    engine: AsyncEngine,
    explainer: Explainer,
    probe_role: str,
    login: str,
    kind: str,
    analyze: bool,
) -> None:
    chosen = explainer if login == "explain login" else without_explain_login(engine)
    forbidden = await secrets_of(connection)
    async with Client(create_server(database=db, explainer=chosen)) as client:
        result = await client.call_tool(
            "explain_query", {"sql": payloads(probe_role)[kind], "analyze": analyze}
        )
    assert result.is_error is True
    shown = texts(result)
    for secret in forbidden:
        assert secret not in shown, (kind, login, secret)
    if login == "no explain login" and "refused the statement" not in shown:
        # what the parser lets through is not planned on the superuser login at all
        assert "EXPLAIN_DATABASE_URL" in shown and "is a superuser" in shown


async def test_an_error_on_a_login_that_failed_the_check_is_reported_without_its_text(
    engine: AsyncEngine,
) -> None:
    # our own tools' SQL may be planned on the server's superuser login; a failure there shows
    # only its SQLSTATE, since that login could have read anything the message quotes
    from support_db_mcp.explain.connection import LoginRole
    from support_db_mcp.explain.running import translate

    async with engine.connect() as superuser:
        with pytest.raises(Exception) as raised:
            await superuser.exec_driver_sql("SELECT CAST(current_setting('data_directory') AS bigint)")
        await superuser.rollback()
        data_directory = await scalar(superuser, "SHOW data_directory")
    unsafe = translate(raised.value, LoginRole("postgres", False, "the login 'postgres' is a superuser"))
    safe = translate(raised.value, LoginRole("support_db_explain", True, None))
    assert data_directory not in str(unsafe) and "SQLSTATE 22P02" in str(unsafe)
    assert data_directory in str(safe)  # a login that may read it gets PostgreSQL's own words
