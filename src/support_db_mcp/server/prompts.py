"""The five MCP prompts: read live facts in one read-only session, render the prompt's template.

The prompt text lives in prompts/*.md; the templates are loaded and checked against the facts they
are rendered with when the server is built, so a broken template stops start-up, not a request.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from mcp import MCPError
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, Message, UserMessage
from mcp.server.mcpserver.prompts import Prompt
from mcp.types import INVALID_PARAMS
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.config import Settings
from support_db_mcp.server.boundary import boundary
from support_db_mcp.services import prompt_facts
from support_db_mcp.services.query_facts import MEASURED_TOOLS
from support_db_mcp.templates import TemplateLibrary, fact_names

if TYPE_CHECKING:
    from support_db_mcp.server.app import AppState

# prompt name -> the dataclass of facts its template is rendered with
PROMPT_FACTS: dict[str, type[Any]] = {
    "define_model": prompt_facts.DefineModelFacts,
    "query_and_search": prompt_facts.QueryAndSearchFacts,
    "async_setup": prompt_facts.AsyncSetupFacts,
    "optimize_performance": prompt_facts.OptimizePerformanceFacts,
    "write_tests": prompt_facts.WriteTestsFacts,
}
# templates that are not prompts: the schema resources
RESOURCE_TEMPLATES: dict[str, type[Any]] = {
    "resources/schema_tables.md": prompt_facts.SchemaTablesFacts,
    "resources/schema_table.md": prompt_facts.SchemaTableFacts,
}

Question = Annotated[
    str | None,
    Field(description="The user's question in their own words (optional); quoted in the prompt."),
]
Entity = Annotated[
    str,
    Field(
        description="What to model: an existing table (tickets, users, comments, tags, ticket_tags) "
        "or a new entity (e.g. sla_policy)."
    ),
]
QueryOrTool = Annotated[
    str,
    Field(
        description="The slow SELECT statement, or the name of one of our tools "
        f"({', '.join(MEASURED_TOOLS)}) to measure the SQL it sends."
    ),
]


@functools.cache
def library() -> TemplateLibrary:
    """The checked templates (loaded once per process)."""
    templates = TemplateLibrary()
    for name, facts in PROMPT_FACTS.items():
        templates.load_prompt(name, provides=fact_names(facts))
    for file, facts in RESOURCE_TEMPLATES.items():
        templates.check(file, fact_names(facts))
    return templates


FactsReader = Callable[[AsyncSession], Awaitable[Any]]


async def render(state: AppState, name: str, read: FactsReader) -> str:
    """Read the facts in one read-only session and render prompt `name` with them."""
    with boundary("prompt"):
        async with state.database.read() as session:
            facts = await read(session)
    return library().render_prompt(name, facts)


def _state(ctx: Context[Any, Any]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


def register(mcp: MCPServer, settings: Settings | None = None) -> None:
    def configured() -> Settings:
        # Read when a prompt is rendered: building the server never reads the environment.
        return settings or Settings()

    templates = library()

    async def define_model(
        entity: Entity, ctx: Context[Any, Any], question: Question = None
    ) -> list[Message]:
        text = await render(
            _state(ctx),
            "define_model",
            lambda s: prompt_facts.define_model_facts(s, entity=entity, question=question),
        )
        return [UserMessage(text)]

    async def query_and_search(ctx: Context[Any, Any], question: Question = None) -> list[Message]:
        text = await render(
            _state(ctx),
            "query_and_search",
            lambda s: prompt_facts.query_and_search_facts(s, question=question),
        )
        return [UserMessage(text)]

    async def async_setup(ctx: Context[Any, Any], question: Question = None) -> list[Message]:
        text = await render(
            _state(ctx),
            "async_setup",
            lambda s: prompt_facts.async_setup_facts(s, settings=configured(), question=question),
        )
        return [UserMessage(text)]

    async def optimize_performance(
        query: QueryOrTool, ctx: Context[Any, Any], question: Question = None
    ) -> list[Message]:
        text = await render(
            _state(ctx),
            "optimize_performance",
            lambda s: prompt_facts.optimize_performance_facts(
                s, target=query, explainer=_state(ctx).explainer, question=question
            ),
        )
        return [UserMessage(text)]

    async def write_tests(ctx: Context[Any, Any], question: Question = None) -> list[Message]:
        text = await render(
            _state(ctx), "write_tests", lambda s: prompt_facts.write_tests_facts(s, question=question)
        )
        return [UserMessage(text)]

    registered: dict[str, Prompt] = {}
    for fn in (define_model, query_and_search, async_setup, optimize_performance, write_tests):
        template = templates.prompt(fn.__name__)
        prompt = Prompt.from_function(
            fn, name=fn.__name__, title=template.title, description=template.description
        )
        mcp.add_prompt(prompt)
        registered[prompt.name] = prompt
    mcp.middleware.append(_checked_prompt_requests(registered))


# ---------------------------------------------------------------- prompts/get, checked by the spec
def argument_problem(prompts: Mapping[str, Prompt], name: Any, arguments: Any) -> str | None:
    """Why a prompts/get request cannot be served as asked (None: it can).

    The spec's answer to an unknown prompt or a missing required argument is -32602 (invalid
    params); the SDK would answer code 0 (or -32603) and log a traceback, so every request is
    checked against the prompt's declared arguments before it reaches the prompt.
    """
    prompt = prompts.get(name) if isinstance(name, str) else None
    if prompt is None:
        return f"unknown prompt {name!r}; the prompts are: {', '.join(prompts)}"
    given = arguments if isinstance(arguments, Mapping) else {}
    declared = {argument.name: argument for argument in prompt.arguments or []}
    for key in given:
        if key not in declared:
            close = difflib.get_close_matches(str(key), declared, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"it takes: {', '.join(declared) or 'none'}"
            return f"prompt {prompt.name} has no argument {key!r}; {hint}"
    for argument in declared.values():
        value = given.get(argument.name)
        if argument.required and (not isinstance(value, str) or not value.strip()):
            about = f" ({argument.description})" if argument.description else ""
            return f"prompt {prompt.name} needs the argument {argument.name!r}{about}"
    return None


def _checked_prompt_requests(prompts: Mapping[str, Prompt]) -> ServerMiddleware[Any]:
    async def check(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get":
            params = ctx.params or {}
            problem = argument_problem(prompts, params.get("name"), params.get("arguments"))
            if problem is not None:
                raise MCPError(code=INVALID_PARAMS, message=problem, data={"prompt": params.get("name")})
        return await call_next(ctx)

    return check


# ---------------------------------------------------------------- the same patterns as resources
# Clients that show resources but not prompts read each pattern rendered with these arguments.
PatternReader = Callable[[AsyncSession, Settings, "AppState"], Awaitable[Any]]
PATTERN_DEFAULTS: dict[str, PatternReader] = {
    "define_model": lambda s, _, __: prompt_facts.define_model_facts(s, entity="tickets", question=None),
    "query_and_search": lambda s, _, __: prompt_facts.query_and_search_facts(s, question=None),
    "async_setup": lambda s, c, _: prompt_facts.async_setup_facts(s, settings=c, question=None),
    "optimize_performance": lambda s, _, state: prompt_facts.optimize_performance_facts(
        s, target="search_tickets", explainer=state.explainer, question=None
    ),
    "write_tests": lambda s, _, __: prompt_facts.write_tests_facts(s, question=None),
}


async def render_pattern(state: AppState, name: str, settings: Settings | None) -> str:
    return await render(state, name, lambda s: PATTERN_DEFAULTS[name](s, settings or Settings(), state))
