"""The live facts each prompt template is rendered with, read from the database at render time.

One function per prompt; each returns a frozen dataclass whose fields are exactly the template's
variables (the template library checks that at start-up).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp import models
from support_db_mcp.config import Settings
from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.explain import MAX_SQL_CHARS, ExplainQueryResult
from support_db_mcp.services.query_facts import (
    MEASURED_TOOLS,
    CapturedRun,
    LoadingComparison,
    PlainPlan,
    capture_tool,
    compare_loading,
    explain_target,
    looks_like_tool_name,
    plain_plans,
)
from support_db_mcp.services.schema_info import TableInfo, describe_table, describe_tables
from support_db_mcp.services.server_info import ServerInfo, package_versions, server_info

if TYPE_CHECKING:
    from support_db_mcp.explain import Explainer

MAX_QUESTION = 2_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def clean_question(question: str | None) -> str | None:
    if question is None or not question.strip():
        return None
    if len(question) > MAX_QUESTION:
        raise InvalidInputError(
            f"question is {len(question)} characters; at most {MAX_QUESTION} are accepted"
        )
    return question.strip()


def models_source() -> str:
    """The source of support_db_mcp/models.py, as the running server imported it."""
    return inspect.getsource(models)


def model_classes() -> dict[str, str]:
    """table name -> model class name, for every mapped class."""
    return {mapper.class_.__tablename__: mapper.class_.__name__ for mapper in models.Base.registry.mappers}


def match_table(entity: str, tables: list[TableInfo]) -> TableInfo | None:
    """The live table an entity name means: 'tickets', 'ticket', 'Ticket' or 'ticket tags'."""
    key = re.sub(r"[\s\-]+", "_", entity.strip()).lower()
    by_class = {cls.lower(): table for table, cls in model_classes().items()}
    candidates = [key, f"{key}s", key.removesuffix("s"), by_class.get(key.replace("_", ""), "")]
    for table in tables:
        if table.name in candidates:
            return table
    return None


# ---------------------------------------------------------------- define_model
@dataclass(frozen=True)
class DefineModelFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    entity: str
    entity_table: TableInfo | None
    entity_class: str | None
    tables: list[TableInfo]
    model_classes: dict[str, str]
    models_source: str


async def define_model_facts(session: AsyncSession, *, entity: str, question: str | None) -> DefineModelFacts:
    if not entity.strip():
        raise InvalidInputError(
            "entity is empty; name a table such as tickets or a new entity such as sla_policy"
        )
    if len(entity) > 100:
        raise InvalidInputError("entity is longer than 100 characters; give a table or entity name")
    tables = await describe_tables(session)
    table = match_table(entity, tables)
    classes = model_classes()
    return DefineModelFacts(
        read_at=_now(),
        server=await server_info(session),
        question=clean_question(question),
        entity=entity.strip(),
        entity_table=table,
        entity_class=classes.get(table.name) if table is not None else None,
        tables=tables,
        model_classes=classes,
        models_source=models_source(),
    )


# ---------------------------------------------------------------- query_and_search
@dataclass(frozen=True)
class QueryAndSearchFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    tables: list[TableInfo]
    model_classes: dict[str, str]
    search: CapturedRun


async def query_and_search_facts(session: AsyncSession, *, question: str | None) -> QueryAndSearchFacts:
    return QueryAndSearchFacts(
        read_at=_now(),
        server=await server_info(session),
        question=clean_question(question),
        tables=await describe_tables(session),
        model_classes=model_classes(),
        search=await capture_tool(session, tool="search_tickets"),
    )


# ---------------------------------------------------------------- async_setup
@dataclass(frozen=True)
class AsyncSetupFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    settings: dict[str, Any]  # our configured pool and timeout settings
    packages: dict[str, str]


def configured_settings(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout_s": settings.pool_timeout_s,
        "statement_timeout_ms": settings.statement_timeout_ms,
    }


async def async_setup_facts(
    session: AsyncSession, *, settings: Settings, question: str | None
) -> AsyncSetupFacts:
    return AsyncSetupFacts(
        read_at=_now(),
        server=await server_info(session),
        question=clean_question(question),
        settings=configured_settings(settings),
        packages=package_versions(),
    )


# ---------------------------------------------------------------- optimize_performance
@dataclass(frozen=True)
class OptimizePerformanceFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    target: str  # what the user gave: SQL text or a tool name
    tool: CapturedRun | None  # when the target is a tool: the statements it sent
    plans: list[PlainPlan]  # one per statement, from the explain engine; empty when it could not plan
    tables: list[TableInfo]  # the tables the plans read, with their indexes
    loading: LoadingComparison
    # the explain engine's whole answer (plan, findings, verified indexes), or why there is none
    analysis: ExplainQueryResult | None = None
    analysis_error: str | None = None


async def optimize_performance_facts(
    session: AsyncSession, *, target: str, explainer: Explainer | None, question: str | None
) -> OptimizePerformanceFacts:
    target = target.strip()
    if not target:
        raise InvalidInputError(
            f"query is empty; give a SELECT statement or one of {', '.join(MEASURED_TOOLS)}"
        )
    if len(target) > MAX_SQL_CHARS:
        raise InvalidInputError(f"query is {len(target)} characters; at most {MAX_SQL_CHARS} are accepted")
    tool = None
    if looks_like_tool_name(target):
        if target not in MEASURED_TOOLS:
            raise InvalidInputError(
                f"{target!r} is neither SQL nor a tool we can measure; give a SELECT statement or one of "
                f"{', '.join(MEASURED_TOOLS)}"
            )
        tool = await capture_tool(session, tool=target)
    analysis, analysis_error = await explain_target(explainer, target=target, tool=tool)
    plans = plain_plans(analysis) if analysis is not None else []
    relations: list[str] = []
    for plan in plans:
        relations += [name for name in plan.scanned_relations if name not in relations]
    tables = await describe_tables(session, names=relations) if relations else []
    return OptimizePerformanceFacts(
        read_at=_now(),
        server=await server_info(session),
        question=clean_question(question),
        target=target,
        tool=tool,
        plans=plans,
        tables=tables,
        loading=await compare_loading(session),
        analysis=analysis,
        analysis_error=analysis_error,
    )


# ---------------------------------------------------------------- write_tests
@dataclass(frozen=True)
class WriteTestsFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    tables: list[TableInfo]
    model_classes: dict[str, str]
    packages: dict[str, str]


async def write_tests_facts(session: AsyncSession, *, question: str | None) -> WriteTestsFacts:
    return WriteTestsFacts(
        read_at=_now(),
        server=await server_info(session),
        question=clean_question(question),
        tables=await describe_tables(session),
        model_classes=model_classes(),
        packages=package_versions(),
    )


# ---------------------------------------------------------------- the schema resources
@dataclass(frozen=True)
class SchemaTablesFacts:
    read_at: str
    server: ServerInfo
    tables: list[TableInfo]


@dataclass(frozen=True)
class SchemaTableFacts:
    read_at: str
    server: ServerInfo
    table: TableInfo
    model_class: str | None


async def schema_tables_facts(session: AsyncSession) -> SchemaTablesFacts:
    return SchemaTablesFacts(
        read_at=_now(), server=await server_info(session), tables=await describe_tables(session)
    )


async def schema_table_facts(session: AsyncSession, *, name: str) -> SchemaTableFacts:
    table = await describe_table(session, name=name)
    return SchemaTableFacts(
        read_at=_now(),
        server=await server_info(session),
        table=table,
        model_class=model_classes().get(table.name),
    )
