"""The live facts of the optimize_performance prompt: the plan of the user's query, or of every
statement one of our tools sends with the user's own arguments, and lazy against eager loading.

`query` is a SELECT or a tool name; `arguments` is JSON text: the tool's arguments as an object
(`{"status": "open", "assignee_id": 7}`), or the values of the query's $1..$n as an array. Both
are checked as the explain_query tool checks them, and a mistake is an error that says what to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.explain import MAX_PARAMS, MAX_SQL_CHARS, ExplainQueryResult
from support_db_mcp.services.prompt_facts import clean_question, now
from support_db_mcp.services.query_facts import (
    MEASURED_TOOLS,
    CapturedRun,
    LoadingComparison,
    capture_tool,
    compare_loading,
    compare_nested_loading,
    explain_target,
    looks_like_tool_name,
    scanned_relations,
)
from support_db_mcp.services.schema_info import TableInfo, describe_tables
from support_db_mcp.services.server_info import ServerInfo, server_info

if TYPE_CHECKING:
    from support_db_mcp.explain import Explainer

MAX_ARGUMENTS_CHARS = 10_000


@dataclass(frozen=True)
class OptimizePerformanceFacts:
    read_at: str
    server: ServerInfo
    question: str | None
    target: str  # what the user gave: SQL text or a tool name
    params: list[Any] | None  # the values of the SQL's $n, when the user gave them
    tool: CapturedRun | None  # when the target is a tool: the statements it sent
    tables: list[TableInfo]  # the tables the plans read, with their indexes
    loading: LoadingComparison  # ticket.creator: lazy, selectinload, joinedload
    nested: LoadingComparison  # each comment's author of each ticket's comments
    # the explain engine's whole answer (one plan per statement, findings, verified indexes,
    # verdicts), or why there is none
    analysis: ExplainQueryResult | None = None
    analysis_error: str | None = None

    def topic_texts(self) -> list[str | None]:
        return [self.question, self.target]

    def flags(self) -> set[str]:
        return set()


def parse_arguments(text: str | None, *, tool: bool) -> dict[str, Any] | list[Any] | None:
    """`arguments` as JSON: an object of the tool's arguments, or an array of the SQL's $n values."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise InvalidInputError(
            f"arguments is {len(text):,} characters; at most {MAX_ARGUMENTS_CHARS:,} are accepted"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"arguments is not JSON ({error.msg} at character {error.pos}); give an object such as "
            '{"status": "open", "assignee_id": 7} for a tool, or an array such as [7] for $1..$n'
        ) from None
    if tool and not isinstance(value, dict):
        raise InvalidInputError(
            'arguments of a tool are a JSON object, e.g. {"status": "open", "assignee_id": 7}; '
            f"got {type(value).__name__}"
        )
    if not tool and not isinstance(value, list):
        raise InvalidInputError(
            'arguments of a SQL query are a JSON array of the values of $1..$n, e.g. [7, "open"]; '
            f"got {type(value).__name__}"
        )
    if isinstance(value, list) and len(value) > MAX_PARAMS:
        raise InvalidInputError(f"arguments holds {len(value)} values; at most {MAX_PARAMS} are accepted")
    parsed: dict[str, Any] | list[Any] = value
    return parsed


async def optimize_performance_facts(
    session: AsyncSession,
    *,
    target: str,
    explainer: Explainer | None,
    question: str | None,
    arguments: str | None = None,
) -> OptimizePerformanceFacts:
    target = target.strip()
    if not target:
        raise InvalidInputError(
            f"query is empty; give a SELECT statement or one of {', '.join(MEASURED_TOOLS)}"
        )
    if len(target) > MAX_SQL_CHARS:
        raise InvalidInputError(f"query is {len(target)} characters; at most {MAX_SQL_CHARS} are accepted")
    question = clean_question(question)
    tool = None
    params: list[Any] | None = None
    if looks_like_tool_name(target):
        if target not in MEASURED_TOOLS:
            raise InvalidInputError(
                f"{target!r} is neither SQL nor a tool we can measure; give a SELECT statement or one of "
                f"{', '.join(MEASURED_TOOLS)}"
            )
        given = parse_arguments(arguments, tool=True)
        tool = await capture_tool(session, tool=target, arguments=given if isinstance(given, dict) else None)
    else:
        values = parse_arguments(arguments, tool=False)
        params = values if isinstance(values, list) else None
    analysis, analysis_error = await explain_target(explainer, target=target, tool=tool, params=params)
    relations = scanned_relations(analysis) if analysis is not None else []
    return OptimizePerformanceFacts(
        read_at=now(),
        server=await server_info(session),
        question=question,
        target=target,
        params=params,
        tool=tool,
        tables=await describe_tables(session, names=relations) if relations else [],
        loading=await compare_loading(session),
        nested=await compare_nested_loading(session),
        analysis=analysis,
        analysis_error=analysis_error,
    )
