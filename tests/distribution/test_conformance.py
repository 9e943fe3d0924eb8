"""The MCP conformance suite against our HTTP transport, through tests/distribution/conformance.sh.

The script installs Node 22 and the suite from the npm registry on first use (about 10 s) and
exits non-zero when it cannot, failing this test: an unreachable registry is an error, not a skip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.processes import cli_env, url_text

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "conformance.sh"
BASELINE = HERE / "conformance-baseline.yml"
# The generic scenarios a server like ours must pass for real.
APPLICABLE = {
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "completion-complete",
    "dns-rebinding-protection",
}


def baseline() -> list[str]:
    return re.findall(r"^\s+- ([a-z0-9-]+)\s*$", BASELINE.read_text(), flags=re.MULTILINE)


def test_every_baseline_entry_comes_with_its_reason() -> None:
    lines = BASELINE.read_text().splitlines()
    for number, line in enumerate(lines):
        if not re.match(r"^\s+- ", line):
            continue
        above = number - 1
        while re.match(r"^\s+- ", lines[above]):
            above -= 1
        assert lines[above].strip().startswith("#"), f"no reason above {line.strip()}"
    assert len(baseline()) == len(set(baseline()))
    assert not APPLICABLE & set(baseline())


def test_the_conformance_suite_passes_every_scenario_that_applies(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    env = cli_env(
        DATABASE_URL=url_text(database_url),
        SUPPORT_DB_DATA_DIR=str(tmp_path / "data"),
        CONFORMANCE_PYTHON=sys.executable,
        CONFORMANCE_OUTPUT=str(results),
    )

    run = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900, check=False
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Baseline check passed: all failures are expected." in run.stdout
    checks = {}
    for path in results.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", path.parent.name)
        checks[scenario] = [check["status"] for check in json.loads(path.read_text())]
    passed = {name for name, statuses in checks.items() if statuses and set(statuses) == {"SUCCESS"}}
    assert passed >= APPLICABLE, output
    assert set(checks) - passed <= set(baseline()), output
    assert "server-initialize" in checks and len(checks) >= 30  # the whole active suite ran
