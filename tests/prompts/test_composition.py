"""Composition: the topics files load and are checked; the question picks the pieces that fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from support_db_mcp.composition import COMPACT, Book, Piece, TopicProblem, Words, load_book, pick
from support_db_mcp.server.prompts import PROMPTS, library
from support_db_mcp.templates import prompts_dir
from tests.prompts.examples import blocks_in


def piece(
    identifier: str, kind: str, topics: tuple[str, ...], *, default: bool = False, **more: object
) -> Piece:
    return Piece(identifier, kind, topics, f"text of {identifier}", default=default, **more)  # type: ignore[arg-type]


BOOK = Book(
    "demo",
    (
        piece("search", "solution", ("search", "filter"), default=True, tables=("tickets",)),
        piece("nested", "solution", ("nested", "comments", "author"), tables=("tickets", "comments")),
        piece("new-model", "solution", ("model",), when="new_entity", default=True),
        piece("p-default", "point", ("x",), default=True),
        piece("p-limit", "point", ("limit", "offset")),
        piece("g-default", "gotcha", ("y",), default=True),
        piece("g-unique", "gotcha", ("unique", "joinedload")),
        piece("g-n1", "gotcha", ("n+1", "missinggreenlet")),
        piece("n-default", "next", ("z",), default=True),
    ),
)
TABLES = {"tickets": ["ticket", "Ticket"], "comments": ["comment"], "users": ["user", "author", "creator"]}


def test_a_question_picks_the_pieces_whose_topics_it_mentions() -> None:
    picked = pick(BOOK, texts=["How do I load comments with their authors? joinedload gives duplicates"])
    assert [p.id for p in picked.solutions] == ["nested"]
    assert "g-unique" in [p.id for p in picked.gotchas]
    assert {"comments", "author", "joinedload"} <= set(picked.matched)


def test_a_question_that_matches_nothing_gets_the_defaults() -> None:
    picked = pick(BOOK, texts=["hello there"])
    assert [p.id for p in picked.solutions] == ["search"]
    assert [p.id for p in picked.gotchas] == ["g-default"]
    assert picked.matched == []


def test_matching_ignores_case_and_plurals_and_takes_punctuated_topics_as_written() -> None:
    words = Words.of(["My N+1 shows MissingGreenlet on Ticket.comments; queries everywhere"])
    assert words.mention("n+1") and words.mention("missinggreenlet") and words.mention("comment")
    assert words.mention("query") and words.mention("ticket.comments")
    assert not words.mention("unique") and not words.mention("")


def test_flagged_pieces_appear_only_under_their_flag() -> None:
    assert "new-model" not in [p.id for p in pick(BOOK, texts=["model"]).solutions]
    assert "new-model" in [p.id for p in pick(BOOK, texts=["model"], flags={"new_entity"}).solutions]


def test_tables_follow_the_question_then_the_chosen_solution() -> None:
    picked = pick(BOOK, texts=["which user is the author of these comments"], tables=TABLES, max_tables=3)
    assert picked.tables == ["comments", "users", "tickets"]
    assert pick(BOOK, texts=["search"], tables=TABLES).tables == ["tickets"]


def test_compact_limits_show_fewer_pieces() -> None:
    question = ["unique joinedload n+1 missinggreenlet limit offset"]
    assert len(pick(BOOK, texts=question, limits=COMPACT).points) <= COMPACT.most["point"]
    assert len(pick(BOOK, texts=question).gotchas) == 3


def test_every_prompts_topics_file_loads_and_its_snippets_are_tested_examples() -> None:
    for spec in PROMPTS:
        book = library().book(spec.name)
        for solution in book.of("solution"):
            assert solution.file is not None
            blocks = blocks_in(prompts_dir() / solution.file)
            assert any("example" in block.attributes for block in blocks), solution.file


def test_every_snippet_is_used_by_some_prompt() -> None:
    used = {piece.file for spec in PROMPTS for piece in library().book(spec.name).of("solution")}
    on_disk = {f"snippets/{path.name}" for path in (prompts_dir() / "snippets").glob("*.md")}
    assert on_disk == used


def _folder(tmp_path: Path, topics: str, snippets: dict[str, str] | None = None) -> Path:
    (tmp_path / "topics").mkdir()
    (tmp_path / "topics" / "demo.toml").write_text(topics)
    for name, text in (snippets or {}).items():
        (tmp_path / "snippets").mkdir(exist_ok=True)
        (tmp_path / "snippets" / name).write_text(text)
    return tmp_path


DEFAULTS = "".join(
    f'[[{k}]]\nid = "{k}-d"\ndefault = true\ntext = "t"\n\n' for k in ("point", "gotcha", "next")
)


@pytest.mark.parametrize(
    ("topics", "snippets", "problem"),
    [
        (
            '[[solution]]\nid = "s"\ntitle = "S"\nfile = "snippets/nope.md"\ntopics = ["a"]\n',
            None,
            "not found",
        ),
        (
            '[[solution]]\nid = "s"\ntitle = "S"\nfile = "snippets/s.md"\ntopics = ["a"]\n',
            {"s.md": "{{ oops }}"},
            "template syntax",
        ),
        ('[[tip]]\nid = "t"\ntext = "x"\ntopics = ["a"]\n', None, "unknown section"),
        ('[[point]]\nid = "point-d"\ntext = "x"\ntopics = ["a"]\n', None, "appears twice"),
        ('[[point]]\nid = "Bad Id"\ntext = "x"\ntopics = ["a"]\n', None, "`id`"),
        ('[[point]]\nid = "p"\ntext = "x"\n', None, "needs topics"),
        ('[[point]]\nid = "p"\ntext = "x"\ntopics = ["a"]\ncolour = "red"\n', None, "unknown keys colour"),
    ],
)
def test_a_broken_topics_file_is_refused_with_the_reason(
    tmp_path: Path, topics: str, snippets: dict[str, str] | None, problem: str
) -> None:
    folder = _folder(tmp_path, DEFAULTS + topics, snippets)
    with pytest.raises(TopicProblem, match=problem):
        load_book(folder, "demo")


def test_a_topics_file_without_a_default_gotcha_is_refused(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        '[[point]]\nid = "p"\ndefault = true\ntext = "x"\n[[next]]\nid = "n"\ndefault = true\ntext = "x"\n',
    )
    with pytest.raises(TopicProblem, match="no default gotcha"):
        load_book(folder, "demo")
