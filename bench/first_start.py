"""A new user's first start, measured: `python -m bench.first_start [--install] [--runs N]`.

Each run gives `support-db-mcp` a data folder that does not exist yet (as on a first start) and
times, through the SDK's stdio `Client`: the answer to `initialize` (the server opens, creates,
migrates and seeds its embedded PostgreSQL before it starts the transport), then the first tool
answer (`search_tickets`). A second start on the same folder shows the everyday start. With
`--install` it first times `python -m venv` plus `pip install <this clone>` into a fresh temporary
virtual environment and measures that environment's `support-db-mcp` (the README's first command).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parent.parent


async def start_once(command: str, data_dir: Path, errlog: TextIO) -> tuple[float, float]:
    """Seconds from launch to the initialize answer, and to the first tool answer."""
    params = StdioServerParameters(command=command, args=["--data-dir", str(data_dir)], env=None)
    began = time.perf_counter()
    async with Client(stdio_client(params, errlog=errlog)) as client:
        initialized = time.perf_counter() - began
        result = await client.call_tool("search_tickets", {"limit": 5})
        answered = time.perf_counter() - began
    assert result.is_error is False and result.structured_content, result.content
    return initialized, answered


def install_fresh(into: Path) -> tuple[str, float]:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(into)], check=True)
    pip = [str(into / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(REPO)], check=True, stderr=subprocess.DEVNULL)
    return str(into / "bin" / "support-db-mcp"), time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="also time a fresh venv + pip install")
    parser.add_argument("--runs", type=int, default=3, help="first starts to measure (default 3)")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="support-db-first-start-", dir="/tmp") as scratch,
        open(os.devnull, "w") as quiet,  # the servers' own log lines would bury the figures
    ):
        command = str(Path(sys.executable).with_name("support-db-mcp"))
        if args.install:
            command, seconds = install_fresh(Path(scratch) / "venv")
            print(f"install (python -m venv + pip install .): {seconds:.1f} s")
        first: list[tuple[float, float]] = []
        again: list[tuple[float, float]] = []
        for run in range(args.runs):
            data_dir = Path(scratch) / f"data-{run}"
            first.append(anyio.run(start_once, command, data_dir, quiet))
            again.append(anyio.run(start_once, command, data_dir, quiet))
    for label, runs in (("first start (new data folder)", first), ("next start (same folder)", again)):
        init = statistics.median(r[0] for r in runs)
        answer = statistics.median(r[1] for r in runs)
        print(
            f"{label}: initialize answered after {init:.1f} s, first tool answer after {answer:.1f} s "
            f"(median of {len(runs)}; each run: {', '.join(f'{r[1]:.1f}' for r in runs)} s)"
        )


if __name__ == "__main__":
    main()
