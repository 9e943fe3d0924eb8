"""The question set (questions.toml): real public questions, each rendered with the prompt an
assistant would pick, checked for what a right answer must contain and must not say, and sized.

Run with `-s` to see, per question, the prompt's size and the pieces it picked.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.composition import pick
from support_db_mcp.config import Settings
from support_db_mcp.explain import Explainer
from support_db_mcp.server.prompts import BUDGET, SPECS, library
from tests.prompts.rendering import facts_of, render

QUESTIONS: list[dict[str, Any]] = tomllib.loads((Path(__file__).parent / "questions.toml").read_text())[
    "question"
]


def test_the_question_set_has_a_dozen_sourced_questions_across_every_prompt() -> None:
    assert len(QUESTIONS) >= 12
    assert len({q["id"] for q in QUESTIONS}) == len(QUESTIONS)
    assert {q["prompt"] for q in QUESTIONS} == set(SPECS)
    for question in QUESTIONS:
        assert question["source"].startswith("https://"), question["id"]
        assert question["must_contain"], question["id"]


@pytest.mark.parametrize("case", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
async def test_each_question_gets_a_prompt_that_answers_it_within_the_budget(
    session: AsyncSession, settings: Settings, explainer: Explainer, case: dict[str, Any]
) -> None:
    arguments = {**case.get("arguments", {}), "question": " ".join(case["question"].split())}
    rendered = await render(session, settings, case["prompt"], explainer, **arguments)
    missing = [text for text in case["must_contain"] if text not in rendered]
    wrong = [text for text in case["must_not_say"] if text in rendered]
    assert missing == [] and wrong == [], f"{case['id']}:\n{rendered}"
    assert len(rendered) <= BUDGET
    facts = await facts_of(session, settings, case["prompt"], explainer, **arguments)
    picked = pick(library().book(case["prompt"]), texts=facts.topic_texts(), flags=facts.flags())
    print(
        f"\n{case['id']}: {case['prompt']}, {len(rendered):,} characters; "
        f"solutions {[p.id for p in picked.solutions]}, gotchas {[p.id for p in picked.gotchas]}, "
        f"matched {picked.matched[:6]}"
    )
