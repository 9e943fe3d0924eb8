"""MCP resources: the live schema, our models' source, and the response patterns and guides.

Every schema read goes to the database (nothing cached), so a resource always shows the schema as
it is at the moment it is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import Annotations

from support_db_mcp.config import Settings
from support_db_mcp.server import current
from support_db_mcp.server.boundary import boundary
from support_db_mcp.server.prompts import PROMPTS, library, render_pattern
from support_db_mcp.services import prompt_facts
from support_db_mcp.services.schema_info import table_names
from support_db_mcp.templates import as_context

if TYPE_CHECKING:
    from support_db_mcp.server.app import AppState

MARKDOWN = "text/markdown"
TABLE_TEMPLATE = "schema://tables/{name}"
# Documents of prompts/ served as they are: URI -> (file, title, description)
GUIDES: dict[str, tuple[str, str, str]] = {
    "guide://examples": (
        "EXAMPLES.md",
        "Complete working examples",
        "Five complete async SQLAlchemy programs for this database (models, unit of work, reading one "
        "ticket, a complete search, eager loading patterns); every one runs in the test suite.",
    ),
    "guide://references/advanced-patterns": (
        "references/advanced-patterns.md",
        "Advanced query patterns",
        "EXISTS filters, aggregates with FILTER and CASE, latest-per-group, ranked full-text search, "
        "upserts; tested programs.",
    ),
    "guide://references/testing-patterns": (
        "references/testing-patterns.md",
        "Testing patterns",
        "Rollback-per-test fixtures for pytest-asyncio 1.x, error paths in savepoints, statement-count "
        "assertions, MCP tools end to end; a tested pytest session.",
    ),
}
FOR_ASSISTANT = Annotations(audience=["assistant"], priority=0.6)


async def _tables(state: AppState) -> str:
    with boundary("resource"):
        async with state.database.read() as session:
            facts = await prompt_facts.schema_tables_facts(session)
    return library().render("resources/schema_tables.md", as_context(facts))


async def _table(state: AppState, name: str) -> str:
    with boundary("resource"):
        async with state.database.read() as session:
            facts = await prompt_facts.schema_table_facts(session, name=name)
    return library().render("resources/schema_table.md", as_context(facts))


async def known_tables(state: AppState) -> list[str]:
    with boundary("resource"):
        async with state.database.read() as session:
            return await table_names(session)


def register(mcp: MCPServer, settings: Settings | None = None) -> None:
    current.install(mcp)
    templates = library()

    @mcp.resource(
        "schema://tables",
        name="tables",
        title="Tables (live)",
        description="Every support table with its row estimate, size, columns, index count and foreign "
        "keys, read live from the database.",
        mime_type=MARKDOWN,
        annotations=FOR_ASSISTANT,
    )
    async def tables() -> str:
        return await _tables(current.state())

    @mcp.resource(
        TABLE_TEMPLATE,
        name="table",
        title="One table (live)",
        description="Columns with types, nullability and defaults, enum labels, foreign keys, checks, and "
        "every index with its definition and size, read live. `name` is a table name.",
        mime_type=MARKDOWN,
        annotations=FOR_ASSISTANT,
    )
    async def table(name: str, ctx: Context[Any, Any]) -> str:
        state: AppState = ctx.request_context.lifespan_context
        return await _table(state, name)

    @mcp.resource(
        "schema://models",
        name="models",
        title="SQLAlchemy models (source)",
        description="The source of support_db_mcp/models.py: the models, enums and indexes the server runs.",
        mime_type="text/x-python",
        annotations=FOR_ASSISTANT,
    )
    def models() -> str:
        return prompt_facts.models_source()

    for spec in PROMPTS:
        name = spec.name
        prompt = templates.prompt(name)
        mcp.resource(
            f"pattern://{name}",
            name=f"pattern_{name}",
            title=f"{prompt.title} (response pattern)",
            description=f"The `{name}` prompt, rendered with live facts for a typical question. "
            f"{prompt.description}",
            mime_type=MARKDOWN,
            annotations=FOR_ASSISTANT,
        )(_pattern_reader(name, settings))

    for uri, (file, title, description) in GUIDES.items():
        mcp.resource(
            uri, name=uri.removeprefix("guide://"), title=title, description=description, mime_type=MARKDOWN
        )(_document_reader(templates.document(file)))  # read now: a missing file stops start-up


def _pattern_reader(name: str, settings: Settings | None) -> Callable[[], Awaitable[str]]:
    async def read() -> str:
        return await render_pattern(current.state(), name, settings)

    return read


def _document_reader(text: str) -> Callable[[], str]:
    def read() -> str:
        return text

    return read
