"""The prompt templates in prompts/: found, loaded, checked and rendered.

Templates are Jinja2 files with a TOML front matter (title, description) between `+++` lines.
Each prompt also has its tagged pieces in topics/<prompt>.toml (composition.py), loaded and checked
with it; a prompt is rendered with its facts plus what composition picked (`picked`), how much
detail the budget allows (`detail`) and the installed library versions (`versions`).
Rendering uses StrictUndefined, so a misspelt fact fails loudly instead of rendering as "". Every
template (and every partial it includes) is parsed when the library is loaded, and the variables
it uses are compared with the facts its prompt provides, so a broken template stops the server
at start-up instead of at the first request.

The folder is `support_db_mcp/prompts_data` in a wheel (hatch force-include) and the top-level
`prompts/` folder in a checkout.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from support_db_mcp.composition import Book, Picked, load_book

PACKAGED_FOLDER = "prompts_data"
FRONT_MATTER = "+++"
# variables every prompt template gets besides its facts
COMPOSED = frozenset({"picked", "detail", "versions"})


class TemplateProblem(Exception):
    """A template file is missing, malformed, or uses a variable nobody provides."""


def prompts_dir() -> Path:
    """The folder that holds the templates: packaged in the wheel, else the repository's prompts/."""
    packaged = Path(__file__).resolve().parent / PACKAGED_FOLDER
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "prompts"
    if checkout.is_dir():
        return checkout
    raise TemplateProblem(f"no prompt templates: neither {packaged} nor {checkout} exists")


def split_front_matter(source: str, name: str) -> tuple[dict[str, Any], str]:
    """(front matter, body); the front matter is replaced by blank lines so line numbers still match."""
    if not source.startswith(FRONT_MATTER + "\n"):
        return {}, source
    end = source.find("\n" + FRONT_MATTER + "\n", len(FRONT_MATTER))
    if end < 0:
        raise TemplateProblem(f"{name}: front matter opened with {FRONT_MATTER} is never closed")
    header = source[len(FRONT_MATTER) + 1 : end + 1]
    try:
        data = tomllib.loads(header)
    except tomllib.TOMLDecodeError as error:
        raise TemplateProblem(f"{name}: front matter is not valid TOML: {error}") from None
    body_start = end + len(FRONT_MATTER) + 2
    blank = "\n" * source.count("\n", 0, body_start)
    return data, blank + source[body_start:]


class _FrontMatterLoader(jinja2.BaseLoader):
    """Loads files from one folder and hides their front matter from Jinja."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = (self.root / template).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        source = path.read_text(encoding="utf-8")
        _, body = split_front_matter(source, template)
        mtime = path.stat().st_mtime
        return body, str(path), lambda: path.stat().st_mtime == mtime


def clip(text: str, limit: int, what: str = "lines") -> str:
    """At most `limit` characters of `text`, cut at a line end, saying how much was left out."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    lines = text.split("\n")
    for line in lines:
        if used + len(line) + 1 > limit:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept:  # one long line: cut inside it
        return text[:limit] + f" ... ({len(text) - limit:,} more characters cut)"
    return "\n".join(kept) + f"\n... ({len(lines) - len(kept):,} more {what} cut)"


def clip_plans(text: str, limit: int) -> str:
    """explain_query's plan text within `limit` characters: every statement gets its share, cut at
    a line end, and keeps its last line when that is its verdict. Buffer counts are left out (the
    tool's answer has them)."""
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("Buffers: "))
    parts = text.split("\n\n")
    share = max(limit // max(len(parts), 1), 200)
    clipped = []
    for part in parts:
        lines = part.split("\n")
        verdict = lines.pop() if lines and lines[-1].startswith("Verdict: ") else None
        body = clip("\n".join(lines), max(share - len(verdict or ""), 120), "plan lines")
        clipped.append(body + (f"\n{verdict}" if verdict else ""))
    return "\n\n".join(clipped)


def tidy(text: str) -> str:
    """Collapse runs of blank lines that template tags leave behind, except inside code fences."""
    lines: list[str] = []
    in_code = False
    for line in text.strip("\n").split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        blank = not line.strip()
        if blank and not in_code and (not lines or not lines[-1].strip()):
            continue
        lines.append("" if blank and not in_code else line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    file: str
    title: str
    description: str
    variables: frozenset[str]


def fact_names(facts_type: type[Any]) -> frozenset[str]:
    """The variables a facts dataclass provides to its template."""
    return frozenset(field.name for field in dataclasses.fields(facts_type))


def as_context(facts: Any) -> dict[str, Any]:
    """A facts dataclass as template variables (shallow: nested dataclasses stay objects)."""
    return {field.name: getattr(facts, field.name) for field in dataclasses.fields(facts)}


class TemplateLibrary:
    """All templates of one folder, checked once; render() is then cheap."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or prompts_dir()
        self.environment = jinja2.Environment(
            loader=_FrontMatterLoader(self.root),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # markdown for a model to read, not HTML
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["repr"] = repr  # bound SQL values, shown as Python literals
        self.environment.filters["clip"] = clip  # long SQL, plans and questions, cut at a line
        self.environment.filters["clip_plans"] = clip_plans
        self._templates: dict[str, PromptTemplate] = {}
        self._books: dict[str, Book] = {}

    # ------------------------------------------------------------ loading and checking
    def _source(self, file: str) -> str:
        try:
            return (self.root / file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TemplateProblem(f"template {file} not found in {self.root}") from None

    def _used_variables(self, file: str, seen: set[str] | None = None) -> set[str]:
        """Variables used by a template and, recursively, by the templates it includes."""
        seen = seen if seen is not None else set()
        if file in seen:
            return set()
        seen.add(file)
        _, body = split_front_matter(self._source(file), file)
        try:
            tree = self.environment.parse(body, name=file)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateProblem(f"{file}, line {error.lineno}: {error.message}") from None
        unknown_tests = {test.name for test in tree.find_all(nodes.Test)} - set(self.environment.tests)
        if unknown_tests:
            raise TemplateProblem(f"{file} uses unknown Jinja tests: {', '.join(sorted(unknown_tests))}")
        try:
            self.environment.get_template(file)  # compiling checks that every filter exists
        except jinja2.TemplateAssertionError as error:
            raise TemplateProblem(f"{file}, line {error.lineno}: {error.message}") from None
        used = set(meta.find_undeclared_variables(tree))
        for included in meta.find_referenced_templates(tree):
            if included is None:
                raise TemplateProblem(f"{file}: includes must name their template literally")
            used |= self._used_variables(included, seen)
        return used

    def check(self, file: str, provides: Iterable[str]) -> frozenset[str]:
        """Parse `file` and its includes; fail unless every variable they use is provided."""
        provided = frozenset(provides)
        used = self._used_variables(file)
        missing = sorted(used - provided - set(self.environment.globals))
        if missing:
            raise TemplateProblem(f"{file} uses {', '.join(missing)}, which its facts do not provide")
        return provided

    def load_prompt(self, name: str, *, provides: Iterable[str]) -> PromptTemplate:
        """Load prompts/<name>.md, with its front matter, and check it against `provides`."""
        file = f"{name}.md"
        header, _ = split_front_matter(self._source(file), file)
        for key in ("title", "description"):
            if not isinstance(header.get(key), str) or not header[key].strip():
                raise TemplateProblem(f"{file}: front matter needs a non-empty `{key}`")
        template = PromptTemplate(
            name=name,
            file=file,
            title=header["title"].strip(),
            description=" ".join(header["description"].split()),
            variables=self.check(file, frozenset(provides) | COMPOSED),
        )
        self._templates[name] = template
        self._books[name] = load_book(self.root, name)
        return template

    def prompt(self, name: str) -> PromptTemplate:
        return self._templates[name]

    def book(self, name: str) -> Book:
        """The tagged pieces of prompt `name` (topics/<name>.toml)."""
        return self._books[name]

    # ------------------------------------------------------------ rendering
    def render(self, file: str, context: Mapping[str, Any]) -> str:
        try:
            text = self.environment.get_template(file).render(context)
        except jinja2.UndefinedError as error:
            raise TemplateProblem(f"{file}: {error.message}") from error
        return tidy(text)

    def render_prompt(
        self, name: str, facts: Any, *, picked: Picked, detail: int, versions: Mapping[str, str]
    ) -> str:
        context = {**as_context(facts), "picked": picked, "detail": detail, "versions": versions}
        return self.render(self.prompt(name).file, context)

    def document(self, relative: str) -> str:
        """A plain file of the folder (EXAMPLES.md, references/...), as written."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise TemplateProblem(f"no document {relative} in {self.root}")
        return path.read_text(encoding="utf-8")
