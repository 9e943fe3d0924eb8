"""What a tool result looks like: structured content for programs, compact text for the model.

The structured content is the result model dumped once, every value as stored, valid against the
tool's output schema. The text content, which is what most clients put in front of the model, is
the same data laid out to be read, not an indented copy of it:
- a field holding a list of models is a small table: one header line naming the columns, then one
  line per item (a page of tickets is one line per ticket), cells joined by " | ";
- a nested model (a ticket's creator) is one cell: its values in field order, the header naming
  them (`creator (id full_name email)`); a model field of the result is a section of `name: value`
  lines; lists of strings are comma-joined; times are shown to the second;
- every string a customer wrote (fields marked CUSTOMER_TEXT: titles, descriptions, comment bodies,
  names, the values in a ticket's history, word stems of their text; each string of a list on its
  own) is enclosed in <untrusted-data-NONCE> ... </untrusted-data-NONCE> with a fresh random
  NONCE per response, so a ticket that contains a fake closing tag cannot end the fence early.
  Inside a fence the text is exactly as stored; outside, "|" and line breaks are escaped so a value
  cannot forge a cell or a row.
Fields are named as the dump names them (a change's `from_` is `from`). How to render each model
is worked out once per model class, so a result costs one dump and one walk over it.
"""

from __future__ import annotations

import enum
import functools
import json
import re
import secrets
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from support_db_mcp.schemas.base import CustomerText
from support_db_mcp.server.wire import structured_content

NONCE_BYTES = 8  # 16 hex digits
SEPARATOR = " | "
EMPTY = "-"

Cell = Callable[[Any, str], str]  # (dumped value, nonce) -> text


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def fence(text: str, nonce: str) -> str:
    return f"<untrusted-data-{nonce}>{text}</untrusted-data-{nonce}>"


_NEEDS_ESCAPE = re.compile(r"[\\|\r\n]")
_FRACTION = re.compile(r"(?<=:\d\d)\.\d+")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")


def _escaped(text: str) -> str:
    return text if _NEEDS_ESCAPE.search(text) is None else _escape(text)


def _plain(value: Any, nonce: str) -> str:
    kind = type(value)
    if kind is str:
        return _escaped(value)
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return EMPTY
    if kind is bool:
        return "true" if value else "false"
    return _escaped(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _customer(value: Any, nonce: str) -> str:
    return EMPTY if value is None else f"<untrusted-data-{nonce}>{value}</untrusted-data-{nonce}>"


def _customer_names(value: Any, nonce: str) -> str:
    """A list of strings customers wrote (word stems of their text): in one fence, comma-joined."""
    if not value:
        return EMPTY
    return f"<untrusted-data-{nonce}>{', '.join(value)}</untrusted-data-{nonce}>"


def _time(value: Any, nonce: str) -> str:
    """`2026-01-05T10:00:00.123456Z` -> `2026-01-05T10:00:00Z` (the structured content keeps it all)."""
    if type(value) is not str:
        return _plain(value, nonce)
    if len(value) == 27 and value[26] == "Z" and value[19] == ".":  # how pydantic writes UTC
        return value[:19] + "Z"
    return _FRACTION.sub("", value, count=1)


def _text(value: Any, nonce: str) -> str:
    return EMPTY if value is None else _escaped(value)


def _number(value: Any, nonce: str) -> str:
    return EMPTY if value is None else str(value)


def _label(value: Any, nonce: str) -> str:
    """An enum's value (open, high, ...): words we chose, nothing to escape."""
    return EMPTY if value is None else str(value)


def _names(value: Any, nonce: str) -> str:
    if not value:
        return EMPTY
    if all(type(item) is str for item in value):
        return ", ".join([_escaped(item) for item in value])
    return _plain(value, nonce)


def _strings(value: Any, nonce: str) -> str:
    """A list of strings (tag names): comma-joined."""
    return ", ".join([_escaped(item) for item in value]) if value else EMPTY


# ---------------------------------------------------------------- one plan per model class
@dataclass(frozen=True)
class _Field:
    name: str
    cell: Cell
    model: type[BaseModel] | None = None  # a nested model
    rows: type[BaseModel] | None = None  # a list of models: a table


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether it was optional."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@functools.cache
def _plan(model: type[BaseModel]) -> tuple[_Field, ...]:
    """Each field of `model` under the key its JSON dump uses (its alias where the model
    serializes by alias: a change's `from`), with how to show its value."""
    by_alias = bool(model.model_config.get("serialize_by_alias"))
    fields = []
    for field_name, info in model.model_fields.items():
        name = (info.serialization_alias or info.alias or field_name) if by_alias else field_name
        annotation, _ = _unwrap(info.annotation)
        origin = typing.get_origin(annotation)
        if any(isinstance(marker, CustomerText) for marker in info.metadata):
            fields.append(_Field(name, _customer_names if origin is list else _customer))
        elif _is_model(annotation):
            fields.append(_Field(name, _nested_cell(annotation), model=annotation))
        elif origin is list and _is_model(typing.get_args(annotation)[0]):
            fields.append(_Field(name, _plain, rows=typing.get_args(annotation)[0]))
        elif origin is list and typing.get_args(annotation) == (str,):
            fields.append(_Field(name, _strings))
        elif origin is list:
            fields.append(_Field(name, _names))
        elif annotation is datetime:
            fields.append(_Field(name, _time))
        elif annotation is int:
            fields.append(_Field(name, _number))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            fields.append(_Field(name, _label))
        elif annotation is str:
            fields.append(_Field(name, _text))
        else:
            fields.append(_Field(name, _plain))
    return tuple(fields)


@functools.cache
def _nested_cell(model: type[BaseModel]) -> Cell:
    """A nested model as one cell: its values in field order, separated by spaces."""
    plan = _plan(model)
    if any(field.model or field.rows for field in plan):
        return _plain  # deeper structures stay compact JSON

    cells = _cells(model)

    def cell(value: Any, nonce: str) -> str:
        if value is None:
            return EMPTY
        return " ".join([render(value[name], nonce) for name, render in cells])

    return cell


@functools.cache
def _cells(model: type[BaseModel]) -> tuple[tuple[str, Cell], ...]:
    return tuple((field.name, field.cell) for field in _plan(model))


def _header(field: _Field) -> str:
    if field.model is not None and _nested_cell(field.model) is not _plain:
        return f"{field.name} ({' '.join(sub.name for sub in _plan(field.model))})"
    return field.name


# ---------------------------------------------------------------- one line per table row, compiled
RowRenderer = Callable[[dict[str, Any], str, str], str]  # (row, fence opening, fence closing)


def _expression(cell: Cell, value: str, name: str) -> str:
    """Python source that renders the dumped value at `value` (an expression) as `cell` would;
    `name` is a variable the expression may bind (each value is looked up once)."""
    held = f"({name} := {value})"
    if cell is _customer:
        return f"('-' if {held} is None else o + {name} + c)"
    if cell is _customer_names:
        return f"(o + ', '.join({name}) + c if {held} else '-')"
    if cell is _number or cell is _label:
        return f"('-' if {held} is None else str({name}))"
    if cell is _text:
        return f"('-' if {held} is None else {name} if _clean({name}) is None else _escape({name}))"
    if cell is _time:  # as _time does, without the call for the form pydantic gives UTC times
        utc = f"type({held}) is str and len({name}) == 27 and {name}[26] == 'Z' and {name}[19] == '.'"
        return f"({name}[:19] + 'Z' if {utc} else _time({name}, ''))"
    if cell is _strings:
        each = f"[item if _clean(item) is None else _escape(item) for item in {name}]"
        return f"(', '.join({each}) if {held} else '-')"
    return f"_plain({value}, '')"


@functools.cache
def _row_renderer(model: type[BaseModel]) -> RowRenderer:
    """A function that renders one row of `model`, generated once from its plan.

    A table is most of a result (a page of tickets), and calling one small function per cell cost
    more than the SQL of the page; the generated function looks each value up once, calls nothing
    but escaping (when a value needs it) and the rarer cells, and joins the cells in one go.
    """
    parts = []
    for number, field in enumerate(_plan(model)):
        if field.model is not None and _nested_cell(field.model) is not _plain:
            nested = f"v{number}"
            inner = ", ".join(
                _expression(sub.cell, f"{nested}[{sub.name!r}]", f"v{number}_{index}")
                for index, sub in enumerate(_plan(field.model))
            )
            parts.append(f"('-' if ({nested} := r[{field.name!r}]) is None else ' '.join(({inner},)))")
        else:
            parts.append(_expression(field.cell, f"r[{field.name!r}]", f"v{number}"))
    source = f"def render(r, o, c):\n    return SEPARATOR.join(({', '.join(parts)},))\n"
    namespace: dict[str, Any] = {
        "_plain": _plain,
        "_time": _time,
        "_names": _names,
        "_escape": _escape,
        "_clean": _NEEDS_ESCAPE.search,
        "SEPARATOR": SEPARATOR,
    }
    exec(compile(source, f"<row renderer of {model.__name__}>", "exec"), namespace)
    renderer: RowRenderer = namespace["render"]
    return renderer


# ---------------------------------------------------------------- the text
def _table(rows: list[dict[str, Any]], model: type[BaseModel], nonce: str, out: list[str]) -> None:
    out.append(SEPARATOR.join([_header(field) for field in _plan(model)]))
    render = _row_renderer(model)
    opening, closing = f"<untrusted-data-{nonce}>", f"</untrusted-data-{nonce}>"
    out.extend([render(row, opening, closing) for row in rows])


def _section(data: dict[str, Any], model: type[BaseModel], nonce: str, out: list[str], indent: str) -> None:
    for field in _plan(model):
        value = data.get(field.name)
        if field.rows is not None and isinstance(value, list):
            out.append(f"{indent}{field.name}: {len(value)} rows")
            if value:
                _table(value, field.rows, nonce, out)
        elif field.model is not None and isinstance(value, dict) and field.cell is _plain:
            out.append(f"{indent}{field.name}:")
            _section(value, field.model, nonce, out, indent + "  ")
        elif field.model is not None:
            out.append(f"{indent}{_header(field)}: {field.cell(value, nonce)}")
        elif field.cell is _customer:
            out.append(f"{indent}{field.name}: {_customer(value, nonce)}")
        elif isinstance(value, str) and "\n" in value:
            out.append(f"{indent}{field.name}:\n{value}")  # multi-line text of ours (a plan tree)
        else:
            out.append(f"{indent}{field.name}: {field.cell(value, nonce)}")


def render_text(result: BaseModel, structured: dict[str, Any], nonce: str | None = None) -> str:
    """The text an assistant reads for `result`, from its JSON dump `structured`."""
    out: list[str] = []
    _section(structured, type(result), nonce or new_nonce(), out, "")
    return "\n".join(out)


def tool_result(result: BaseModel) -> CallToolResult:
    structured = result.model_dump(mode="json")
    text = render_text(result, structured)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured_content(structured)
    )
