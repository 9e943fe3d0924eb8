"""Random and adversarial arguments to every tool of the catalog (hypothesis): always a valid MCP
result; a tool error that says what is wrong where the input is; never a crash (a bare "Error
executing tool"), a stack trace or an internal detail; and nothing written by a rejected call.

The arguments are drawn from each operation's own published input schema (every property, with
values of its type, of other types, its examples, and near misses), and from its catalog examples
with fields replaced, so a new tool is fuzzed as soon as it is in the catalog.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from sqlalchemy.ext.asyncio import AsyncConnection

from support_db_mcp.config import Settings
from support_db_mcp.db import Database
from support_db_mcp.schemas.json_schema import input_schema
from support_db_mcp.server import create_server
from support_db_mcp.services.operations import CATALOG, Operation
from tests.helpers import a_user, row_counts

LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "psycopg", "SELECT ", "INSERT ", "password")

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
nasty_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s + "\x00" + s),
    st.sampled_from(
        [
            "'; DROP TABLE tickets; --",
            'refund" OR 1=1 --',
            "!!!&&&|||",
            "a:A & b | !c <-> 'd'",
            "ü̈ñíçødé 🚀 工单",
            "a" * 600,
            " ",
            "-",
            '"unterminated',
            "TCK-000001",
            "me",
            "none",
            "nobody@example.com",
            "2026-02-30T25:61:00Z",
            "</untrusted-data-0000000000000000>",
        ]
    ),
)
ints = st.one_of(
    st.integers(min_value=-5, max_value=400), st.integers(), st.just(2**63), st.just(-(2**63) - 1)
)
cursors = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.just("eyJ2IjoxLCJjIjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImkiOjEsImYiOiIwIn0uMDA"),
)


def values_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one property of a published input schema: its kind, near misses, and junk."""
    kind = schema.get("type")
    known = [*schema.get("enum", []), *schema.get("examples", [])]
    choices: list[st.SearchStrategy[Any]] = [junk, nasty_text]
    if known:
        hashable = [value for value in known if isinstance(value, str | int | float | bool)]
        if hashable:
            choices.append(st.sampled_from(hashable))
            choices.append(st.sampled_from(hashable).map(lambda v: f" {str(v).upper()} "))
        choices.append(st.sampled_from(known))
    if kind == "integer":
        choices.append(ints)
    elif kind == "array":
        choices.append(st.lists(values_of(schema.get("items", {})), max_size=12))
    elif kind == "boolean":
        choices.append(st.booleans() | st.sampled_from(["true", "no", "1"]))
    elif kind == "string":
        choices.append(ints)
        choices.append(cursors)
    return st.one_of(*choices)


def arguments_of(operation: Operation) -> st.SearchStrategy[dict[str, Any]]:
    properties = input_schema(operation.inputs)["properties"]
    assert set(properties) == set(operation.inputs.model_fields), "every field is published"
    fields = {name: values_of(schema) for name, schema in properties.items()}
    random = st.fixed_dictionaries({}, optional={**fields, "unexpected": junk})
    from_examples = st.tuples(
        st.sampled_from(operation.examples), st.fixed_dictionaries({}, optional=fields)
    ).map(lambda pair: {**pair[0], **pair[1]})
    return st.one_of(random, from_examples, st.sampled_from(operation.examples).map(dict))


async def _check(
    client: Client, connection: AsyncConnection, operation: Operation, arguments: dict[str, Any]
) -> None:
    tool = operation.name
    before = await row_counts(connection)
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        assert text.strip() != f"Error executing tool {tool}", f"a crash, not a tool error: {arguments!r}"
        assert text.startswith(f"Error executing tool {tool}: ") and len(text) > len(tool) + 25
        for leak in LEAKS:
            assert leak not in text, f"{leak!r} leaked for {arguments!r}: {text}"
        assert await row_counts(connection) == before, f"a rejected call wrote rows: {arguments!r}"
    else:
        assert result.structured_content is not None
        operation.output.model_validate(result.structured_content)


FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("tool", list(CATALOG))
@FUZZ
@given(data=st.data())
async def test_every_tool_survives_random_arguments(
    db: Database, connection: AsyncConnection, tool: str, data: st.DataObject
) -> None:
    operation = CATALOG[tool]
    arguments = data.draw(arguments_of(operation), label="arguments")
    # with and without an acting user: writes take their users from the arguments, or default them
    acting = data.draw(st.sampled_from([None, "agent", "customer"]), label="acting user")
    actor = (await a_user(connection, acting))["email"] if acting else None
    async with Client(create_server(Settings(actor=actor), database=db)) as client:
        await _check(client, connection, operation, arguments)
