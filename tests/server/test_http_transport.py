"""The streamable HTTP transport's defences, through real HTTP requests to `support-db-mcp --transport http`.

Each server here is a subprocess on a free loopback port, serving the run's test database.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.processes import INITIALIZE, RunningServer, cli_env, free_port, http_server, run_cli, url_text

MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def server_env(
    database_url: URL, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    # `engine` is requested so that the database is migrated and seeded before a server opens it.
    return cli_env(
        DATABASE_URL=url_text(database_url),
        SUPPORT_DB_DATA_DIR=str(tmp_path_factory.mktemp("unused-data-dir")),
        SUPPORT_DB_LOG_LEVEL="INFO",
    )


@pytest.fixture(scope="module")
def guarded(server_env: dict[str, str]) -> Iterator[RunningServer]:
    """A server on the default address that requires TOKEN."""
    with http_server({**server_env, "SUPPORT_DB_HTTP_TOKEN": TOKEN}, host=None) as server:
        yield server


@asynccontextmanager
async def mcp_client(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def post(server: RunningServer, headers: dict[str, str], path: str = "/mcp") -> httpx2.Response:
    return httpx2.post(f"{server.base_url}{path}", json=INITIALIZE, headers={**MCP_HEADERS, **headers})


def test_by_default_the_http_transport_listens_on_127_0_0_1(guarded: RunningServer) -> None:
    assert f"Uvicorn running on http://127.0.0.1:{guarded.port}" in guarded.output


def test_a_request_without_the_token_gets_401_with_a_clear_message(guarded: RunningServer) -> None:
    response = post(guarded, {})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <token>" in response.json()["message"]
    assert "SUPPORT_DB_HTTP_TOKEN" in response.json()["message"]


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}"],
)
def test_a_wrong_or_malformed_token_gets_401(guarded: RunningServer, authorization: str) -> None:
    assert post(guarded, {"Authorization": authorization}).status_code == 401


def test_the_token_guards_every_path_not_only_the_mcp_endpoint(guarded: RunningServer) -> None:
    assert httpx2.get(f"{guarded.base_url}/").status_code == 401
    assert httpx2.get(f"{guarded.base_url}/anything/else").status_code == 401
    assert httpx2.get(f"{guarded.base_url}/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_a_foreign_host_header_gets_421_even_with_the_token(guarded: RunningServer) -> None:
    response = post(guarded, {"Authorization": f"Bearer {TOKEN}", "Host": "attacker.example"})

    assert response.status_code == 421
    assert "Invalid Host header" in response.text


def test_a_foreign_origin_gets_403_even_with_the_token(guarded: RunningServer) -> None:
    response = post(guarded, {"Authorization": f"Bearer {TOKEN}", "Origin": "http://attacker.example"})

    assert response.status_code == 403
    assert "Invalid Origin header" in response.text


def test_a_loopback_origin_is_accepted(guarded: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": f"http://localhost:{guarded.port}"}

    assert post(guarded, headers).status_code == 200


async def test_with_the_token_an_mcp_client_lists_and_calls_the_tools(guarded: RunningServer) -> None:
    async with mcp_client(guarded.url, {"Authorization": f"Bearer {TOKEN}"}) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        result = await client.call_tool("search_tickets", {"limit": 2})

    assert {"search_tickets", "get_ticket", "create_ticket"} <= tools
    assert result.is_error is False
    assert result.structured_content is not None
    assert len(result.structured_content["tickets"]) == 2


async def test_an_mcp_client_without_the_token_cannot_connect(guarded: RunningServer) -> None:
    refused = "refused POST /mcp from 127.0.0.1: no valid bearer token"
    refused_before = guarded.output.count(refused)

    # The SDK reports the refusal as an MCPError inside task-group exception groups.
    with pytest.raises(BaseException, match="unhandled errors"):
        async with mcp_client(guarded.url, {}) as client:
            await client.list_tools()

    assert guarded.output.count(refused) > refused_before


def test_binding_a_non_loopback_address_without_allowed_hosts_is_refused(tmp_path: Path) -> None:
    env = cli_env(SUPPORT_DB_DATA_DIR=str(tmp_path))
    port = free_port("127.0.0.2")

    result = run_cli(["--transport", "http", "--host", "127.0.0.2", "--port", str(port)], env)

    assert result.returncode == 1
    assert "refusing to listen on 127.0.0.2 without an allowed-hosts list" in result.stderr
    assert "SUPPORT_DB_ALLOWED_HOSTS" in result.stderr


def test_on_another_address_only_the_allowed_hosts_are_answered(server_env: dict[str, str]) -> None:
    # 127.0.0.2 is loopback to the kernel but not one of the SDK's loopback names, so it stands in
    # for a LAN address without leaving this machine. No token: the token is optional.
    with http_server(server_env, host="127.0.0.2", args=["--allowed-host", "127.0.0.2:*"]) as server:
        allowed = post(server, {})
        loopback_name = post(server, {"Host": f"127.0.0.1:{server.port}"})
        origin = post(server, {"Origin": f"http://127.0.0.2:{server.port}"})

    assert allowed.status_code == 200
    assert loopback_name.status_code == 421
    # No SUPPORT_DB_ALLOWED_ORIGINS: a browser page, even on the same host, is refused.
    assert origin.status_code == 403
    assert "listening on 127.0.0.2 without SUPPORT_DB_HTTP_TOKEN" in server.output


def test_allowed_hosts_and_origins_come_from_the_environment_too(server_env: dict[str, str]) -> None:
    env = {
        **server_env,
        "SUPPORT_DB_ALLOWED_HOSTS": "127.0.0.2:*, mcp.example.com",
        "SUPPORT_DB_ALLOWED_ORIGINS": "https://app.example.com",
    }
    with http_server(env, host="127.0.0.2") as server:
        by_name = post(server, {"Host": "mcp.example.com"})
        from_app = post(server, {"Origin": "https://app.example.com"})
        from_elsewhere = post(server, {"Origin": "https://other.example.com"})

    assert by_name.status_code == 200
    assert from_app.status_code == 200
    assert from_elsewhere.status_code == 403
