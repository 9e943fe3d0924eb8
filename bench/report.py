"""The bench's verdict: targets checked against the figures, a Markdown table, the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import psutil

RATIO_TARGET = 3.0
SCALING_TARGET = 1.5
MAX_STATEMENTS = 3
SEED_TARGET_S = 120.0
SEED_TARGET_TICKETS = 1_000_000
RSS_TARGET_MB = 200.0


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("mcp", "sqlalchemy", "asyncpg", "pydantic", "support-db-mcp"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def _target(name: str, measured: str, met: bool | None) -> dict[str, Any]:
    """`met` None marks a row that explains a target rather than being one."""
    return {"target": name, "measured": measured, "met": met}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    large, small = report["large"], report["small"]
    cases = report["cases"][large]
    searches = [key for key, case in cases.items() if "floor" in case]
    checks = []

    ratios = {key: cases[key]["ratio_stdio_to_floor"] for key in searches}
    checks.append(
        _target(
            f"search p50 over stdio <= {RATIO_TARGET:g}x the raw asyncpg floor ({large})",
            ", ".join(f"{key.split('_')[0]}: {ratio:.1f}x" for key, ratio in ratios.items()),
            all(ratio <= RATIO_TARGET for ratio in ratios.values()),
        )
    )
    for label, field in (
        ("  same, without the SDK client's output-schema check (wire)", "ratio_wire_to_floor"),
        ("  same, the tool's service in process (no MCP)", "ratio_in_process_to_floor"),
    ):
        variant = {key: cases[key][field] for key in searches}
        checks.append(
            _target(
                label,
                ", ".join(f"{key.split('_')[0]}: {ratio:.1f}x" for key, ratio in variant.items()),
                all(ratio <= RATIO_TARGET for ratio in variant.values()),
            )
        )
    protocol = {key: cases[key].get("ratio_protocol_only_to_floor") for key in searches}
    if all(ratio is not None for ratio in protocol.values()):
        checks.append(
            _target(
                "  context: the same responses from a server with no database, over stdio (MCP only)",
                ", ".join(f"{key.split('_')[0]}: {ratio:.1f}x" for key, ratio in protocol.items()),
                None,
            )
        )
    one, two = cases["1_assignee_open"], cases["2_assignee_without_open"]
    checks.append(
        _target(
            "case 2 (assignee with no open tickets) no slower than case 1",
            f"p50 {two['stdio']['p50_ms']:.2f} vs {one['stdio']['p50_ms']:.2f} ms; floor "
            f"{two['floor']['p50_ms']:.2f} vs {one['floor']['p50_ms']:.2f} ms; ratio "
            f"{two['ratio_stdio_to_floor']:.1f}x",
            two["stdio"]["p50_ms"] <= one["stdio"]["p50_ms"]
            and two["floor"]["p50_ms"] <= one["floor"]["p50_ms"],
        )
    )
    scaling = report["scaling"]
    checks.append(
        _target(
            f"t({large})/t({small}) <= {SCALING_TARGET:g} for every search case (stdio p50)",
            ", ".join(f"{key.split('_')[0]}: {value['stdio']:.2f}" for key, value in scaling.items()),
            all(value["stdio"] <= SCALING_TARGET for value in scaling.values()),
        )
    )
    by_size = report["statements_by_page_size"][large]
    per_case = {key: case["statements_per_call"] for key, case in cases.items()}
    creates = report.get("create_sequential")
    if creates:
        per_case["7_create"] = creates["statements_per_call"]
    checks.append(
        _target(
            f"statements per call constant and <= {MAX_STATEMENTS}",
            f"search at limit 1/20/100: {'/'.join(str(v) for v in by_size.values())}; per case: "
            + ", ".join(f"{key.split('_')[0]}: {value}" for key, value in per_case.items()),
            len(set(by_size.values())) == 1
            and max([*per_case.values(), *by_size.values()]) <= MAX_STATEMENTS,
        )
    )
    seed = report["sizes"][large]
    seed_ok = seed["seed_seconds"] <= SEED_TARGET_S and seed["tickets"] >= SEED_TARGET_TICKETS
    checks.append(
        _target(
            f"seed {SEED_TARGET_TICKETS:,} tickets with comments in <= {SEED_TARGET_S:g} s",
            f"{seed['tickets']:,} tickets, {seed['counts']['comments']:,} comments in "
            f"{seed['seed_seconds']:.1f} s"
            + ("" if seed["seeded_now"] else " (reused: time of the earlier seed)"),
            seed_ok,
        )
    )
    rss = report["server_rss_mb"]
    checks.append(
        _target(
            f"server RSS after the run <= {RSS_TARGET_MB:g} MB",
            ", ".join(f"{name}: {value:.0f} MB" for name, value in rss.items()),
            all(value <= RSS_TARGET_MB for value in rss.values()),
        )
    )
    concurrent = report.get("create_concurrent")
    if concurrent:
        checks.append(
            _target(
                "create_ticket: no lost or duplicated ticket numbers under the concurrent run",
                f"{concurrent['succeeded']} created by {concurrent['clients']} clients, "
                f"{concurrent['lost']} lost, {concurrent['duplicated']} duplicated, "
                f"{concurrent['failed']} failed",
                concurrent["lost"] == concurrent["duplicated"] == concurrent["failed"] == 0,
            )
        )
    return checks


def _ms(value: float) -> str:
    return f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    large, small = report["large"], report["small"]
    big, options = report["sizes"][large], report["options"]
    lines = [
        f"Database: {big['tickets']:,} tickets, {big['counts']['comments']:,} comments, "
        f"{big['users']:,} users (scaling against {report['sizes'][small]['tickets']:,} tickets). "
        f"Times in ms over {options['calls']} calls after {options['warmup']} warm-up calls.",
        "",
        "| case | stdio p50 | stdio p95 | wire p50 | in-process p50 | SQL floor p50 | MCP only p50 "
        f"| stdio/floor | in-process/floor | stmts | bytes | t({large})/t({small}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, case in report["cases"][large].items():
        floor = case.get("floor")
        scaling = report["scaling"].get(key)
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{key.split('_')[0]}. {case['title']}",
                    _ms(case["stdio"]["p50_ms"]),
                    _ms(case["stdio"]["p95_ms"]),
                    _ms(case["wire"]["p50_ms"]),
                    _ms(case["in_process"]["p50_ms"]),
                    _ms(floor["p50_ms"]) if floor else "-",
                    _ms(case["protocol_only"]["p50_ms"]) if "protocol_only" in case else "-",
                    f"{case['ratio_stdio_to_floor']:.1f}x" if floor else "-",
                    f"{case['ratio_in_process_to_floor']:.1f}x" if floor else "-",
                    str(case["statements_per_call"]),
                    f"{case['response_bytes']:,}",
                    f"{scaling['stdio']:.2f}" if scaling else "-",
                ]
            )
            + " |"
        )
    creates = report.get("create_sequential")
    if creates:
        cells = [
            f"7. {creates['title']}",
            _ms(creates["stdio"]["p50_ms"]),
            _ms(creates["stdio"]["p95_ms"]),
            *["-"] * 6,
            str(creates["statements_per_call"]),
            f"{creates['response_bytes']:,}",
            "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    concurrent = report.get("create_concurrent")
    if concurrent:
        latency = concurrent["latency"]
        lines += [
            "",
            f"7. create_ticket from {concurrent['clients']} concurrent clients over streamable HTTP "
            f"({concurrent['per_client']} each): **{concurrent['tickets_per_second']:.0f} tickets/s**, "
            f"latency p50 {_ms(latency['p50_ms'])} ms, p95 {_ms(latency['p95_ms'])} ms; "
            f"{concurrent['succeeded']} created, {concurrent['lost']} lost, "
            f"{concurrent['duplicated']} duplicated, {concurrent['failed']} failed. CPU during the run: "
            f"server {concurrent['server_cpu_s']:.1f} s, the {concurrent['clients']} clients (one process) "
            f"{concurrent['clients_cpu_s']:.1f} s, in {concurrent['seconds']:.1f} s of wall time.",
        ]
    seed = report["sizes"][large]
    lines += [
        "",
        f"Seed ({large}, `support-db-mcp seed`): {seed['seed_seconds']:.1f} s"
        + ("" if seed["seeded_now"] else " (reused database; time of its seed)")
        + ". Server RSS after the run: "
        + ", ".join(f"{name} {value:.0f} MB" for name, value in report["server_rss_mb"].items())
        + ".",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for check in report["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[check["met"]]
        lines.append(f"| {check['target']} | {check['measured']} | {met} |")
    info = report["machine"]
    lines += [
        "",
        f"Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}, PostgreSQL {report['postgres_version']} ({report['postgres_source']}), "
        f"mcp {info['packages']['mcp']}, SQLAlchemy {info['packages']['sqlalchemy']}, asyncpg "
        f"{info['packages']['asyncpg']}; load average at start {info['load_average_at_start']}.",
        "",
        "stdio: the SDK's `Client.call_tool` over stdio to a `support-db-mcp` subprocess, including the "
        "client's check of the result against the output schema. wire: the same request on the same "
        "session without that check. in-process: the service function the tool calls, no MCP. SQL floor: "
        "the SQL that service sent, captured from the driver, replayed on a bare asyncpg connection. "
        "MCP only: the same response from a stand-in server with no database (bench/canned_server.py), "
        "over stdio with the same client: what the SDK costs before any query runs.",
    ]
    return "\n".join(lines) + "\n"
