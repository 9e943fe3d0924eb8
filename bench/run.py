"""The benchmark, in one command: `python -m bench.run` (from the repository root).

It starts its own PostgreSQL (embedded, in --data-dir) unless BENCH_DATABASE_URL names a server on
which it may create databases, makes a 1,000,000-ticket and a 10,000-ticket database with the
project's `migrate` and `seed` commands, then measures the tools over real MCP sessions (stdio, and
streamable HTTP for the concurrent create_ticket run). It prints a Markdown table with the targets
of issue 6 and writes the figures as JSON to bench/results/ (and the table of the last full-size
run to bench/last_run.md, which the README quotes).

`--tiny` runs the same code at a size that takes seconds; the test suite uses it so the bench cannot rot.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench import databases, measure, report
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=FULL_SIZE, help="tickets of the large database")
    parser.add_argument("--small-tickets", type=int, default=10_000, help="tickets of the scaling database")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per case (after warm-up)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per case first")
    parser.add_argument("--page", type=int, default=20, help="case 5 reads this page through next_cursor")
    parser.add_argument("--creates", type=int, default=50, help="sequential create_ticket calls over stdio")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients creating tickets")
    parser.add_argument("--per-client", type=int, default=20, help="tickets each concurrent client creates")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="smoke run in seconds: 3,000 and 600 tickets, a few calls per case",
    )
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
        args.calls, args.warmup, args.creates, args.clients, args.per_client = 3, 1, 3, 5, 2
        args.page = 3
    for name in ("tickets", "small_tickets", "calls", "page", "clients", "per_client"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or args.creates < 0:
        parser.error("--warmup and --creates must be 0 or more")
    if args.small_tickets >= args.tickets:
        parser.error("--small-tickets must be smaller than --tickets")
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _measure(
    small: BenchDatabase, large: BenchDatabase, args: argparse.Namespace, log_dir: Path
) -> dict[str, dict[str, Any]]:
    """Cases 1-6 on both databases in turns, then case 7 on the large one; leaves no ticket behind."""
    inputs = {db.size.label: await databases.case_inputs(db.url) for db in (small, large)}
    first_created = await databases.max_ticket_id(large.url)
    try:
        say(
            f"cases 1-6 over stdio on {small.size.label} and {large.size.label} in turns "
            f"({args.calls} calls each after {args.warmup} warm-up calls), then create_ticket"
        )
        runs = await measure.measure_stdio(
            [(db.size.label, db.url, inputs[db.size.label]) for db in (small, large)],
            calls=args.calls,
            warmup=args.warmup,
            page=args.page,
            creates=args.creates,
            log_dir=log_dir,
        )
        say(f"{large.size.label}: create_ticket from {args.clients} concurrent clients over streamable HTTP")
        before = await databases.max_ticket_id(large.url)
        concurrent = await measure.measure_concurrent_creates(
            large.url,
            inputs[large.size.label],
            clients=args.clients,
            per_client=args.per_client,
            log_dir=log_dir,
        )
        stored = await databases.tickets_created_since(large.url, before)
    finally:
        await databases.delete_tickets_since(large.url, first_created, measure.CREATED_TAG)
    returned = concurrent.numbers
    measured: dict[str, dict[str, Any]] = {
        label: {"inputs": inputs[label], "stdio": runs[label]}
        for label in (small.size.label, large.size.label)
    }
    measured[large.size.label]["concurrent"] = {
        **{k: v for k, v in vars(concurrent).items() if k != "numbers"},
        "duplicated": len(returned) - len(set(returned)),
        "lost": len(set(returned) - set(stored)),
        "stored_but_not_reported": len(set(stored) - set(returned)),
    }
    return measured


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
                verb = "reusing or seeding" if args.reuse else "seeding"
                say(f"{size.label}: {verb} {name} ({size.tickets:,} tickets)")
                prepared[size.label] = await databases.prepare(
                    server_url, name, size, reuse=args.reuse, log_dir=log_dir
                )
                state = "seeded" if prepared[size.label].seeded_now else "reused"
                say(f"{size.label}: {state}, seed took {prepared[size.label].seed_seconds:.1f}s")
            measured = await _measure(prepared[small.label], prepared[large.label], args, log_dir)
        finally:
            if not args.keep:
                for database in prepared.values():
                    await databases.drop(server_url, database.url.database or "")
    result["postgres_version"] = measured[large.label]["inputs"].server_version
    result["sizes"] = {
        label: {
            "tickets": database.size.tickets,
            "users": database.size.users,
            "counts": measured[label]["inputs"].counts,
            "seed_seconds": round(database.seed_seconds, 1),
            "seeded_now": database.seeded_now,
        }
        for label, database in prepared.items()
    }
    result["cases"] = {label: measured[label]["stdio"].cases for label in (large.label, small.label)}
    result["statements_by_page_size"] = {
        label: measured[label]["stdio"].statements_by_page_size for label in (large.label, small.label)
    }
    result["create_sequential"] = measured[large.label]["stdio"].create_sequential
    result["create_concurrent"] = measured[large.label]["concurrent"]
    result["server_rss_mb"] = {
        f"stdio server ({large.label})": measured[large.label]["stdio"].server_rss_mb,
        "HTTP server (after the concurrent run)": measured[large.label]["concurrent"]["server_rss_mb"],
    }
    result["scaling"] = {
        key: {
            measure_name: round(
                case[measure_name]["p50_ms"] / result["cases"][small.label][key][measure_name]["p50_ms"], 2
            )
            for measure_name in ("stdio", "wire", "in_process", "floor")
        }
        for key, case in result["cases"][large.label].items()
        if "floor" in case
    }
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
        LAST_RUN.write_text(f"<!-- python -m bench.run, {result['started_at']} -->\n{table}")
    print(table)
    say(f"wrote {args.out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
