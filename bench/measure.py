"""Timing the tools: over a real stdio MCP session, in process, and the raw asyncpg floor.

For every call the same four things are timed back to back, so that noise from other work on the
machine falls on all of them alike:
- stdio: `Client.call_tool` of the SDK over stdio to a `support-db-mcp` subprocess (what a client sees,
  including the SDK client's check of the result against the tool's output schema);
- wire: the same request through the same session without that client-side check;
- in-process: the service function the tool calls, on an engine in this process (no MCP at all);
- floor: the exact SQL statements that service sent (captured from the driver, not retyped), replayed
  through one bare asyncpg connection.
"""

from __future__ import annotations

import json
import math
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.abc
import asyncpg
import mcp_types as types
import psutil
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from sqlalchemy import event
from sqlalchemy.engine import URL

from bench.databases import SERVER_COMMAND, CaseInputs, server_env
from support_db_mcp.bootstrap import adopt_installation
from support_db_mcp.config import Settings
from support_db_mcp.db import Database, create_engine_for
from support_db_mcp.db.statements import CapturedStatement
from support_db_mcp.services.operations import CATALOG
from support_db_mcp.services.provisioning import asyncpg_dsn

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 60
CALL_TIMEOUT_S = 120
CREATED_TAG = "bench-created"


# ---------------------------------------------------------------- statistics
@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.seconds.append(value)

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        ordered = sorted(self.seconds)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1e3

    def summary(self) -> dict[str, float]:
        return {
            "p50_ms": round(self.percentile(0.50), 3),
            "p95_ms": round(self.percentile(0.95), 3),
            "mean_ms": round(statistics.fmean(self.seconds) * 1e3, 3),
            "calls": len(self.seconds),
        }


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


# ---------------------------------------------------------------- the cases
@dataclass
class Case:
    key: str
    title: str
    tool: str
    arguments: dict[str, Any]
    has_floor: bool
    is_search: bool


def read_cases(inputs: CaseInputs, page: int) -> list[Case]:
    """Cases 1 to 6 of the issue and find_similar_tickets (case 5's cursor is filled in once the
    server can page)."""
    return [
        Case(
            "1_assignee_open",
            "search: one assignee's open tickets, newest first, limit 50",
            "search_tickets",
            {"assignee_id": inputs.busy_assignee, "status": "open", "limit": 50},
            True,
            True,
        ),
        Case(
            "2_assignee_without_open",
            "search: same, for an assignee with no open tickets",
            "search_tickets",
            {"assignee_id": inputs.idle_assignee, "status": "open", "limit": 50},
            True,
            True,
        ),
        Case(
            "3_text_and_status",
            'search: free text "refund", status open, limit 50',
            "search_tickets",
            {"text": "refund", "status": "open", "limit": 50},
            True,
            True,
        ),
        Case(
            "4_tag", 'search: tag "vip", limit 50', "search_tickets", {"tag": "vip", "limit": 50}, True, True
        ),
        Case(
            "5_page_20",
            f"search: page {page} through next_cursor (no filter, limit 50)",
            "search_tickets",
            {"limit": 50},
            True,
            True,
        ),
        Case(
            "6_get_ticket_50_comments",
            "get_ticket: a ticket with 50 comments",
            "get_ticket",
            {"ticket": str(inputs.long_ticket)},
            False,
            False,
        ),
        Case(  # 7 is create_ticket, timed on its own
            "8_similar_to_a_ticket",
            "find_similar_tickets: the 5 closest to a ticket",
            "find_similar_tickets",
            {"ticket": str(inputs.long_ticket), "limit": 5},
            True,
            False,
        ),
    ]


def create_arguments(inputs: CaseInputs, number: int) -> dict[str, Any]:
    return {
        "title": f"Benchmark ticket {number}: the invoice export times out",
        "description": "Created by the benchmark. The export of last month's invoices stops after a minute.",
        "creator": str(inputs.creator),
        "priority": "high",
        "tags": f"{CREATED_TAG}, billing",
    }


# ---------------------------------------------------------------- in-process service and captured SQL
class InProcess:
    """The services on an engine in this process, recording the statements they send."""

    def __init__(self, url: URL) -> None:
        self.engine = create_engine_for(url, Settings())
        self.database = Database.from_engine(self.engine)
        self._capturing: list[CapturedStatement] | None = None
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)

    def _record(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self._capturing is not None:
            self._capturing.append(CapturedStatement(statement, parameters))

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """What the tool of that name does between opening and closing its session."""
        operation = CATALOG[tool]
        if operation.service is None:
            raise ValueError(f"no in-process twin for {tool}")
        inputs = operation.parse(arguments)
        async with self.database.read() as session:
            return await operation.service(session, inputs)

    async def capture(self, tool: str, arguments: dict[str, Any]) -> list[CapturedStatement]:
        self._capturing = []
        try:
            await self.call(tool, arguments)
            return self._capturing
        finally:
            self._capturing = None

    async def close(self) -> None:
        await self.engine.dispose()


class Floor:
    """Captured statements replayed on one bare asyncpg connection (its statement cache on)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, url: URL) -> Floor:
        return cls(await asyncpg.connect(asyncpg_dsn(url)))

    async def run(self, statements: list[CapturedStatement]) -> int:
        rows = 0
        for statement in statements:
            rows += len(await self.connection.fetch(statement.sql, *(statement.parameters or ())))
        return rows

    async def close(self) -> None:
        await self.connection.close()


# ---------------------------------------------------------------- the server processes
def stdio_server_process(*, exclude: set[int]) -> psutil.Process:
    """Our `support-db-mcp` child serving stdio that is not one of the `exclude` pids (started earlier)."""
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if child.pid not in exclude and any(Path(part).name == "support-db-mcp" for part in command[:2]):
            return child
    raise RuntimeError("the support-db-mcp server process was not found among our children")


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def rss_mb(process: psutil.Process) -> float:
    return round(process.memory_info().rss / 2**20, 1)


def stdio_client_for(url: URL, errlog: TextIO) -> Client:
    parameters = StdioServerParameters(command=SERVER_COMMAND, args=[], env=server_env(url))
    return Client(stdio_client(parameters, errlog=errlog), read_timeout_seconds=CALL_TIMEOUT_S)


def result_bytes(result: types.CallToolResult) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True).encode())


def structured(result: types.CallToolResult, what: str) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{what} failed: {text}")
    return result.structured_content


async def wire_call(client: Client, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """tools/call through the session, skipping only the client-side output-schema check."""
    request = types.CallToolRequest(params=types.CallToolRequestParams(name=tool, arguments=arguments))
    return await client.session.send_request(request, types.CallToolResult)


async def cursor_of_page(client: Client, arguments: dict[str, Any], page: int) -> str:
    cursor = None
    for _ in range(page - 1):
        content = structured(
            await client.call_tool(
                "search_tickets", {**arguments, "cursor": cursor} if cursor else arguments
            ),
            "paging",
        )
        cursor = content["next_cursor"]
        if cursor is None:
            raise RuntimeError(f"the search has fewer than {page} pages")
    assert cursor is not None
    return cursor


@dataclass
class Target:
    """One database under test: its stdio session, its in-process twin and its floor connection."""

    label: str
    url: URL
    inputs: CaseInputs
    client: Client
    process: psutil.Process
    in_process: InProcess
    floor: Floor
    cases: list[Case]


@dataclass
class StdioRun:
    cases: dict[str, dict[str, Any]]
    statements_by_page_size: dict[int, int]
    create_sequential: dict[str, Any] | None
    server_rss_mb: float
    server_rss_after_warmup_mb: float


@dataclass
class _CaseTimings:
    statements: list[CapturedStatement]
    stdio: Timings = field(default_factory=Timings)
    wire: Timings = field(default_factory=Timings)
    in_process: Timings = field(default_factory=Timings)
    floor: Timings = field(default_factory=Timings)
    protocol: Timings = field(default_factory=Timings)
    last: types.CallToolResult | None = None


async def measure_stdio(
    databases: list[tuple[str, URL, CaseInputs]],
    *,
    calls: int,
    warmup: int,
    page: int,
    creates: int,
    log_dir: Path,
) -> dict[str, StdioRun]:
    """Cases 1-6 on every database, each over its own stdio session to its own server, timed in
    turns (call i of a case on every database before call i + 1) so that a busy moment of the
    machine slows all databases alike; then case 7, sequential, on the last database."""
    async with AsyncExitStack() as stack:
        targets = [
            await _open_target(stack, label, url, inputs, page=page, log_dir=log_dir)
            for label, url, inputs in databases
        ]
        canned = await _open_canned(stack, targets[-1], log_dir)
        rss_warm = {target.label: rss_mb(target.process) for target in targets}
        results: dict[str, dict[str, dict[str, Any]]] = {target.label: {} for target in targets}
        for index, case in enumerate(targets[0].cases):
            per_target = [(target, target.cases[index]) for target in targets]
            timings = await _time_case(per_target, canned, calls=calls, warmup=warmup)
            for (target, target_case), measured in zip(per_target, timings, strict=True):
                results[target.label][case.key] = _case_summary(target_case, measured)
        runs = {}
        for target in targets:
            sizes = {}
            for limit in (1, 20, 100):
                arguments = {**target.cases[0].arguments, "limit": limit}
                content = structured(await target.client.call_tool("search_tickets", arguments), "search")
                sizes[limit] = content["sql_statements"]
            create = None
            if creates and target is targets[-1]:
                create = await _measure_creates(target.client, target.inputs, creates=creates, warmup=warmup)
            runs[target.label] = StdioRun(
                results[target.label], sizes, create, rss_mb(target.process), rss_warm[target.label]
            )
        return runs


async def _open_target(
    stack: AsyncExitStack, label: str, url: URL, inputs: CaseInputs, *, page: int, log_dir: Path
) -> Target:
    in_process = InProcess(url)
    stack.push_async_callback(in_process.close)
    await adopt_installation(in_process.database, Settings())  # the same cursor key as the server
    floor = await Floor.connect(url)
    stack.push_async_callback(floor.close)
    log = log_dir / f"server-stdio-{label}.log"
    errlog = stack.enter_context(log.open("w"))
    before = {child.pid for child in psutil.Process().children()}
    try:
        client = await stack.enter_async_context(stdio_client_for(url, errlog))
    except Exception as error:
        errlog.flush()
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise RuntimeError(
            f"the stdio server for {label} did not start ({error!r}); {log} ends:\n{tail}"
        ) from None
    process = stdio_server_process(exclude=before)
    await client.list_tools()
    cases = read_cases(inputs, page)
    page_case = next(case for case in cases if case.key.startswith("5_"))
    page_case.arguments["cursor"] = await cursor_of_page(client, page_case.arguments, page)
    return Target(label, url, inputs, client, process, in_process, floor, cases)


async def _open_canned(stack: AsyncExitStack, target: Target, log_dir: Path) -> Client:
    """The no-database stand-in (bench/canned_server.py) serving `target`'s real responses."""
    payloads = {}
    for case in target.cases:
        content = structured(await target.client.call_tool(case.tool, case.arguments), case.key)
        payloads[case.key] = {"tool": case.tool, "structured_content": content}
    path = log_dir / "canned-payloads.json"
    path.write_text(json.dumps(payloads))
    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "bench.canned_server", str(path)], cwd=str(REPO_ROOT)
    )
    errlog = stack.enter_context((log_dir / "server-canned.log").open("w"))
    client = await stack.enter_async_context(
        Client(stdio_client(parameters, errlog=errlog), read_timeout_seconds=CALL_TIMEOUT_S)
    )
    await client.list_tools()
    return client


async def _time_case(
    per_target: list[tuple[Target, Case]], canned: Client, *, calls: int, warmup: int
) -> list[_CaseTimings]:
    """Time every target in turns; the canned stand-in is timed beside the last target."""
    measured = []
    for target, case in per_target:
        statements = await target.in_process.capture(case.tool, case.arguments) if case.has_floor else []
        measured.append(_CaseTimings(statements))
    for index in range(warmup + calls):
        for (target, case), timings in zip(per_target, measured, strict=True):
            stdio_s, timings.last = await timed(lambda: target.client.call_tool(case.tool, case.arguments))  # noqa: B023
            structured(timings.last, case.key)
            wire_s, _ = await timed(lambda: wire_call(target.client, case.tool, case.arguments))  # noqa: B023
            service_s, _ = await timed(lambda: target.in_process.call(case.tool, case.arguments))  # noqa: B023
            floor_s = 0.0
            if timings.statements:
                floor_s, _ = await timed(lambda: target.floor.run(timings.statements))  # noqa: B023
            protocol_s = None
            if target is per_target[-1][0]:
                protocol_s, canned_result = await timed(lambda: canned.call_tool(f"case_{case.key}", {}))  # noqa: B023
                structured(canned_result, f"canned {case.key}")
            if index >= warmup:
                if protocol_s is not None:
                    timings.protocol.add(protocol_s)
                timings.stdio.add(stdio_s)
                timings.wire.add(wire_s)
                timings.in_process.add(service_s)
                if timings.statements:
                    timings.floor.add(floor_s)
    return measured


def _case_summary(case: Case, measured: _CaseTimings) -> dict[str, Any]:
    result = measured.last
    assert result is not None
    content = structured(result, case.key)
    items = content.get("tickets") or content.get("ticket", {}).get("comments") or []
    summary: dict[str, Any] = {
        "title": case.title,
        "tool": case.tool,
        "arguments": {k: v for k, v in case.arguments.items() if k != "cursor"},
        "rows_returned": len(items),
        "stdio": measured.stdio.summary(),
        "wire": measured.wire.summary(),
        "in_process": measured.in_process.summary(),
        "statements_per_call": content["sql_statements"],
        "response_bytes": result_bytes(result),
    }
    if measured.protocol.seconds:
        summary["protocol_only"] = measured.protocol.summary()
    if measured.statements:
        floor = measured.floor.summary()
        summary["floor"] = floor
        summary["floor_statements"] = len(measured.statements)
        for name in ("stdio", "wire", "in_process", "protocol_only"):
            if name in summary:
                summary[f"ratio_{name}_to_floor"] = round(summary[name]["p50_ms"] / floor["p50_ms"], 2)
        summary["floor_sql"] = [statement.sql for statement in measured.statements]
    return summary


async def _measure_creates(
    client: Client, inputs: CaseInputs, *, creates: int, warmup: int
) -> dict[str, Any]:
    timings = Timings()
    numbers: list[str] = []
    result: types.CallToolResult | None = None
    for index in range(warmup + creates):
        seconds, result = await timed(
            lambda: client.call_tool("create_ticket", create_arguments(inputs, index))  # noqa: B023
        )
        numbers.append(structured(result, "create_ticket")["ticket"]["number"])
        if index >= warmup:
            timings.add(seconds)
    assert result is not None
    return {
        "title": "create_ticket, sequential, over stdio",
        "stdio": timings.summary(),
        "statements_per_call": structured(result, "create_ticket")["sql_statements"],
        "response_bytes": result_bytes(result),
        "distinct_numbers": len(set(numbers)) == len(numbers),
    }


# ---------------------------------------------------------------- 50 clients over streamable HTTP
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_for_port(port: int, process: anyio.abc.Process) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the HTTP server exited with {process.returncode} before listening")
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            await anyio.sleep(0.1)
            continue
        await stream.aclose()
        return
    raise RuntimeError(f"the HTTP server did not listen on 127.0.0.1:{port} within {SERVER_START_TIMEOUT_S}s")


@dataclass
class ConcurrentRun:
    clients: int
    per_client: int
    seconds: float
    tickets_per_second: float
    succeeded: int
    failed: int
    errors: list[str]
    numbers: list[str]
    latency: dict[str, float]
    server_rss_mb: float = 0.0
    server_cpu_s: float = 0.0  # CPU the HTTP server used during the run (it shares 2 cores with all else)
    clients_cpu_s: float = 0.0  # CPU of this process, which runs all the clients


async def measure_concurrent_creates(
    url: URL, inputs: CaseInputs, *, clients: int, per_client: int, log_dir: Path
) -> ConcurrentRun:
    port = free_port()
    command = [SERVER_COMMAND, "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
    with (log_dir / "server-http.log").open("w") as log:
        process = await anyio.open_process(command, env=server_env(url), stdout=log, stderr=log)
        try:
            await _wait_for_port(port, process)
            server, bench = psutil.Process(process.pid), psutil.Process()
            cpu_before = _cpu_seconds(server), _cpu_seconds(bench)
            run = await _run_clients(f"http://127.0.0.1:{port}/mcp", inputs, clients, per_client)
            run.server_cpu_s = round(_cpu_seconds(server) - cpu_before[0], 1)
            run.clients_cpu_s = round(_cpu_seconds(bench) - cpu_before[1], 1)
            run.server_rss_mb = rss_mb(server)
            return run
        finally:
            process.terminate()
            with anyio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _run_clients(endpoint: str, inputs: CaseInputs, clients: int, per_client: int) -> ConcurrentRun:
    connected = 0
    all_connected = anyio.Event()
    go = anyio.Event()
    numbers: list[str] = []
    errors: list[str] = []
    latency = Timings()
    finished: list[float] = []

    async def one_client(index: int) -> None:
        nonlocal connected
        async with Client(endpoint, read_timeout_seconds=CALL_TIMEOUT_S) as client:
            await client.list_tools()
            connected += 1
            if connected == clients:
                all_connected.set()
            await go.wait()
            for number in range(per_client):
                arguments = create_arguments(inputs, 100_000 + index * per_client + number)
                seconds, result = await timed(lambda: client.call_tool("create_ticket", arguments))  # noqa: B023
                latency.add(seconds)
                if result.is_error or result.structured_content is None:
                    errors.append(" ".join(getattr(block, "text", "") for block in result.content))
                else:
                    numbers.append(result.structured_content["ticket"]["number"])
            finished.append(time.perf_counter())

    async with anyio.create_task_group() as group:
        for index in range(clients):
            group.start_soon(one_client, index)
        with anyio.fail_after(SERVER_START_TIMEOUT_S):
            await all_connected.wait()
        started = time.perf_counter()
        go.set()
    seconds = max(finished) - started
    return ConcurrentRun(
        clients=clients,
        per_client=per_client,
        seconds=round(seconds, 3),
        tickets_per_second=round(len(numbers) / seconds, 1),
        succeeded=len(numbers),
        failed=len(errors),
        errors=errors[:5],
        numbers=numbers,
        latency=latency.summary(),
    )
