"""The bench's databases: a PostgreSQL server, one database per size, made by the project's own commands.

Each database is created empty, migrated with `support-db-mcp migrate` and filled with
`support-db-mcp seed` (the commands a user runs), so the seed time measured here is the seed time
a user sees. A finished seed leaves a marker (a comment on the database) so that `--reuse` can skip
seeding when the database already holds the same plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from sqlalchemy.engine import URL

from support_db_mcp.config import safe_url, to_async_url
from support_db_mcp.db.embedded import EmbeddedPostgres
from support_db_mcp.services.provisioning import asyncpg_dsn, drop_database, ensure_database

SERVER_COMMAND = str(Path(sys.executable).with_name("support-db-mcp"))
SEED_TIMEOUT_S = 1_800


@dataclass(frozen=True)
class Size:
    """One database size. Users scale with tickets (1 per 100) so an agent's workload, and so the
    number of rows a page returns, is the same at every size: only the table sizes grow."""

    label: str
    tickets: int
    comments_per_ticket: int = 2
    rng_seed: int = 20261125

    @property
    def users(self) -> int:
        return max(30, self.tickets // 100)

    def marker(self) -> dict[str, Any]:
        return {"bench": 1, **asdict(self), "users": self.users}


@dataclass(frozen=True)
class BenchDatabase:
    size: Size
    url: URL
    seed_seconds: float
    seeded_now: bool
    seed_log: str


@asynccontextmanager
async def postgres_server(data_dir: Path) -> AsyncIterator[tuple[URL, str]]:
    """A server on which the bench may create databases: BENCH_DATABASE_URL, or an embedded one."""
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        url = to_async_url(configured)
        yield url, f"BENCH_DATABASE_URL ({safe_url(url)})"
        return
    embedded = EmbeddedPostgres(data_dir)
    url = await anyio.to_thread.run_sync(embedded.start)
    try:
        yield url.set(database="postgres"), f"embedded PostgreSQL in {embedded.pgdata}"
    finally:
        await anyio.to_thread.run_sync(embedded.stop)


def server_env(url: URL) -> dict[str, str]:
    """Environment of a `support-db-mcp` process that serves `url` (and nothing else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_DB_")}
    env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    return env


async def _read_marker(url: URL) -> dict[str, Any] | None:
    connection = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres")))
    try:
        text = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            url.database,
        )
    finally:
        await connection.close()
    try:
        marker = json.loads(text) if text else None
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


async def _write_marker(url: URL, marker: dict[str, Any]) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        literal = json.dumps(marker).replace("'", "''")
        await connection.execute(f"COMMENT ON DATABASE \"{url.database}\" IS '{literal}'")
    finally:
        await connection.close()


def _run_cli(args: list[str], url: URL, log: Path) -> float:
    """Run `support-db-mcp <args>` against `url`; its output goes to `log`. Returns the wall time."""
    started = time.perf_counter()
    with log.open("a") as output:
        output.write(f"$ support-db-mcp {' '.join(args)}\n")
        output.flush()
        completed = subprocess.run(
            [SERVER_COMMAND, *args],
            env=server_env(url),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            timeout=SEED_TIMEOUT_S,
            check=False,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"support-db-mcp {' '.join(args)} failed ({completed.returncode}); see {log}")
    return time.perf_counter() - started


async def prepare(server_url: URL, name: str, size: Size, *, reuse: bool, log_dir: Path) -> BenchDatabase:
    """Database `name` holding `size`'s seed: reused when asked and the marker matches, else made anew."""
    url = server_url.set(database=name)
    log = log_dir / f"seed-{name}.log"
    if reuse:
        marker = await _read_marker(url)
        if marker is not None and {k: marker.get(k) for k in size.marker()} == size.marker():
            # A newer checkout may bring migrations; the server refuses a database behind head.
            await anyio.to_thread.run_sync(_run_cli, ["migrate"], url, log)
            return BenchDatabase(size, url, float(marker["seed_seconds"]), False, str(log))
    await drop_database(server_url, name)
    await ensure_database(server_url, name)
    log.unlink(missing_ok=True)
    await anyio.to_thread.run_sync(_run_cli, ["migrate"], url, log)
    seed_args = [
        "seed",
        f"--users={size.users}",
        f"--tickets={size.tickets}",
        f"--comments-per-ticket={size.comments_per_ticket}",
        f"--seed={size.rng_seed}",
    ]
    seconds = await anyio.to_thread.run_sync(_run_cli, seed_args, url, log)
    await _write_marker(url, {**size.marker(), "seed_seconds": round(seconds, 2), "seeded_at": time.time()})
    return BenchDatabase(size, url, seconds, True, str(log))


async def drop(server_url: URL, name: str) -> None:
    await drop_database(server_url, name)


# ---------------------------------------------------------------- what the cases look up
@dataclass(frozen=True)
class CaseInputs:
    """Real values of one seeded database that the cases need."""

    busy_assignee: int  # the agent with the most open tickets
    idle_assignee: int  # an agent with tickets, none of them open
    long_ticket: int  # a ticket with 50 comments
    creator: int  # an active customer, for create_ticket
    counts: dict[str, int]
    server_version: str


async def case_inputs(url: URL) -> CaseInputs:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        busy = await connection.fetchval(
            "SELECT assignee_id FROM tickets WHERE status = 'open' AND assignee_id IS NOT NULL "
            "GROUP BY assignee_id ORDER BY count(*) DESC, assignee_id LIMIT 1"
        )
        idle = await connection.fetchval(
            "SELECT u.id FROM users u WHERE u.role = 'agent' "
            "AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.assignee_id = u.id AND t.status = 'open') "
            "AND EXISTS (SELECT 1 FROM tickets t WHERE t.assignee_id = u.id) ORDER BY u.id LIMIT 1"
        )
        long_ticket = await connection.fetchval(
            "SELECT t.id FROM tickets t "
            "WHERE (SELECT count(*) FROM comments c WHERE c.ticket_id = t.id) = 50 ORDER BY t.id LIMIT 1"
        )
        creator = await connection.fetchval(
            "SELECT id FROM users WHERE role = 'customer' AND is_active ORDER BY id LIMIT 1"
        )
        counts = {}
        for table in ("users", "tickets", "comments", "ticket_tags"):
            counts[table] = int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    missing = [
        name
        for name, value in (("busy", busy), ("idle", idle), ("long", long_ticket), ("creator", creator))
        if value is None
    ]
    if missing:
        raise RuntimeError(f"the seeded database lacks rows the cases need: {missing}")
    return CaseInputs(busy, idle, long_ticket, creator, counts, str(version))


async def max_ticket_id(url: URL) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM tickets"))
    finally:
        await connection.close()


async def tickets_created_since(url: URL, after_id: int) -> list[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch("SELECT number FROM tickets WHERE id > $1 ORDER BY id", after_id)
    finally:
        await connection.close()
    return [row["number"] for row in rows]


async def delete_tickets_since(url: URL, after_id: int, tag: str) -> None:
    """Remove what create_ticket added, so a reused database stays the seed's data."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("DELETE FROM tickets WHERE id > $1", after_id)
        await connection.execute("DELETE FROM tags WHERE name = $1", tag)
    finally:
        await connection.close()
