"""A throw-away cluster of the OS PostgreSQL 15 (Debian's postgresql-15 and postgresql-15-hypopg),
one per test run, for what the embedded server cannot give: contrib's pg_trgm, hypopg, and a
login that checks passwords (over loopback TCP; the unix socket trusts local logins).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.os_packages import require
from tests.processes import free_port

OS_POSTGRES = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class OSCluster:
    socket_dir: Path
    port: int  # on 127.0.0.1, scram-sha-256 passwords
    password: str  # of the superuser `postgres`

    def socket_url(self, database: str = "postgres") -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username="postgres",
            database=database,
            # the port names the socket file (.s.PGSQL.<port>); in the query, asyncpg takes it with a socket
            query={"host": str(self.socket_dir), "port": str(self.port)},
        )

    def tcp_url(self, database: str = "postgres", *, password: str | None = None) -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username="postgres",
            password=self.password if password is None else password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )


@pytest.fixture(scope="session")
def os_postgres() -> Iterator[OSCluster]:
    """The cluster, on a unix socket in a temporary folder and a free loopback port."""
    require("postgresql-15")
    user = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    home = Path(tempfile.mkdtemp(prefix="support-db-pg15-", dir="/tmp"))
    home.chmod(0o755)
    data, sockets, logs = home / "data", home / "sockets", home / "logs"
    for folder in (data, sockets, logs):
        folder.mkdir()
        if user:
            shutil.chown(folder, user, user)
    password = secrets.token_urlsafe(16)
    password_file = logs / "password"
    password_file.write_text(password + "\n")
    if user:
        shutil.chown(password_file, user, user)

    def run(*args: str) -> None:
        subprocess.run(args, user=user, check=True, capture_output=True, timeout=120)

    run(
        str(OS_POSTGRES / "initdb"),
        *("-D", str(data), "-U", "postgres", "-E", "UTF8"),
        *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}"),
    )
    password_file.unlink()
    port = free_port()
    pg_ctl = str(OS_POSTGRES / "pg_ctl")
    options = f"-k {sockets} -h 127.0.0.1 -p {port}"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(logs / "postgresql.log"), "-w", "start")
    try:
        yield OSCluster(socket_dir=sockets, port=port, password=password)
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)
