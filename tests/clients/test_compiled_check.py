"""The compiled check of every call (schemas/contract.py) never lets through what the published
schema refuses, and it is what answers for the arguments clients really send.

It may say "no" to arguments the schema accepts (jsonschema then has the last word), so the one
property that matters is soundness: whatever it accepts, Draft202012Validator accepts too, for
the same generated values as the contract tests and for every catalog example.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from support_db_mcp.schemas.contract import compiled_check
from support_db_mcp.services.operations import CATALOG, Operation
from tests.clients.test_contract import ACCEPTED, REFUSED, drawn_arguments, for_every_argument


def _checks(operation: Operation) -> tuple[Any, Draft202012Validator]:
    schema = operation.input_schema
    check = compiled_check(schema)
    assert check is not None, f"{operation.name}'s schema is not flat: every call would pay jsonschema"
    return check, Draft202012Validator(schema)


@for_every_argument
def test_what_the_compiled_check_accepts_the_published_schema_accepts(
    operation: Operation, name: str, data: st.DataObject
) -> None:
    check, validator = _checks(operation)
    arguments = drawn_arguments(operation, name, data)
    if check(arguments):
        assert validator.is_valid(arguments), arguments


@pytest.mark.parametrize(("tool", "arguments", "message"), REFUSED)
def test_the_compiled_check_refuses_every_refused_example(
    tool: str, arguments: dict[str, Any], message: str
) -> None:
    check, _ = _checks(CATALOG[tool])
    assert not check(arguments)


def test_the_catalog_examples_and_the_arguments_clients_send_are_answered_by_the_compiled_check() -> None:
    sent = [(name, example) for name, operation in CATALOG.items() for example in operation.examples]
    sent += [(tool, arguments) for tool, arguments in ACCEPTED if "42.0" not in repr(arguments)]
    for tool, arguments in sent:
        check, validator = _checks(CATALOG[tool])
        assert validator.is_valid(arguments) and check(arguments), (tool, arguments)


def test_an_integer_written_as_a_float_is_left_to_jsonschema_which_accepts_it() -> None:
    operation = CATALOG["search_tickets"]
    check, validator = _checks(operation)
    assert not check({"limit": 5.0}) and validator.is_valid({"limit": 5.0})
    assert operation.parse({"limit": 5.0}).limit == 5
