"""The live facts each prompt template is rendered with, read from the database at render time.

One function per prompt; each returns a frozen dataclass whose fields are exactly the template's
variables (the template library checks that at start-up).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp import models
from support_db_mcp.config import Settings
from support_db_mcp.errors import InvalidInputError
from support_db_mcp.services.query_facts import CapturedRun, capture_tool
from support_db_mcp.services.schema_info import TableInfo, describe_table, describe_tables
from support_db_mcp.services.server_info import ServerInfo, package_versions, server_info

MAX_QUESTION = 2_000


def now() -> str:
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


def model_source(table: str) -> str | None:
    """The source of the class that maps `table`, as the running server imported it."""
    for mapper in models.Base.registry.mappers:
        if mapper.class_.__tablename__ == table:
            return inspect.getsource(mapper.class_)
    return None


def table_aliases(tables: list[TableInfo]) -> dict[str, list[str]]:
    """table -> the words a question may name it by: singular, model class, relationships to it
    ('users': user, User, creator, assignee, author)."""
    aliases: dict[str, list[str]] = {
        table.name: [table.name.removesuffix("s"), table.name.replace("_", " ")] for table in tables
    }
    for mapper in models.Base.registry.mappers:
        name = mapper.class_.__tablename__
        if name in aliases:
            aliases[name].append(mapper.class_.__name__)
        for relationship in mapper.relationships:
            target = relationship.mapper.class_.__tablename__
            if target in aliases:
                aliases[target].append(relationship.key)
    return aliases


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
    entity_source: str | None  # the source of the class that maps the table, if one does
    tables: list[TableInfo]
    model_classes: dict[str, str]
    referenced_by: list[tuple[str, list[str]]]  # (table, columns) of foreign keys to the entity's table

    def topic_texts(self) -> list[str | None]:
        return [self.question]

    def flags(self) -> set[str]:
        return {"existing_table"} if self.entity_source is not None else {"new_entity"}


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
        read_at=now(),
        server=await server_info(session),
        question=clean_question(question),
        entity=entity.strip(),
        entity_table=table,
        entity_class=classes.get(table.name) if table is not None else None,
        entity_source=model_source(table.name) if table is not None else None,
        tables=tables,
        model_classes=classes,
        referenced_by=[
            (other.name, fk.columns)
            for other in tables
            for fk in other.foreign_keys
            if table is not None and fk.referred_table == table.name and other.name != table.name
        ],
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

    def topic_texts(self) -> list[str | None]:
        return [self.question]

    def flags(self) -> set[str]:
        return set()


async def query_and_search_facts(session: AsyncSession, *, question: str | None) -> QueryAndSearchFacts:
    return QueryAndSearchFacts(
        read_at=now(),
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

    def topic_texts(self) -> list[str | None]:
        return [self.question]

    def flags(self) -> set[str]:
        return set()


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
        read_at=now(),
        server=await server_info(session),
        question=clean_question(question),
        settings=configured_settings(settings),
        packages=package_versions(),
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

    def topic_texts(self) -> list[str | None]:
        return [self.question]

    def flags(self) -> set[str]:
        return set()


async def write_tests_facts(session: AsyncSession, *, question: str | None) -> WriteTestsFacts:
    return WriteTestsFacts(
        read_at=now(),
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
        read_at=now(), server=await server_info(session), tables=await describe_tables(session)
    )


async def schema_table_facts(session: AsyncSession, *, name: str) -> SchemaTableFacts:
    table = await describe_table(session, name=name)
    return SchemaTableFacts(
        read_at=now(),
        server=await server_info(session),
        table=table,
        model_class=model_classes().get(table.name),
    )
