"""The TypeScript reference server, `@modelcontextprotocol/server-postgres` 0.6.2, installed on first use.

It is installed from the npm registry into a cache folder outside the repository (its code is never
committed) and run with the machine's Node. Its one tool, `query`, runs any SQL in a READ ONLY
transaction and answers with `JSON.stringify(rows, null, 2)` as text; the benchmark gives it SQL that
returns the same rows as our tools, so both answer the same question.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

PACKAGE = "@modelcontextprotocol/server-postgres"
VERSION = "0.6.2"
INSTALL_TIMEOUT_S = 600


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "support-db-mcp-bench" / f"server-postgres-{VERSION}"


def entry_point(folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / "node_modules" / PACKAGE / "dist" / "index.js"


def install(folder: Path | None = None) -> Path:
    """The server's entry point, installed with npm into the cache folder when not there yet."""
    folder = folder or cache_dir()
    script = entry_point(folder)
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not installed: the reference server needs Node 20 and npm (apt-get install npm)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(folder),
            f"{PACKAGE}@{VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0 or not script.exists():
        raise RuntimeError(f"npm install {PACKAGE}@{VERSION} failed: {completed.stderr[-2000:]}")
    return script


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError(
            "node is not installed: the reference server needs Node 20 (apt-get install nodejs)"
        )
    return found


def connection_string(url: URL) -> str:
    """A libpq-style URL for node-postgres, also for a unix-socket server (`?host=/socket/dir`)."""
    user = quote(url.username or "postgres", safe="")
    password = f":{quote(url.password, safe='')}" if url.password else ""
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return f"postgresql://{user}{password}@localhost/{url.database}?host={quote(socket_dir, safe='/')}"
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{user}{password}@{url.host or 'localhost'}{port}/{url.database}"


def command(url: URL) -> list[str]:
    return [node(), str(install()), connection_string(url)]
