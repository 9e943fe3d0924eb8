"""Settings: any PostgreSQL URL spelling works, and a password never reaches a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from support_db_mcp.config import Settings, safe_url, to_async_url
from support_db_mcp.errors import ConfigurationError

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


TOKEN_A = "tok-a-0123456789abcdef"
TOKEN_B = "tok-b-0123456789abcdef"


def test_the_acting_user_tokens_read_only_and_tool_set_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# one agent per line\n{TOKEN_B} = Bo@Example.com\n\n")
    monkeypatch.setenv("SUPPORT_DB_ACTOR", " Ana@Example.COM ")
    monkeypatch.setenv("SUPPORT_DB_HTTP_TOKEN", "shared-token")
    monkeypatch.setenv("SUPPORT_DB_HTTP_TOKENS", f"{TOKEN_A}=ana@example.com")
    monkeypatch.setenv("SUPPORT_DB_HTTP_TOKENS_FILE", str(tokens_file))
    monkeypatch.setenv("SUPPORT_DB_READ_ONLY", "true")
    monkeypatch.setenv("SUPPORT_DB_TOOLS", "get_ticket, search_tickets")
    settings = Settings()
    assert settings.actor == "ana@example.com" and settings.read_only is True
    assert settings.tools == ["get_ticket", "search_tickets"]
    assert settings.bearer_tokens() == {
        "shared-token": None,
        TOKEN_A: "ana@example.com",
        TOKEN_B: "bo@example.com",
    }
    assert settings.acting_users() == {
        "ana@example.com": "SUPPORT_DB_ACTOR",
        "bo@example.com": "an HTTP bearer token",
    }
    assert TOKEN_A not in repr(settings)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ("just-a-token-without-user", "SUPPORT_DB_HTTP_TOKENS, entry 1 is not token=email"),
        (f"{TOKEN_A}=not-an-email", "'not-an-email' is not an e-mail address"),
        ("short=ana@example.com", "the token is shorter than 16 characters"),
        (f"{TOKEN_A}=ana@example.com,{TOKEN_A}=bo@example.com", "the same token is mapped to two users"),
    ],
)
def test_bad_token_pairs_are_refused_without_repeating_the_token(
    monkeypatch: pytest.MonkeyPatch, pairs: str, message: str
) -> None:
    monkeypatch.setenv("SUPPORT_DB_HTTP_TOKENS", pairs)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert message in str(raised.value) and TOKEN_A not in str(raised.value)


def test_a_tokens_file_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    settings = Settings(http_tokens_file=tmp_path / "missing")
    with pytest.raises(ConfigurationError, match=r"SUPPORT_DB_HTTP_TOKENS_FILE .*missing cannot be read"):
        settings.bearer_tokens()


def test_an_acting_user_that_is_no_email_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_DB_ACTOR", "ana")
    with pytest.raises(ValidationError, match="SUPPORT_DB_ACTOR: 'ana' is not an e-mail address"):
        Settings()


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_database_url_means_the_embedded_demo_database(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What VS Code passes when its database-URL prompt is left empty (README, Connect a client)."""
    monkeypatch.setenv("DATABASE_URL", blank)
    assert Settings().uses_embedded
