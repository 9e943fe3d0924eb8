"""What each prompt says, picked by the question: the tagged pieces of prompts/topics/<prompt>.toml.

A piece is a tested solution (its text is a snippet file of prompts/snippets/), a key point, a
gotcha or a next step, tagged with the topics it answers. `pick` scores every piece by the topics
the question (and the prompt's other arguments) mention and keeps the few that fit, falling back
to the pieces marked `default` when nothing matches. The words, the texts and the tags all live in
the files; this module only reads, checks and chooses.

Topic matching is deliberately plain: a one-word topic matches a word of the question (plural or
singular), a topic with spaces or punctuation matches as a phrase, both case-insensitively.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["solution", "point", "gotcha", "next"]
KINDS: dict[str, Kind] = {"solution": "solution", "point": "point", "gotcha": "gotcha", "next": "next"}
SHARED_FILE = "topics/shared.toml"
TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#")
_WORD = re.compile(r"[a-z0-9_+#]+")


class TopicProblem(Exception):
    """A topics file is malformed, names a missing snippet, or repeats a piece."""


@dataclass(frozen=True)
class Piece:
    id: str
    kind: Kind
    topics: tuple[str, ...]
    text: str  # markdown; for a solution, the snippet file as written
    title: str = ""
    tables: tuple[str, ...] = ()  # tables a solution works with: shown LIVE beside it
    default: bool = False  # shown when the question matches too few pieces of its kind
    when: str | None = None  # only under this flag of the arguments (e.g. "existing_table")
    claim: str | None = None  # the id of the test in tests/prompts/test_claims.py that executes it
    file: str | None = None


@dataclass(frozen=True)
class Limits:
    """How many pieces of each kind a prompt shows: at most `most`, at least `least` (defaults fill)."""

    most: Mapping[Kind, int]
    least: Mapping[Kind, int]


FULL = Limits(
    most={"solution": 2, "point": 2, "gotcha": 4, "next": 2},
    least={"solution": 1, "point": 2, "gotcha": 3, "next": 2},
)
COMPACT = Limits(
    most={"solution": 1, "point": 1, "gotcha": 2, "next": 1},
    least={"solution": 1, "point": 1, "gotcha": 2, "next": 1},
)


@dataclass(frozen=True)
class Book:
    """Every piece one prompt may show, in file order."""

    prompt: str
    pieces: tuple[Piece, ...]

    def of(self, kind: Kind) -> list[Piece]:
        return [piece for piece in self.pieces if piece.kind == kind]


@dataclass(frozen=True)
class Picked:
    """What one rendering shows: the pieces, the topics that chose them, the tables to show LIVE."""

    solutions: list[Piece]
    points: list[Piece]
    gotchas: list[Piece]
    next_steps: list[Piece]
    matched: list[str] = field(default_factory=list)  # topics of the question that picked something
    tables: list[str] = field(default_factory=list)

    @property
    def claims(self) -> list[str]:
        return [p.claim for p in (*self.solutions, *self.points, *self.gotchas, *self.next_steps) if p.claim]


# ---------------------------------------------------------------- loading
def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise TopicProblem(f"{where}: `{key}` must be a list of non-empty strings")
    return tuple(item.strip() for item in value)


def _piece(root: Path, raw: Mapping[str, Any], kind: Kind, where: str) -> Piece:
    known = {"id", "topics", "text", "file", "title", "tables", "default", "when", "claim"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise TopicProblem(f"{where}: unknown keys {', '.join(unknown)}")
    identifier = raw.get("id")
    if not isinstance(identifier, str) or not re.fullmatch(r"[a-z0-9-]+", identifier):
        raise TopicProblem(f"{where}: every piece needs an `id` of lower-case letters, digits and dashes")
    where = f"{where} [{identifier}]"
    topics = _strings(raw.get("topics"), where, "topics")
    if not topics and not raw.get("default"):
        raise TopicProblem(f"{where}: a piece needs topics, or `default = true`")
    file = raw.get("file")
    text = raw.get("text")
    if kind == "solution":
        if not isinstance(file, str) or text is not None:
            raise TopicProblem(f"{where}: a solution names its snippet in `file` (and has no `text`)")
        path = (root / file).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise TopicProblem(f"{where}: snippet {file} not found in {root}")
        text = path.read_text(encoding="utf-8")
        if TEMPLATE_SYNTAX.search(text):
            raise TopicProblem(
                f"{where}: snippet {file} holds template syntax; snippets are shown as written"
            )
        if not isinstance(raw.get("title"), str) or not raw["title"].strip():
            raise TopicProblem(f"{where}: a solution needs a `title`")
    elif not isinstance(text, str) or not text.strip() or file is not None:
        raise TopicProblem(f"{where}: a {kind} has a non-empty `text` (and no `file`)")
    for key in ("when", "claim"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise TopicProblem(f"{where}: `{key}` must be a string")
    return Piece(
        id=identifier,
        kind=kind,
        topics=tuple(topic.lower() for topic in topics),
        text=" ".join(text.split()) if kind != "solution" else text.strip("\n"),
        title=str(raw.get("title", "")).strip(),
        tables=_strings(raw.get("tables"), where, "tables"),
        default=bool(raw.get("default", False)),
        when=raw.get("when"),
        claim=raw.get("claim"),
        file=file,
    )


def _pieces_of(root: Path, relative: str) -> tuple[dict[str, Any], list[Piece]]:
    path = root / relative
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopicProblem(f"{relative} not found in {root}") from None
    except tomllib.TOMLDecodeError as error:
        raise TopicProblem(f"{relative} is not valid TOML: {error}") from None
    pieces: list[Piece] = []
    for key, value in data.items():
        if key == "include":
            continue
        kind = KINDS.get(key)
        if kind is None or not isinstance(value, list):
            raise TopicProblem(f"{relative}: unknown section [[{key}]]; use solution, point, gotcha, next")
        pieces += [_piece(root, raw, kind, f"{relative}, {key} {n}") for n, raw in enumerate(value, 1)]
    return data, pieces


def load_book(root: Path, prompt: str) -> Book:
    """prompts/topics/<prompt>.toml, with the shared pieces it includes by id, checked."""
    relative = f"topics/{prompt}.toml"
    data, pieces = _pieces_of(root, relative)
    include = _strings(data.get("include"), relative, "include")
    if include:
        _, shared = _pieces_of(root, SHARED_FILE)
        by_id = {piece.id: piece for piece in shared}
        missing = [identifier for identifier in include if identifier not in by_id]
        if missing:
            raise TopicProblem(f"{relative} includes {', '.join(missing)}, which {SHARED_FILE} does not hold")
        pieces += [by_id[identifier] for identifier in include]
    seen: set[str] = set()
    for piece in pieces:
        if piece.id in seen:
            raise TopicProblem(f"{relative}: the piece {piece.id!r} appears twice")
        seen.add(piece.id)
    # a question that matches nothing still gets points, gotchas and next steps; a solution may be
    # left out on purpose (define_model on an existing table leads with the live model instead)
    for kind in ("point", "gotcha", "next"):
        if not any(piece.default for piece in pieces if piece.kind == kind):
            raise TopicProblem(f"{relative}: no default {kind}; a question that matches nothing needs one")
    return Book(prompt, tuple(pieces))


# ---------------------------------------------------------------- matching and picking
def _forms(word: str) -> set[str]:
    forms = {word}
    if len(word) > 3 and word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])
    if len(word) > 2 and word.endswith("s"):
        forms.add(word[:-1])
    return forms


@dataclass(frozen=True)
class Words:
    """The text a question is matched on: its words (with singular forms) and its normalised phrases."""

    words: frozenset[str]
    phrase: str

    @classmethod
    def of(cls, texts: Iterable[str | None]) -> Words:
        tokens = [token for text in texts if text for token in _WORD.findall(text.lower())]
        words = frozenset(form for token in tokens for form in _forms(token))
        return cls(words, " " + " ".join(tokens) + " ")

    def mention(self, topic: str) -> bool:
        tokens = _WORD.findall(topic.lower())
        if not tokens:
            return False
        if len(tokens) == 1 and tokens[0] == topic.lower():
            return bool(_forms(tokens[0]) & self.words)
        return f" {' '.join(tokens)} " in self.phrase


def _eligible(piece: Piece, flags: frozenset[str]) -> bool:
    return piece.when is None or piece.when in flags


def _choose(pieces: Sequence[Piece], words: Words, most: int, least: int) -> tuple[list[Piece], list[str]]:
    scored = []
    for position, piece in enumerate(pieces):
        hits = [topic for topic in piece.topics if words.mention(topic)]
        if hits:
            scored.append((-len(hits), position, piece, hits))
    scored.sort(key=lambda item: (item[0], item[1]))
    chosen = [piece for _, _, piece, _ in scored[:most]]
    matched = [topic for _, _, piece, hits in scored[:most] for topic in hits]
    for piece in pieces:
        if len(chosen) >= least:
            break
        if piece.default and piece not in chosen:
            chosen.append(piece)
    return chosen, matched


def pick(
    book: Book,
    *,
    texts: Iterable[str | None],
    flags: Iterable[str] = (),
    tables: Mapping[str, Sequence[str]] | None = None,
    limits: Limits = FULL,
    max_tables: int = 2,
) -> Picked:
    """The pieces of `book` that answer `texts` (the question and the other arguments).

    `tables` maps each live table to the names a question may call it by ('tickets': ticket,
    Ticket); the tables shown are those the question names, then those the chosen solutions use.
    """
    words = Words.of(texts)
    allowed = frozenset(flags)
    chosen: dict[Kind, list[Piece]] = {}
    matched: list[str] = []
    for kind in KINDS.values():
        pieces = [piece for piece in book.of(kind) if _eligible(piece, allowed)]
        chosen[kind], hits = _choose(pieces, words, limits.most[kind], limits.least[kind])
        matched += [hit for hit in hits if hit not in matched]
    shown: list[str] = []
    for table, names in (tables or {}).items():
        if any(words.mention(name) for name in (table, *names)) and table not in shown:
            shown.append(table)
    for piece in chosen["solution"]:
        shown += [table for table in piece.tables if table not in shown and table in (tables or {})]
    return Picked(
        solutions=chosen["solution"],
        points=chosen["point"],
        gotchas=chosen["gotcha"],
        next_steps=chosen["next"],
        matched=matched,
        tables=shown[:max_tables],
    )
