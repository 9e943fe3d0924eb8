"""The benchmark, in one command: `python -m bench.run` (from the repository root; `bash bench/run.sh`).

It starts its own PostgreSQL (embedded, in --data-dir) unless BENCH_DATABASE_URL names a server on
which it may create databases, makes a 1,000,000-ticket and a 10,000-ticket database with the
project's `migrate` and `seed` commands, installs the TypeScript reference server from the npm
registry into a cache folder on first use, and times side by side, in interleaved rounds: the floor
(bare asyncpg, hand-written SQL), our server and the reference server through a raw JSON-RPC stdio
client, an earlier build of ours (`--baseline PATH/TO/support-db-mcp`), the SDK's own client, and
our call's stages in process; then a mixed load over streamable HTTP on one and two processes. It
prints Markdown tables with the targets of issue 11 and writes the figures as JSON to bench/results/
(and the tables of the last full-size run to bench/last_run.md, which the README quotes).

`--tiny` runs the same code at a size that takes seconds; the test suite uses it so the bench cannot rot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench import databases, http_load, report, rounds
from bench.databases import BenchDatabase, Size

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LAST_RUN = BENCH_DIR / "last_run.md"
FULL_SIZE = 1_000_000


def size_label(tickets: int) -> str:
    if tickets >= 1_000_000 and tickets % 1_000_000 == 0:
        return f"{tickets // 1_000_000}M"
    if tickets >= 1_000 and tickets % 1_000 == 0:
        return f"{tickets // 1_000}k"
    return str(tickets)


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=FULL_SIZE, help="tickets of the large database")
    parser.add_argument("--small-tickets", type=int, default=10_000, help="tickets of the scaling database")
    parser.add_argument("--calls", type=int, default=30, help="timed rounds per case and repeat")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds per case and repeat first")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the rounds of each case")
    parser.add_argument("--page", type=int, default=20, help="case 5 reads this page through next_cursor")
    parser.add_argument(
        "--baseline", type=Path, help="the support-db-mcp command of an earlier build, timed beside ours"
    )
    parser.add_argument(
        "--http-levels", type=_numbers, default=[1, 5, 20, 50], help="HTTP clients, e.g. 1,5,20,50"
    )
    parser.add_argument(
        "--http-processes", type=_numbers, default=[1, 2], help="HTTP server processes, e.g. 1,2"
    )
    parser.add_argument("--http-seconds", type=float, default=8.0, help="timed seconds per HTTP level")
    parser.add_argument(
        "--http-warmup", type=float, default=2.0, help="untimed seconds before each HTTP level"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP load")
    parser.add_argument("--tiny", action="store_true", help="smoke run in seconds: 3,000 and 600 tickets")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "support-db-mcp-bench",
        help="folder of the embedded PostgreSQL (ignored with BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--db-prefix", default="support_db_bench", help="prefix of the bench's database names"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing database seeded with the same plan (no reseed)"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the databases at the end")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON and logs go")
    args = parser.parse_args(argv)
    if args.tiny:
        args.tickets, args.small_tickets = 3_000, 600
        args.calls, args.warmup, args.repeats, args.page = 3, 1, 2, 3
        args.http_levels, args.http_processes, args.http_seconds, args.http_warmup = [1, 5], [1], 1.0, 0.5
    for name in ("tickets", "small_tickets", "calls", "page", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    if args.small_tickets >= args.tickets:
        parser.error("--small-tickets must be smaller than --tickets")
    if args.baseline is not None and not args.baseline.exists():
        parser.error(f"--baseline {args.baseline} does not exist")
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _stdio(
    small: BenchDatabase, large: BenchDatabase, args: argparse.Namespace, log_dir: Path
) -> dict[str, Any]:
    inputs = {db.size.label: await databases.case_inputs(db.url) for db in (small, large)}
    async with AsyncExitStack() as stack:
        targets = [
            await rounds.open_target(
                stack,
                db.size.label,
                db.url,
                inputs[db.size.label],
                page=args.page,
                baseline=args.baseline if db is large else None,
                full=db is large,
                log_dir=log_dir,
            )
            for db in (small, large)
        ]
        say(
            f"stdio: {len(targets[0].cases)} cases x {args.repeats} repeats x {args.calls} rounds "
            f"(+{args.warmup} warm-up) on {small.size.label} and {large.size.label}, interleaved"
        )
        cases = await rounds.time_cases(targets, calls=args.calls, warmup=args.warmup, repeats=args.repeats)
        by_size = {}
        for limit in (1, 20, 100):
            arguments = {**targets[1].cases[0].arguments, "limit": limit}
            reply = await targets[1].ours.call_tool("search_tickets", arguments)
            by_size[limit] = reply.tool_result("search")["structuredContent"]["sql_statements"]
    return {"inputs": inputs, "cases": cases, "statements_by_page_size": by_size}


async def _http(
    large: BenchDatabase, inputs: databases.CaseInputs, args: argparse.Namespace, log_dir: Path
) -> Any:
    systems = [("ours", databases.SERVER_COMMAND)]
    if args.baseline is not None:
        systems.append(("baseline", str(args.baseline)))
    say(
        f"HTTP: {', '.join(s for s, _ in systems)} at {args.http_levels} clients "
        f"on {args.http_processes} processes"
    )
    first_created = await databases.max_ticket_id(large.url)
    try:
        return await http_load.measure_http(
            large.url,
            inputs,
            systems,
            levels=args.http_levels,
            process_counts=args.http_processes,
            seconds=args.http_seconds,
            warmup_s=args.http_warmup,
            log_dir=log_dir,
        )
    finally:
        await databases.delete_tickets_since(large.url, first_created, http_load.CREATED_TAG)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / "logs"
    log_dir.mkdir(exist_ok=True)
    small = Size(size_label(args.small_tickets), args.small_tickets)
    large = Size(size_label(args.tickets), args.tickets)
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "large": large.label,
        "small": small.label,
    }
    async with databases.postgres_server(args.data_dir) as (server_url, source):
        result["postgres_source"] = source
        prepared: dict[str, BenchDatabase] = {}
        try:
            for size in (small, large):
                name = f"{args.db_prefix}_{size.label.lower()}"
                say(
                    f"{size.label}: {'reusing or seeding' if args.reuse else 'seeding'} {name} "
                    f"({size.tickets:,} tickets)"
                )
                prepared[size.label] = await databases.prepare(
                    server_url, name, size, reuse=args.reuse, log_dir=log_dir
                )
            stdio = await _stdio(prepared[small.label], prepared[large.label], args, log_dir)
            large_inputs = stdio["inputs"][large.label]
            if not args.no_http:
                result["http"] = await _http(prepared[large.label], large_inputs, args, log_dir)
        finally:
            if not args.keep:
                for database in prepared.values():
                    await databases.drop(server_url, database.url.database or "")
    result["postgres_version"] = stdio["inputs"][large.label].server_version
    result["sizes"] = {
        label: {
            "tickets": database.size.tickets,
            "users": database.size.users,
            "counts": stdio["inputs"][label].counts,
            "seed_seconds": round(database.seed_seconds, 1),
            "seeded_now": database.seeded_now,
        }
        for label, database in prepared.items()
    }
    result["cases"] = {label: stdio["cases"][label] for label in (large.label, small.label)}
    result["statements_by_page_size"] = stdio["statements_by_page_size"]
    result["scaling"] = {
        key: {
            "ratio": round(
                case["times"]["ours"]["p50_ms"]
                / result["cases"][small.label][key]["times"]["ours"]["p50_ms"],
                2,
            ),
            "rows": [case["rows_returned"], result["cases"][small.label][key]["rows_returned"]],
        }
        for key, case in result["cases"][large.label].items()
        if case["tool"] == "search_tickets"
    }
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = report.targets(result)
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = anyio.run(run, args)
    table = report.markdown(result)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (args.out / f"bench-{stamp}.json", args.out / "latest.json"):
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(table)
    if args.tickets >= FULL_SIZE and not args.tiny:
        LAST_RUN.write_text(
            f"<!-- bash bench/run.sh {' '.join(sys.argv[1:])}, {result['started_at']} -->\n{table}"
        )
    print(table)
    say(f"wrote {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
