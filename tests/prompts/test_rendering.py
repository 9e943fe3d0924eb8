"""Every prompt rendered against the test database: the live facts are really read at render time,
and optimize_performance shows one plan per statement from the explain engine, with its verdict."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from support_db_mcp.config import Settings
from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import InvalidInputError
from support_db_mcp.explain import Explainer
from support_db_mcp.schemas.tickets import TicketSearch
from support_db_mcp.services.operations import CATALOG
from support_db_mcp.services.query_facts import compare_loading, compare_nested_loading
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import row_counts, scalar
from tests.prompts.rendering import facts_of, render

IDLE_AGENT_SQL = (
    "SELECT id FROM users WHERE role = 'agent' AND id NOT IN "
    "(SELECT assignee_id FROM tickets WHERE status = 'open' AND assignee_id IS NOT NULL) ORDER BY id LIMIT 1"
)
READ_AT = re.compile(r"at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")

EVERY_PROMPT = [
    ("define_model", {"entity": "tickets"}),
    ("define_model", {"entity": "sla_policy"}),
    ("query_and_search", {}),
    ("async_setup", {}),
    ("optimize_performance", {"query": "search_tickets"}),
    ("write_tests", {}),
]


@pytest.mark.parametrize(("name", "arguments"), EVERY_PROMPT, ids=[f"{n}-{a}" for n, a in EVERY_PROMPT])
async def test_every_prompt_follows_the_response_framework_and_scopes_trust_to_its_live_sections(
    session: AsyncSession,
    connection: AsyncConnection,
    settings: Settings,
    name: str,
    arguments: dict[str, str],
) -> None:
    rendered = await render(session, settings, name, **arguments)
    version = await scalar(connection, "SELECT current_setting('server_version')")
    database = await scalar(connection, "SELECT current_database()")
    assert "**How to answer**" in rendered
    for section in ("### Gotchas", "### Next steps", "## LIVE"):
        assert section in rendered
    assert f"PostgreSQL\n{version}" in rendered or f"PostgreSQL {version}" in rendered
    assert f"`{database}`" in rendered
    flat = " ".join(rendered.split())
    assert "trust the LIVE facts" in flat and "weigh the rest as advice" in flat
    assert "trust the live facts" not in rendered  # the old, prompt-wide trust
    assert re.search(r"sqlalchemy 2\.1\.\d+", rendered)
    assert READ_AT.search(rendered), "the render time is stated"
    assert "{{" not in rendered and "{%" not in rendered


async def test_define_model_for_an_existing_table_leads_with_its_model_and_its_live_columns(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(session, settings, "define_model", entity="Ticket")
    model = rendered.index("class Ticket(Base):")
    assert rendered.index("## LIVE: `tickets` exists, and `Ticket` maps it") < model
    assert model < rendered.index("**`tickets`**") < rendered.index("### Gotchas")
    assert (
        "class User(Base):" not in rendered and "class Comment(Base):" not in rendered
    )  # not all of models.py
    assert rendered.count("**`tickets`**") == 1 and "**`users`**" not in rendered  # each table once
    assert "SlaPolicy" not in rendered  # no new model for a table that exists
    assert (
        "`ix_tickets_assignee_status_created_at` (assignee_id, status, created_at DESC, id DESC)" in rendered
    )
    assert "`assignee_id` → `users(id)` ON DELETE SET NULL" in rendered
    assert "`ticket_status` 'open', 'in_progress', 'resolved', 'closed'" in rendered
    assert "Referenced by: `comments(ticket_id)`, `ticket_tags(ticket_id)`" in rendered


async def test_define_model_for_a_change_to_an_existing_table_shows_the_tested_migration(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(
        session,
        settings,
        "define_model",
        entity="tickets",
        question="How do I add a column with a migration?",
    )
    assert "```python example=change-existing-table" in rendered
    assert rendered.index("class Ticket(Base):") < rendered.index("example=change-existing-table")


async def test_define_model_for_a_new_entity_gets_the_new_model_and_the_tables_it_may_reference(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(session, settings, "define_model", entity="sla_policy", question="SLA per plan?")
    assert "## There is no `sla_policy` table yet" in rendered
    assert "> SLA per plan?" in rendered
    assert "```python example=define-model" in rendered and "class SlaPolicy(Base):" in rendered
    assert "`users(id)`" in rendered and "`tickets(id)`" in rendered
    assert "class Ticket(Base):" not in rendered


async def test_a_column_and_an_index_added_a_moment_ago_appear_in_the_prompts_that_show_the_table(
    session: AsyncSession, connection: AsyncConnection, settings: Settings
) -> None:
    before = await render(session, settings, "define_model", entity="tickets")
    assert "escalation_note" not in before
    await connection.execute(
        text("ALTER TABLE tickets ADD COLUMN escalation_note varchar(80) NOT NULL DEFAULT ''")
    )
    await connection.execute(text("CREATE INDEX ix_tickets_escalation_note ON tickets (escalation_note)"))

    for name, arguments in (
        ("define_model", {"entity": "tickets"}),
        ("query_and_search", {"question": "search tickets by status"}),
        ("write_tests", {"question": "a factory for tickets"}),
    ):
        rendered = await render(session, settings, name, **arguments)
        assert "`escalation_note` character varying(80) default ''::character varying" in rendered or (
            "`escalation_note` varchar(80) default ''::character varying" in rendered
        ), name
        assert "`ix_tickets_escalation_note` (escalation_note)" in rendered, name


async def test_write_tests_lists_the_columns_a_factory_must_fill_including_a_new_table(
    session: AsyncSession, connection: AsyncConnection, settings: Settings
) -> None:
    await connection.execute(
        text(
            "CREATE TABLE sla_breaches (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            "ticket_id bigint NOT NULL REFERENCES tickets(id), minutes_late int NOT NULL, note text, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
    )
    rendered = await render(session, settings, "write_tests")
    assert "- `users` (`User`): email, full_name" in rendered
    assert "- `tickets` (`Ticket`): title, description, creator_id" in rendered
    assert "- `sla_breaches`: ticket_id, minutes_late" in rendered
    assert "pytest-asyncio" in rendered


async def test_query_and_search_quotes_the_sql_our_search_really_sends(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(session, settings, "query_and_search")
    with count_statements() as log:
        result = await search_tickets(session, search=TicketSearch(status=["open"], limit=20))
    assert result.sql_statements == log.count == 1
    assert "using **1 SQL statement**" in rendered
    assert "`status=open`, `limit=20`" in rendered
    assert '`explain_query` with\n`tool: "search_tickets"` shows each statement as sent' in rendered


async def test_async_setup_reports_the_server_version_and_the_timeouts_in_force(
    session: AsyncSession, connection: AsyncConnection, settings: Settings
) -> None:
    rendered = await render(session, settings, "async_setup")
    number = await scalar(connection, "SELECT current_setting('server_version_num')")
    timeout = await scalar(connection, "SHOW statement_timeout")
    connections = await scalar(connection, "SHOW max_connections")
    assert f"`server_version_num` {number}" in rendered
    assert f"`statement_timeout` = {timeout}" in rendered and timeout == "10s"  # the test settings
    assert f"`max_connections` = {connections}" in rendered
    assert f"`pool_size={settings.pool_size}`" in rendered
    assert f"statement timeout\n  {settings.statement_timeout_ms} ms" in rendered
    assert re.search(r"`sqlalchemy` 2\.1\.\d+", rendered)


# ---------------------------------------------------------------- optimize_performance
def plans_in(rendered: str) -> int:
    return len(re.findall(r"^Planning Time: ", rendered, re.MULTILINE))


async def test_optimize_performance_for_the_idle_assignee_shows_one_measured_plan_and_the_n_plus_one(
    session: AsyncSession, connection: AsyncConnection, settings: Settings, explainer: Explainer
) -> None:
    idle = await scalar(connection, IDLE_AGENT_SQL)
    sql = (
        f"SELECT id, number, title FROM tickets WHERE assignee_id = {idle} AND status = 'open' "
        "ORDER BY created_at DESC, id DESC LIMIT 20"
    )
    rendered = await render(
        session, settings, "optimize_performance", explainer, query=sql, question="This is slow"
    )
    assert f"```sql\n{sql}\n```" in rendered
    assert plans_in(rendered) == 1  # one plan per statement, measured: no second, estimated copy
    assert "(EXPLAIN ANALYZE: real rows and times, totals over loops)" in rendered
    assert re.search(
        r"Index Scan using ix_tickets_assignee_status_created_at on public\.tickets .*actual rows=0", rendered
    )
    assert "Verdict: It returned 0 rows" in rendered
    assert re.search(r"\| `ticket.creator`: lazy \| \d+ \| [\d.]+ ms \|", rendered)
    assert re.search(r"\| `ticket.creator`: selectinload \| 2 \|", rendered)
    assert re.search(r"\| `ticket.creator`: joinedload \| 1 \|", rendered)
    assert re.search(
        r"\| comments and authors: `selectinload\(Ticket.comments\).joinedload\(Comment.author\)` \| 2 \|",
        rendered,
    )
    assert "- `tickets` (~" in rendered and "`ix_tickets_assignee_status_created_at` (assignee_id" in rendered


async def test_the_n_plus_one_measurements_count_one_statement_per_related_row_and_per_loader_level(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    loading = await compare_loading(session, limit=20)
    assert loading.tickets == 20
    assert loading.run("lazy").statements == 1 + loading.related
    assert loading.run("selectinload").statements == 2
    assert loading.run("joinedload").statements == 1

    nested = await compare_nested_loading(session, limit=20)
    newest = "SELECT id FROM tickets ORDER BY created_at DESC, id DESC LIMIT 20"
    authors = await scalar(
        connection, f"SELECT count(DISTINCT author_id) FROM comments WHERE ticket_id IN ({newest})"
    )
    assert nested.tickets == 20 and nested.related == authors
    # the tickets, one comments query per ticket, one per author not yet in the session
    assert nested.run("lazy").statements == 1 + 20 + authors
    assert nested.run("selectinload(Ticket.comments).selectinload(Comment.author)").statements == 3
    assert nested.run("selectinload(Ticket.comments).joinedload(Comment.author)").statements == 2


async def test_optimize_performance_for_a_tool_plans_each_statement_it_sends_once(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    facts = await facts_of(session, settings, "optimize_performance", explainer, query="get_ticket")
    operation = CATALOG["get_ticket"]
    assert operation.service is not None
    sent = (await operation.service(session, operation.parse(operation.examples[0]))).sql_statements
    assert facts.tool is not None and len(facts.tool.statements) == sent
    assert facts.analysis is not None and len(facts.analysis.plan) == sent
    assert all(statement.parameters for statement in facts.analysis.plan)
    rendered = await render(session, settings, "optimize_performance", explainer, query="get_ticket")
    assert "They named our tool `get_ticket`" in rendered and "its usual example" in rendered
    assert rendered.count("\nVerdict: ") == sent  # every statement keeps its plan head and its verdict
    if sent > 1:
        assert f"Statement {sent} of {sent}" in rendered


async def test_optimize_performance_measures_a_tool_with_the_users_own_arguments(
    session: AsyncSession, connection: AsyncConnection, settings: Settings, explainer: Explainer
) -> None:
    idle = await scalar(connection, IDLE_AGENT_SQL)
    arguments = f'{{"assignee_id": {idle}, "status": "open", "limit": 5}}'
    facts = await facts_of(
        session, settings, "optimize_performance", explainer, query="search_tickets", arguments=arguments
    )
    assert facts.tool is not None and facts.tool.given
    assert facts.tool.arguments == {"assignee_id": idle, "status": "open", "limit": 5}
    assert facts.analysis is not None
    first = facts.analysis.plan[0]
    assert 6 in first.parameters and idle in first.parameters  # limit + 1 and the assignee, as bound
    rendered = await render(
        session, settings, "optimize_performance", explainer, query="search_tickets", arguments=arguments
    )
    assert "we ran it just now with their arguments" in rendered
    assert f"`assignee_id={idle}`, `status=open`, `limit=5`" in rendered


async def test_optimize_performance_runs_sql_with_the_values_given_for_its_placeholders(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    sql = "SELECT id FROM tickets WHERE creator_id = $1 ORDER BY created_at DESC LIMIT 5"
    facts = await facts_of(session, settings, "optimize_performance", explainer, query=sql, arguments="[1]")
    assert facts.params == [1]
    assert facts.analysis is not None and facts.analysis.plan[0].analyzed
    assert facts.analysis.plan[0].parameters == [1]


@pytest.mark.parametrize(
    ("query", "arguments", "problem"),
    [
        ("search_tickets", "{nope", "arguments is not JSON"),
        ("search_tickets", "[1, 2]", "arguments of a tool are a JSON object"),
        (
            "search_tickets",
            '{"status": "opne"}',
            "invalid arguments for search_tickets: unknown status 'opne'",
        ),
        ("search_tickets", '{"colour": "red"}', "invalid arguments for search_tickets"),
        ("SELECT $1::int", '{"a": 1}', "arguments of a SQL query are a JSON array"),
    ],
)
async def test_arguments_that_do_not_fit_are_refused_with_what_to_send_instead(
    session: AsyncSession, settings: Settings, query: str, arguments: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(problem)):
        await facts_of(session, settings, "optimize_performance", query=query, arguments=arguments)


async def test_a_sort_of_everything_to_return_a_page_is_never_called_stopping_early(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    # priority then date: no index gives that order, so every open ticket is read and sorted
    sql = "SELECT id, title FROM tickets WHERE status = 'open' ORDER BY priority, created_at DESC LIMIT 20"
    rendered = await render(session, settings, "optimize_performance", explainer, query=sql)
    assert "limit_reads_whole_input" not in rendered  # findings are shown in words, not kinds
    assert "rows were read and sorted on tickets.priority, tickets.created_at DESC" in rendered
    for claim in (
        "stops early",
        "stop early",
        "nothing that stands out",
        "explain_query found nothing to fix",
    ):
        assert claim not in rendered
    assert "verified (rolled_back_build)" in rendered or "verified (hypopg)" in rendered


async def test_a_statement_without_limit_gets_no_limit_advice_and_a_small_table_no_seq_scan_alarm(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    rendered = await render(
        session,
        settings,
        "optimize_performance",
        explainer,
        query="SELECT t.name FROM tags t ORDER BY t.name",
    )
    assert "- No findings: the verdict under each plan says which checks found nothing." in rendered
    assert "Sequential scan of `tags`" not in rendered and "first thing to look at" not in rendered
    assert "explain_query found nothing to fix" in rendered
    assert "Every table it reads is small" in rendered


async def test_broken_sql_is_answered_with_postgresqls_own_message(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    rendered = await render(
        session, settings, "optimize_performance", explainer, query="SELECT nope FROM tickets"
    )
    assert (
        '`explain_query` could not plan it: PostgreSQL rejected the query: column "nope" does not exist'
        in (rendered)
    )


@pytest.mark.parametrize("target", ["create_ticket", "drop_everything"])
async def test_a_name_that_is_not_a_measurable_tool_is_refused(
    session: AsyncSession, settings: Settings, target: str
) -> None:
    with pytest.raises(InvalidInputError, match="search_tickets, get_ticket"):
        await render(session, settings, "optimize_performance", query=target)


async def test_sql_with_placeholders_and_no_values_gets_the_generic_plan(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    sql = (
        "SELECT * FROM tickets WHERE assignee_id = $1 AND status = $2 "
        "ORDER BY created_at DESC, id DESC LIMIT 20"
    )
    facts = await facts_of(session, settings, "optimize_performance", explainer, query=sql)
    assert facts.analysis is not None
    [statement] = facts.analysis.plan
    assert not statement.analyzed and statement.parameters == []
    assert "ix_tickets_assignee_status_created_at" in facts.analysis.plan_text
    assert "(tickets.assignee_id = $1)" in facts.analysis.plan_text
    rendered = await render(session, settings, "optimize_performance", explainer, query=sql)
    assert "(estimated plan: the query was not run)" in rendered
    assert "PostgreSQL's generic plan" in rendered


async def test_writes_get_no_plan_but_the_reason_and_change_nothing(
    session: AsyncSession, connection: AsyncConnection, settings: Settings, explainer: Explainer
) -> None:
    before = await row_counts(connection)
    cases = {
        "DELETE FROM comments": "not DELETE",
        "UPDATE tickets SET title = 'x'": "not UPDATE",
        "SELECT nextval('tickets_id_seq')": "moves a sequence",
        "SELECT 1; DROP TABLE tags": "holds 2 statements",
    }
    for sql, reason in cases.items():
        facts = await facts_of(session, settings, "optimize_performance", explainer, query=sql)
        assert facts.analysis is None
        assert facts.analysis_error is not None and reason in facts.analysis_error, sql
    assert await row_counts(connection) == before
    assert await scalar(connection, "SHOW transaction_read_only") == "off"
