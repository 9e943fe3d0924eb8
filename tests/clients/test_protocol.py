"""JSON-RPC errors as the spec gives them, and a quiet stderr, as a client sees both.

A prompt asked for without a required argument, with an argument it does not take, or that does
not exist is -32602 (invalid params) naming it; a resource that does not exist is -32602 with its
URI (SEP-2164). None of them logs a traceback, and over stdio a default start writes nothing to
stderr, which clients such as the MCP Inspector show to their user as errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from mcp import Client, MCPError
from mcp.types import INVALID_PARAMS
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.db import Database
from support_db_mcp.server import create_server
from tests.processes import INITIALIZE, cli_env, http_server, url_text

MODES: list[Literal["auto", "legacy"]] = ["auto", "legacy"]  # the 2026-07-28 era and the handshake era


async def _error(call: Any) -> MCPError:
    with pytest.raises(MCPError) as raised:
        await call
    return raised.value


@pytest.mark.parametrize("mode", MODES)
async def test_every_prompt_called_without_a_required_argument_is_invalid_params_naming_it(
    db: Database, mode: Literal["auto", "legacy"]
) -> None:
    async with Client(create_server(database=db), mode=mode) as client:
        prompts = (await client.list_prompts()).prompts
        required = [(p.name, a.name) for p in prompts for a in p.arguments or [] if a.required]
        assert ("define_model", "entity") in required and ("optimize_performance", "query") in required
        for prompt, argument in required:
            for given in ({}, {argument: ""}, {argument: "   "}):
                error = await _error(client.get_prompt(prompt, given))
                assert error.error.code == INVALID_PARAMS, (prompt, given)
                assert f"prompt {prompt} needs the argument {argument!r}" in error.error.message


@pytest.mark.parametrize("mode", MODES)
async def test_every_prompt_refuses_an_argument_it_does_not_take_with_invalid_params(
    db: Database, mode: Literal["auto", "legacy"]
) -> None:
    async with Client(create_server(database=db), mode=mode) as client:
        for prompt in (await client.list_prompts()).prompts:
            given = {a.name: "tickets" for a in prompt.arguments or [] if a.required} | {"questoin": "why?"}
            error = await _error(client.get_prompt(prompt.name, given))
            assert error.error.code == INVALID_PARAMS
            assert (
                error.error.message
                == f"prompt {prompt.name} has no argument 'questoin'; did you mean 'question'?"
            )


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_prompt_is_invalid_params_listing_the_real_ones(
    db: Database, mode: Literal["auto", "legacy"]
) -> None:
    async with Client(create_server(database=db), mode=mode) as client:
        error = await _error(client.get_prompt("define_modle", {"entity": "tickets"}))
    assert error.error.code == INVALID_PARAMS
    assert error.error.message.startswith("unknown prompt 'define_modle'; the prompts are: define_model, ")


@pytest.mark.parametrize("mode", MODES)
async def test_a_missing_resource_is_invalid_params_with_its_uri(
    db: Database, mode: Literal["auto", "legacy"]
) -> None:
    async with Client(create_server(database=db), mode=mode) as client:
        for uri in ("schema://tables/invoices", "nothing://here", "guide://nope"):
            error = await _error(client.read_resource(uri))
            assert error.error.code == INVALID_PARAMS, uri
            assert error.error.data == {"uri": uri}


def _exchange(process: subprocess.Popen[bytes], *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send requests over stdio, read one answer per request that has an id."""
    assert process.stdin is not None and process.stdout is not None
    answers = []
    for request in requests:
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
        if "id" in request:
            answers.append(json.loads(process.stdout.readline()))
    return answers


PROMPT_WITHOUT_ARGUMENT = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "prompts/get",
    "params": {"name": "define_model", "arguments": {}},
}
MISSING_RESOURCE = {
    "jsonrpc": "2.0",
    "id": 3,
    "method": "resources/read",
    "params": {"uri": "schema://tables/x"},
}


def _stdio_server(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "support_db_mcp", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _finish(process: subprocess.Popen[bytes]) -> str:
    """Close stdin (the client leaves), wait for the exit, return everything written to stderr."""
    with process:
        _, stderr = process.communicate(timeout=60)
    return stderr.decode()


def test_a_first_start_over_stdio_writes_nothing_to_stderr_and_errors_are_invalid_params(
    tmp_path: Path,
) -> None:
    # a fresh embedded database: initdb, every migration, the demo data, then the errors
    env = cli_env(SUPPORT_DB_DATA_DIR=str(tmp_path), SUPPORT_DB_DEMO_TICKETS="30", SUPPORT_DB_DEMO_USERS="10")
    process = _stdio_server(env)
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    _, prompt, resource = _exchange(
        process, INITIALIZE, initialized, PROMPT_WITHOUT_ARGUMENT, MISSING_RESOURCE
    )
    stderr = _finish(process)

    assert prompt["error"]["code"] == INVALID_PARAMS and "'entity'" in prompt["error"]["message"]
    assert resource["error"]["code"] == INVALID_PARAMS
    assert stderr == ""


def test_log_level_info_shows_the_server_s_own_lines_but_never_alembic_s(tmp_path: Path) -> None:
    env = cli_env(SUPPORT_DB_DATA_DIR=str(tmp_path), SUPPORT_DB_DEMO_TICKETS="30", SUPPORT_DB_DEMO_USERS="10")
    process = _stdio_server(env, "--log-level", "INFO")
    _exchange(process, INITIALIZE, PROMPT_WITHOUT_ARGUMENT)
    stderr = _finish(process)

    assert "INFO support_db_mcp.bootstrap: serving the support desk from embedded PostgreSQL" in stderr
    assert "first start: seeded 10 users, 30 tickets" in stderr
    assert "alembic" not in stderr and "Context impl" not in stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr


def test_over_http_the_errors_are_invalid_params_and_nothing_is_logged_as_an_error(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=url_text(database_url), SUPPORT_DB_DATA_DIR=str(tmp_path / "unused"))
    import httpx2

    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with http_server(env) as server:
        for request in (PROMPT_WITHOUT_ARGUMENT, MISSING_RESOURCE):
            answer = httpx2.post(server.url, json=request, headers=headers, timeout=30)
            body = answer.text
            payload = (
                json.loads(body[body.index("{") :].splitlines()[0])
                if body.startswith("event")
                else answer.json()
            )
            assert payload["error"]["code"] == INVALID_PARAMS, body
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output
