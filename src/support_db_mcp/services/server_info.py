"""The PostgreSQL server and the Python packages an answer about this database depends on."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Server settings that shape how an application should talk to this database.
SERVER_SETTINGS = (
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "max_connections",
    "default_transaction_isolation",
    "server_encoding",
    "TimeZone",
)

# Python packages whose versions matter to the code in our prompts.
PACKAGES = ("sqlalchemy", "asyncpg", "greenlet", "alembic", "pytest", "pytest-asyncio", "fastapi")


@dataclass(frozen=True)
class ServerInfo:
    version: str  # e.g. "18.4"
    version_num: int  # e.g. 180004
    full_version: str  # version(): build and platform
    database: str
    settings: dict[str, str]  # SERVER_SETTINGS as current_setting() shows them ("5s")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages our examples depend on ("not installed" otherwise)."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


_SERVER = text(
    "SELECT current_setting('server_version') AS version, "
    "current_setting('server_version_num')::int AS version_num, version() AS full_version, "
    "current_database() AS database"
)

_SETTINGS = text("SELECT name, current_setting(name) AS value FROM unnest(CAST(:names AS text[])) AS name")


async def server_info(session: AsyncSession) -> ServerInfo:
    """Server version and the settings in force for this connection."""
    row = (await session.execute(_SERVER)).mappings().one()
    settings = {
        name: value for name, value in (await session.execute(_SETTINGS, {"names": list(SERVER_SETTINGS)}))
    }
    return ServerInfo(
        version=row["version"],
        version_num=int(row["version_num"]),
        full_version=row["full_version"],
        database=row["database"],
        settings=settings,
    )
