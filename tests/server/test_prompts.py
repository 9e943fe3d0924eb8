"""The prompts over MCP: listed with their arguments, rendered live, completed, served over stdio."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import INVALID_PARAMS, PromptReference, ResourceTemplateReference, TextContent
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.config import Settings, to_async_url
from support_db_mcp.db import Database
from support_db_mcp.explain import EXPLAIN_ROLE, Explainer
from support_db_mcp.server import create_server
from support_db_mcp.server.prompts import library
from tests.helpers import scalar
from tests.processes import cli_env, url_text

PROMPTS = {
    "define_model": {"entity": "tickets"},
    "query_and_search": {},
    "async_setup": {},
    "optimize_performance": {"query": "search_tickets"},
    "write_tests": {},
}


IDLE_AGENT = (
    "SELECT id FROM users WHERE role = 'agent' AND id NOT IN (SELECT assignee_id FROM tickets "
    "WHERE status = 'open' AND assignee_id IS NOT NULL) ORDER BY id LIMIT 1"
)


@pytest_asyncio.fixture
async def explainer(database_url: URL, engine: AsyncEngine, settings: Settings) -> AsyncIterator[Explainer]:
    """explain_query's service logged in as the read-only explain role (made by migration 0002)."""
    configured = os.environ.get("TEST_EXPLAIN_DATABASE_URL")
    url = (
        to_async_url(configured).set(database=database_url.database)
        if configured
        else database_url.set(username=EXPLAIN_ROLE, password=None)
    )
    explain = Explainer.for_url(url, owner=engine, settings=settings)
    yield explain
    await explain.dispose()


def prompt_text(result: object) -> str:
    messages = result.messages  # type: ignore[attr-defined]
    assert len(messages) == 1 and messages[0].role == "user"
    content = messages[0].content
    assert isinstance(content, TextContent)
    return content.text


async def test_the_five_prompts_are_listed_with_titles_descriptions_and_arguments(client: Client) -> None:
    async with client:
        listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    assert set(listed) == set(PROMPTS)
    for name, prompt in listed.items():
        template = library().prompt(name)
        assert prompt.title == template.title and prompt.description == template.description
        arguments = {argument.name: argument for argument in prompt.arguments or []}
        assert arguments["question"].required is False and arguments["question"].description
    define = {argument.name: argument for argument in listed["define_model"].arguments or []}
    assert define["entity"].required is True and "sla_policy" in (define["entity"].description or "")
    optimize = {argument.name: argument for argument in listed["optimize_performance"].arguments or []}
    assert optimize["query"].required is True and "search_tickets" in (optimize["query"].description or "")


@pytest.mark.parametrize("name", list(PROMPTS))
async def test_every_prompt_is_rendered_with_live_facts_through_the_client(
    client: Client, connection: AsyncConnection, name: str
) -> None:
    async with client:
        result = await client.get_prompt(name, {**PROMPTS[name], "question": "Where do I start?"})
    rendered = prompt_text(result)
    version = await scalar(connection, "SELECT current_setting('server_version')")
    assert f"PostgreSQL {version}" in rendered
    assert re.search(r"sections were read from\s+`\w+` .* at \d{4}-\d\d-\d\dT", rendered, re.DOTALL)
    assert "> Where do I start?" in rendered
    assert result.description == library().prompt(name).description


async def test_a_column_added_during_the_test_appears_in_the_next_rendering(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        before = prompt_text(await client.get_prompt("define_model", {"entity": "comments"}))
        await connection.execute(text("ALTER TABLE comments ADD COLUMN sentiment smallint"))
        after = prompt_text(await client.get_prompt("define_model", {"entity": "comments"}))
    assert "sentiment" not in before
    assert "`sentiment` smallint nullable" in after


async def test_the_slow_assignee_case_is_planned_through_the_client(
    db: Database, connection: AsyncConnection, explainer: Explainer
) -> None:
    idle = await scalar(connection, IDLE_AGENT)
    sql = (
        f"SELECT * FROM tickets WHERE assignee_id = {idle} AND status = 'open' "
        "ORDER BY created_at DESC, id DESC LIMIT 20"
    )
    async with Client(create_server(database=db, explainer=explainer)) as client:
        rendered = prompt_text(await client.get_prompt("optimize_performance", {"query": sql}))
    assert "Index Scan using ix_tickets_assignee_status_created_at on public.tickets" in rendered
    assert (
        "| `ticket.creator`: selectinload | 2 |" in rendered
        and "| `ticket.creator`: joinedload | 1 |" in rendered
    )


async def test_without_an_explain_engine_the_prompt_has_no_plan_and_says_why(client: Client) -> None:
    async with client:
        rendered = prompt_text(await client.get_prompt("optimize_performance", {"query": "SELECT 1"}))
    assert "`explain_query` could not plan it: explain_query is not available" in rendered
    assert "| `ticket.creator`: joinedload | 1 |" in rendered  # the N+1 measurement does not need it


async def test_with_explain_query_available_the_prompt_quotes_its_measured_plan(
    db: Database, connection: AsyncConnection, explainer: Explainer
) -> None:
    idle = await scalar(connection, IDLE_AGENT)
    sql = (
        f"SELECT * FROM tickets WHERE assignee_id = {idle} AND status = 'open' "
        "ORDER BY created_at DESC, id DESC LIMIT 20"
    )
    async with Client(create_server(database=db, explainer=explainer)) as client:
        for_sql = prompt_text(await client.get_prompt("optimize_performance", {"query": sql}))
        for_tool = prompt_text(await client.get_prompt("optimize_performance", {"query": "search_tickets"}))
    assert "## LIVE: the plan of each statement, from `explain_query` just now" in for_sql
    assert "(EXPLAIN ANALYZE: real rows and times, totals over loops)" in for_sql
    assert re.search(r"ix_tickets_assignee_status_created_at on public\.tickets .*actual rows=0 ", for_sql)
    assert "Execution Time:" in for_sql and "\nVerdict: It returned 0 rows" in for_sql
    assert "It ran the statement as a read-only login" in for_tool
    assert "search_tickets sent 1 SQL statement(s)" in for_tool


async def test_sql_that_explain_query_refuses_gets_no_plan_only_the_reason(
    db: Database, explainer: Explainer
) -> None:
    sql = "SELECT pg_sleep(0) FROM tickets LIMIT 1"
    async with Client(create_server(database=db, explainer=explainer)) as client:
        rendered = prompt_text(await client.get_prompt("optimize_performance", {"query": sql}))
    assert "Limit  (cost" not in rendered  # the same parser as the tool: nothing was planned
    assert "## LIVE: no plan" in rendered and "`explain_query` could not plan it: " in rendered
    assert "pg_sleep(), which pauses the server process" in rendered


async def test_an_argument_the_prompt_cannot_use_is_an_invalid_params_error_with_a_readable_message(
    client: Client,
) -> None:
    async with client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("optimize_performance", {"query": "create_ticket"})
    assert raised.value.error.code == INVALID_PARAMS
    assert "search_tickets, get_ticket" in raised.value.error.message


async def test_a_missing_required_argument_is_refused(client: Client) -> None:
    async with client:
        with pytest.raises(MCPError):
            await client.get_prompt("define_model", {})


async def test_entity_and_table_names_complete_from_the_live_schema(
    client: Client, connection: AsyncConnection
) -> None:
    await connection.execute(text("CREATE TABLE tiers_demo (id int PRIMARY KEY)"))
    async with client:
        entity = await client.complete(
            PromptReference(type="ref/prompt", name="define_model"), {"name": "entity", "value": "ti"}
        )
        table = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="schema://tables/{name}"),
            {"name": "name", "value": "T"},
        )
        everything = await client.complete(
            PromptReference(type="ref/prompt", name="define_model"), {"name": "entity", "value": ""}
        )
    assert sorted(entity.completion.values) == ["ticket_events", "ticket_tags", "tickets", "tiers_demo"]
    assert sorted(table.completion.values) == [
        "tags",
        "ticket_events",
        "ticket_tags",
        "tickets",
        "tiers_demo",
    ]
    live = await scalar(
        connection,
        "SELECT count(*) FROM pg_tables "
        "WHERE schemaname = current_schema() "
        "AND tablename NOT IN ('alembic_version', 'installation_secrets')",
    )
    assert "alembic_version" not in everything.completion.values
    assert "installation_secrets" not in everything.completion.values
    assert everything.completion.total == len(everything.completion.values) == live


async def test_the_query_argument_completes_to_the_tools_we_can_measure(client: Client) -> None:
    async with client:
        tools = await client.complete(
            PromptReference(type="ref/prompt", name="optimize_performance"), {"name": "query", "value": "g"}
        )
        nothing = await client.complete(
            PromptReference(type="ref/prompt", name="async_setup"), {"name": "question", "value": "how"}
        )
    assert tools.completion.values == ["get_ticket"]
    assert nothing.completion.values == []


async def test_prompts_are_listed_and_rendered_over_stdio(
    database_url: URL, engine: AsyncEngine, tmp_path: Path
) -> None:
    # `engine` is requested so that the database is migrated and seeded before the server opens it.
    env = cli_env(DATABASE_URL=url_text(database_url), SUPPORT_DB_DATA_DIR=str(tmp_path / "unused"))
    params = StdioServerParameters(command=sys.executable, args=["-m", "support_db_mcp"], env=env)
    async with Client(params) as client:
        names = [prompt.name for prompt in (await client.list_prompts()).prompts]
        result = await client.get_prompt("async_setup", {"question": "pool size?"})
        table = await client.read_resource("schema://tables/tickets")
        # The production read path: a READ ONLY transaction, a generic plan, lazy versus eager.
        optimize = await client.get_prompt(
            "optimize_performance",
            {"query": "SELECT * FROM tickets WHERE assignee_id = $1 ORDER BY created_at DESC LIMIT 5"},
        )
    assert sorted(names) == sorted(PROMPTS)
    rendered = prompt_text(result)
    assert "## LIVE: the database they will connect to" in rendered and "> pool size?" in rendered
    planned = prompt_text(optimize)
    # a superuser DATABASE_URL and no EXPLAIN_DATABASE_URL: caller SQL is not planned on that login
    assert "`explain_query` could not plan it: explain_query has no explain login" in planned
    assert "EXPLAIN_DATABASE_URL" in planned and "the login 'postgres' is a superuser" in planned
    assert "| `ticket.creator`: joinedload | 1 |" in planned
    assert "ix_tickets_assignee_status_created_at" in table.contents[0].text  # type: ignore[union-attr]


async def test_registration_resources_and_completions_all_derive_from_the_one_declaration(
    client: Client,
) -> None:
    from support_db_mcp.server import completions
    from support_db_mcp.server.prompts import PROMPTS

    async with client:
        listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        patterns = {
            r.uri for r in (await client.list_resources()).resources if r.uri.startswith("pattern://")
        }
    assert list(listed) == [spec.name for spec in PROMPTS]
    assert patterns == {f"pattern://{spec.name}" for spec in PROMPTS}
    for spec in PROMPTS:
        declared = [(a.name, a.description, a.required) for a in spec.arguments]
        assert [(a.name, a.description, a.required) for a in listed[spec.name].arguments or []] == declared
        for argument in spec.arguments:
            key = (spec.name, argument.name)
            assert (key in completions.TABLE_ARGUMENTS) == (argument.completes == "tables")
            assert (key in completions.TOOL_ARGUMENTS) == (argument.completes == "tools")


async def test_optimize_performance_takes_the_tools_arguments_as_json_through_the_client(
    db: Database, explainer: Explainer
) -> None:
    async with Client(create_server(database=db, explainer=explainer)) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        arguments = {a.name: a for a in listed["optimize_performance"].arguments or []}
        rendered = prompt_text(
            await client.get_prompt(
                "optimize_performance",
                {"query": "search_tickets", "arguments": '{"status": "open", "limit": 3}'},
            )
        )
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("optimize_performance", {"query": "search_tickets", "arguments": "{oops"})
    assert arguments["arguments"].required is False and "JSON" in (arguments["arguments"].description or "")
    assert "with their arguments" in rendered and "`status=open`, `limit=3`" in rendered
    assert raised.value.error.code == INVALID_PARAMS
    assert raised.value.error.message.startswith("arguments is not JSON")


def test_an_argument_that_is_not_text_is_named_in_the_refusal() -> None:
    from mcp.server.mcpserver.prompts import Prompt
    from mcp.server.mcpserver.prompts.base import PromptArgument

    from support_db_mcp.server.prompt_requests import argument_problem

    prompts = {"p": Prompt(name="p", arguments=[PromptArgument(name="question")], fn=lambda: "")}
    assert (
        argument_problem(prompts, "p", {"question": 3})
        == "prompt p: argument 'question' must be text, got int"
    )
    assert argument_problem(prompts, "p", {"question": "why?"}) is None
