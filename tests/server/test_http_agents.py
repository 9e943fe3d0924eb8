"""Several agents share one HTTP server, each with a bearer token of their own, and each write is
recorded as theirs. The server commits, so it serves a scratch database of its own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL

from support_db_mcp.config import Settings
from support_db_mcp.db import create_engine_for
from support_db_mcp.services.provisioning import drop_database
from tests.helpers import a_user
from tests.processes import RunningServer, cli_env, free_port, http_server, run_cli, url_text
from tests.reliability.conftest import make_scratch_database
from tests.server.test_http_transport import mcp_client

TOKEN_ANA = secrets.token_urlsafe(24)
TOKEN_BO = secrets.token_urlsafe(24)


@pytest_asyncio.fixture(scope="module")
async def agents(
    server_url: URL, settings: Settings
) -> AsyncIterator[tuple[URL, dict[str, Any], dict[str, Any]]]:
    name = f"support_db_agents_{secrets.token_hex(4)}"
    url = await make_scratch_database(server_url, settings, name)
    engine = create_engine_for(url, settings)
    try:
        async with engine.connect() as connection:
            ana, bo = await a_user(connection, "agent", nth=0), await a_user(connection, "agent", nth=1)
        yield url, dict(ana), dict(bo)
    finally:
        await engine.dispose()
        await drop_database(server_url, name)


@pytest.fixture(scope="module")
def shared_server(
    agents: tuple[URL, dict[str, Any], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One server: Ana's token from SUPPORT_DB_HTTP_TOKENS, Bo's from a tokens file."""
    url, ana, bo = agents
    folder = tmp_path_factory.mktemp("agents")
    tokens_file = folder / "tokens"
    tokens_file.write_text(f"# the support team\n{TOKEN_BO}={bo['email']}\n")
    env = cli_env(
        DATABASE_URL=url_text(url),
        SUPPORT_DB_DATA_DIR=str(folder / "unused"),
        SUPPORT_DB_HTTP_TOKENS=f"{TOKEN_ANA}={ana['email']}",
        SUPPORT_DB_HTTP_TOKENS_FILE=str(tokens_file),
    )
    with http_server(env) as server:
        yield server


async def call(client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    content: dict[str, Any] = result.structured_content
    return content


async def test_two_agents_with_their_own_tokens_are_each_recorded_as_themselves(
    shared_server: RunningServer, agents: tuple[URL, dict[str, Any], dict[str, Any]]
) -> None:
    _, ana, bo = agents
    async with mcp_client(shared_server.url, {"Authorization": f"Bearer {TOKEN_ANA}"}) as as_ana:
        page = (await call(as_ana, "search_tickets", {"status": "open", "limit": 50}))["tickets"]
        ticket = next(t for t in page if (t["assignee"] or {}).get("email") != ana["email"])
        taken = await call(
            as_ana,
            "update_ticket",
            {"ticket": ticket["number"], "assignee_id": "me", "status": "in_progress"},
        )
    async with mcp_client(shared_server.url, {"Authorization": f"Bearer {TOKEN_BO}"}) as as_bo:
        note = await call(
            as_bo,
            "add_comment",
            {"ticket": ticket["number"], "body": "Taking over tomorrow.", "internal": True},
        )
        created = await call(
            as_bo, "create_ticket", {"title": "Phone call", "description": "Asked for a refund."}
        )
        read = await call(as_bo, "get_ticket", {"ticket": ticket["number"]})

    assert taken["ticket"]["assignee"]["email"] == ana["email"]  # 'me' is the token's user
    assert note["comment"]["author"]["email"] == bo["email"]  # the author defaults to the token's user
    assert created["ticket"]["creator"]["email"] == bo["email"]
    assert [(event["tool"], event["field"], event["actor"]["email"]) for event in read["history"]] == [
        ("update_ticket", "status", ana["email"]),
        ("update_ticket", "assignee", ana["email"]),
        ("add_comment", "internal_note", bo["email"]),
    ]


def test_a_token_for_a_user_the_database_does_not_have_stops_the_start_in_one_line(
    agents: tuple[URL, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    url, _, _ = agents
    env = cli_env(
        DATABASE_URL=url_text(url),
        SUPPORT_DB_DATA_DIR=str(tmp_path),
        SUPPORT_DB_HTTP_TOKENS=f"{TOKEN_ANA}=nobody@example.com",
    )
    result = run_cli(["--transport", "http", "--port", str(free_port())], env, timeout=120)
    assert result.returncode == 1
    assert "configured to act for nobody@example.com (an HTTP bearer token)" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN_ANA not in result.stderr
