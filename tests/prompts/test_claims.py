"""Every claim the prompts make that can run, run against the installed libraries and a real
PostgreSQL. A piece of prompts/topics/*.toml names its claim (`claim = "..."`); each test here is
registered under the claim it checks, and the first test proves no claim goes unchecked.
"""

from __future__ import annotations

import enum
import functools
import inspect
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import Depends, FastAPI
from sqlalchemy import Enum, MetaData, func, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    InvalidRequestError,
    MissingGreenlet,
    NoSuchModuleError,
    SADeprecationWarning,
)
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import joinedload, lazyload, selectinload

from support_db_mcp import models
from support_db_mcp.db.statements import StatementLog, count_statements
from support_db_mcp.models import Comment, Tag, Ticket, TicketStatus
from support_db_mcp.server.prompts import PROMPTS, library
from tests.helpers import scalar

CLAIMS: dict[str, Callable[..., Any]] = {}


def claim(identifier: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(test: Callable[..., Any]) -> Callable[..., Any]:
        CLAIMS[identifier] = test
        return test

    return register


def claimed_by_the_prompts() -> dict[str, str]:
    return {
        piece.claim: f"{spec.name}: {piece.id}"
        for spec in PROMPTS
        for piece in library().book(spec.name).pieces
        if piece.claim
    }


def test_every_claim_a_prompt_marks_as_checked_has_a_test_here() -> None:
    claimed = claimed_by_the_prompts()
    missing = {claim: where for claim, where in claimed.items() if claim not in CLAIMS}
    assert missing == {}
    assert len(claimed) >= 20


# ---------------------------------------------------------------- loading
@claim("joinedload-collection-limit")
async def test_joinedload_of_a_collection_with_limit_needs_unique_and_still_returns_the_limit(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    statement = select(Ticket).options(joinedload(Ticket.comments)).order_by(Ticket.id).limit(20)
    with pytest.raises(InvalidRequestError, match="unique"):
        (await session.scalars(statement)).all()
    session.expunge_all()
    result = await session.execute(statement)
    rows = result.unique().scalars().all()
    assert len(rows) == 20  # the limit counts tickets: the ORM limits a subquery, then joins
    compiled = str(statement.compile(connection.sync_connection))  # type: ignore[arg-type]
    assert re.search(r"FROM \(SELECT .* LIMIT .*\) AS anon_1 LEFT OUTER JOIN comments", compiled, re.DOTALL)
    joined_rows = await scalar(
        connection,
        "SELECT count(*) FROM (SELECT id FROM tickets ORDER BY id LIMIT 20) t "
        "LEFT JOIN comments c ON c.ticket_id = t.id",
    )
    assert joined_rows > 20  # each ticket was sent once per comment


@claim("lazy-load-async")
async def test_an_unloaded_relationship_raises_missing_greenlet_and_ours_raise_at_once(
    session: AsyncSession,
) -> None:
    lazy = await session.scalar(select(Ticket).options(lazyload(Ticket.creator)).order_by(Ticket.id).limit(1))
    assert lazy is not None
    with pytest.raises(MissingGreenlet, match="greenlet_spawn has not been called"):
        _ = lazy.creator
    session.expunge_all()
    ours = await session.scalar(select(Ticket).order_by(Ticket.id).limit(1))
    assert ours is not None
    with pytest.raises(InvalidRequestError, match="lazy='raise'") as raised:
        _ = ours.creator
    assert not isinstance(raised.value, MissingGreenlet)


@claim("expire-on-commit")
async def test_after_commit_the_default_session_cannot_read_an_attribute_in_async_code(
    connection: AsyncConnection,
) -> None:
    for expire, fails in ((True, True), (False, False)):
        async with AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=expire
        ) as session:
            ticket = await session.get(Ticket, 1)
            assert ticket is not None
            await session.commit()
            if fails:
                with pytest.raises(MissingGreenlet):
                    _ = ticket.title
            else:
                assert ticket.title


@claim("get-identity-map")
async def test_get_of_a_loaded_object_sends_nothing_and_ignores_options_unless_populate_existing(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    ticket = await session.get(Ticket, 1)
    assert ticket is not None
    with count_statements() as log:
        again = await session.get(Ticket, 1, options=[selectinload(Ticket.comments)])
    assert again is ticket and log.count == 0
    assert "comments" not in inspect_state(ticket)
    with count_statements() as log:
        await session.get(Ticket, 1, options=[selectinload(Ticket.comments)], populate_existing=True)
    assert selects(log) == 2 and "comments" in inspect_state(ticket)


def selects(log: StatementLog) -> int:
    return sum(1 for statement in log.statements if statement.sql.lstrip().upper().startswith("SELECT"))


def inspect_state(instance: object) -> dict[str, Any]:
    from sqlalchemy import inspect as sa_inspect

    return dict(sa_inspect(instance).dict)


# ---------------------------------------------------------------- queries and plans
async def _plan(connection: AsyncConnection, sql: str) -> dict[str, Any]:
    result = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
    plan: dict[str, Any] = result.scalar_one()[0]["Plan"]
    return plan


def _indexes(node: dict[str, Any]) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        found |= _indexes(child)
    return found


@claim("ilike-reads-every-row")
async def test_a_leading_wildcard_ilike_cannot_use_a_btree_index(connection: AsyncConnection) -> None:
    await connection.execute(text("CREATE INDEX claim_title_btree ON tickets (title)"))
    equal = await _plan(connection, "SELECT id FROM tickets WHERE title = 'Refund'")
    pattern = await _plan(connection, "SELECT id FROM tickets WHERE title ILIKE '%refund%'")
    assert "claim_title_btree" in _indexes(equal)
    assert "claim_title_btree" not in _indexes(pattern)
    assert pattern["Node Type"] in {"Seq Scan", "Gather"}


@claim("offset-rereads-rows")
async def test_offset_reads_and_throws_away_every_skipped_row(connection: AsyncConnection) -> None:
    plan = await _plan(
        connection, "SELECT id FROM tickets ORDER BY created_at DESC, id DESC OFFSET 1000 LIMIT 20"
    )
    assert plan["Node Type"] == "Limit" and plan["Actual Rows"] == 20
    assert plan["Plans"][0]["Actual Rows"] == 1020


@claim("enum-value-strings")
async def test_our_enum_columns_compare_with_their_value_strings(session: AsyncSession) -> None:
    by_string = await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.status == "open"))
    by_member = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status == TicketStatus.OPEN)
    )
    raw = await session.scalar(text("SELECT count(*) FROM tickets WHERE status = 'open'"))
    assert by_string == by_member == raw and raw
    assert models.ticket_status_enum.enums == [status.value for status in TicketStatus]


@claim("rows-are-not-objects")
async def test_execute_gives_rows_and_scalars_gives_objects(session: AsyncSession) -> None:
    row = (await session.execute(select(Ticket).order_by(Ticket.id).limit(1))).one()
    with pytest.raises(AttributeError, match="title"):
        _ = row.title  # type: ignore[attr-defined]
    assert row.Ticket.title
    assert isinstance(await session.scalar(select(Ticket).order_by(Ticket.id).limit(1)), Ticket)


@claim("no-ttl-in-functools-cache")
def test_functools_cache_takes_no_ttl() -> None:
    assert list(inspect.signature(functools.cache).parameters) == ["user_function"]
    with pytest.raises(TypeError):
        functools.cache(ttl=300)  # type: ignore[call-arg]


@claim("distinct-with-columns-is-deprecated")
def test_distinct_on_columns_is_deprecated_in_favour_of_distinct_on() -> None:
    # references/advanced-patterns.md: "`.distinct(column)` is deprecated" in SQLAlchemy 2.1
    with pytest.warns(SADeprecationWarning, match="distinct_on"):
        select(Comment.id).distinct(Comment.ticket_id)


# ---------------------------------------------------------------- set-up
@claim("url-picks-the-driver")
def test_a_plain_postgresql_url_means_psycopg_and_postgres_is_no_scheme() -> None:
    dialect = make_url("postgresql://u:p@localhost/db").get_dialect(_is_async=True)
    assert dialect.driver == "psycopg" and dialect.is_async  # psycopg 3, async
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ModuleNotFoundError, match="No module named 'psycopg'"):
            create_async_engine("postgresql://u:p@localhost/db")
    with pytest.raises(NoSuchModuleError, match="postgres"):
        create_async_engine("postgres://u:p@localhost/db")
    for written in (
        "postgresql://u:p@h/db",
        "postgres://u:p@h/db",
        "postgresql+asyncpg://u:p@h/db?host=/tmp",
    ):
        engine = create_async_engine(make_url(written).set(drivername="postgresql+asyncpg"))
        assert engine.dialect.driver == "asyncpg"


@claim("greenlet-needs-the-asyncio-extra")
def test_sqlalchemy_installs_greenlet_only_with_its_asyncio_extra() -> None:
    import importlib.metadata

    requirements = [r for r in importlib.metadata.requires("sqlalchemy") or [] if r.startswith("greenlet")]
    assert requirements and all('extra == "asyncio"' in r for r in requirements)


@claim("autocommit-is-gone")
def test_autocommit_true_fails_when_a_session_is_made() -> None:
    factory = async_sessionmaker(create_async_engine("postgresql+asyncpg://u@h/db"), autocommit=True)
    with pytest.raises(ArgumentError, match="autocommit=True is no longer supported"):
        factory()


async def _committing() -> Any:
    yield "session"
    raise RuntimeError("the commit failed")


_app = FastAPI()


@_app.get("/default")
async def _default_scope(s: Annotated[str, Depends(_committing)]) -> dict[str, bool]:
    return {"ok": True}


@_app.get("/function")
async def _function_scope(s: Annotated[str, Depends(_committing, scope="function")]) -> dict[str, bool]:
    return {"ok": True}


@claim("commit-after-yield-runs-after-the-response")
async def test_a_dependency_that_fails_after_yield_still_answers_200_unless_its_scope_is_function() -> None:
    transport = httpx.ASGITransport(app=_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/default")).status_code == 200  # sent before the commit ran
        assert (await client.get("/function")).status_code == 500


# ---------------------------------------------------------------- models and migrations
@claim("server-default-holds-for-raw-sql")
async def test_server_defaults_fill_rows_written_by_raw_sql(connection: AsyncConnection) -> None:
    row = (
        await connection.execute(
            text(
                "INSERT INTO tickets (title, description, creator_id) VALUES ('raw', 'raw', 1) "
                "RETURNING status::text, priority::text, created_at IS NOT NULL, number"
            )
        )
    ).one()
    assert row[0] == "open" and row[1] == "normal" and row[2] and row[3].startswith("TCK-")


class _Tier(enum.StrEnum):
    STANDARD = "standard"
    PREMIUM = "premium"


@claim("enum-stores-member-names")
def test_an_enum_without_values_callable_stores_member_names() -> None:
    assert Enum(_Tier, name="tier").enums == ["STANDARD", "PREMIUM"]
    valued = Enum(_Tier, name="tier", values_callable=lambda members: [m.value for m in members])
    assert valued.enums == ["standard", "premium"]


@claim("foreign-keys-are-not-indexed")
async def test_postgresql_does_not_index_a_foreign_key_column(connection: AsyncConnection) -> None:
    await connection.execute(
        text("CREATE TABLE claim_fk (id int PRIMARY KEY, ticket_id bigint REFERENCES tickets(id))")
    )
    indexes = await scalar(
        connection, "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE tablename = 'claim_fk'"
    )
    assert indexes == "claim_fk_pkey"


@claim("autogenerate-misses-enum-labels")
async def test_autogenerate_reports_no_difference_for_a_new_enum_label(connection: AsyncConnection) -> None:
    metadata = MetaData()
    for table in models.Base.metadata.tables.values():
        table.to_metadata(metadata)
    labels = [status.value for status in TicketStatus] + ["waiting_on_customer"]
    metadata.tables["tickets"].c.status.type = Enum(*labels, name="ticket_status")

    def differences(sync: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata))

    found = await connection.run_sync(differences)
    assert not [d for d in found if "status" in repr(d)], found


@claim("onupdate-skips-raw-sql")
async def test_onupdate_runs_for_orm_updates_only(connection: AsyncConnection) -> None:
    before = await scalar(connection, "SELECT updated_at FROM tickets WHERE id = 1")
    await connection.execute(text("UPDATE tickets SET title = 'raw edit' WHERE id = 1"))
    assert await scalar(connection, "SELECT updated_at FROM tickets WHERE id = 1") == before
    await connection.execute(update(Ticket).where(Ticket.id == 1).values(title="orm edit"))
    assert await scalar(connection, "SELECT updated_at FROM tickets WHERE id = 1") != before


# ---------------------------------------------------------------- tests
@claim("plain-sessionmaker-commits-for-real")
async def test_a_plain_sessionmaker_session_commits_for_real_and_rollback_undoes_nothing(
    engine: AsyncEngine,
) -> None:
    name = f"claim-{secrets.token_hex(4)}"
    try:
        async with async_sessionmaker(engine)() as session:
            session.add(Tag(name=name))
            await session.commit()
            await session.rollback()
        async with engine.connect() as other:
            assert await scalar(other, "SELECT count(*) FROM tags WHERE name = :n", n=name) == 1
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(text("DELETE FROM tags WHERE name = :n"), {"n": name})


def _pytest(folder: Path, pyproject: str, test: str) -> subprocess.CompletedProcess[str]:
    (folder / "pyproject.toml").write_text(pyproject)
    (folder / "test_claim.py").write_text(test)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
        timeout=120,
    )


@claim("session-fixture-in-a-function-loop-fails")
def test_a_session_scoped_async_fixture_in_a_function_loop_fails_with_scope_mismatch(tmp_path: Path) -> None:
    result = _pytest(
        tmp_path,
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\nasyncio_default_fixture_loop_scope = "function"\n',
        "import pytest_asyncio\n\n@pytest_asyncio.fixture(scope='session')\n"
        "async def thing():\n    yield 1\n\nasync def test_x(thing):\n    assert thing == 1\n",
    )
    assert result.returncode != 0
    assert "ScopeMismatch" in result.stdout


@claim("unset-loop-scope-fails-under-filterwarnings")
def test_an_unset_fixture_loop_scope_fails_a_run_with_warnings_as_errors(tmp_path: Path) -> None:
    result = _pytest(
        tmp_path,
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\nfilterwarnings = ["error"]\n',
        "async def test_x():\n    assert True\n",
    )
    assert result.returncode != 0
    assert (
        'The configuration option "asyncio_default_fixture_loop_scope" is unset'
        in result.stdout + result.stderr
    )


@claim("naive-datetime-refuses-aware-values")
async def test_an_aware_datetime_bound_to_a_naive_timestamp_column_fails_with_asyncpg(
    connection: AsyncConnection,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import Column, DateTime, Integer, Table, insert
    from sqlalchemy.exc import DBAPIError

    table = Table(
        "claim_times", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime())
    )
    await connection.run_sync(table.metadata.create_all)
    with pytest.raises(DBAPIError, match="can't subtract offset-naive and offset-aware datetimes"):
        async with connection.begin_nested():
            await connection.execute(insert(table).values(id=1, at=datetime(2026, 1, 31, 9, 30, tzinfo=UTC)))


@claim("server-settings-set-the-statement-timeout")
async def test_server_settings_in_connect_args_set_the_statement_timeout(engine: AsyncEngine) -> None:
    configured = create_async_engine(
        engine.url, connect_args={"server_settings": {"statement_timeout": "5000"}}
    )
    try:
        async with configured.connect() as connection:
            assert await scalar(connection, "SHOW statement_timeout") == "5s"
    finally:
        await configured.dispose()


@claim("selectinload-batches-by-500")
async def test_selectinload_sends_one_statement_per_500_parent_rows(session: AsyncSession) -> None:
    with count_statements() as log:
        statement = select(Ticket).options(selectinload(Ticket.tags)).order_by(Ticket.id).limit(1200)
        tickets = (await session.scalars(statement)).all()
    assert len(tickets) == 1200
    assert selects(log) == 1 + 3  # the page, then the tags of 500 + 500 + 200 tickets
