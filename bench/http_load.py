"""Throughput over streamable HTTP: a mixed load from 1 to 50 clients, on one and on two processes.

Each client is a plain HTTP/1.1 keep-alive connection that posts JSON-RPC `tools/call` requests to
the stateless endpoint (no SDK client: its cost would dwarf the server's on this machine) and reads
the answer (an SSE stream or JSON). The mix is 80% search_tickets, 15% get_ticket, 5% create_ticket.
With two processes the clients are split between them (a client-side balancer; nothing else to
install). For each level it reports calls/s, latency p50/p99, errors, the server processes' CPU
per call, and how many connections PostgreSQL opened during the timed window and how many of those
were closed again (connection churn; a pool still growing to its size opens some and keeps them).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sqlalchemy.engine import URL

from bench.databases import CaseInputs, server_env
from bench.httpclient import HttpClient
from support_db_mcp.services.provisioning import asyncpg_dsn

START_TIMEOUT_S = 60
CREATED_TAG = "bench-created"


def create_arguments(inputs: CaseInputs, number: int) -> dict[str, Any]:
    return {
        "title": f"Benchmark ticket {number}: the invoice export times out",
        "description": "Created by the benchmark. The export of last month's invoices stops after a minute.",
        "creator": str(inputs.creator),
        "priority": "high",
        "tags": f"{CREATED_TAG}, billing",
    }


def mixed_call(inputs: CaseInputs, client: int, number: int, max_ticket: int) -> tuple[str, dict[str, Any]]:
    """The `number`-th call of `client`: 16 searches, 3 reads and 1 create in every 20."""
    slot = (number + client * 7) % 20
    if slot == 0:
        return "create_ticket", create_arguments(inputs, client * 1_000_000 + number)
    if slot <= 3:
        return "get_ticket", {"ticket": str(1 + (client * 7919 + number * 104_729) % max_ticket)}
    searches: list[dict[str, Any]] = [
        {"status": "open", "limit": 20},
        {"assignee_id": inputs.busy_assignee, "status": "open", "limit": 20},
        {"text": "refund", "limit": 20},
        {"priority": "high, urgent", "limit": 20},
    ]
    return "search_tickets", searches[slot % len(searches)]


# ---------------------------------------------------------------- the servers
@dataclass
class Servers:
    processes: list[psutil.Popen]
    ports: list[int]

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes:
            for member in [process, *process.children(recursive=True)]:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
        return total


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_servers(command: str, url: URL, count: int, log_dir: Path, label: str) -> Servers:
    processes, ports = [], []
    for index in range(count):
        port = _free_port()
        log = (log_dir / f"server-http-{label}-{index}.log").open("w")
        process = psutil.Popen(
            [command, "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        processes.append(process)
        ports.append(port)
    servers = Servers(processes, ports)
    for process, port in zip(processes, ports, strict=True):
        await _wait_listening(process, port)
    return servers


async def _wait_listening(process: psutil.Popen, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the HTTP server exited with {process.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError(f"the HTTP server did not listen on port {port} within {START_TIMEOUT_S}s")


def stop_servers(servers: Servers) -> None:
    for process in servers.processes:
        if process.poll() is None:
            process.terminate()
    for process in servers.processes:
        try:
            process.wait(timeout=20)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


# ---------------------------------------------------------------- one load level
@dataclass
class LevelRun:
    clients: int
    processes: int
    seconds: float
    calls: int
    errors: int
    calls_per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_call: float
    new_connections: int  # sessions PostgreSQL opened during the window
    closed_connections: int  # of those, how many did not stay open: the churn
    backends_after: int
    error_samples: list[str] = field(default_factory=list)


async def _sessions(monitor: asyncpg.Connection) -> tuple[int, int]:
    row = await monitor.fetchrow(
        "SELECT sessions, numbackends FROM pg_stat_database WHERE datname = current_database()"
    )
    assert row is not None
    return int(row["sessions"]), int(row["numbackends"])


async def run_level(
    servers: Servers,
    monitor: asyncpg.Connection,
    inputs: CaseInputs,
    *,
    clients: int,
    seconds: float,
    warmup_s: float,
    max_ticket: int,
) -> LevelRun:
    latencies: list[float] = []
    errors: list[str] = []
    measuring = False
    stop = False

    async def one_client(index: int) -> None:
        client = HttpClient("127.0.0.1", servers.ports[index % len(servers.ports)])
        number = 0
        try:
            while not stop:
                tool, arguments = mixed_call(inputs, index, number, max_ticket)
                number += 1
                started = time.perf_counter()
                try:
                    await client.call(tool, arguments)
                except (RuntimeError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                    if measuring:
                        errors.append(str(error)[:200])
                    await client.close()
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - started)
        finally:
            await client.close()

    tasks = [asyncio.create_task(one_client(index)) for index in range(clients)]
    try:
        await asyncio.sleep(warmup_s)
        sessions_before, backends_before = await _sessions(monitor)
        cpu_before = servers.cpu_seconds()
        measuring, started = True, time.perf_counter()
        await asyncio.sleep(seconds)
        measuring, elapsed = False, time.perf_counter() - started
        cpu = servers.cpu_seconds() - cpu_before
        sessions_after, backends = await _sessions(monitor)
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
    ordered = sorted(latencies) or [0.0]
    calls = len(latencies)
    return LevelRun(
        clients=clients,
        processes=len(servers.ports),
        seconds=round(elapsed, 2),
        calls=calls,
        errors=len(errors),
        calls_per_second=round(calls / elapsed, 1),
        p50_ms=round(ordered[len(ordered) // 2] * 1e3, 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3, 2),
        server_cpu_ms_per_call=round(cpu * 1e3 / max(calls, 1), 2),
        new_connections=sessions_after - sessions_before,
        closed_connections=max(0, (sessions_after - sessions_before) - (backends - backends_before)),
        backends_after=backends,
        error_samples=errors[:3],
    )


async def measure_http(
    url: URL,
    inputs: CaseInputs,
    systems: Sequence[tuple[str, str]],
    *,
    levels: Sequence[int],
    process_counts: Sequence[int],
    seconds: float,
    warmup_s: float,
    log_dir: Path,
) -> list[dict[str, Any]]:
    """Every (system, process count) at every level; systems alternate at each process count."""
    monitor = await asyncpg.connect(asyncpg_dsn(url))
    try:
        max_ticket = int(await monitor.fetchval("SELECT max(id) FROM tickets"))
        results: list[dict[str, Any]] = []
        for count in process_counts:
            async with AsyncExitStack() as stack:
                started = {}
                for label, command in systems:
                    servers = await start_servers(command, url, count, log_dir, f"{label}-{count}")
                    stack.callback(stop_servers, servers)
                    started[label] = servers
                for clients in levels:
                    for label, servers in started.items():
                        level = await run_level(
                            servers,
                            monitor,
                            inputs,
                            clients=clients,
                            seconds=seconds,
                            warmup_s=warmup_s,
                            max_ticket=max_ticket,
                        )
                        results.append({"system": label, **vars(level), "load_average": os.getloadavg()})
        return results
    finally:
        await monitor.close()
