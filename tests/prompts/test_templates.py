"""The template library: found in a checkout or a wheel, checked at start-up, strict at render time."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from support_db_mcp.server.prompts import PROMPTS, RESOURCE_TEMPLATES, library
from support_db_mcp.templates import (
    COMPOSED,
    TemplateLibrary,
    TemplateProblem,
    clip,
    fact_names,
    prompts_dir,
    tidy,
)


@dataclass(frozen=True)
class Facts:
    name: str
    count: int


# the smallest topics file a prompt may have: a default point, gotcha and next step
TOPICS = "".join(
    f'[[{kind}]]\nid = "{kind}"\ndefault = true\ntext = "a {kind}"\n\n'
    for kind in ("point", "gotcha", "next")
)


def write(folder: Path, files: dict[str, str]) -> Path:
    files = {"topics/greet.toml": TOPICS, **files}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


GOOD = '+++\ntitle = "Greet"\ndescription = "Say hello."\n+++\nHello {{ name }}, {{ count }} times.\n'


def test_in_a_checkout_the_templates_come_from_the_top_level_prompts_folder(repo_root: Path) -> None:
    assert prompts_dir() == repo_root / "prompts"
    assert {f"{spec.name}.md" for spec in PROMPTS} <= {p.name for p in prompts_dir().glob("*.md")}
    assert {f"{spec.name}.toml" for spec in PROMPTS} <= {p.name for p in (prompts_dir() / "topics").glob("*")}


def test_the_wheel_carries_the_prompts_folder_where_the_package_looks_for_it(repo_root: Path) -> None:
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())
    included = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included == {"prompts": "support_db_mcp/prompts_data"}


def test_every_prompt_template_loads_with_a_title_and_a_description() -> None:
    templates = library()
    for spec in PROMPTS:
        prompt = templates.prompt(spec.name)
        assert prompt.title and len(prompt.description) > 40
        assert prompt.variables == fact_names(spec.facts) | COMPOSED
        assert templates.book(spec.name).pieces
    assert set(RESOURCE_TEMPLATES) <= {str(p.relative_to(prompts_dir())) for p in prompts_dir().rglob("*.md")}


def test_a_template_that_uses_a_fact_nobody_provides_fails_at_load(tmp_path: Path) -> None:
    folder = write(tmp_path, {"greet.md": GOOD.replace("{{ count }}", "{{ cuont }}")})
    with pytest.raises(TemplateProblem, match=r"greet\.md uses cuont"):
        TemplateLibrary(folder).load_prompt("greet", provides=fact_names(Facts))


def test_variables_used_inside_included_macros_are_checked_too(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "greet.md": GOOD.replace("Hello", '{% import "part.md" as part %}{{ part.shout(name) }} Hello'),
            "part.md": "{% macro shout(who) %}{{ who | upper }} {{ volume }}{% endmacro %}",
        },
    )
    with pytest.raises(TemplateProblem, match="uses volume"):
        TemplateLibrary(folder).load_prompt("greet", provides=fact_names(Facts))


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    folder = write(tmp_path, {"greet.md": GOOD + "{% if name %}\nno end\n"})
    with pytest.raises(TemplateProblem, match=r"greet.md, line \d+"):
        TemplateLibrary(folder).load_prompt("greet", provides=fact_names(Facts))


@pytest.mark.parametrize(
    "front_matter",
    ['title = "Greet"\n', 'description = "x"\n', 'title = ""\ndescription = "x"\n', "title = \n"],
)
def test_front_matter_without_a_title_and_description_is_refused(tmp_path: Path, front_matter: str) -> None:
    folder = write(tmp_path, {"greet.md": f"+++\n{front_matter}+++\nHello {{{{ name }}}}\n"})
    with pytest.raises(TemplateProblem):
        TemplateLibrary(folder).load_prompt("greet", provides=fact_names(Facts))


def test_rendering_a_missing_attribute_raises_instead_of_printing_nothing(tmp_path: Path) -> None:
    folder = write(tmp_path, {"greet.md": GOOD.replace("{{ count }}", "{{ count.real }} {{ name.nope }}")})
    templates = TemplateLibrary(folder)
    templates.load_prompt("greet", provides=fact_names(Facts))
    with pytest.raises(TemplateProblem, match="nope"):
        templates.render(templates.prompt("greet").file, {"name": "Ana", "count": 2})


def test_front_matter_is_hidden_and_line_numbers_are_kept(tmp_path: Path) -> None:
    folder = write(tmp_path, {"greet.md": GOOD})
    templates = TemplateLibrary(folder)
    templates.load_prompt("greet", provides=fact_names(Facts))
    assert (
        templates.render(templates.prompt("greet").file, {"name": "Ana", "count": 2})
        == "Hello Ana, 2 times.\n"
    )


def test_tidy_collapses_blank_runs_but_leaves_code_blocks_alone() -> None:
    text = "\n\nA\n\n\n\nB\n```python\nx = 1\n\n\n\ny = 2\n```\n\n\n"
    assert tidy(text) == "A\n\nB\n```python\nx = 1\n\n\n\ny = 2\n```\n"


def test_a_document_outside_the_folder_cannot_be_read(tmp_path: Path) -> None:
    folder = write(tmp_path / "prompts", {"EXAMPLES.md": "# examples\n"})
    (tmp_path / "secret.md").write_text("no")
    templates = TemplateLibrary(folder)
    assert templates.document("EXAMPLES.md") == "# examples\n"
    with pytest.raises(TemplateProblem):
        templates.document("../secret.md")


@pytest.mark.parametrize(
    ("expression", "problem"),
    [("{{ name | shout }}", "No filter named 'shout'"), ("{{ name is startswith('A') }}", "startswith")],
)
def test_an_unknown_filter_or_test_fails_at_load_not_at_render(
    tmp_path: Path, expression: str, problem: str
) -> None:
    folder = write(tmp_path, {"greet.md": GOOD + expression + "\n"})
    with pytest.raises(TemplateProblem, match=problem):
        TemplateLibrary(folder).load_prompt("greet", provides=fact_names(Facts))


def test_clip_cuts_at_a_line_end_and_says_how_much_was_left_out() -> None:
    text = "\n".join(f"line {n}" for n in range(100))
    clipped = clip(text, 40)
    assert clipped.startswith("line 0\nline 1\n") and clipped.endswith("(95 more lines cut)")
    assert len(clipped.split("\n")[:-1]) == 5
    assert clip("short", 40) == "short"
    assert clip("x" * 100, 10) == "x" * 10 + " ... (90 more characters cut)"
