"""The benchmark (`python -m bench.run`) runs end to end at a tiny size, so it cannot rot unnoticed.

It is not a timed test: it checks that every case ran over real MCP sessions and produced figures,
and that the correctness checks of the benchmark itself hold (no lost or duplicated tickets).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import asyncpg
from sqlalchemy.engine import URL

from support_db_mcp.services.provisioning import asyncpg_dsn

BENCH_TIMEOUT_S = 300
READ_CASES = {
    "1_assignee_open",
    "2_assignee_without_open",
    "3_text_and_status",
    "4_tag",
    "5_page_20",
    "6_get_ticket_50_comments",
    "8_similar_to_a_ticket",
}


async def _databases_named(server_url: URL, prefix: str) -> list[str]:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}%")
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


async def test_the_benchmark_runs_end_to_end_at_a_tiny_size_and_reports_every_case(
    server_url: URL, repo_root: Path, tmp_path: Path
) -> None:
    prefix = f"bench_test_{os.getpid()}"
    readme_table = repo_root / "bench" / "last_run.md"
    table_before = readme_table.read_text() if readme_table.exists() else None
    env = dict(os.environ, BENCH_DATABASE_URL=server_url.render_as_string(hide_password=False))
    command = [sys.executable, "-m", "bench.run", "--tiny", "--out", str(tmp_path), "--db-prefix", prefix]
    with anyio.fail_after(BENCH_TIMEOUT_S):
        completed = await anyio.run_process(command, cwd=repo_root, env=env, check=False)
    assert completed.returncode == 0, completed.stderr.decode()[-4000:]
    assert "| target | measured | met |" in completed.stdout.decode()

    report = json.loads((tmp_path / "latest.json").read_text())
    large, small = report["large"], report["small"]
    for size in (large, small):
        cases = report["cases"][size]
        assert set(cases) == READ_CASES
        for key, case in cases.items():
            assert case["stdio"]["calls"] == 3 and case["stdio"]["p50_ms"] > 0, key
            assert 1 <= case["statements_per_call"] <= 4, key  # get_ticket: 4 with its history
            assert case["response_bytes"] > 0, key
            if key != "6_get_ticket_50_comments":
                assert case["floor"]["p50_ms"] > 0 and case["floor_statements"] >= 1, key
                assert case["floor_statements"] == case["statements_per_call"], key
    assert report["cases"][large]["1_assignee_open"]["rows_returned"] > 0
    assert report["cases"][large]["2_assignee_without_open"]["rows_returned"] == 0
    assert report["cases"][large]["6_get_ticket_50_comments"]["rows_returned"] == 50
    assert set(report["scaling"]) == READ_CASES - {"6_get_ticket_50_comments"}

    created = report["create_concurrent"]
    assert created["succeeded"] == created["clients"] * created["per_client"] == 10
    assert created["lost"] == created["duplicated"] == created["failed"] == 0
    assert report["create_sequential"]["distinct_numbers"] is True
    assert all(0 < rss < 1_000 for rss in report["server_rss_mb"].values())
    assert {check["target"] for check in report["targets"]} >= {
        "create_ticket: no lost or duplicated ticket numbers under the concurrent run"
    }

    assert (tmp_path / "latest.md").read_text().startswith("Database: 3,000 tickets")
    assert (readme_table.read_text() if readme_table.exists() else None) == table_before
    assert await _databases_named(server_url, prefix) == []
