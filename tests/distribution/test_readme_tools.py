"""The README's tool table is the catalog: the same tools, with the annotations the server publishes."""

from __future__ import annotations

import re
from pathlib import Path

from mcp import Client

from support_db_mcp.services.operations import CATALOG, Operation

ROW = re.compile(r"^\| `(?P<name>[a-z_]+)` \| (?P<what>.+) \| (?P<annotations>[^|]+) \|$")


def readme_tool_rows(repo_root: Path) -> dict[str, str]:
    """tool name -> its annotations cell, from the table under '## Tools'."""
    text = (repo_root / "README.md").read_text()
    section = text.split("\n## Tools\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match["name"]] = match["annotations"].strip().lower()
    return rows


def _says(cell: str, word: str, value: bool) -> bool:
    """The cell says `word` when value is true and `not word` when it is false."""
    negated = f"not {word}" in cell
    return (word in cell and not negated) if value else negated


def annotations_agree(cell: str, operation: Operation) -> bool:
    if operation.read_only:
        return _says(cell, "read-only", True) and _says(cell, "idempotent", operation.idempotent)
    return (
        ("read-only" not in cell or _says(cell, "read-only", False))
        and _says(cell, "destructive", operation.destructive)
        and _says(cell, "idempotent", operation.idempotent)
    )


def test_the_readme_lists_exactly_the_tools_of_the_catalog(repo_root: Path) -> None:
    assert set(readme_tool_rows(repo_root)) == set(CATALOG)


def test_each_readme_row_states_the_annotations_the_catalog_declares(repo_root: Path) -> None:
    rows = readme_tool_rows(repo_root)
    wrong = {
        name: rows[name]
        for name, operation in CATALOG.items()
        if not annotations_agree(rows[name], operation)
    }
    assert wrong == {}


async def test_the_server_publishes_the_annotations_the_catalog_declares(client: Client) -> None:
    async with client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == set(CATALOG)
    for name, operation in CATALOG.items():
        annotations = listed[name].annotations
        assert annotations is not None
        assert (annotations.read_only_hint, annotations.destructive_hint, annotations.idempotent_hint) == (
            operation.read_only,
            operation.destructive,
            operation.idempotent,
        ), name
        assert listed[name].title == operation.title and listed[name].description == operation.description


def _rows(heading: str, first_column: str) -> dict[str, str]:
    """Rows of the first table under `heading` whose header starts with `first_column`, by tool."""
    section = (Path(__file__).resolve().parents[2] / "README.md").read_text().split(f"\n{heading}\n", 1)[1]
    table = section.split(f"| {first_column} |", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", table, flags=re.MULTILINE))


def test_the_statement_counts_table_has_every_tool_but_explain_query() -> None:
    assert set(_rows("## Tools", "tool | statements")) == set(CATALOG) - {"explain_query"}
