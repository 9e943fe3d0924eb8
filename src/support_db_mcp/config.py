"""All settings in one place: the environment first, command-line flags override."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from support_db_mcp.errors import ConfigurationError

APP_NAME = "support-db-mcp"
ROOT_DATA_DIR = Path("/var/lib") / APP_NAME
_ASYNC_DRIVER = "postgresql+asyncpg"
_ACCEPTED_SCHEMES = (
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def to_async_url(raw: str) -> URL:
    """Parse a PostgreSQL URL of any common spelling into an asyncpg URL.

    The error never repeats the URL itself, because it may hold a password.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError(
            "DATABASE_URL is not a valid URL; expected postgresql://user:password@host:5432/dbname"
        ) from None
    if url.drivername not in _ACCEPTED_SCHEMES:
        raise ValueError(
            f"DATABASE_URL uses the scheme '{url.drivername}'; expected postgresql:// or postgresql+asyncpg://"
        )
    if not url.database:
        raise ValueError(
            "DATABASE_URL names no database; expected postgresql://user:password@host:5432/dbname"
        )
    return url.set(drivername=_ASYNC_DRIVER)


def safe_url(url: URL) -> str:
    """The URL as text with any password masked: the only form that may reach a log or a message."""
    return url.render_as_string(hide_password=True)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_TOKEN_LENGTH = 16


def _email(value: str, where: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"{where}: {email!r} is not an e-mail address")
    return email


def parse_token_users(text: str, source: str) -> dict[str, str]:
    """`token=email` pairs, separated by commas or new lines; a line starting with `#` is a comment.

    The messages never repeat a token: they are secrets.
    """
    entries = [
        entry.strip()
        for line in text.splitlines()
        if not line.strip().startswith("#")
        for entry in line.split(",")
        if entry.strip()
    ]
    pairs: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        token, separator, email = entry.partition("=")
        where = f"{source}, entry {number}"
        token = token.strip()
        if not separator or not token or any(char.isspace() for char in token):
            raise ValueError(f"{where} is not token=email")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} characters; make one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        user = _email(email, where)
        if pairs.get(token, user) != user:
            raise ValueError(f"{where}: the same token is mapped to two users")
        pairs[token] = user
    return pairs


def default_data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its files when no directory is configured.

    The embedded server opens every parent folder of its data directory to other users when it
    runs as root, so as root we use /var/lib/support-db-mcp instead of a folder under /root.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ROOT_DATA_DIR
    return platformdirs.user_data_path(APP_NAME)


class Settings(BaseSettings):
    """Configuration of the server, read from the environment (prefix SUPPORT_DB_, or DATABASE_URL)."""

    # hide_input_in_errors: a rejected DATABASE_URL must not be echoed, password and all.
    model_config = SettingsConfigDict(
        env_prefix="SUPPORT_DB_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SUPPORT_DB_DATABASE_URL", "database_url"),
        description="PostgreSQL URL; unset means the embedded PostgreSQL in data_dir.",
    )
    data_dir: Path | None = Field(default=None, description="Folder of the embedded PostgreSQL.")
    pool_size: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10,
        description="Connections each engine (reads, writes) keeps open and reuses; calls beyond it "
        "wait up to pool_timeout_s for one.",
    )
    max_overflow: Annotated[int, Field(ge=0, le=100)] = Field(
        default=0,
        description="Extra connections opened under a burst and closed when returned (connection "
        "churn: PostgreSQL forks a backend for each), so 0 by default.",
    )
    pool_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    statement_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 5_000
    lock_timeout_ms: Annotated[int, Field(ge=10, le=600_000)] = Field(
        default=2_000, description="How long a tool waits for a row or table lock before giving up."
    )
    seed_on_first_start: bool = Field(
        default=True, description="Fill a fresh embedded database with demo data on its first start."
    )
    demo_users: Annotated[int, Field(ge=1)] = 200
    demo_tickets: Annotated[int, Field(ge=0)] = 2_000
    demo_comments_per_ticket: Annotated[int, Field(ge=0)] = 3
    log_level: LogLevel | None = Field(
        default=None,
        description="Level of the log on stderr. Unset: WARNING when serving over stdio (a client shows "
        "the server's stderr to its user, often as errors), INFO for the HTTP server and the migrate "
        "and seed commands, whose INFO lines are their output.",
    )
    read_replica_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("READ_REPLICA_URL", "SUPPORT_DB_READ_REPLICA_URL", "read_replica_url"),
        description="PostgreSQL URL of a read replica: search_tickets and get_ticket read there, "
        "create_ticket always writes to DATABASE_URL.",
    )
    pgbouncer: bool = Field(
        default=False,
        description="Connect through PgBouncer in transaction pooling mode: no prepared-statement "
        "cache, unique statement names (SUPPORT_DB_PGBOUNCER=true).",
    )
    explain_database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "EXPLAIN_DATABASE_URL", "SUPPORT_DB_EXPLAIN_DATABASE_URL", "explain_database_url"
        ),
        description="URL of a login role that may only read the application's tables, used by "
        "explain_query; unset with the embedded database means its own support_db_explain role.",
    )
    explain_timeout_ms: Annotated[int, Field(ge=100, le=60_000)] = Field(
        default=5_000,
        description="The time one explain_query call may take in all: runs, fallbacks and verifications.",
    )
    explain_lock_timeout_ms: Annotated[int, Field(ge=10, le=10_000)] = 1_000
    explain_verify_max_rows: Annotated[int, Field(ge=0)] = Field(
        default=2_000_000,
        description="Largest table on which explain_query builds a suggested index inside a "
        "rolled-back transaction to verify it (without hypopg); 0 never builds one.",
    )
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="Secret that signs pagination cursors (SUPPORT_DB_CURSOR_SECRET); unset means the "
        "installation's own secret, made by the migrations and shared by every server of the database.",
    )
    http_token: SecretStr | None = Field(
        default=None,
        description="Bearer token every HTTP request must carry when set (SUPPORT_DB_HTTP_TOKEN).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host header values the HTTP transport accepts besides the loopback names, comma "
        "separated, e.g. 'mcp.example.com,10.0.0.5:*' (SUPPORT_DB_ALLOWED_HOSTS). Required when "
        "binding an address other than loopback.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origin header values the HTTP transport accepts besides loopback ones, comma "
        "separated, e.g. 'https://app.example.com' (SUPPORT_DB_ALLOWED_ORIGINS).",
    )
    actor: str | None = Field(
        default=None,
        description="E-mail address of the user the server acts for (SUPPORT_DB_ACTOR): the default "
        "creator and author of writes, and who they are recorded as. Over HTTP, a token of "
        "SUPPORT_DB_HTTP_TOKENS acts for its own user instead.",
    )
    http_tokens: SecretStr | None = Field(
        default=None,
        description="Bearer tokens of the HTTP transport, each mapped to the user it acts for, as "
        "token=email pairs separated by commas (SUPPORT_DB_HTTP_TOKENS).",
    )
    http_tokens_file: Path | None = Field(
        default=None,
        description="A file of token=email lines, one per agent, '#' comments (SUPPORT_DB_HTTP_TOKENS_FILE).",
    )
    read_only: bool = Field(
        default=False,
        description="Serve no write tool and have PostgreSQL refuse writes on the write sessions "
        "(SUPPORT_DB_READ_ONLY=true).",
    )
    tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The tools to list, comma separated (SUPPORT_DB_TOOLS); unset means all.",
    )

    @field_validator(
        "database_url",
        "http_token",
        "explain_database_url",
        "read_replica_url",
        "cursor_secret",
        "actor",
        "http_tokens",
        "http_tokens_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("actor")
    @classmethod
    def _actor_is_an_email(cls, value: str | None) -> str | None:
        return _email(value, "SUPPORT_DB_ACTOR") if value is not None else None

    @field_validator("http_tokens")
    @classmethod
    def _token_pairs(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_token_users(value.get_secret_value(), "SUPPORT_DB_HTTP_TOKENS")
        return value

    @field_validator("allowed_hosts", "allowed_origins", "tools", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url", "explain_database_url", "read_replica_url")
    @classmethod
    def _must_be_postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            to_async_url(value.get_secret_value())
        return value

    def log_level_for(self, *, stdio: bool) -> LogLevel:
        """The level in force: the configured one, else WARNING over stdio and INFO otherwise."""
        return self.log_level or ("WARNING" if stdio else "INFO")

    @property
    def uses_embedded(self) -> bool:
        return self.database_url is None

    @property
    def async_url(self) -> URL | None:
        if self.database_url is None:
            return None
        return to_async_url(self.database_url.get_secret_value())

    @property
    def explain_async_url(self) -> URL | None:
        if self.explain_database_url is None:
            return None
        return to_async_url(self.explain_database_url.get_secret_value())

    @property
    def replica_url(self) -> URL | None:
        if self.read_replica_url is None:
            return None
        return to_async_url(self.read_replica_url.get_secret_value())

    @property
    def embedded_data_dir(self) -> Path:
        return (self.data_dir or default_data_dir()).expanduser().resolve()

    def bearer_tokens(self) -> dict[str, str | None]:
        """Every accepted HTTP bearer token and the e-mail of the user it acts for (None: the
        server's own acting user, for SUPPORT_DB_HTTP_TOKEN). Reads SUPPORT_DB_HTTP_TOKENS_FILE."""
        tokens: dict[str, str | None] = {}
        if self.http_token is not None:
            tokens[self.http_token.get_secret_value().strip()] = None
        try:
            if self.http_tokens is not None:
                tokens |= parse_token_users(self.http_tokens.get_secret_value(), "SUPPORT_DB_HTTP_TOKENS")
            if self.http_tokens_file is not None:
                source = f"SUPPORT_DB_HTTP_TOKENS_FILE {self.http_tokens_file}"
                try:
                    text = self.http_tokens_file.expanduser().read_text()
                except OSError as error:
                    raise ValueError(f"{source} cannot be read: {error.strerror}") from None
                tokens |= parse_token_users(text, source)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return tokens

    def acting_users(self) -> dict[str, str]:
        """Every e-mail address the configuration acts for, with where it is configured."""
        users = {email: "SUPPORT_DB_ACTOR" for email in [self.actor] if email is not None}
        for email in self.bearer_tokens().values():
            if email is not None:
                users.setdefault(email, "an HTTP bearer token")
        return users
