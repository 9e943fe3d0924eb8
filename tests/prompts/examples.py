"""The code blocks of prompts/: found, grouped into examples, written to a folder and run.

A fence's info string says what a block is:
    ```python example=query-search               part of the example "query-search" (main.py)
    ```python example=pytest-setup file=conftest.py   a file of a multi-file example
    ```toml example=pytest-setup file=pyproject.toml  any language may add files to an example
    ```python live=models.py                      a live quote: only a template expression, not code
Blocks of one example, in one markdown file, are concatenated in order per file. An example with a
test_*.py file runs under pytest; any other runs as `python main.py`. Both get DATABASE_URL.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from support_db_mcp.templates import prompts_dir

FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`\n]*)$")
RUN_TIMEOUT_S = 180


@dataclass(frozen=True)
class Block:
    source: Path
    line: int  # 1-based line of the opening fence
    language: str
    attributes: dict[str, str]
    code: str

    @property
    def where(self) -> str:
        return f"{self.source.relative_to(prompts_dir())}:{self.line}"


@dataclass
class Example:
    source: Path
    name: str
    files: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.source.relative_to(prompts_dir())}::{self.name}"

    @property
    def is_pytest(self) -> bool:
        return any(Path(name).name.startswith("test_") for name in self.files)

    def python_files(self) -> dict[str, str]:
        return {name: code for name, code in self.files.items() if name.endswith(".py")}


def _attributes(info: str) -> tuple[str, dict[str, str]]:
    words = shlex.split(info)
    if not words:
        return "", {}
    language, rest = words[0], words[1:]
    attributes = {}
    for word in rest:
        key, _, value = word.partition("=")
        attributes[key] = value
    return language, attributes


def blocks_in(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        language, attributes = _attributes(opening["info"].strip())
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            body.append(lines[end])
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: code fence never closed")
        indent = len(opening["indent"])
        code = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in body)
        blocks.append(Block(path, index + 1, language, attributes, code + "\n"))
        index = end + 1
    return blocks


def markdown_files() -> list[Path]:
    return sorted(prompts_dir().rglob("*.md"))


def all_blocks() -> list[Block]:
    return [block for path in markdown_files() for block in blocks_in(path)]


def python_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language in {"python", "py"}]


def examples() -> list[Example]:
    found: dict[tuple[Path, str], Example] = {}
    for block in all_blocks():
        name = block.attributes.get("example")
        if not name:
            continue
        example = found.setdefault((block.source, name), Example(block.source, name))
        file = block.attributes.get("file", "main.py")
        example.files[file] = example.files.get(file, "") + block.code
        example.blocks.append(block)
    return list(found.values())


def write(example: Example, folder: Path) -> None:
    for name, code in example.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")


def run(example: Example, folder: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run the example as a user would, in a fresh interpreter, against `database_url`."""
    write(example, folder)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_"))}
    env["DATABASE_URL"] = database_url
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if example.is_pytest:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)]
    else:
        command = [sys.executable, "-W", "error", str(folder / "main.py")]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
