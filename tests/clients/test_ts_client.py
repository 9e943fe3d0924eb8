"""The TypeScript SDK client (from the npm registry) lists and calls every tool over stdio, checking
every schema and result with Ajv in strict mode, and finds nothing to complain about."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mcp.types import INVALID_PARAMS

from support_db_mcp.services.operations import CATALOG

SCRIPT = Path(__file__).with_name("ts_client.mjs")
# Beyond the catalog's examples: what a person types into a form.
TYPED = {
    "search_tickets": [{"text": "refund", "status": "open, in_progress", "created_after": "2020-01-01"}],
    "create_ticket": [
        {
            "title": "From TypeScript",
            "description": "d",
            "creator": "1",
            "tags": "ts, client",
            "request_id": "ts-1",
        }
    ],
    "update_ticket": [
        {
            "ticket": "TCK-000002",
            "status": "in_progress",
            "assignee_id": "none",
            "add_tags": "ts, client",
            "expected_updated_at": "",
            "actor": "2",
        }
    ],
    "find_similar_tickets": [{"text": "refund not received", "status": "open, in_progress", "ticket": ""}],
}


def test_the_typescript_sdk_with_strict_ajv_lists_and_calls_every_tool_without_a_validation_error(
    clients_cache: Path, fresh_server_env: dict[str, str]
) -> None:
    calls = {name: [dict(a) for a in op.examples] + TYPED.get(name, []) for name, op in CATALOG.items()}
    plan = {"command": sys.executable, "args": ["-m", "support_db_mcp"], "calls": calls}
    run = subprocess.run(
        ["node", "--input-type=module"],
        input=SCRIPT.read_text(),
        cwd=clients_cache / "ts-client",
        env=fresh_server_env | {"TS_CLIENT_PLAN": json.dumps(plan)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[-1])

    assert report["errors"] == []
    assert report["tools"] == list(CATALOG)
    assert report["compiled"] == len(CATALOG)
    assert report["calls"] == sum(len(arguments) for arguments in calls.values())
    assert (
        report["prompt_error"]["code"] == INVALID_PARAMS and "'entity'" in report["prompt_error"]["message"]
    )
    assert report["stderr"] == ""  # a first start, and nothing on stderr
