"""Settings: any PostgreSQL URL spelling works, and a password never reaches a message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from support_db_mcp.config import Settings, safe_url, to_async_url

SECRET = "s3cr3t-Pa55word"


@pytest.mark.parametrize(
    "raw",
    [
        f"postgresql://app:{SECRET}@db.internal:5432/desk",
        f"postgres://app:{SECRET}@db.internal:5432/desk",
        f"postgresql+asyncpg://app:{SECRET}@db.internal:5432/desk",
        f"postgresql+psycopg://app:{SECRET}@db.internal:5432/desk",
    ],
)
def test_every_common_postgresql_url_spelling_becomes_an_asyncpg_url(raw: str) -> None:
    url = to_async_url(raw)
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+asyncpg",
        "db.internal",
        5432,
        "desk",
    )
    assert url.password == SECRET
    assert SECRET not in safe_url(url) and "***" in safe_url(url)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"mysql://app:{SECRET}@db/desk", "uses the scheme 'mysql'"),
        (f"postgresql://app:{SECRET}@db", "names no database"),
        ("not a url at all", "not a valid URL"),
    ],
)
def test_a_bad_database_url_is_refused_without_repeating_the_password(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert message in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


def test_the_database_url_is_read_from_the_environment_and_never_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{SECRET}@db/desk")
    settings = Settings()
    assert settings.uses_embedded is False
    assert settings.async_url is not None and settings.async_url.password == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_no_database_url_means_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "  ")
    assert Settings().uses_embedded is True


def test_limits_outside_their_range_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_DB_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="pool_size"):
        Settings()


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_database_url_means_the_embedded_demo_database(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What VS Code passes when its database-URL prompt is left empty (README, Connect a client)."""
    monkeypatch.setenv("DATABASE_URL", blank)
    assert Settings().uses_embedded
