"""What every tool input and output model shares: strict inputs, plain-sentence errors, and the
marker for text that customers wrote.

A misspelt argument must never be silently ignored (an assistant would act on unfiltered rows), so
inputs forbid unknown keys and the error names the closest real one. What the wire may carry is
the published JSON Schema (contract.py checks it); the models accept at least that, and Python
callers may pass richer values (lists, enum members, datetimes).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.patterns import BLANK

MAX_SHOWN = 60


def shown(value: Any) -> str:
    """A value as an error message may quote it, cut to a readable length: text in quotes, anything
    else as a JSON client writes it (true, null, ["open"]), since that is what the caller sent."""
    text = repr(value)
    if not isinstance(value, str):
        with contextlib.suppress(TypeError, ValueError):  # not JSON (a Python caller's object)
            text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def closest(name: str, known: list[str]) -> str | None:
    """The known name `name` most likely misspells (case aside), if one is close enough."""
    by_lower = {choice.lower(): choice for choice in known}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


class ToolInput(BaseModel):
    """Base of every tool's arguments: unknown keys are refused, values are immutable once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_absent(cls, data: Any) -> Any:
        """An optional argument given as blank text ("", or only spaces and newlines) is treated as
        left out: a cleared form field sends "", and means "no filter", not a value.

        The published schemas allow blank text for these arguments, except where the value is a
        choice (an `enum`), so there the server refuses it too (json_schema.py, contract.py).
        """
        if not isinstance(data, dict):
            return data
        return {
            name: value
            for name, value in data.items()
            if not (name in _optional_fields(cls) and isinstance(value, str) and not value.strip(BLANK))
        }

    def across_arguments(self) -> str | None:
        """What is wrong with the arguments taken together ("give either ticket or text"), or None.

        A published schema could say such a rule only with a top-level anyOf/oneOf, which clients
        refuse (the Anthropic API rejects the whole tool list), so the schema and the argument check
        (contract.py) judge each argument alone, and the service checks this when the tool runs,
        before any SQL; the tool's description states the rule.
        """
        return None

    def refuse_conflicts(self) -> None:
        """Raise InvalidInputError with `across_arguments()`'s sentence, if it has one."""
        problem = self.across_arguments()
        if problem is not None:
            raise InvalidInputError(problem)


@functools.cache
def _optional_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, info in model.model_fields.items() if not info.is_required())


@dataclass(frozen=True)
class CustomerText:
    """Annotated marker on an output string a customer wrote (title, description, comment body).

    The MCP layer fences such strings as untrusted data in the text an assistant reads; the
    structured content keeps them as stored.
    """


CUSTOMER_TEXT = CustomerText()


def _field(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"item {part + 1} of")
        else:
            parts.append(str(part))
    # "status", 0 -> "item 1 of status"
    words = [p for p in parts if not p.startswith("item ")]
    items = [p for p in parts if p.startswith("item ")]
    return " ".join([*reversed(items), ".".join(words)]) if items else ".".join(words)


# pydantic's type errors -> what the JSON value should have been
_EXPECTED = {
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "an object of named values",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
}


def _sentence(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    field = _field(loc) if loc else "the arguments"
    message = error["msg"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        known = sorted(model.model_fields) if len(loc) == 1 else []
        close = closest(name, known)
        if close:
            return f"unknown argument {shown(name)}; did you mean {close!r}?"
        takes = f"; it takes: {', '.join(known)}" if known else ""
        return f"unknown argument {shown(name)}{takes}"
    if kind == "missing":
        described = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
        what = f" ({described.description})" if described is not None and described.description else ""
        return f"{field} is required{what}"
    if kind == "value_error":
        # our own validators' messages already name the field and the accepted values
        return message.removeprefix("Value error, ")
    if kind == "model_type" and not loc:
        return "the arguments must be a JSON object of named values"
    if kind in _EXPECTED:
        return f"{field} must be {_EXPECTED[kind]}, got {shown(error['input'])}"
    text = message[:1].lower() + message[1:]
    return f"{field}: {text}"


def describe_validation_error(error: ValidationError, model: type[BaseModel]) -> str:
    """One plain sentence per problem, no library boilerplate (no links, no model names)."""
    sentences: list[str] = []
    for detail in error.errors(include_url=False):
        sentence = _sentence(detail, model)
        if sentence not in sentences:
            sentences.append(sentence)
    return "; ".join(sentences)
