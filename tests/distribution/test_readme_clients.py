"""Every client configuration in the README starts the server as written and lists its tools.

For each JSON block the test makes the substitutions a client makes (`${workspaceFolder}`, the
`${input:...}` prompts) and the ones a reader makes (`/ABSOLUTE/PATH/TO/support-db-mcp` becomes
this clone, `SUPPORT_DB_ACTOR` their own address: an agent of the test database), then runs exactly
the block's command and arguments with the block's environment, and expects the tools that
environment selects (SUPPORT_DB_READ_ONLY, SUPPORT_DB_TOOLS).
Where the block names a database, `DATABASE_URL` is the run's test database; where it does not,
the server runs as a new user would get it: an embedded PostgreSQL, here in a temporary
`SUPPORT_DB_DATA_DIR`, which is always set so that no real data folder is touched.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.config import Settings
from support_db_mcp.services.operations import selected
from tests.helpers import a_user
from tests.processes import cli_env, http_server, url_text

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CLONE_PLACEHOLDER = "/ABSOLUTE/PATH/TO/support-db-mcp"
TOOLS = {"search_tickets", "get_ticket", "create_ticket"}


def expected_tools(env: dict[str, str]) -> set[str]:
    """The tools a server started with `env` lists, from the catalog (as the server derives them)."""
    settings = Settings.model_validate(
        {
            key.removeprefix("SUPPORT_DB_").lower(): value
            for key, value in env.items()
            if key.startswith("SUPPORT_DB_")
        }
    )
    return {operation.name for operation in selected(settings.tools, read_only=settings.read_only)}


TOKEN = secrets.token_urlsafe(24)


@dataclass(frozen=True)
class ConfigBlock:
    label: str  # the bold client name before the block, e.g. "**Claude Desktop**:"
    config: dict[str, Any]


def json_blocks() -> list[ConfigBlock]:
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```json\n(.*?)```", text, flags=re.DOTALL):
        labels = re.findall(r"\*\*([^*]+)\*\*:", text[: match.start()])
        blocks.append(ConfigBlock(label=labels[-1] if labels else "?", config=json.loads(match.group(1))))
    return blocks


def inspector_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith("npx -y @modelcontextprotocol/inspector"):
                commands.append(command)
    return commands


# Every JSON block must parse; those that configure servers are the client configurations.
BLOCKS = [block for block in json_blocks() if {"mcpServers", "servers"} & block.config.keys()]


def servers_of(block: ConfigBlock) -> dict[str, dict[str, Any]]:
    servers: dict[str, dict[str, Any]] = block.config.get("mcpServers") or block.config.get("servers") or {}
    assert servers, f"the {block.label} block configures no server"
    return servers


def substitute(value: str, inputs: dict[str, str]) -> str:
    value = value.replace(CLONE_PLACEHOLDER, str(REPO)).replace("${workspaceFolder}", str(REPO))
    for name, answer in inputs.items():
        value = value.replace(f"${{input:{name}}}", answer)
    assert "${" not in value, f"a variable the test does not know: {value}"
    return value


def input_answers(block: ConfigBlock, database: str) -> dict[str, str]:
    """What a user types into VS Code's prompts: the database URL or the token."""
    answers = {}
    for prompt in block.config.get("inputs", []):
        name = prompt["id"]
        assert prompt.get("password") is True, f"the prompt {name} would show a secret as it is typed"
        answers[name] = database if "database" in name else TOKEN if "token" in name else ""
        assert answers[name], f"the test does not know what to answer to {name}"
    return answers


def test_the_readme_configures_claude_desktop_vs_code_and_cursor() -> None:
    labels = {block.label for block in BLOCKS}

    assert {"Claude Desktop", "VS Code", "Cursor"} <= labels
    assert len(inspector_commands()) >= 1


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if any("command" in s for s in servers_of(block).values())],
    ids=lambda block: block.label,
)
async def test_a_stdio_configuration_starts_the_server_and_lists_the_tools(
    block: ConfigBlock, database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    database = url_text(database_url)
    answers = input_answers(block, database)
    for entry in servers_of(block).values():
        env = {key: substitute(value, answers) for key, value in entry.get("env", {}).items()}
        if "DATABASE_URL" in env:
            env["DATABASE_URL"] = database
        if "SUPPORT_DB_ACTOR" in env:
            assert "DATABASE_URL" in env, "an acting user needs a database where the reader is a user"
            async with engine.connect() as connection:
                env["SUPPORT_DB_ACTOR"] = (await a_user(connection, "agent"))["email"]
        env["SUPPORT_DB_DATA_DIR"] = str(tmp_path / "data")
        params = StdioServerParameters(
            command=substitute(entry["command"], answers),
            args=[substitute(arg, answers) for arg in entry.get("args", [])],
            env=env,
        )
        log = tmp_path / "stderr.log"
        try:
            with log.open("w") as errlog:
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    tools = {tool.name for tool in (await client.list_tools()).tools}
                    page = await client.call_tool("search_tickets", {"limit": 1})
        except BaseException:
            print(f"the server's stderr:\n{log.read_text()}")
            raise

        assert tools == expected_tools(env) and tools & TOOLS, log.read_text()
        assert page.is_error is False, page.content
        if "DATABASE_URL" not in env:
            assert (tmp_path / "data" / "pgdata" / "PG_VERSION").exists()  # it made its own database


@pytest.fixture
def http_env(database_url: URL, engine: AsyncEngine, tmp_path: Path) -> dict[str, str]:
    return cli_env(
        DATABASE_URL=url_text(database_url),
        SUPPORT_DB_HTTP_TOKEN=TOKEN,
        SUPPORT_DB_DATA_DIR=str(tmp_path / "data"),
    )


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if any("url" in s for s in servers_of(block).values())],
    ids=lambda block: block.label,
)
async def test_an_http_configuration_reaches_a_server_started_with_the_same_token(
    block: ConfigBlock, http_env: dict[str, str]
) -> None:
    answers = input_answers(block, http_env["DATABASE_URL"])
    for entry in servers_of(block).values():
        assert entry["url"] == "http://127.0.0.1:8000/mcp", "the README's default address changed"
        headers = {name: substitute(value, answers) for name, value in entry.get("headers", {}).items()}
        with http_server(http_env) as server:  # the default port may be taken here: a free one
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(server.url, http_client=http)) as client,
            ):
                tools = {tool.name for tool in (await client.list_tools()).tools}

        assert tools >= TOOLS


@pytest.mark.parametrize("command", inspector_commands())
def test_the_readme_inspector_command_lists_and_calls_tools(
    command: str, database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=url_text(database_url), SUPPORT_DB_DATA_DIR=str(tmp_path / "data"))

    result = subprocess.run(
        shlex.split(command), cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    if "tools/list" in command:
        assert {tool["name"] for tool in answer["tools"]} >= TOOLS
    else:
        assert answer.get("isError") is not True, answer
        assert answer["structuredContent"]["tickets"], answer
