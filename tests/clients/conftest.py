"""What the client tests share: the clients installed (npm registry, apt) and a fresh server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.clients.inspector import CACHE, missing
from tests.processes import cli_env

INSTALL = Path(__file__).with_name("install.sh")


@pytest.fixture(scope="session")
def clients_cache() -> Path:
    """The folder holding the Inspector and the TypeScript SDK, installed on first use.

    A failed install fails the test that needs it (an unreachable registry is an error here, as in
    tests/distribution/test_conformance.py), with install.sh's own words.
    """
    if missing() or not (CACHE / "ts-client" / "node_modules" / "ajv-formats").exists():
        run = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
        assert run.returncode == 0, f"{INSTALL} failed:\n{run.stdout}{run.stderr}"
    assert not missing(), missing()
    return CACHE


@pytest.fixture
def fresh_server_env(tmp_path: Path) -> dict[str, str]:
    """A first start on an embedded database of its own: explain_query works there too (the
    embedded server makes its read-only explain role), and nothing any other test wrote is in it."""
    return cli_env(
        SUPPORT_DB_DATA_DIR=str(tmp_path / "data"), SUPPORT_DB_DEMO_TICKETS="300", SUPPORT_DB_DEMO_USERS="30"
    )
