"""The resources over MCP: the live schema, the models' source, the patterns and the guides."""

from __future__ import annotations

import inspect

import pytest
from mcp import Client, MCPError
from mcp.types import INVALID_PARAMS, TextResourceContents
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp import models
from support_db_mcp.server.prompts import PROMPTS
from support_db_mcp.server.resources import GUIDES
from support_db_mcp.templates import prompts_dir

STATIC = {"schema://tables", "schema://models"} | {f"pattern://{spec.name}" for spec in PROMPTS} | set(GUIDES)


async def read(client: Client, uri: str) -> TextResourceContents:
    result = await client.read_resource(uri)
    assert len(result.contents) == 1
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    return content


async def live_tables(connection: AsyncConnection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename NOT IN ('alembic_version', 'installation_secrets') ORDER BY tablename"
        )
    )
    return list(rows.scalars())


async def test_the_schema_patterns_and_guides_are_listed_with_descriptions(client: Client) -> None:
    async with client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    assert {resource.uri for resource in resources} == STATIC
    assert all(resource.description and resource.title for resource in resources)
    assert [template.uri_template for template in templates] == ["schema://tables/{name}"]
    assert templates[0].mime_type == "text/markdown" and templates[0].description


async def test_every_listed_resource_can_be_read(client: Client) -> None:
    async with client:
        listed = (await client.list_resources()).resources
        for resource in listed:
            content = await read(client, resource.uri)
            assert content.text.strip(), resource.uri
            assert content.mime_type == resource.mime_type


async def test_the_tables_resource_lists_every_table_with_its_live_row_estimate(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        overview = (await read(client, "schema://tables")).text
    for table in await live_tables(connection):
        estimate = (
            await connection.execute(
                text("SELECT reltuples::bigint FROM pg_class WHERE relname = :t"), {"t": table}
            )
        ).scalar_one()
        shown = f"{estimate:,}" if estimate >= 0 else "unknown"  # -1: never analysed (ticket_events)
        assert f"| `{table}` | {shown} |" in overview
    assert "alembic_version" not in overview and "installation_secrets" not in overview


async def test_each_table_resource_shows_columns_keys_and_every_index_with_definition_and_size(
    client: Client, connection: AsyncConnection
) -> None:
    async with client:
        for table in await live_tables(connection):
            described = (await read(client, f"schema://tables/{table}")).text
            indexes = await connection.execute(
                text(
                    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), "
                    "pg_size_pretty(pg_relation_size(indexrelid)) "
                    "FROM pg_index WHERE indrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            )
            for name, definition, size in indexes:
                assert f"- `{name}`, {size}: `{definition}`" in described
            columns = await connection.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"), {"t": table}
            )
            for (column,) in columns:
                assert f"| `{column}`" in described
        tickets = (await read(client, "schema://tables/tickets")).text
    assert "- `creator_id` → `users(id)` ON DELETE RESTRICT" in tickets
    assert "Mapped by `Ticket`" in tickets


async def test_a_table_created_a_moment_ago_can_be_read_at_once(
    client: Client, connection: AsyncConnection
) -> None:
    await connection.execute(text("CREATE TABLE macros (id int PRIMARY KEY, body text NOT NULL)"))
    await connection.execute(text("CREATE INDEX ix_macros_body ON macros (body)"))
    async with client:
        described = (await read(client, "schema://tables/macros")).text
        overview = (await read(client, "schema://tables")).text
    assert "| `body` | TEXT | NOT NULL |  |" in described
    assert "ix_macros_body" in described and "No SQLAlchemy model maps this table." in described
    assert "| `macros` |" in overview


@pytest.mark.parametrize(
    "name", ["invoices", "alembic_version", "installation_secrets", "tickets; DROP TABLE tags"]
)
async def test_an_unknown_table_is_not_found_and_the_error_names_the_real_ones(
    client: Client, name: str
) -> None:
    async with client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"schema://tables/{name}")
    assert raised.value.error.code == INVALID_PARAMS
    assert "tickets" in raised.value.error.message and "ticket_tags" in raised.value.error.message


@pytest.mark.parametrize(
    ("name", "meant"), [("Tickets", "tickets"), ("comment", "comments"), ("tiket_tags", "ticket_tags")]
)
async def test_a_misspelt_table_gets_the_closest_real_name(client: Client, name: str, meant: str) -> None:
    async with client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(f"schema://tables/{name}")
    assert raised.value.error.message.startswith(
        f"no table named {name!r} (did you mean {meant!r}?); the tables"
    )


async def test_the_models_resource_is_the_source_the_server_runs(client: Client) -> None:
    async with client:
        content = await read(client, "schema://models")
    assert content.text == inspect.getsource(models)
    assert content.mime_type == "text/x-python"


async def test_the_guides_are_served_exactly_as_the_files_say(client: Client) -> None:
    async with client:
        for uri, (file, _, _) in GUIDES.items():
            assert (await read(client, uri)).text == (prompts_dir() / file).read_text()


async def test_each_pattern_resource_is_its_prompt_rendered_for_a_typical_question(client: Client) -> None:
    async with client:
        define = (await read(client, "pattern://define_model")).text
        optimize = (await read(client, "pattern://optimize_performance")).text
        prompt = await client.get_prompt("define_model", {"entity": "tickets"})
    assert "## LIVE: `tickets` exists, and `Ticket` maps it" in define
    assert "They named our tool `search_tickets`" in optimize
    first_line = prompt.messages[0].content.text.splitlines()[0]  # type: ignore[union-attr]
    assert define.splitlines()[0] == first_line
