"""The README's tool tables list exactly the tools of the catalog, with honest annotations."""

from __future__ import annotations

import re
from pathlib import Path

from support_db_mcp.services.operations import CATALOG

README = Path(__file__).resolve().parents[2] / "README.md"


def _rows(heading: str, first_column: str) -> dict[str, str]:
    """Rows of the first table under `heading` whose header starts with `first_column`, by tool."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1]
    table = section.split(f"| {first_column} |", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", table, flags=re.MULTILINE))


def test_the_tools_table_lists_every_tool_of_the_catalog_with_its_annotations() -> None:
    rows = _rows("## Tools", "tool | what it does")
    assert set(rows) == set(CATALOG)
    for name, operation in CATALOG.items():
        annotations = rows[name].rsplit("|", 1)[-1]
        assert ("read-only" in annotations) == operation.read_only, name
        assert ("destructive" in annotations and "not destructive" not in annotations) == (
            operation.destructive
        ), name


def test_the_statement_counts_table_has_every_tool_but_explain_query() -> None:
    assert set(_rows("## Tools", "tool | statements")) == set(CATALOG) - {"explain_query"}
