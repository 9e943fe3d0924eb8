"""Every code block under prompts/ runs, as written, against the test database; none has a known trap.

Each example is written to a folder and run in a fresh interpreter (pytest examples under pytest),
with DATABASE_URL pointing at this run's seeded database. The database must look exactly the same
afterwards: examples write only inside transactions they roll back.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from support_db_mcp.server.prompts import PROMPTS, library
from support_db_mcp.templates import prompts_dir
from tests.processes import url_text
from tests.prompts import checks
from tests.prompts.examples import (
    Example,
    all_blocks,
    blocks_in,
    examples,
    markdown_files,
    python_blocks,
    run,
)

EXAMPLES = examples()
PYTEST_EXAMPLES = [example for example in EXAMPLES if example.is_pytest]
# every spelling of DATABASE_URL the README accepts; the examples take turns with them
URL_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#")

# What the whole database looks like: every relation, type and schema, and a checksum of every row.
SNAPSHOT = """
SELECT
  (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace) AS schemas,
  (SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') AS relations,
  (SELECT string_agg(t.typname, ',' ORDER BY t.typname) FROM pg_type t
     JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public') AS types,
  (SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM users x) AS users,
  (SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM tickets x) AS tickets,
  (SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM comments x) AS comments,
  (SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM tags x) AS tags,
  (SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) FROM ticket_tags x) AS ticket_tags
"""


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (await connection.execute(text(SNAPSHOT))).mappings().one()
        await connection.rollback()
    return dict(row)


def python_sources(example: Example) -> list[tuple[str, str]]:
    return list(example.python_files().items())


# ---------------------------------------------------------------- the runner
RUNS = [(example, URL_SCHEMES[number % len(URL_SCHEMES)]) for number, example in enumerate(EXAMPLES)]


@pytest.mark.parametrize(("example", "scheme"), RUNS, ids=[f"{e.id}[{scheme}]" for e, scheme in RUNS])
async def test_every_example_runs_as_written_and_leaves_the_database_unchanged(
    example: Example, scheme: str, database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    before = await snapshot(engine)
    result = run(example, tmp_path, url_text(database_url.set(drivername=scheme)))
    assert result.returncode == 0, f"{example.id} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert await snapshot(engine) == before, f"{example.id} changed the database"


def test_the_examples_cover_every_snippet_the_prompts_show_and_every_guide() -> None:
    sources = {str(example.source.relative_to(prompts_dir())) for example in EXAMPLES}
    snippets = {
        piece.file for spec in PROMPTS for piece in library().book(spec.name).of("solution") if piece.file
    }
    assert snippets <= sources
    assert {"EXAMPLES.md", "references/advanced-patterns.md", "references/testing-patterns.md"} <= sources
    assert len(EXAMPLES) >= 20


def test_every_scheme_the_readme_accepts_is_one_the_examples_run_with(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    accepted = re.search(r"any (`postgresql://`, `postgres://` or `postgresql\+asyncpg://`) URL", readme)
    assert accepted is not None
    assert re.findall(r"`([a-z+]+)://`", accepted[1]) == list(URL_SCHEMES)
    assert {scheme for _, scheme in RUNS} == set(URL_SCHEMES)


def test_every_python_block_belongs_to_an_example_or_is_a_live_quote() -> None:
    for block in python_blocks():
        if "live" in block.attributes:
            assert re.fullmatch(r"\{\{ ?\w+ ?\}\}\n", block.code), (
                f"{block.where}: a live quote is one variable"
            )
        else:
            assert block.attributes.get("example"), f"{block.where}: python block without example=..."


def test_code_blocks_hold_no_template_syntax_so_what_runs_is_what_is_rendered() -> None:
    for block in all_blocks():
        if "example" in block.attributes:
            assert not TEMPLATE_SYNTAX.search(block.code), f"{block.where}: template syntax inside an example"


def test_every_fence_is_closed_and_every_example_file_parses() -> None:
    for path in markdown_files():
        blocks_in(path)  # raises on an unclosed fence
    for example in EXAMPLES:
        for name, code in python_sources(example):
            ast.parse(code, filename=f"{example.id}/{name}")


def test_pytest_examples_bring_their_own_configuration() -> None:
    assert PYTEST_EXAMPLES
    for example in PYTEST_EXAMPLES:
        assert "pyproject.toml" in example.files, example.id
        config = example.files["pyproject.toml"]
        assert 'asyncio_default_fixture_loop_scope = "session"' in config
        assert 'filterwarnings = ["error"]' in config


# ---------------------------------------------------------------- the known traps
def test_sqlalchemy_is_always_installed_with_its_asyncio_extra(repo_root: Path) -> None:
    for path in markdown_files():
        assert checks.sqlalchemy_without_asyncio_extra(path.read_text()) == [], path.name
    pyproject = (repo_root / "pyproject.toml").read_text()
    assert '"sqlalchemy[asyncio]' in pyproject
    assert not re.search(r'"sqlalchemy(?!\[asyncio\])[>=<~ ]', pyproject)
    import greenlet  # what the extra brings; the async API cannot run without it

    assert greenlet.__version__


TRAP_CHECKS: dict[str, Callable[[str], list[str]]] = {
    "the URL from the environment names the async driver": checks.engine_urls_not_normalised,
    "enum columns store values (values_callable)": checks.enums_storing_names,
    "no autocommit= on session factories": checks.autocommit_arguments,
    "joinedload of a collection comes with unique()": checks.joined_collections_without_unique,
    "async fixtures: pytest_asyncio.fixture with a matching loop_scope": checks.async_fixture_problems,
    "decorators exist and accept their arguments": checks.decorators_that_do_not_exist,
    "referenced models exist": checks.models_that_do_not_exist,
}


@pytest.mark.parametrize("trap", list(TRAP_CHECKS))
def test_no_example_contains_the_trap(trap: str) -> None:
    check = TRAP_CHECKS[trap]
    problems = [
        f"{example.id}/{name}: {problem}"
        for example in EXAMPLES
        for name, code in python_sources(example)
        for problem in check(code)
    ]
    assert problems == []


def test_every_example_imports_every_name_it_uses_and_nothing_more(tmp_path: Path) -> None:
    for example in EXAMPLES:
        folder = tmp_path / example.name
        folder.mkdir()
        for name, code in python_sources(example):
            (folder / name).write_text(code)
    assert checks.pyflakes(tmp_path) == []


def test_test_set_ups_join_sessions_to_the_outer_transaction_with_savepoints() -> None:
    for example in PYTEST_EXAMPLES:
        conftest = example.files["conftest.py"]
        assert "await outer.rollback()" in conftest, example.id
        assert checks.sessions_not_joined(conftest) == [], example.id
        assert "join_transaction_mode" in conftest


# ---------------------------------------------------------------- the checks bite
GUIDE_TRAPS = {
    "url as written": (
        checks.engine_urls_not_normalised,
        'engine = create_async_engine(os.environ["DATABASE_URL"])\n',
    ),
    "enum": (
        checks.enums_storing_names,
        "status: Mapped[TicketStatus] = mapped_column(Enum(TicketStatus), default=TicketStatus.OPEN)\n",
    ),
    "autocommit": (
        checks.autocommit_arguments,
        "Factory = async_sessionmaker(bind=engine, class_=AsyncSession, autocommit=False, autoflush=False)\n",
    ),
    "joined collection": (
        checks.joined_collections_without_unique,
        "result = await session.execute(select(Ticket).options(joinedload(Ticket.comments)))\n"
        "tickets = result.scalars().all()\n",
    ),
    "plain pytest fixture": (
        checks.async_fixture_problems,
        "@pytest.fixture\nasync def async_session(async_engine):\n    yield None\n",
    ),
    "session scope without loop scope": (
        checks.async_fixture_problems,
        '@pytest_asyncio.fixture(scope="session")\nasync def async_engine():\n    yield None\n',
    ),
    "session not joined": (
        checks.sessions_not_joined,
        "factory = async_sessionmaker(bind=async_engine, expire_on_commit=False)\n",
    ),
    "cache with ttl": (
        checks.decorators_that_do_not_exist,
        "from functools import cache\n\n@cache(ttl=300)\nasync def open_tickets_count(session):\n    ...\n",
    ),
    "decorator that is not there": (
        checks.decorators_that_do_not_exist,
        "import functools\n\n@functools.cached_for(ttl=300)\ndef count():\n    ...\n",
    ),
    "missing model": (
        checks.models_that_do_not_exist,
        'from support_db_mcp.models import Ticket, TicketTag\n\ncreator = relationship("Customer")\n',
    ),
    "pip without extra": (
        checks.sqlalchemy_without_asyncio_extra,
        "pip install sqlalchemy asyncpg fastapi\n",
    ),
}


@pytest.mark.parametrize("trap", list(GUIDE_TRAPS))
def test_each_check_catches_its_trap_as_the_guide_wrote_it(trap: str) -> None:
    check, snippet = GUIDE_TRAPS[trap]
    assert check(snippet), f"the {trap} check let the trap through"


def test_the_name_check_catches_the_guides_missing_imports(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "from sqlalchemy import select\n\n"
        "async def search_tickets(session: AsyncSession, status: Optional[str] = None) -> List[Ticket]:\n"
        "    stmt = select(Ticket).where(func.lower(Ticket.status) == status)\n"
        "    return (await session.execute(stmt)).scalars().all()\n"
    )
    problems = "\n".join(checks.pyflakes(tmp_path))
    for name in ("AsyncSession", "Optional", "List", "Ticket", "func"):
        assert f"`{name}`" in problems


async def test_without_values_callable_the_model_example_fails_on_postgresql(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The define-model example itself detects the enum trap: strip values_callable and it fails."""
    original = next(example for example in EXAMPLES if example.name == "define-model")
    code = original.files["main.py"]
    broken_code = re.sub(r", values_callable=lambda members: \[m\.value for m in members\]", "", code)
    assert broken_code != code
    broken = Example(original.source, original.name, {"main.py": broken_code})
    result = run(broken, tmp_path, url_text(database_url))
    assert result.returncode != 0
    assert "invalid input value for enum sla_tier" in result.stderr


async def test_a_test_set_up_without_savepoints_is_caught_by_the_example_itself(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The write-tests example detects the commit trap: a session that commits for real fails its tests."""
    original = next(example for example in PYTEST_EXAMPLES if example.name == "pytest-setup")
    conftest = original.files["conftest.py"].replace(
        'bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False',
        "bind=engine, expire_on_commit=False",
    )
    conftest = conftest.replace("async def session(connection: AsyncConnection)", "async def session(engine)")
    assert conftest != original.files["conftest.py"]
    broken = Example(original.source, original.name, {**original.files, "conftest.py": conftest})
    before = await snapshot(engine)
    result = run(broken, tmp_path, url_text(database_url))
    try:
        assert result.returncode != 0
        assert "test_what_the_previous_test_committed_is_gone" in result.stdout
    finally:
        async with engine.begin() as connection:  # undo what the broken set-up really committed
            await connection.execute(
                text("DELETE FROM tickets WHERE title = 'pytest example: the printer is on fire'")
            )
            await connection.execute(text("DELETE FROM users WHERE email LIKE '%@tests.example'"))
    assert await snapshot(engine) == before
