"""explain_query as an MCP tool: its contract, explaining our own tools' SQL, and stdio end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest_asyncio
from mcp import Client, StdioServerParameters
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.explain import Explainer
from support_db_mcp.explain.parameters import shown
from support_db_mcp.schemas.explain import ExplainQueryResult
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import scalar
from tests.processes import CLI, cli_env, url_text


async def explain(client: Client, **arguments: Any) -> Any:
    result = await client.call_tool("explain_query", arguments)
    return result


async def test_explain_query_is_listed_as_read_only_and_idempotent_with_an_output_schema(
    explain_client: Client,
) -> None:
    async with explain_client:
        tools = {tool.name: tool for tool in (await explain_client.list_tools()).tools}
    tool = tools["explain_query"]
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True and tool.annotations.idempotent_hint is True
    assert tool.annotations.destructive_hint is False
    assert set(tool.input_schema["properties"]) == {"sql", "params", "tool", "arguments", "analyze"}
    assert tool.output_schema is not None
    assert {"plan_text", "plan", "findings", "sql_statements"} <= set(tool.output_schema["required"])


async def test_the_structured_answer_matches_the_published_output_schema(explain_client: Client) -> None:
    async with explain_client:
        schema = {t.name: t for t in (await explain_client.list_tools()).tools}["explain_query"].output_schema
        result = await explain(
            explain_client,
            sql="SELECT id, title FROM tickets WHERE priority = $1 ORDER BY updated_at DESC LIMIT 10",
            params=["low"],
        )
    assert result.is_error is False
    jsonschema.validate(result.structured_content, schema)
    answer = ExplainQueryResult.model_validate(result.structured_content)
    [finding] = [f for f in answer.findings if f.kind == "limit_reads_whole_input"]
    assert finding.suggestion is not None and finding.suggestion.verified
    assert answer.plan[0].parameters == ["low"]
    assert answer.plan_text.startswith("Limit  (cost=")


async def test_explaining_search_tickets_explains_exactly_the_statements_it_runs(
    explain_client: Client, session: AsyncSession
) -> None:
    arguments = {"status": "open, in_progress", "tag": "billing", "text": "refund", "limit": 5}
    with count_statements() as ran:
        await search_tickets(session, search=TicketSearch(**arguments))

    async with explain_client:
        result = await explain(explain_client, tool="search_tickets", arguments=arguments)

    assert result.is_error is False, result.content[0].text
    answer = ExplainQueryResult.model_validate(result.structured_content)
    assert [p.sql for p in answer.plan] == [s.sql.strip() for s in ran.statements]
    assert [p.parameters for p in answer.plan] == [[shown(v) for v in s.parameters] for s in ran.statements]
    assert all(p.analyzed for p in answer.plan)
    assert f"search_tickets sent {len(ran.statements)} SQL statement(s)" in answer.notes[0]
    assert answer.plan_text.startswith(f"Statement 1 of {len(ran.statements)}: SELECT tags.id")
    assert answer.sql_statements > len(ran.statements)  # its own catalog reads and EXPLAINs too


async def test_explaining_get_ticket_covers_the_ticket_its_tags_its_comments_and_its_history(
    explain_client: Client,
) -> None:
    async with explain_client:
        result = await explain(explain_client, tool="get_ticket", arguments={"ticket": "TCK-000042"})
    answer = ExplainQueryResult.model_validate(result.structured_content)
    assert len(answer.plan) == 1  # the ticket with its tags, comments and history: one statement
    assert answer.plan[0].parameters == ["TCK-000042"]
    scanned = {relation for p in answer.plan for relation in relations(p.plan)}
    assert scanned >= {
        "public.tickets",
        "public.ticket_tags",
        "public.tags",
        "public.comments",
        "public.users",
        "public.ticket_events",
    }
    assert answer.findings == []  # get_ticket is served by its indexes


async def test_explaining_find_similar_tickets_shows_the_full_text_index_at_work(
    explain_client: Client,
) -> None:
    async with explain_client:
        result = await explain(
            explain_client, tool="find_similar_tickets", arguments={"ticket": "TCK-000042"}
        )
    answer = ExplainQueryResult.model_validate(result.structured_content)
    assert len(answer.plan) == 2  # the stems to compare, the ranking
    assert "pk_tickets" in answer.plan_text  # the newest tickets, by primary key
    assert "public.tickets" in {relation for p in answer.plan for relation in relations(p.plan)}


def relations(node: Any) -> set[str]:
    found = {node.relation} if node.relation else set()
    for child in node.children:
        found |= relations(child)
    return found


async def test_a_tool_call_that_fails_is_still_explained_with_a_note(explain_client: Client) -> None:
    async with explain_client:
        result = await explain(explain_client, tool="get_ticket", arguments={"ticket": "999999999"})
    answer = ExplainQueryResult.model_validate(result.structured_content)
    assert len(answer.plan) == 1
    assert "no ticket with id 999999999" in answer.notes[0]


async def test_wrong_combinations_and_arguments_are_refused_with_what_to_do(explain_client: Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "pass either `sql` (with `params`) or `tool` (with `arguments`)"),
        ({"sql": "SELECT 1", "tool": "get_ticket"}, "pass either `sql`"),
        ({"sql": "SELECT 1", "arguments": {"ticket": 1}}, "`arguments` go with `tool`"),
        ({"tool": "get_ticket", "params": [1]}, "`params` go with `sql`"),
        (
            {"tool": "search_tickets", "arguments": {"statuz": "open"}},
            "unknown argument 'statuz'; did you mean 'status'?",
        ),
        ({"tool": "search_tickets", "arguments": {"status": "pending"}}, "unknown status 'pending'"),
        ({"tool": "get_ticket", "arguments": {}}, "ticket is required"),
        (
            {"tool": "find_similar_tickets", "arguments": {"limit": 3}},
            "find_similar_tickets sent no SQL with these arguments, so there is nothing to explain: give "
            "either ticket (to find tickets like it) or text",
        ),
        (
            {"tool": "create_ticket", "arguments": {}},
            "unknown tool 'create_ticket'; expected one of: search_tickets, get_ticket",
        ),
        ({"sql": "SELECT * FROM tickets WHERE id = $1"}, "pass their values in params"),
        ({"sql": "SELECT * FROM tickets WHERE id = $1", "params": [1, 2]}, "uses $1..$1 but 2 params"),
        ({"sql": "SELECT 1", "params": [1]}, "has no $1 placeholder"),
        (
            {"sql": "SELECT * FROM tickets WHERE id = $1", "params": ["abc"]},
            'params[0] ("abc") does not fit $1, which PostgreSQL reads as bigint: expected a whole number',
        ),
        ({"sql": "SELECT nope FROM tickets"}, 'PostgreSQL rejected the query: column "nope" does not exist'),
        ({"sql": "SELECT * FROM alembic_version"}, "permission denied for table alembic_version"),
    ]
    async with explain_client:
        for arguments, message in cases:
            result = await explain(explain_client, **arguments)
            assert result.is_error is True, arguments
            assert message in result.content[0].text, (arguments, result.content[0].text)


@pytest_asyncio.fixture
async def volatile_function(engine: AsyncEngine) -> AsyncIterator[str]:
    """A user-defined VOLATILE function the parser cannot know about (committed, so the explain
    role sees it); dropped afterwards."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION public.explain_test_touch() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'"
            )
        )
    yield "explain_test_touch"
    async with engine.begin() as connection:
        await connection.execute(text("DROP FUNCTION public.explain_test_touch()"))


async def test_a_user_defined_volatile_function_is_planned_but_never_run(
    explain_client: Client, volatile_function: str
) -> None:
    sql = f"SELECT {volatile_function}() FROM tags"
    async with explain_client:
        refused = await explain(explain_client, sql=sql)
        planned = await explain(explain_client, sql=sql, analyze=False)
    assert refused.is_error is True
    assert f"public.{volatile_function}(), which is declared VOLATILE" in refused.content[0].text
    assert planned.is_error is False and planned.structured_content["plan"][0]["analyzed"] is False


async def test_where_running_is_not_safe_the_automatic_mode_gives_the_estimated_plan_and_says_why(
    explainer: Explainer, volatile_function: str
) -> None:
    ran = await explainer.explain_sql("SELECT count(*) FROM tags", None, analyze=None)
    planned = await explainer.explain_sql(f"SELECT {volatile_function}() FROM tags", None, analyze=None)
    generic = await explainer.explain_sql("SELECT * FROM tags WHERE id = $1", None, analyze=None)
    assert ran.plan[0].analyzed is True
    assert planned.plan[0].analyzed is False
    assert any(f"public.{volatile_function}(), which is declared VOLATILE" in note for note in planned.notes)
    assert generic.plan[0].analyzed is False and "$1" in generic.plan_text
    assert any("generic plan" in note for note in generic.notes)


async def test_explain_query_over_stdio_end_to_end(
    database_url: URL, explain_url: URL, engine: AsyncEngine
) -> None:
    idle = await scalar_in(engine, "SELECT max(id) FROM users WHERE role = 'agent'")
    env = cli_env(DATABASE_URL=url_text(database_url), EXPLAIN_DATABASE_URL=url_text(explain_url))
    params = StdioServerParameters(command=CLI[0], args=list(CLI[1:]), env=env)
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "explain_query" in names

        searched = await client.call_tool(
            "explain_query",
            {"tool": "search_tickets", "arguments": {"assignee_id": idle, "status": "open", "limit": 50}},
        )
        assert searched.is_error is False, searched.content[0].text
        answer = ExplainQueryResult.model_validate(searched.structured_content)
        # the schema's (assignee_id, status, created_at) index answers this in one probe
        assert "ix_tickets_assignee_status_created_at" in answer.plan_text
        assert idle in answer.plan[0].parameters

        refused = await client.call_tool("explain_query", {"sql": "SELECT 1; DROP TABLE tickets"})
        assert refused.is_error is True and "holds 2 statements" in refused.content[0].text

        scanned = await client.call_tool(
            "explain_query", {"sql": "SELECT id FROM tickets WHERE title = $1", "params": ["nothing like it"]}
        )
        findings = scanned.structured_content["findings"]
        assert [f["kind"] for f in findings] == ["seq_scan_filter"]
        assert findings[0]["suggestion"]["verified"] is True
    assert (
        await scalar_in(engine, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'support_db_explain%'")
        == 0
    )


async def scalar_in(engine: AsyncEngine, sql: str) -> Any:
    async with engine.connect() as connection:
        return await scalar(connection, sql)


async def test_get_ticket_arguments_accept_an_id_or_a_number(explain_client: Client) -> None:
    async with explain_client:
        by_number = await explain(explain_client, tool="get_ticket", arguments={"ticket": "TCK-000007"})
        by_id = await explain(explain_client, tool="get_ticket", arguments={"ticket": "7"})
    assert by_number.structured_content["plan"][0]["parameters"] == ["TCK-000007"]
    assert by_id.structured_content["plan"][0]["parameters"] == [7]
