"""A throw-away cluster of the OS PostgreSQL 15 (Debian's postgresql-15), for what the embedded
server's build lacks: contrib extensions such as pg_trgm, and hypopg (postgresql-15-hypopg).

It runs on a unix socket in a temporary folder (no TCP port), as the `postgres` user when the
tests run as root (PostgreSQL refuses root), and is stopped and removed at the end of the block.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

OS_POSTGRES = Path("/usr/lib/postgresql/15/bin")
OS_EXTENSIONS = Path("/usr/share/postgresql/15/extension")
PACKAGES = "apt-get install postgresql-15 postgresql-15-hypopg"


def skip_without_extension(name: str, package: str) -> None:
    """Skip the calling test when the OS PostgreSQL 15 lacks an extension, saying how to get it."""
    if not (OS_EXTENSIONS / f"{name}.control").exists():
        pytest.skip(
            f"the OS PostgreSQL 15 has no {name} extension: install it with apt-get install {package}"
        )


@contextmanager
def os_postgres_cluster() -> Iterator[URL]:
    """A fresh PostgreSQL 15 cluster, trusting local logins; yields the superuser's URL."""
    assert (OS_POSTGRES / "initdb").exists(), f"the OS PostgreSQL 15 binaries are missing: {PACKAGES}"
    user = "postgres" if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="support-db-pg15-", dir="/tmp"))
    home.chmod(0o755)
    data, sockets, logs = home / "data", home / "sockets", home / "logs"
    for folder in (data, sockets, logs):
        folder.mkdir()
        if user:
            shutil.chown(folder, user, user)

    def run(*args: str) -> None:
        subprocess.run(args, user=user, check=True, capture_output=True, timeout=120)

    run(str(OS_POSTGRES / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    pg_ctl = str(OS_POSTGRES / "pg_ctl")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-o",
        f"-k {sockets} -h ''",
        "-l",
        str(logs / "postgresql.log"),
        "-w",
        "start",
    )
    try:
        yield URL.create(
            "postgresql+asyncpg", username="postgres", database="postgres", query={"host": str(sockets)}
        )
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)
