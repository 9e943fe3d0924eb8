"""The five MCP prompts, each declared once in PROMPTS: registration, the pattern:// resources and
argument completion all derive from that list.

A prompt reads its live facts in one read-only session, picks the tagged pieces of
prompts/topics/<name>.toml that answer the question (composition.py), and renders its template;
when the result would pass the budget it is rendered again with less detail. The prompt text
lives in prompts/; the templates are loaded and checked when the server is built, so a broken
template stops start-up, not a request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mcp.server.mcpserver import Context, MCPServer, Message, UserMessage
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.prompts.base import PromptArgument
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.composition import COMPACT, FULL, pick
from support_db_mcp.config import Settings
from support_db_mcp.server.boundary import boundary
from support_db_mcp.server.prompt_requests import checked_prompt_requests
from support_db_mcp.services import prompt_facts
from support_db_mcp.services.optimize_facts import OptimizePerformanceFacts, optimize_performance_facts
from support_db_mcp.services.query_facts import MEASURED_TOOLS
from support_db_mcp.services.schema_info import TableInfo
from support_db_mcp.services.server_info import package_versions
from support_db_mcp.templates import TemplateLibrary, fact_names

if TYPE_CHECKING:
    from support_db_mcp.explain import Explainer
    from support_db_mcp.server.app import AppState

BUDGET = 10_000  # characters a rendered prompt may have, whatever its arguments
# detail levels tried in turn until the prompt fits the budget: (detail, piece limits, tables shown)
DETAIL_LEVELS = ((2, FULL, 2), (1, COMPACT, 1), (0, COMPACT, 1))
# the libraries the guidance is written for, named in every prompt
GUIDANCE_PACKAGES = ("sqlalchemy", "asyncpg", "fastapi", "pytest-asyncio")


# ---------------------------------------------------------------- the declaration
@dataclass(frozen=True)
class Argument:
    name: str
    description: str
    required: bool = False
    completes: Literal["tables", "tools"] | None = None  # what completion offers for it


@dataclass(frozen=True)
class Reading:
    """What a prompt's facts are read with."""

    arguments: Mapping[str, str]
    settings: Settings
    explainer: Explainer | None

    def get(self, name: str) -> str | None:
        return self.arguments.get(name)


class Composable(Protocol):
    """What every facts dataclass tells composition: the texts to match topics on, and its flags."""

    def topic_texts(self) -> list[str | None]: ...

    def flags(self) -> set[str]: ...


Reader = Callable[[AsyncSession, Reading], Awaitable[Composable]]


@dataclass(frozen=True)
class PromptSpec:
    name: str
    facts: type[Any]  # the dataclass its template is rendered with
    read: Reader
    arguments: tuple[Argument, ...]
    typical: Mapping[str, str]  # the arguments pattern://<name> renders it with


QUESTION = Argument(
    "question",
    "The user's question in their own words (optional): it picks the tested snippets, gotchas and "
    "tables the prompt shows.",
)
PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        name="define_model",
        facts=prompt_facts.DefineModelFacts,
        read=lambda s, r: prompt_facts.define_model_facts(
            s, entity=r.get("entity") or "", question=r.get("question")
        ),
        arguments=(
            Argument(
                "entity",
                "What to model: an existing table (tickets, users, comments, tags, ticket_tags) or a new "
                "entity (e.g. sla_policy).",
                required=True,
                completes="tables",
            ),
            QUESTION,
        ),
        typical={"entity": "tickets"},
    ),
    PromptSpec(
        name="query_and_search",
        facts=prompt_facts.QueryAndSearchFacts,
        read=lambda s, r: prompt_facts.query_and_search_facts(s, question=r.get("question")),
        arguments=(QUESTION,),
        typical={},
    ),
    PromptSpec(
        name="async_setup",
        facts=prompt_facts.AsyncSetupFacts,
        read=lambda s, r: prompt_facts.async_setup_facts(s, settings=r.settings, question=r.get("question")),
        arguments=(QUESTION,),
        typical={},
    ),
    PromptSpec(
        name="optimize_performance",
        facts=OptimizePerformanceFacts,
        read=lambda s, r: optimize_performance_facts(
            s,
            target=r.get("query") or "",
            explainer=r.explainer,
            question=r.get("question"),
            arguments=r.get("arguments"),
        ),
        arguments=(
            Argument(
                "query",
                "The slow SELECT statement, or the name of one of our tools "
                f"({', '.join(MEASURED_TOOLS)}) to measure the SQL it sends.",
                required=True,
                completes="tools",
            ),
            Argument(
                "arguments",
                'Optional JSON: for a tool, its arguments as an object (e.g. {"status": "open", '
                '"assignee_id": 7}); for SQL, the values of $1..$n as an array (e.g. [7]).',
            ),
            QUESTION,
        ),
        typical={"query": "search_tickets"},
    ),
    PromptSpec(
        name="write_tests",
        facts=prompt_facts.WriteTestsFacts,
        read=lambda s, r: prompt_facts.write_tests_facts(s, question=r.get("question")),
        arguments=(QUESTION,),
        typical={},
    ),
)
SPECS: dict[str, PromptSpec] = {spec.name: spec for spec in PROMPTS}


def completing(kind: Literal["tables", "tools"]) -> set[tuple[str, str]]:
    """(prompt, argument) pairs whose values complete to `kind`."""
    return {
        (spec.name, argument.name)
        for spec in PROMPTS
        for argument in spec.arguments
        if argument.completes == kind
    }


# ---------------------------------------------------------------- rendering
@functools.cache
def library() -> TemplateLibrary:
    """The checked templates and their topics (loaded once per process)."""
    templates = TemplateLibrary()
    for spec in PROMPTS:
        templates.load_prompt(spec.name, provides=fact_names(spec.facts))
    for file, facts in RESOURCE_TEMPLATES.items():
        templates.check(file, fact_names(facts))
    return templates


# templates that are not prompts: the schema resources
RESOURCE_TEMPLATES: dict[str, type[Any]] = {
    "resources/schema_tables.md": prompt_facts.SchemaTablesFacts,
    "resources/schema_table.md": prompt_facts.SchemaTableFacts,
}


def versions() -> dict[str, str]:
    installed = package_versions()
    return {name: installed.get(name, "not installed") for name in GUIDANCE_PACKAGES}


def compose(name: str, facts: Composable) -> str:
    """Pick the pieces that answer the facts' question and render; less detail until it fits."""
    templates = library()
    tables: list[TableInfo] = getattr(facts, "tables", [])
    aliases = prompt_facts.table_aliases(tables)
    text = ""
    for detail, limits, max_tables in DETAIL_LEVELS:
        picked = pick(
            templates.book(name),
            texts=facts.topic_texts(),
            flags=facts.flags(),
            tables=aliases,
            limits=limits,
            max_tables=max_tables,
        )
        text = templates.render_prompt(name, facts, picked=picked, detail=detail, versions=versions())
        if len(text) <= BUDGET:
            break
    return text


async def render(state: AppState, spec: PromptSpec, arguments: Mapping[str, str], settings: Settings) -> str:
    """Read the facts in one read-only session and render prompt `spec` with them."""
    with boundary("prompt"):
        async with state.database.read() as session:
            facts = await spec.read(session, Reading(arguments, settings, state.explainer))
    return compose(spec.name, facts)


# ---------------------------------------------------------------- registration
def _handler(spec: PromptSpec, configured: Callable[[], Settings]) -> Callable[..., Awaitable[list[Message]]]:
    async def get(ctx: Context[Any, Any], **arguments: str) -> list[Message]:
        state: AppState = ctx.request_context.lifespan_context
        return [UserMessage(await render(state, spec, arguments, configured()))]

    return get


def register(mcp: MCPServer, settings: Settings | None = None) -> None:
    def configured() -> Settings:
        # Read when a prompt is rendered: building the server never reads the environment.
        return settings or Settings()

    templates = library()
    registered: dict[str, Prompt] = {}
    for spec in PROMPTS:
        template = templates.prompt(spec.name)
        prompt = Prompt(
            name=spec.name,
            title=template.title,
            description=template.description,
            arguments=[
                PromptArgument(
                    name=argument.name, description=argument.description, required=argument.required
                )
                for argument in spec.arguments
            ],
            fn=_handler(spec, configured),
            context_kwarg="ctx",
        )
        mcp.add_prompt(prompt)
        registered[prompt.name] = prompt
    mcp.middleware.append(checked_prompt_requests(registered))


# ---------------------------------------------------------------- the same patterns as resources
async def render_pattern(state: AppState, name: str, settings: Settings | None) -> str:
    """Prompt `name` rendered with its typical arguments (for clients that show resources only)."""
    spec = SPECS[name]
    return await render(state, spec, spec.typical, settings or Settings())
