"""The published input schema, enforced: arguments it refuses are refused by the server too.

The input models accept everything the published schema accepts (the tests check it, value by
value), and more besides for Python callers: lists where the schema says comma-separated text,
integers where it says text, None for an optional field (except an assignee, where null would
read as "left out": "none" unassigns). Over MCP the schema is the contract, so a call whose
arguments pass the model but not the schema (`"ticket": 123`, `"status": ["open"]`,
`"creator": null`) is refused here, with a sentence saying what to send instead. Together, what a
client's validator accepts and what the server accepts are the same set.

Both judge each argument on its own. A rule across arguments ("ticket or text", "at least one
change") could be published only as a top-level anyOf/oneOf, which clients refuse, so the tool's
description states it and its service checks it before any SQL (base.ToolInput.across_arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from support_db_mcp.schemas.base import shown

_JSON_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object of named values",
}


class InputContract:
    """A tool's published input schema and the check of arguments against it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(schema)

    def problems(self, arguments: Mapping[str, Any]) -> list[str]:
        """One plain sentence per way `arguments` break the published schema (none: they keep it)."""
        sentences: list[str] = []
        for error in sorted(self._validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
            sentence = _sentence(error)
            if sentence not in sentences:
                sentences.append(sentence)
        return sentences


def _name(error: ValidationError) -> str:
    """`status`, `params[2]`: where in the arguments the error is."""
    name = ""
    for part in error.absolute_path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _example(schema: Mapping[str, Any]) -> str:
    examples = schema.get("examples")
    return f", e.g. {examples[-1]!r}" if isinstance(examples, list) and examples else ""


def _sentence(error: ValidationError) -> str:
    name = _name(error) or "the arguments"
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.instance
    keyword = error.validator
    if keyword == "type":
        if value is None:
            return f"{name} cannot be null: leave it out instead"
        expected = schema.get("type")
        word = _JSON_TYPE_WORDS.get(expected, str(expected)) if isinstance(expected, str) else "another type"
        return f"{name} must be {word}{_example(schema)}; got {shown(value)}"
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in schema.get("enum", []))
        return f"unknown {name} {shown(value)}; expected one of: {choices}"
    if keyword == "pattern":
        hint = schema.get("description", "")
        return f"{name} {shown(value)} is not valid" + (f": {hint}" if hint else "")
    if keyword in ("minLength", "maxLength"):
        return f"{name} must be {_length_rule(schema)}, got {len(value):,}"
    if keyword in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        return f"{name} must be between {low:,} and {high:,}, got {value}"
    if keyword == "maxItems":
        return f"{name} takes at most {schema['maxItems']} items, got {len(value)}"
    if keyword == "additionalProperties":
        return f"unknown argument: {error.message}"
    return f"{name}: {error.message}"


def _length_rule(schema: Mapping[str, Any]) -> str:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None and high is not None:
        return f"{low} to {high:,} characters long"
    if high is not None:
        return f"at most {high:,} characters long"
    return f"at least {low} characters long"
