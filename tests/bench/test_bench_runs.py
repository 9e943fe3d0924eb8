"""The benchmark (`python -m bench.run`) runs end to end at a tiny size, so it cannot rot unnoticed.

It is not a timed test: it checks that every system (the asyncpg floor, our server, the TypeScript
reference server, the SDK client) was timed on every case in interleaved rounds, that the bench's
own field-for-field check of the rows passed (it fails the run otherwise), and that the HTTP load
ran without errors. The reference server is installed from the npm registry on first use.
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
            # every system was timed in every round of both repeats, through the raw client
            for system in ("floor", "ours", "reference"):
                assert case["times"][system]["calls"] == 3 * 2 and case["times"][system]["p50_ms"] > 0, key
                assert len(case["times"][system]["p50_ms_by_repeat"]) == 2, key
            assert case["ratio_to_floor"]["ours"]["median"] > 0, key
            two = key in ("4_tag", "8_similar_to_a_ticket")  # the tag's id; the stems to compare
            assert case["statements_per_call"] == (2 if two else 1), key
            assert (
                case["bytes"]["ours"]["text"] > 0
                and case["bytes"]["ours"]["line"] > case["bytes"]["ours"]["text"]
            )
    big = report["cases"][large]
    assert big["1_assignee_open"]["rows_returned"] > 0
    assert big["2_assignee_without_open"]["rows_returned"] == 0
    assert big["6_get_ticket_50_comments"]["rows_returned"] == 50
    # the SDK client's column and the stage breakdown come from the large database
    assert {"sdk", "wire", "in_process"} <= set(big["1_assignee_open"]["times"])
    assert set(big["1_assignee_open"]["stages"]) == {"sql", "python", "render"}
    assert set(report["scaling"]) == READ_CASES - {"6_get_ticket_50_comments", "8_similar_to_a_ticket"}

    http = report["http"]
    assert {(row["processes"], row["clients"]) for row in http} == {(1, 1), (1, 5)}
    assert all(row["errors"] == 0 and row["calls"] > 0 for row in http), http
    assert {check["target"] for check in report["targets"]} >= {
        "statements per call constant (search at limit 1/20/100)"
    }

    assert (tmp_path / "latest.md").read_text().startswith("Database: 3,000 tickets")
    assert "| target | measured | met |" in (tmp_path / "latest.md").read_text()
    assert (readme_table.read_text() if readme_table.exists() else None) == table_before
    assert await _databases_named(server_url, prefix) == []
