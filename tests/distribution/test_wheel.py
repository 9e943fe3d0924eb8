"""The package as a user gets it: a wheel, installed with pip into a new virtual environment.

Building needs hatchling and installing needs the dependencies, both from PyPI (pip's cache makes
a second run quick: about 30 s for the install on this project's machines).
"""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from sqlalchemy.engine import URL

from support_db_mcp import __version__
from support_db_mcp.db.migrate import head_revision
from tests.helpers import empty_database as new_database
from tests.processes import cli_env, url_text

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "support_db_mcp"
PROMPTS = REPO / "prompts"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    install_seconds: float

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "support-db-mcp"


def run(
    args: list[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--disable-pip-version-check", "-w", out])
    (wheel,) = out.glob("support_db_mcp-*.whl")
    venv = tmp_path_factory.mktemp("clean") / "venv"
    started = time.monotonic()
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel])
    return Installed(wheel=wheel, venv=venv, install_seconds=time.monotonic() - started)


def source_files(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_carries_every_module_the_migrations_and_the_prompts(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    in_package = {
        name.removeprefix("support_db_mcp/") for name in names if name.startswith("support_db_mcp/")
    }

    assert installed.wheel.name == f"support_db_mcp-{__version__}-py3-none-any.whl"
    assert source_files(PACKAGE) <= in_package
    assert {"migrations/env.py", "migrations/script.py.mako"} <= in_package
    assert any(name.startswith("migrations/versions/0001_") for name in in_package)
    assert {f"prompts_data/{name}" for name in source_files(PROMPTS)} <= in_package


def test_the_installed_command_answers_version_and_help(installed: Installed) -> None:
    version = run([installed.command, "--version"], cwd=installed.venv)
    usage = run([installed.command, "--help"], cwd=installed.venv)

    assert version.stdout.strip() == f"support-db-mcp {__version__}"
    assert "usage: support-db-mcp" in usage.stdout
    for command in ("serve", "migrate", "seed", "--transport", "--data-dir"):
        assert command in usage.stdout
    assert installed.install_seconds < 300, f"pip install took {installed.install_seconds:.0f}s"


@pytest_asyncio.fixture
async def empty_database(server_url: URL) -> AsyncIterator[URL]:
    async with new_database(server_url, "support_db_wheel") as url:
        yield url


async def test_the_installed_package_migrates_a_new_database_and_serves_it(
    installed: Installed, empty_database: URL, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=url_text(empty_database), SUPPORT_DB_DATA_DIR=str(tmp_path / "data"))
    migrate = run([installed.command, "migrate"], cwd=tmp_path, env=env)

    params = StdioServerParameters(command=str(installed.command), env=env, cwd=tmp_path)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            prompts = (await client.list_prompts()).prompts
            empty = await client.call_tool("search_tickets", {})

    assert f"to {head_revision()}" in migrate.stderr
    assert {"search_tickets", "get_ticket", "create_ticket"} <= tools
    assert len(prompts) >= 1  # templates read from the installed package, not from this clone
    assert empty.is_error is False
    assert empty.structured_content is not None
    assert empty.structured_content["tickets"] == []
