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

import re
from collections.abc import Callable, Mapping
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
        self._keeps = compiled_check(schema)

    def problems(self, arguments: Mapping[str, Any]) -> list[str]:
        """One plain sentence per way `arguments` break the published schema (none: they keep it)."""
        if self._keeps is not None and self._keeps(arguments):
            return []
        sentences: list[str] = []
        for error in sorted(self._validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
            sentence = _sentence(error)
            if sentence not in sentences:
                sentences.append(sentence)
        return sentences


# ---------------------------------------------------------------- the check of every call, compiled
# Keywords that say nothing about validity, and the JSON types by the Python types that are
# certainly of that type (exactly: True is no integer to JSON Schema, 1.0 is one, and so 1.0 is
# left to the full check).
_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "deprecated"})
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
# what may constrain a value of each type here (any other keyword: the full check decides)
_KEYWORDS = {
    "string": frozenset({"type", "enum", "pattern", "minLength", "maxLength"}),
    "integer": frozenset({"type", "minimum", "maximum"}),
    "number": frozenset({"type", "minimum", "maximum"}),
    "boolean": frozenset({"type"}),
    "array": frozenset({"type", "items", "maxItems"}),  # of anything (`items: {}`)
    "object": frozenset({"type", "additionalProperties"}),  # of anything (`additionalProperties: true`)
}
ValueCheck = Callable[[Any], bool]


def _value_check(schema: Mapping[str, Any]) -> ValueCheck | None:
    """A check that is true only of values `schema` accepts, or None for a schema using anything
    beyond a plain type and its bounds (those values are left to jsonschema)."""
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in _KEYWORDS:
        return None
    check: ValueCheck
    if not set(schema) - _ANNOTATIONS <= _KEYWORDS[kind]:
        return None
    if schema.get("items", {}) != {} or schema.get("additionalProperties", True) is not True:
        return None
    enum = schema.get("enum")
    if enum is not None and not all(type(choice) is str for choice in enum):
        return None
    exact = _EXACT_TYPES[kind]
    choices = frozenset(enum) if enum is not None else None
    pattern = re.compile(schema["pattern"]).search if "pattern" in schema else None  # as jsonschema does
    shortest, longest = schema.get("minLength", 0), schema.get("maxLength")
    low, high = schema.get("minimum"), schema.get("maximum")
    most = schema.get("maxItems")

    def text(value: Any) -> bool:
        return (
            type(value) is str
            and (choices is None or value in choices)
            and (pattern is None or pattern(value) is not None)
            and len(value) >= shortest
            and (longest is None or len(value) <= longest)
        )

    def number(value: Any) -> bool:
        return type(value) in exact and (low is None or value >= low) and (high is None or value <= high)

    def items(value: Any) -> bool:
        return type(value) is list and (most is None or len(value) <= most)

    def plain(value: Any) -> bool:
        return type(value) in exact

    by_kind: dict[str, ValueCheck] = {"string": text, "integer": number, "number": number, "array": items}
    check = by_kind.get(kind, plain)
    return check


def compiled_check(schema: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """For a flat object schema (ours: one plain typed property each, no unknown keys): a check
    that is true only of arguments the schema accepts, in a fraction of jsonschema's time. It may
    say false of arguments the schema accepts too (a property it does not compile, 1.0 for an
    integer): those go to jsonschema, which has the last word and writes the sentences. None when
    the schema is not of that shape."""
    keywords = set(schema) - _ANNOTATIONS
    if (
        not {"type", "properties", "additionalProperties"}
        <= keywords
        <= {
            "type",
            "properties",
            "additionalProperties",
            "required",
        }
    ):
        return None
    if schema["type"] != "object" or schema["additionalProperties"] is not False:
        return None
    checks = {name: _value_check(sub) for name, sub in schema["properties"].items()}
    required = tuple(schema.get("required", ()))

    def keeps(arguments: Mapping[str, Any]) -> bool:
        for name, value in arguments.items():
            check = checks.get(name)
            if check is None or not check(value):
                return False
        return all(name in arguments for name in required)

    return keeps


def _name(error: ValidationError) -> str:
    """`status`, `params[2]`: where in the arguments the error is."""
    name = ""
    for part in error.absolute_path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _example(schema: Mapping[str, Any]) -> str:
    examples = schema.get("examples")
    return f", e.g. {shown(examples[-1])}" if isinstance(examples, list) and examples else ""


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
