"""The bench's verdict: targets checked against the figures, Markdown tables, the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import psutil

SEARCH_TO_FLOOR = 2.5
GET_TO_FLOOR = 3.0
SCALING = 1.3


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
    return {"target": name, "measured": measured, "met": met}


def _short(key: str) -> str:
    return key.split("_")[0]


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    large, small = report["large"], report["small"]
    cases = report["cases"][large]
    searches = {key: case for key, case in cases.items() if case["tool"] == "search_tickets"}
    gets = {key: case for key, case in cases.items() if case["tool"] == "get_ticket"}
    checks = []
    to_floor = {key: case["ratio_to_floor"]["ours"]["median"] for key, case in searches.items()}
    checks.append(
        _target(
            f"search p50 <= {SEARCH_TO_FLOOR:g}x the floor ({large}, raw client)",
            ", ".join(f"{_short(k)}: {v:.2f}x" for k, v in to_floor.items()),
            all(v <= SEARCH_TO_FLOOR for v in to_floor.values()),
        )
    )
    to_reference = {key: case["ratio_to_reference"]["ours"]["median"] for key, case in searches.items()}
    checks.append(
        _target(
            "search p50 <= the reference server's p50",
            ", ".join(f"{_short(k)}: {v:.2f}x" for k, v in to_reference.items()),
            all(v <= 1.0 for v in to_reference.values()),
        )
    )
    get_ratio = {key: case["ratio_to_floor"]["ours"]["median"] for key, case in gets.items()}
    checks.append(
        _target(
            f"get_ticket p50 <= {GET_TO_FLOOR:g}x the floor",
            ", ".join(f"{_short(k)}: {v:.2f}x" for k, v in get_ratio.items()),
            all(v <= GET_TO_FLOOR for v in get_ratio.values()),
        )
    )
    text = {
        key: (case["bytes"]["ours"]["text"], case["bytes"]["reference"]["text"])
        for key, case in cases.items()
        if case["rows_returned"]
    }
    checks.append(
        _target(
            "text content no larger than the reference server's answer for the same rows (non-empty)",
            ", ".join(f"{_short(k)}: {ours:,} vs {ref:,}" for k, (ours, ref) in text.items()),
            all(ours <= ref for ours, ref in text.values()),
        )
    )
    scaling = report["scaling"]
    checks.append(
        _target(
            f"t({large})/t({small}) <= {SCALING:g}, same row counts (ours, p50)",
            ", ".join(
                f"{_short(k)}: {v['ratio']:.2f} ({v['rows'][0]}/{v['rows'][1]} rows)"
                for k, v in scaling.items()
            ),
            all(v["ratio"] <= SCALING and v["rows"][0] == v["rows"][1] for v in scaling.values()),
        )
    )
    statements = {key: case["statements_per_call"] for key, case in cases.items()}
    by_size = report.get("statements_by_page_size", {})
    checks.append(
        _target(
            "statements per call constant (search at limit 1/20/100)",
            ", ".join(f"{_short(k)}: {v}" for k, v in statements.items())
            + (f"; limit 1/20/100: {'/'.join(str(v) for v in by_size.values())}" if by_size else ""),
            len(set(by_size.values())) <= 1,
        )
    )
    checks += _http_targets(report.get("http") or [])
    return checks


def _http_targets(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ours = {(r["processes"], r["clients"]): r for r in levels if r["system"] == "ours"}
    before = {(r["processes"], r["clients"]): r for r in levels if r["system"] == "baseline"}
    if not ours:
        return []
    checks = [
        _target(
            "HTTP: no errors, no connection churn (connections opened and closed again in the window)",
            ", ".join(
                f"{p}p/{c}c: {r['errors']} errors, "
                f"{r['closed_connections']} closed of {r['new_connections']} opened"
                for (p, c), r in ours.items()
            ),
            all(r["errors"] == 0 and r["closed_connections"] == 0 for r in ours.values()),
        )
    ]
    shared = [key for key in ours if key in before and key[0] == 1]
    if shared:
        cpu = {
            key: before[key]["server_cpu_ms_per_call"] / max(ours[key]["server_cpu_ms_per_call"], 1e-9)
            for key in shared
        }
        speed = {
            key: ours[key]["calls_per_second"] / max(before[key]["calls_per_second"], 1e-9) for key in shared
        }
        checks.append(
            _target(
                "HTTP, one process: server CPU per call at most half the baseline's",
                ", ".join(f"{c} clients: {v:.2f}x less" for (_, c), v in cpu.items()),
                all(v >= 2.0 for v in cpu.values()),
            )
        )
        checks.append(
            _target(
                "HTTP, one process: calls/s at least double the baseline's",
                ", ".join(f"{c} clients: {v:.2f}x" for (_, c), v in speed.items()),
                all(v >= 2.0 for v in speed.values()),
            )
        )
    return checks


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _ratio(value: dict[str, float] | None) -> str:
    if not value:
        return "-"
    return f"{value['median']:.2f}x ({value['min']:.2f}-{value['max']:.2f})"


def markdown(report: dict[str, Any]) -> str:
    large, small = report["large"], report["small"]
    options, big = report["options"], report["sizes"][large]
    has_baseline = bool(options.get("baseline"))
    lines = [
        f"Database: {big['tickets']:,} tickets, {big['counts']['comments']:,} comments, "
        f"{big['users']:,} users "
        f"(scaling against {report['sizes'][small]['tickets']:,} tickets). Raw JSON-RPC client over stdio; "
        f"{options['repeats']} repeats of {options['calls']} interleaved rounds after {options['warmup']} "
        "warm-up rounds; times in ms; ratios are the median repeat's p50 over p50 (lowest-highest repeat).",
        "",
        "| case | floor p50 | ours p50 | ours p95 | reference p50 |"
        + (" baseline p50 |" if has_baseline else "")
        + " ours/floor | reference/floor | ours/reference |"
        + (" baseline/floor |" if has_baseline else "")
        + " text bytes ours / reference | line bytes ours / reference | stmts | t(1M)/t(10k) |",
        "|---|" + "---:|" * (11 + 2 * has_baseline),
    ]
    for key, case in report["cases"][large].items():
        times, ratios, sizes = case["times"], case["ratio_to_floor"], case["bytes"]
        scaling = report["scaling"].get(key)
        cells = [
            f"{_short(key)}. {case['title']}",
            _ms(times["floor"]["p50_ms"]),
            _ms(times["ours"]["p50_ms"]),
            _ms(times["ours"]["p95_ms"]),
            _ms(times["reference"]["p50_ms"]),
        ]
        if has_baseline:
            cells.append(_ms(times["baseline"]["p50_ms"]))
        cells += [
            _ratio(ratios.get("ours")),
            _ratio(ratios.get("reference")),
            _ratio(case["ratio_to_reference"].get("ours")),
        ]
        if has_baseline:
            cells.append(_ratio(ratios.get("baseline")))
        cells += [
            f"{sizes['ours']['text']:,} / {sizes['reference']['text']:,}",
            f"{sizes['ours']['line']:,} / {sizes['reference']['line']:,}",
            str(case["statements_per_call"]),
            f"{scaling['ratio']:.2f}" if scaling else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Where our call's time goes (p50, ms; in process with the server's code, so SDK + pipes is the raw "
        "stdio p50 minus the in-process total), and the SDK client's own cost:",
        "",
        "| case | SQL (driver) | Python around it | render (structured + text) | in-process total "
        "| SDK + pipes | SDK client p50 | same, no output check | its jsonschema check |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, case in report["cases"][large].items():
        stages, times = case.get("stages"), case["times"]
        if not stages:
            continue
        total = times["in_process"]["p50_ms"]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{_short(key)}",
                    _ms(stages["sql"]["p50_ms"]),
                    _ms(stages["python"]["p50_ms"]),
                    _ms(stages["render"]["p50_ms"]),
                    _ms(total),
                    _ms(times["ours"]["p50_ms"] - total),
                    _ms(times["sdk"]["p50_ms"]),
                    _ms(times["wire"]["p50_ms"]),
                    _ms(times["sdk"]["p50_ms"] - times["wire"]["p50_ms"]),
                ]
            )
            + " |"
        )
    http = report.get("http") or []
    if http:
        lines += [
            "",
            "Streamable HTTP, mixed load (80% search, 15% get, 5% create), "
            f"{options['http_seconds']} s per level after a warm-up; the connections PostgreSQL opened "
            "during the timed window, and how many of them were closed again (churn):",
            "",
            "| system | processes | clients | calls/s | p50 ms | p99 ms | errors | server CPU ms/call "
            "| connections opened / closed |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in http:
            lines.append(
                f"| {row['system']} | {row['processes']} | {row['clients']} | "
                f"{row['calls_per_second']:.0f} | "
                f"{_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} | {row['errors']} | "
                f"{_ms(row['server_cpu_ms_per_call'])} | "
                f"{row['new_connections']} / {row['closed_connections']} |"
            )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for check in report["targets"]:
        met = {True: "yes", False: "**no**", None: "-"}[check["met"]]
        lines.append(f"| {check['target']} | {check['measured']} | {met} |")
    info = report["machine"]
    lines += [
        "",
        f"Machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}, PostgreSQL {report['postgres_version']}, mcp {info['packages']['mcp']}, "
        f"SQLAlchemy {info['packages']['sqlalchemy']}, asyncpg {info['packages']['asyncpg']}; load average "
        f"{info['load_average_at_start']} at the start, {report.get('load_average_at_end')} at the end "
        "(the machine is shared).",
        "",
        "floor: the best hand-written SQL for the same rows (one statement: tags as an array subselect, "
        "comments and history as arrays of rows), on a bare asyncpg connection; for find_similar_tickets "
        "(8), our own two statements (no hand-written equivalent; the reference server runs the second, "
        "the ranking). ours: `support-db-mcp` over stdio. "
        "reference: `@modelcontextprotocol/server-postgres` 0.6.2 (Node), its `query` tool with the floor's "
        "SQL. baseline: an earlier build of ours (`--baseline`). All three servers are timed by the same raw "
        "JSON-RPC client, from the request's first byte to the matching response line.",
    ]
    return "\n".join(lines) + "\n"
