"""What every tool input and output model shares: strict inputs, plain-sentence errors, and the
marker for text that customers wrote.

A misspelt argument must never be silently ignored (an assistant would act on unfiltered rows), so
inputs forbid unknown keys and the error names the closest real one.
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

MAX_SHOWN = 60


def shown(value: Any) -> str:
    """A value as an error message may quote it: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


@functools.cache
def _structured_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields whose JSON type is an array or an object."""
    properties = model.model_json_schema().get("properties", {})
    found = set()
    for name, prop in properties.items():
        branches = [prop, *prop.get("anyOf", [])]
        if any(branch.get("type") in {"array", "object"} for branch in branches):
            found.add(name)
    return frozenset(found)


class ToolInput(BaseModel):
    """Base of every tool's arguments: unknown keys are refused, values are immutable once checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _decode_json_text(cls, data: Any) -> Any:
        """A list or object sent as JSON text (some clients do: '["open", "closed"]') is decoded."""
        if not isinstance(data, dict):
            return data
        decoded = dict(data)
        for name in _structured_fields(cls) & decoded.keys():
            value = decoded[name]
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    decoded[name] = json.loads(value)
        return decoded


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


def _sentence(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    field = _field(loc) if loc else "the arguments"
    message = error["msg"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        known = sorted(model.model_fields) if len(loc) == 1 else []
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            return f"unknown argument {shown(name)}; did you mean {close[0]!r}?"
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
