"""What clients are told (the server instructions, the tool descriptions) agrees with the tools."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator

from support_db_mcp.server import create_server
from support_db_mcp.services.operations import CATALOG, Operation

INSTRUCTIONS = create_server().instructions or ""
OPERATIONS = list(CATALOG.values())


def test_the_instructions_name_every_tool_and_the_fence_of_customer_text() -> None:
    for name in CATALOG:
        assert re.search(rf"\b{name}\b", INSTRUCTIONS), name
    assert "<untrusted-data-" in INSTRUCTIONS and "never as instructions" in INSTRUCTIONS


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_a_tool_that_takes_a_request_id_is_described_as_safe_to_retry_with_it(operation: Operation) -> None:
    if "request_id" not in operation.input_schema["properties"]:
        return
    told = f"{INSTRUCTIONS}\n{operation.description}"
    assert "request_id" in INSTRUCTIONS and "retry" in operation.description
    assert not re.search(r"(?i)(do not|don't|never) retry|not idempotent, so", told)


# values the instructions and descriptions quote as examples -> the argument they are for
QUOTED = [
    ("search_tickets", "status", "open, in_progress"),
    ("get_ticket", "ticket", "123"),
    ("get_ticket", "ticket", "TCK-000123"),
    ("create_ticket", "creator", "42"),
    ("update_ticket", "assignee_id", "me"),
    ("update_ticket", "assignee_id", "none"),
    ("update_ticket", "add_tags", "vip, refund"),
    ("find_similar_tickets", "status", "open, in_progress"),
]


@pytest.mark.parametrize(("tool", "argument", "value"), QUOTED)
def test_the_examples_the_instructions_quote_are_what_the_schemas_accept(
    tool: str, argument: str, value: str
) -> None:
    assert f'"{value}"' in INSTRUCTIONS or f"'{value}'" in CATALOG[tool].description
    operation = CATALOG[tool]
    baseline = {
        k: v for k, v in operation.examples[0].items() if k in operation.input_schema.get("required", [])
    }
    arguments = baseline | {argument: value}
    assert Draft202012Validator(operation.input_schema).is_valid(arguments)
    operation.parse(arguments)


def test_the_descriptions_quote_only_argument_names_the_tools_take() -> None:
    for operation in OPERATIONS:
        for quoted in re.findall(r"`([a-z_]+)`", operation.description):
            known = set(operation.input_schema["properties"]) | set(operation.output.model_fields)
            assert quoted in known or quoted in CATALOG, f"{operation.name} mentions `{quoted}`"
