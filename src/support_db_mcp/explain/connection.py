"""Who explain_query logs in as, with which limits, and how much time one call has left.

Layer 4 of explain_query's safety lives here: the login it explains caller SQL on must only be
able to read. It is never a superuser and never a member of the predefined roles that read files
or every setting, run programs, signal backends, write everything or see other sessions' SQL; the
check runs before the first statement of every Explainer and its answer is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from support_db_mcp import __version__
from support_db_mcp.config import Settings

EXPLAIN_ROLE = "support_db_explain"

# Predefined roles whose members could turn a read into something else, with the reason.
DANGEROUS_MEMBERSHIPS: dict[str, str] = {
    "pg_read_server_files": "read server files",
    "pg_write_server_files": "write server files",
    "pg_execute_server_program": "run programs on the server",
    "pg_signal_backend": "kill other sessions",
    "pg_read_all_settings": "read every server setting (the data directory, file paths)",
    "pg_read_all_stats": "see other sessions' SQL",
    "pg_read_all_data": "read every table (the cursor-signing secret too)",
    "pg_write_all_data": "write every table",
}


@dataclass(frozen=True)
class ExplainLimits:
    timeout_ms: int = 5_000  # the whole call: runs, fallbacks and verifications
    lock_timeout_ms: int = 1_000
    verify_max_rows: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> ExplainLimits:
        return cls(
            timeout_ms=settings.explain_timeout_ms,
            lock_timeout_ms=settings.explain_lock_timeout_ms,
            verify_max_rows=settings.explain_verify_max_rows,
        )


class Deadline:
    """The time one explain_query call has left; every statement of the call gets at most that."""

    def __init__(self, budget_ms: int) -> None:
        self._end = time.perf_counter() + budget_ms / 1000

    def remaining_ms(self) -> int:
        return max(int((self._end - time.perf_counter()) * 1000), 0)


def create_explain_engine(url: URL, settings: Settings) -> AsyncEngine:
    """An engine for the explain role that never pools: every connection is closed after use."""
    return create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "timeout": max(settings.explain_timeout_ms / 1000, 1.0),  # a call's whole budget
            "server_settings": {
                "application_name": f"support-db-mcp/{__version__} explain",
                "default_transaction_read_only": "on",
                "statement_timeout": str(settings.explain_timeout_ms),
                "lock_timeout": str(settings.explain_lock_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )


@dataclass(frozen=True)
class LoginRole:
    name: str
    safe: bool
    problem: str | None


async def login_role(connection: AsyncConnection) -> LoginRole:
    """Whether the login can only read: no superuser, no bypass of row security, none of the
    dangerous predefined roles (only those this server version has are asked about)."""
    row = (
        await connection.execute(
            text(
                "SELECT current_user, r.rolsuper, r.rolbypassrls, ARRAY("
                "SELECT d.rolname FROM pg_roles d WHERE d.rolname = ANY(CAST(:roles AS text[])) "
                "AND pg_has_role(current_user, d.oid, 'MEMBER') ORDER BY d.rolname) "
                "FROM pg_roles r WHERE r.rolname = current_user"
            ),
            {"roles": list(DANGEROUS_MEMBERSHIPS)},
        )
    ).one()
    name, superuser, bypass_rls, granted = row
    await connection.rollback()
    if superuser:
        return LoginRole(name, False, f"the login '{name}' is a superuser")
    if granted:
        can = "; ".join(f"{role} ({DANGEROUS_MEMBERSHIPS[role]})" for role in granted)
        return LoginRole(name, False, f"the login '{name}' is a member of {can}")
    if bypass_rls:
        return LoginRole(name, False, f"the login '{name}' bypasses row-level security")
    return LoginRole(name, True, None)
