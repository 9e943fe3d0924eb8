"""Every prompt fits its budget (server/prompts.py BUDGET) whatever its arguments: the longest
question accepted, packed with every topic; the longest SQL accepted; a tool that sends three
statements. Run with `-s` to see the sizes."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.config import Settings
from support_db_mcp.explain import Explainer
from support_db_mcp.schemas.explain import MAX_SQL_CHARS
from support_db_mcp.server.prompts import BUDGET, PROMPTS, library
from support_db_mcp.services.prompt_facts import MAX_QUESTION
from tests.prompts.rendering import render


def packed_question(name: str) -> str:
    """The longest question accepted, naming every topic of the prompt's pieces and every table."""
    topics = [topic for piece in library().book(name).pieces for topic in piece.topics]
    words = " ".join([*topics, "tickets comments users tags ticket_tags"])
    question = (words + " ") * (MAX_QUESTION // len(words) + 1)
    return question[:MAX_QUESTION]


def huge_sql() -> str:
    head = "SELECT id, title FROM tickets WHERE title IN ("
    values = ", ".join(f"'Printer {n} is on fire again'" for n in range(MAX_SQL_CHARS // 28))
    sql = head + values
    return sql[: MAX_SQL_CHARS - 60].rsplit(",", 1)[0] + ") ORDER BY created_at DESC LIMIT 20"


WORST = [
    ("define_model", {"entity": "tickets"}),
    ("define_model", {"entity": "sla_policy"}),
    ("query_and_search", {}),
    ("async_setup", {}),
    ("write_tests", {}),
    ("optimize_performance", {"query": "get_ticket"}),
    (
        "optimize_performance",
        {"query": "search_tickets", "arguments": '{"text": "refund invoice", "tag": "billing"}'},
    ),
    ("optimize_performance", {"query": "HUGE"}),
]


@pytest.mark.parametrize(("name", "arguments"), WORST, ids=[f"{n}-{sorted(a)}" for n, a in WORST])
async def test_the_worst_case_arguments_stay_within_the_budget(
    session: AsyncSession, settings: Settings, explainer: Explainer, name: str, arguments: dict[str, str]
) -> None:
    if arguments.get("query") == "HUGE":
        arguments = {**arguments, "query": huge_sql()}
        assert len(arguments["query"]) <= MAX_SQL_CHARS
    question = packed_question(name)
    assert len(question) == MAX_QUESTION
    rendered = await render(session, settings, name, explainer, question=question, **arguments)
    print(f"\nworst case {name} {sorted(arguments)}: {len(rendered):,} characters (budget {BUDGET:,})")
    assert len(rendered) <= BUDGET
    assert "### Gotchas" in rendered and "**How to answer**" in rendered


@pytest.mark.parametrize("spec", PROMPTS, ids=[spec.name for spec in PROMPTS])
async def test_the_typical_prompt_is_well_within_the_budget(
    session: AsyncSession, settings: Settings, explainer: Explainer, spec: object
) -> None:
    name = spec.name  # type: ignore[attr-defined]
    typical = dict(spec.typical)  # type: ignore[attr-defined]
    rendered = await render(session, settings, name, explainer, **typical)
    print(f"\ntypical {name} {typical}: {len(rendered):,} characters")
    assert len(rendered) <= 0.9 * BUDGET
