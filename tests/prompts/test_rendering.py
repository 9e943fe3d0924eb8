"""Every prompt rendered against the test database: the live facts are really read at render time."""

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
from support_db_mcp.server.prompts import library
from support_db_mcp.services import prompt_facts
from support_db_mcp.services.query_facts import compare_loading
from support_db_mcp.services.ticket_search import search_tickets
from tests.helpers import row_counts, scalar

IDLE_AGENT_SQL = (
    "SELECT id FROM users WHERE role = 'agent' AND id NOT IN "
    "(SELECT assignee_id FROM tickets WHERE status = 'open' AND assignee_id IS NOT NULL) ORDER BY id LIMIT 1"
)
READ_AT = re.compile(r"at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


async def render(
    session: AsyncSession,
    settings: Settings,
    name: str,
    explainer: Explainer | None = None,
    **arguments: str | None,
) -> str:
    question = arguments.pop("question", None)
    if name == "define_model":
        entity = arguments["entity"] or ""
        facts = await prompt_facts.define_model_facts(session, entity=entity, question=question)
    elif name == "query_and_search":
        facts = await prompt_facts.query_and_search_facts(session, question=question)
    elif name == "async_setup":
        facts = await prompt_facts.async_setup_facts(session, settings=settings, question=question)
    elif name == "optimize_performance":
        facts = await prompt_facts.optimize_performance_facts(
            session, target=arguments["query"] or "", explainer=explainer, question=question
        )
    else:
        facts = await prompt_facts.write_tests_facts(session, question=question)
    return library().render_prompt(name, facts)


EVERY_PROMPT = [
    ("define_model", {"entity": "tickets"}),
    ("query_and_search", {}),
    ("async_setup", {}),
    ("optimize_performance", {"query": "search_tickets"}),
    ("write_tests", {}),
]


@pytest.mark.parametrize(("name", "arguments"), EVERY_PROMPT, ids=[name for name, _ in EVERY_PROMPT])
async def test_every_prompt_follows_the_response_framework_and_says_when_its_facts_were_read(
    session: AsyncSession,
    connection: AsyncConnection,
    settings: Settings,
    name: str,
    arguments: dict[str, str],
) -> None:
    rendered = await render(session, settings, name, **arguments)
    version = await scalar(connection, "SELECT current_setting('server_version')")
    database = await scalar(connection, "SELECT current_database()")
    for part in ("Acknowledge", "Solution first", "Why it works", "Gotchas", "Next steps"):
        assert f"**{part}**" in rendered
    for section in ("### Key points", "### Gotchas", "### Next steps", "tested"):
        assert section in rendered
    assert f"PostgreSQL {version}" in rendered and f"`{database}`" in rendered
    assert "trust the live facts" in rendered
    assert READ_AT.search(rendered), "the render time is stated"
    assert "```python example=" in rendered
    assert "{{" not in rendered and "{%" not in rendered


async def test_define_model_for_an_existing_table_shows_its_live_definition_and_our_model(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(session, settings, "define_model", entity="Ticket")
    assert "`tickets` already exists" in rendered and "mapped by\n`Ticket`" in rendered
    assert (
        "`CREATE INDEX ix_tickets_assignee_status_created_at ON public.tickets USING btree "
        "(assignee_id, status, created_at DESC, id DESC)`" in rendered
    )
    assert "`assignee_id` → `users(id)` ON DELETE SET NULL" in rendered
    assert "`ticket_status`: 'open', 'in_progress', 'resolved', 'closed'" in rendered
    assert "class Ticket(Base):" in rendered  # our models' source
    assert re.search(r"`tickets`: [\d,]+ rows \(estimate\)", rendered)


async def test_define_model_for_a_new_entity_says_there_is_no_table_yet(
    session: AsyncSession, settings: Settings
) -> None:
    rendered = await render(session, settings, "define_model", entity="sla_policy", question="SLA per plan?")
    assert "There is no `sla_policy` table yet" in rendered
    assert "> SLA per plan?" in rendered
    assert "### `users`" in rendered  # the live tables it may reference


async def test_a_column_and_an_index_added_a_moment_ago_appear_in_every_schema_prompt(
    session: AsyncSession, connection: AsyncConnection, settings: Settings
) -> None:
    before = await render(session, settings, "define_model", entity="tickets")
    assert "escalation_note" not in before
    await connection.execute(
        text("ALTER TABLE tickets ADD COLUMN escalation_note varchar(80) NOT NULL DEFAULT ''")
    )
    await connection.execute(text("CREATE INDEX ix_tickets_escalation_note ON tickets (escalation_note)"))

    for name in ("define_model", "query_and_search", "write_tests"):
        rendered = await render(session, settings, name, entity="tickets")
        assert "| `escalation_note` | VARCHAR(80) | NOT NULL | ''::character varying |" in rendered, name
        assert "ix_tickets_escalation_note" in rendered, name


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
    assert f"using **{log.count} SQL statements**" in rendered
    for statement in log.statements:
        assert f"```sql\n{statement.sql}\n```" in rendered
    assert "`status=open`, `limit=20`" in rendered
    assert "Bound values, in `$n` order: `'open'`, `21`" in rendered


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
    assert f"Statement timeout we set per connection: {settings.statement_timeout_ms} ms" in rendered
    assert re.search(r"`sqlalchemy` 2\.1\.\d+", rendered)


async def test_optimize_performance_for_the_idle_assignee_shows_the_index_plan_and_the_n_plus_one(
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
    assert "-> Index Scan using ix_tickets_assignee_status_created_at on tickets" in rendered
    assert (
        f"Index Cond: ((tickets.assignee_id = {idle}) AND (tickets.status = 'open'::ticket_status))"
        in rendered
    )
    assert "No sequential scan and no separate sort" in rendered
    assert re.search(r"\| lazy \| \d+ \| [\d.]+ ms \|", rendered)
    assert re.search(r"\| selectinload \| 2 \| [\d.]+ ms \|", rendered)
    assert re.search(r"\| joinedload \| 1 \| [\d.]+ ms \|", rendered)
    assert "### `tickets`" in rendered  # the indexes of the table the plan reads


async def test_the_n_plus_one_measurement_counts_one_statement_per_distinct_creator(
    session: AsyncSession,
) -> None:
    loading = await compare_loading(session, limit=20)
    assert loading.tickets == 20
    assert loading.run("lazy").statements == 1 + loading.distinct_creators
    assert loading.run("selectinload").statements == 2
    assert loading.run("joinedload").statements == 1


async def test_optimize_performance_for_a_tool_plans_each_statement_it_sends(
    session: AsyncSession, explainer: Explainer
) -> None:
    facts = await prompt_facts.optimize_performance_facts(
        session, target="get_ticket", explainer=explainer, question=None
    )
    assert facts.tool is not None and len(facts.tool.statements) == len(facts.plans) == 1
    assert all(plan.steps for plan in facts.plans)
    assert all(plan.parameters for plan in facts.plans)  # planned with the values the tool bound
    rendered = library().render_prompt("optimize_performance", facts)
    # one statement: the ticket by its number, with its tags, comments and history as subselects
    assert "They named our tool `get_ticket`" in rendered
    assert "using uq_tickets_number on tickets" in rendered and "on comments" in rendered


async def test_a_sequential_scan_and_a_sort_are_pointed_out(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    rendered = await render(
        session,
        settings,
        "optimize_performance",
        explainer,
        query="SELECT * FROM comments ORDER BY body LIMIT 5;",
    )
    assert "- Sequential scan of `comments`" in rendered
    assert "Sort Key: comments.body): rows are sorted after they are read" in rendered


async def test_an_index_walk_that_discards_rows_is_pointed_out(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    # Without a status filter the composite index cannot give the order, so the generic plan walks
    # the date index and filters on assignee: the slow-assignee shape.
    sql = "SELECT * FROM tickets WHERE assignee_id = $1 ORDER BY created_at DESC LIMIT 5"
    rendered = await render(session, settings, "optimize_performance", explainer, query=sql)
    assert "this is PostgreSQL's generic plan" in rendered
    assert (
        "reads rows in index order and then discards those that fail `(tickets.assignee_id = $1)`" in rendered
    )
    assert "No sequential scan and no separate sort" not in rendered


async def test_broken_sql_is_answered_with_postgresqls_own_message(
    session: AsyncSession, settings: Settings, explainer: Explainer
) -> None:
    rendered = await render(
        session, settings, "optimize_performance", explainer, query="SELECT nope FROM tickets"
    )
    assert (
        "There is no plan: `explain_query` could not plan it (PostgreSQL rejected the query: "
        'column "nope" does not exist' in rendered
    )


@pytest.mark.parametrize("target", ["create_ticket", "drop_everything"])
async def test_a_name_that_is_not_a_measurable_tool_is_refused(
    session: AsyncSession, settings: Settings, target: str
) -> None:
    with pytest.raises(InvalidInputError, match="search_tickets, get_ticket"):
        await render(session, settings, "optimize_performance", query=target)


async def test_sql_with_placeholders_and_no_values_gets_the_generic_plan(
    session: AsyncSession, explainer: Explainer
) -> None:
    facts = await prompt_facts.optimize_performance_facts(
        session,
        target="SELECT * FROM tickets WHERE assignee_id = $1 AND status = $2 "
        "ORDER BY created_at DESC, id DESC LIMIT 20",
        explainer=explainer,
        question=None,
    )
    [plan] = facts.plans
    assert plan.generic and plan.parameters == []
    assert "ix_tickets_assignee_status_created_at" in plan.indexes_used
    assert any("(tickets.assignee_id = $1)" in c for step in plan.steps for c in step.conditions)
    assert facts.analysis is not None and not facts.analysis.plan[0].analyzed


async def test_writes_get_no_plan_but_the_reason_and_change_nothing(
    session: AsyncSession, connection: AsyncConnection, explainer: Explainer
) -> None:
    before = await row_counts(connection)
    cases = {
        "DELETE FROM comments": "not DELETE",
        "UPDATE tickets SET title = 'x'": "not UPDATE",
        "SELECT nextval('tickets_id_seq')": "moves a sequence",
        "SELECT 1; DROP TABLE tags": "holds 2 statements",
    }
    for sql, reason in cases.items():
        facts = await prompt_facts.optimize_performance_facts(
            session, target=sql, explainer=explainer, question=None
        )
        assert facts.plans == [] and facts.analysis is None
        assert facts.analysis_error is not None and reason in facts.analysis_error, sql
    assert await row_counts(connection) == before
    assert await scalar(connection, "SHOW transaction_read_only") == "off"
