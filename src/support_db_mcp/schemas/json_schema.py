"""The JSON Schemas clients are shown, shaped from the pydantic models in this one place.

pydantic's own output is correct but awkward for the clients we serve: an optional input becomes
`anyOf: [T, {type: null}]` (a form then offers a raw JSON editor), enums become `$ref`s with
sibling keywords that draft-07 tools ignore, and `format: date-time` makes strict validators
without format plugins refuse the whole schema. Inputs are therefore flattened to one plain typed
property each (the MCP Inspector renders a property as a plain control only when its `type` is
one of string, integer, number or boolean): not required means "leave it out", enums are inline,
no `format`, no titles, and unknown properties are refused (`additionalProperties: false`), as
the model refuses them. An optional text argument also accepts blank text, which the models
treat as left out (base.ToolInput). The server refuses whatever this schema refuses
(contract.py), so what a client's validator accepts and what the server accepts are one set.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from support_db_mcp.schemas.patterns import or_blank

_DROPPED = ("title", "format")
# Outputs: a default says nothing about a value that was sent, and every client validates every
# result against this schema, so it carries only what constrains or explains.
_DROPPED_FROM_OUTPUTS = (*_DROPPED, "default")


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline every local `$ref`, recursively; sibling keywords win over the definition's."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        definition = _resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        siblings = {key: _resolve(value, defs) for key, value in node.items() if key != "$ref"}
        return {**definition, **siblings}
    return {key: _resolve(value, defs) for key, value in node.items()}


def _strip(node: Any, dropped: tuple[str, ...] = _DROPPED) -> Any:
    if isinstance(node, list):
        return [_strip(item, dropped) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if key in dropped and (key == "default" or not isinstance(value, dict)):
            continue
        # `properties` maps names to schemas: a property may itself be called "title" or "format"
        cleaned[key] = (
            {k: _strip(v, dropped) for k, v in value.items()}
            if key == "properties"
            else _strip(value, dropped)
        )
    return cleaned


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional property as published: `anyOf: [T, {type: null}]` -> T (keeping the outer
    description, examples and default), and text that may also be blank (left out)."""
    branches = prop.get("anyOf")
    if isinstance(branches, list):
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1 and len(kept) != len(branches):
            outer = {key: value for key, value in prop.items() if key != "anyOf"}
            prop = {**kept[0], **outer}
    if prop.get("default", ...) is None:
        del prop["default"]
    if prop.get("type") == "string" and "enum" not in prop:
        if "pattern" in prop:
            prop["pattern"] = or_blank(prop["pattern"])
        if prop.get("minLength") == 1:
            # "" is blank, which means left out; a value that is there has 1 character or more anyway
            del prop["minLength"]
    return prop


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The published input schema of a tool whose arguments are `model`."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    resolved = _strip(_resolve(raw, defs))
    required = list(resolved.get("required", []))
    properties = {
        name: prop if name in required else _without_null(dict(prop))
        for name, prop in resolved.get("properties", {}).items()
    }
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _ref_alone(node: Any) -> Any:
    """`{$ref, description}` -> `{allOf: [{$ref}], description}`: a `$ref` stands alone, since
    draft-07 tools ignore the keywords beside one (pydantic puts a field's description there)."""
    if isinstance(node, list):
        return [_ref_alone(item) for item in node]
    if not isinstance(node, dict):
        return node
    cleaned = {key: _ref_alone(value) for key, value in node.items()}
    if "$ref" in cleaned and len(cleaned) > 1:
        siblings = {key: value for key, value in cleaned.items() if key != "$ref"}
        return {"allOf": [{"$ref": cleaned["$ref"]}], **siblings}
    return cleaned


def _nullable(node: Any) -> Any:
    """`anyOf: [T, {type: null}]` -> T with `type: [t, "null"]`, recursively, where T has one type."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    branches = node.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        [kept] = [branch for branch in branches if branch != {"type": "null"}]
        if isinstance(kept.get("type"), str) and "enum" not in kept:
            outer = {key: value for key, value in node.items() if key != "anyOf"}
            return {**kept, **outer, "type": [kept["type"], "null"]}
    return node


def _inline_acyclic(node: Any, defs: dict[str, Any], inside: tuple[str, ...], kept: set[str]) -> Any:
    """Inline every local `$ref` except those back into a definition being inlined (a tree's
    children): those stay `$ref`s, and their names go into `kept`."""
    if isinstance(node, list):
        return [_inline_acyclic(item, defs, inside, kept) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        siblings = {k: _inline_acyclic(v, defs, inside, kept) for k, v in node.items() if k != "$ref"}
        if name in inside:
            kept.add(name)
            return {"$ref": ref, **siblings}
        return {**_inline_acyclic(defs[name], defs, (*inside, name), kept), **siblings}
    return {key: _inline_acyclic(value, defs, inside, kept) for key, value in node.items()}


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The published output schema: pydantic's, without titles, formats and defaults, with every
    `$ref` inlined (but those of a recursive structure, each standing alone) and nullable values as
    `type: [t, "null"]`.

    Kept lean because clients validate every result against it: the SDK's client resolving a
    `$ref` for each ticket of a page cost more than the query (4 ms instead of 7 ms of jsonschema
    for a 50-ticket page, measured by the benchmark's SDK column)."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    kept: set[str] = set()
    schema: dict[str, Any] = _inline_acyclic(raw, defs, (), kept)
    recursive: dict[str, Any] = {}
    while pending := kept - recursive.keys():
        for name in pending:
            recursive[name] = _inline_acyclic(defs[name], defs, (name,), kept)
    if recursive:
        schema["$defs"] = recursive
    return dict(_ref_alone(_nullable(_strip(schema, _DROPPED_FROM_OUTPUTS))))
