"""Timing the systems side by side over stdio, in interleaved rounds.

For each case, each round calls every system once, in the same order, on every database: the
floor (bare asyncpg), our server and the TypeScript reference server through the raw JSON-RPC
client, an earlier build of ours (`--baseline`), and on the large database also our server
through the SDK's own client (with and without its output-schema check) and our tool in process
with its stages timed. A busy moment of the shared machine then slows every system alike. The
rounds are repeated (`--repeats`), each repeat's ratios are computed within it, and the spread of
the repeats is reported with them.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from sqlalchemy.engine import URL

from bench import reference
from bench.cases import Case, read_cases, same_rows, similar_arguments
from bench.databases import SERVER_COMMAND, CaseInputs, server_env
from bench.rawclient import RawStdioClient, Reply, child_env
from bench.stages import InProcess
from support_db_mcp.services.provisioning import asyncpg_dsn

CALL_TIMEOUT_S = 120


# ---------------------------------------------------------------- statistics
def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] * 1e3


@dataclass
class Series:
    """The timed calls of one system on one case, by repeat."""

    repeats: list[list[float]] = field(default_factory=list)

    def add(self, repeat: int, seconds: float) -> None:
        while len(self.repeats) <= repeat:
            self.repeats.append([])
        self.repeats[repeat].append(seconds)

    @property
    def all(self) -> list[float]:
        return [value for repeat in self.repeats for value in repeat]

    def p50_by_repeat(self) -> list[float]:
        return [round(percentile(repeat, 0.5), 3) for repeat in self.repeats if repeat]

    def summary(self) -> dict[str, Any]:
        values = self.all
        return {
            "p50_ms": round(percentile(values, 0.50), 3),
            "p95_ms": round(percentile(values, 0.95), 3),
            "mean_ms": round(statistics.fmean(values) * 1e3, 3),
            "calls": len(values),
            "p50_ms_by_repeat": self.p50_by_repeat(),
        }


def ratio(numerator: Series, denominator: Series) -> dict[str, float]:
    """p50 over p50 within each repeat: the median repeat, and the lowest and highest."""
    ratios = [a / b for a, b in zip(numerator.p50_by_repeat(), denominator.p50_by_repeat(), strict=True)]
    return {
        "median": round(statistics.median(ratios), 2),
        "min": round(min(ratios), 2),
        "max": round(max(ratios), 2),
    }


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


# ---------------------------------------------------------------- one database under test
@dataclass
class Target:
    label: str
    url: URL
    inputs: CaseInputs
    floor: asyncpg.Connection
    ours: RawStdioClient
    reference: RawStdioClient
    baseline: RawStdioClient | None = None
    sdk: Client | None = None  # the SDK's client, on the large database only
    in_process: InProcess | None = None
    cases: list[Case] = field(default_factory=list)


async def _raw_server(
    stack: AsyncExitStack, name: str, command: list[str], env: dict[str, str], log_dir: Path
) -> RawStdioClient:
    errlog = stack.enter_context((log_dir / f"server-{name}.log").open("w"))
    client = await RawStdioClient.start(name, command, env=env, errlog=errlog)
    stack.push_async_callback(client.close)
    return client


async def open_target(
    stack: AsyncExitStack,
    label: str,
    url: URL,
    inputs: CaseInputs,
    *,
    page: int,
    baseline: Path | None,
    full: bool,
    log_dir: Path,
) -> Target:
    """Start every system for one database; `full` adds the SDK client and the in-process twin."""
    floor = await asyncpg.connect(asyncpg_dsn(url))
    stack.push_async_callback(floor.close)
    env = server_env(url)
    ours = await _raw_server(stack, f"ours-{label}", [SERVER_COMMAND], env, log_dir)
    ref = await _raw_server(stack, f"reference-{label}", reference.command(url), child_env({}), log_dir)
    target = Target(label, url, inputs, floor, ours, ref)
    if baseline is not None:
        target.baseline = await _raw_server(stack, f"baseline-{label}", [str(baseline)], env, log_dir)
    in_process = await InProcess.open(url)
    stack.push_async_callback(in_process.close)
    if full:
        errlog = stack.enter_context((log_dir / f"server-sdk-{label}.log").open("w"))
        parameters = StdioServerParameters(command=SERVER_COMMAND, args=[], env=env)
        target.sdk = await stack.enter_async_context(
            Client(stdio_client(parameters, errlog=errlog), read_timeout_seconds=CALL_TIMEOUT_S)
        )
        target.in_process = in_process
    cursor, position = await _page(ours, page)
    similar = await in_process.statements("find_similar_tickets", similar_arguments(inputs))
    target.cases = read_cases(inputs, position, page, similar)
    next(case for case in target.cases if case.key.startswith("5_")).arguments["cursor"] = cursor
    return target


async def _page(client: RawStdioClient, page: int) -> tuple[str, tuple[datetime, int]]:
    """The cursor of page `page` (unfiltered, newest first), and the position it continues after."""
    cursor: str | None = None
    last: dict[str, Any] = {}
    for _ in range(page - 1):
        arguments: dict[str, Any] = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        content = (await client.call_tool("search_tickets", arguments)).tool_result("paging")
        cursor, last = (
            content["structuredContent"]["next_cursor"],
            content["structuredContent"]["tickets"][-1],
        )
        if cursor is None:
            raise RuntimeError(f"the search has fewer than {page} pages")
    assert cursor is not None
    created_at = datetime.fromisoformat(last["created_at"].replace("Z", "+00:00"))
    return cursor, (created_at, last["id"])


# ---------------------------------------------------------------- the rounds
SYSTEMS = ("floor", "ours", "reference", "baseline", "sdk", "wire", "in_process")


@dataclass
class CaseRun:
    series: dict[str, Series] = field(default_factory=lambda: {name: Series() for name in SYSTEMS})
    stages: dict[str, Series] = field(
        default_factory=lambda: {name: Series() for name in ("sql", "python", "render")}
    )
    replies: dict[str, Reply] = field(default_factory=dict)
    floor_rows: list[dict[str, Any]] = field(default_factory=list)
    statements: int = 0


async def _wire_call(client: Client, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """tools/call on the SDK client's session, without the client's output-schema check."""
    request = types.CallToolRequest(params=types.CallToolRequestParams(name=tool, arguments=arguments))
    return await client.session.send_request(request, types.CallToolResult)


async def _round(target: Target, case: Case, run: CaseRun, repeat: int | None) -> None:
    """One call of every system on `target`; timed when `repeat` is given (else a warm-up)."""

    def keep(name: str, seconds: float) -> None:
        if repeat is not None:
            run.series[name].add(repeat, seconds)

    async def floor() -> list[asyncpg.Record]:
        for sql, args in case.floor_before:
            await target.floor.fetch(sql, *args)
        return await target.floor.fetch(case.floor_sql, *case.floor_args)

    seconds, rows = await timed(floor)
    keep("floor", seconds)
    run.floor_rows = [dict(row) for row in rows]
    for name, client in (
        ("ours", target.ours),
        ("reference", target.reference),
        ("baseline", target.baseline),
    ):
        if client is None:
            continue
        if name == "reference":
            reply = await client.call_tool("query", {"sql": case.reference_sql})
        else:
            reply = await client.call_tool(case.tool, case.arguments)
        reply.tool_result(f"{name} {case.key}")
        keep(name, reply.seconds)
        run.replies[name] = reply
    if target.sdk is not None:
        seconds, result = await timed(lambda: target.sdk.call_tool(case.tool, case.arguments))  # type: ignore[union-attr]
        if result.is_error:
            raise RuntimeError(f"SDK client {case.key}: {result.content}")
        keep("sdk", seconds)
        seconds, _ = await timed(lambda: _wire_call(target.sdk, case.tool, case.arguments))  # type: ignore[arg-type]
        keep("wire", seconds)
    if target.in_process is not None:
        stages = await target.in_process.call(case.tool, case.arguments)
        keep("in_process", stages.total)
        if repeat is not None:
            run.stages["sql"].add(repeat, stages.sql)
            run.stages["python"].add(repeat, stages.python)
            run.stages["render"].add(repeat, stages.render)
        run.statements = stages.statements


async def time_cases(
    targets: list[Target], *, calls: int, warmup: int, repeats: int
) -> dict[str, dict[str, Any]]:
    """Every case on every target, interleaved; returns the figures by target label and case key."""
    results: dict[str, dict[str, Any]] = {target.label: {} for target in targets}
    problems: list[str] = []
    for index, _ in enumerate(targets[0].cases):
        runs = [CaseRun() for _ in targets]
        for repeat in range(repeats):
            for round_number in range(warmup + calls):
                for target, run in zip(targets, runs, strict=True):
                    timed_repeat = repeat if round_number >= warmup else None
                    await _round(target, target.cases[index], run, timed_repeat)
        for target, run in zip(targets, runs, strict=True):
            case = target.cases[index]
            ours = run.replies["ours"].result["structuredContent"]
            reference_rows = _reference_rows(run.replies["reference"])
            problems += [f"{target.label} {p}" for p in same_rows(case, ours, run.floor_rows, reference_rows)]
            results[target.label][case.key] = summarise(case, run)
    if problems:
        raise RuntimeError("the systems did not return the same rows: " + "; ".join(problems))
    return results


def _reference_rows(reply: Reply) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(reply.text)
    return rows


def summarise(case: Case, run: CaseRun) -> dict[str, Any]:
    ours = run.replies["ours"]
    structured = ours.result["structuredContent"]
    items = structured.get("tickets") if case.is_search else structured["ticket"]["comments"]
    summary: dict[str, Any] = {
        "title": case.title,
        "tool": case.tool,
        "arguments": {k: v for k, v in case.arguments.items() if k != "cursor"},
        "rows_returned": len(items or []),
        "statements_per_call": structured["sql_statements"],
        "floor_sql": case.floor_sql,
        "floor_statements": 1 + len(case.floor_before),
        "notes": case.notes,
        "times": {name: series.summary() for name, series in run.series.items() if series.all},
        "bytes": {
            name: {"text": reply.text_bytes, "line": reply.line_bytes} for name, reply in run.replies.items()
        },
    }
    floor = run.series["floor"]
    summary["ratio_to_floor"] = {
        name: ratio(series, floor) for name, series in run.series.items() if series.all and name != "floor"
    }
    summary["ratio_to_reference"] = {
        name: ratio(run.series[name], run.series["reference"])
        for name in ("ours", "baseline")
        if run.series[name].all
    }
    if run.stages["sql"].all:
        summary["stages"] = {name: series.summary() for name, series in run.stages.items()}
    return summary
