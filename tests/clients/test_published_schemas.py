"""Every tool's published schemas, checked as a strict client checks them, over the whole catalog.

Strict here means what Ajv's `strict: true` means for JSON Schema: the schema is valid under the
draft 2020-12 meta-schema and uses no keyword outside draft 2020-12's vocabularies, and no
`format` (a validator without format plugins refuses to compile a schema that names one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from support_db_mcp.schemas.json_schema import output_schema
from support_db_mcp.services.operations import CATALOG, Operation

OPERATIONS = list(CATALOG.values())
# Draft 2020-12's keywords: core, applicator, unevaluated, validation, meta-data, format-annotation,
# content (https://json-schema.org/draft/2020-12/json-schema-validation, -core).
KEYWORDS = {
    "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary", "$comment", "$defs",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items",
    "contains", "properties", "patternProperties", "additionalProperties", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties",
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains",
    "minContains", "maxProperties", "minProperties", "required", "dependentRequired",
    "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
    "format", "contentEncoding", "contentMediaType", "contentSchema",
}  # fmt: skip
# keywords whose value is a map of names to schemas, or a list of schemas, or a schema
NAMED_SCHEMAS = {"properties", "$defs", "patternProperties", "dependentSchemas"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
SCHEMAS = {"not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames"}
PLAIN_TYPES = {"string", "integer", "number", "boolean"}
# The forms people fill in the MCP Inspector: each input must render as one plain control.
FORMS = ("search_tickets", "create_ticket")


def subschemas(schema: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object inside `schema` (itself included), with its JSON pointer."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for key, value in schema.items():
        if key in NAMED_SCHEMAS and isinstance(value, dict):
            for name, sub in value.items():
                yield from subschemas(sub, f"{where}/{key}/{name}")
        elif key in SCHEMA_LISTS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from subschemas(sub, f"{where}/{key}/{index}")
        elif key in SCHEMAS:
            yield from subschemas(value, f"{where}/{key}")


def published(operation: Operation) -> list[tuple[str, dict[str, Any]]]:
    return [("input", operation.input_schema), ("output", output_schema(operation.output))]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_schema_is_valid_draft_2020_12_with_only_its_keywords_and_no_format(
    operation: Operation,
) -> None:
    for side, schema in published(operation):
        Draft202012Validator.check_schema(schema)
        for where, sub in subschemas(schema):
            unknown = set(sub) - KEYWORDS
            assert not unknown, f"{operation.name} {side} {where}: keywords outside draft 2020-12: {unknown}"
            assert "format" not in sub, f"{operation.name} {side} {where} names a format"
            if "pattern" in sub:
                re.compile(sub["pattern"])
            if "$ref" in sub:
                assert set(sub) == {"$ref"}, f"{operation.name} {side} {where}: $ref with siblings"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_input_is_one_plain_property_with_a_description_and_no_null(operation: Operation) -> None:
    schema = operation.input_schema
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert "$defs" not in schema
    for name, prop in schema["properties"].items():
        assert isinstance(prop.get("type"), str), f"{operation.name}.{name} has no single type: {prop}"
        assert prop.get("description", "").strip(), f"{operation.name}.{name} has no description"
        assert not {"anyOf", "oneOf", "allOf", "$ref"} & set(prop), f"{operation.name}.{name}: {prop}"
        assert "null" not in str([sub.get("type") for _, sub in subschemas(prop)])
        assert prop.get("default", "") is not None
        if operation.name in FORMS:
            assert prop["type"] in PLAIN_TYPES, f"{operation.name}.{name} renders as a JSON editor"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_catalog_example_keeps_the_published_schema_and_the_server_takes_it(
    operation: Operation,
) -> None:
    validator = Draft202012Validator(
        operation.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert operation.examples
    for example in operation.examples:
        assert list(validator.iter_errors(dict(example))) == [], example
        operation.parse(example)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_every_property_example_keeps_the_published_schema_and_the_server_takes_it(
    operation: Operation,
) -> None:
    validator = Draft202012Validator(
        operation.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    baseline = dict(operation.examples[0])
    required = set(operation.input_schema.get("required", []))
    for name, prop in operation.input_schema["properties"].items():
        for example in prop.get("examples", []):
            arguments = {key: value for key, value in baseline.items() if key in required} | {name: example}
            assert validator.is_valid(arguments), (name, example)
            operation.parse(arguments)
