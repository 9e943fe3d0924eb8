"""What a client's validator accepts and what the server accepts are the same set, both ways.

"The server accepts" means the tool's argument check passes (`Operation.parse`, what every call
and explain_query's tool mode go through); "the schema accepts" means the published input schema,
under jsonschema's Draft202012Validator, accepts the same arguments. Examples written out, then
values generated per property (from the published patterns themselves, from their examples, and
of every JSON type), for every tool of the catalog.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.fields import Timestamp
from support_db_mcp.schemas.patterns import DATE, matcher
from support_db_mcp.services.operations import CATALOG, Operation

OPERATIONS = list(CATALOG.values())


def schema_accepts(operation: Operation, arguments: dict[str, Any]) -> bool:
    return Draft202012Validator(operation.input_schema).is_valid(arguments)


def server_accepts(operation: Operation, arguments: dict[str, Any]) -> tuple[bool, str]:
    try:
        operation.parse(arguments)
    except InvalidInputError as error:
        return False, str(error)
    return True, ""


NEW = {"title": "t", "description": "d", "creator": "1"}
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("search_tickets", {}),
    ("search_tickets", {"text": "refund", "status": "open"}),  # what a person types in the form
    ("search_tickets", {"status": "open, in_progress", "priority": "high,urgent"}),
    ("search_tickets", {"status": " open\n"}),  # a text box keeps the Enter key's newline
    ("search_tickets", {"status": "", "text": "", "tag": "  ", "created_after": "", "cursor": ""}),  # cleared
    ("search_tickets", {"created_after": "2026-01-31", "created_before": "2026-02-01T09:30"}),
    (
        "search_tickets",
        {"created_after": "2024-02-29 23:59:59.5+05:30", "created_before": "2026-01-31T00:00Z"},
    ),
    ("search_tickets", {"assignee_id": 7, "creator_id": 42.0, "limit": 100}),  # 42.0 is an integer in JSON
    ("get_ticket", {"ticket": "TCK-000123"}),
    ("get_ticket", {"ticket": "tck-123"}),
    ("get_ticket", {"ticket": "123"}),
    ("get_ticket", {"ticket": " 0042 "}),
    ("create_ticket", NEW),
    ("create_ticket", NEW | {"creator": "Ana@Example.com", "tags": "Billing, vip", "priority": "urgent"}),
    ("create_ticket", NEW | {"tags": "", "request_id": "", "assignee_id": "7"}),
    ("create_ticket", NEW | {"request_id": "3f2c9a1e-7b4d-4e8a-9c1f-2d6b8e0a5c37", "assignee_id": "me"}),
    ("create_ticket", NEW | {"creator_name": "", "assignee_id": "none"}),  # cleared; nobody
    ("update_ticket", {"ticket": "TCK-000123", "status": "in_progress", "assignee_id": "Me"}),
    ("update_ticket", {"ticket": "123", "assignee_id": " none\n", "add_tags": "vip, Refund"}),
    ("update_ticket", {"ticket": "123", "remove_tags": "billing", "expected_updated_at": "2026-01-31"}),
    (
        "update_ticket",
        {"ticket": "123", "priority": "low", "expected_updated_at": "2026-12-02T10:00:00.123456Z"},
    ),
    ("update_ticket", {"ticket": "123", "title": "", "status": "closed", "actor": "42"}),  # blank title: kept
    ("update_ticket", {"ticket": "123"}),  # "nothing to change" is the service's (a rule across arguments)
    (
        "add_comment",
        {"ticket": "TCK-000123", "body": "Thanks!", "author": "ana@example.com", "internal": True},
    ),
    ("find_similar_tickets", {"ticket": "123", "status": "open, in_progress", "limit": 3}),
    ("find_similar_tickets", {"text": "Refund not received", "ticket": ""}),
    ("explain_query", {"tool": "search_tickets", "arguments": {"status": "open"}}),
    ("explain_query", {"sql": "SELECT 1", "params": [1, "a", None, [1]], "analyze": False}),
]
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("search_tickets", {"status": ["open"]}, "status must be text, e.g. 'open, in_progress'; got [\"open\"]"),
    ("search_tickets", {"status": "Open"}, "unknown status 'Open'; expected one of"),
    ("search_tickets", {"status": "open,"}, "unknown status ''"),
    ("search_tickets", {"status": "pending"}, "unknown status 'pending'"),
    ("search_tickets", {"assignee_id": None}, "assignee_id cannot be null: leave it out instead"),
    ("search_tickets", {"text": None}, "text cannot be null"),
    ("search_tickets", {"assignee_id": "7"}, "assignee_id must be a whole number, got '7'"),
    ("search_tickets", {"assignee_id": 0}, "assignee_id must be a positive id, got 0"),
    ("search_tickets", {"limit": "5"}, "limit must be a whole number, got '5'"),
    ("search_tickets", {"limit": True}, "limit must be a whole number, got true"),
    ("search_tickets", {"limit": 101}, "limit must be between 1 and 100, got 101"),
    ("search_tickets", {"created_after": "2026-02-30"}, "created_after must be a date or time"),
    ("search_tickets", {"created_after": "2026-01-31Z"}, "created_after must be a date or time"),
    ("search_tickets", {"created_after": "2026-01-31T24:00"}, "created_after must be a date or time"),
    ("search_tickets", {"created_after": "yesterday"}, "created_after must be a date or time"),
    ("search_tickets", {"text": "a" * 501}, "text must be at most 500 characters long, got 501"),
    ("search_tickets", {"text": "a\x00b"}, "NUL"),
    ("search_tickets", {"statuz": "open"}, "unknown argument 'statuz'; did you mean 'status'?"),
    ("get_ticket", {"ticket": 123}, "ticket must be text, e.g. '123'; got 123"),
    ("get_ticket", {"ticket": "0"}, "neither an id like 123 nor a number like TCK-000123"),
    ("get_ticket", {"ticket": "²"}, "neither an id like 123 nor a number like TCK-000123"),
    ("get_ticket", {"ticket": "TCK-"}, "neither an id like 123 nor a number like TCK-000123"),
    ("get_ticket", {}, "ticket is required"),
    ("create_ticket", NEW | {"creator": 1}, "creator must be text, e.g. 'ana@example.com'; got 1"),
    ("create_ticket", NEW | {"title": " \n "}, "title must be 1 to 200 characters long, got 0"),
    (
        "create_ticket",
        NEW | {"tags": ["billing"]},
        "tags must be text, e.g. 'billing, vip'; got [\"billing\"]",
    ),
    ("create_ticket", NEW | {"tags": "ok, no/slash"}, "tag 'no/slash' is not valid"),
    (
        "create_ticket",
        NEW | {"tags": ",".join(f"t{i}" for i in range(11))},
        "at most 10 tags per ticket, got 11",
    ),
    (
        "create_ticket",
        NEW | {"priority": ""},
        "unknown priority ''; expected one of: low, normal, high, urgent",
    ),
    ("create_ticket", NEW | {"priority": None}, "priority cannot be null"),
    ("create_ticket", NEW | {"request_id": "has space"}, "request_id 'has space' is not valid"),
    ("create_ticket", NEW | {"assignee_id": 7}, "assignee_id must be text, e.g. '7'; got 7"),
    (
        "update_ticket",
        {"ticket": "123", "assignee_id": None},
        "assignee_id cannot be null: send 'none' for no assignee, or leave it out",
    ),
    ("update_ticket", {"ticket": "123", "assignee_id": "nobody"}, "must be a user id like '7', 'me'"),
    ("update_ticket", {"ticket": 123, "status": "closed"}, "ticket must be text, e.g. '123'; got 123"),
    ("update_ticket", {"ticket": "1", "add_tags": ["vip"]}, "add_tags must be text, e.g. 'vip, refund'"),
    (
        "update_ticket",
        {"ticket": "1", "remove_tags": ["vip"]},
        "remove_tags must be text, e.g. 'billing, vip'",
    ),
    ("update_ticket", {"ticket": "1", "status": ""}, "unknown status ''; expected one of"),
    ("update_ticket", {"ticket": "1", "title": "x" * 201}, "title must be 1 to 200 characters long, got 201"),
    ("update_ticket", {"ticket": "1", "expected_updated_at": "now"}, "expected_updated_at must be a date"),
    ("update_ticket", {"ticket": "1", "status": "open", "actor": 2}, "actor must be text"),
    ("add_comment", {"ticket": "1", "body": "hi", "author": 2}, "author must be text"),
    (
        "add_comment",
        {"ticket": "1", "body": "hi", "internal": "true"},
        "internal must be true or false, e.g. true; got 'true'",
    ),
    (
        "find_similar_tickets",
        {"text": "x", "status": ["open"]},
        "status must be text, e.g. 'open, in_progress'",
    ),
    ("find_similar_tickets", {"ticket": 1}, "ticket must be text, e.g. '123'; got 1"),
    ("explain_query", {"tool": "create_ticket"}, "unknown tool 'create_ticket'; expected one of"),
    (
        "explain_query",
        {"tool": "search_tickets", "arguments": '{"status": "open"}'},
        'arguments must be an object of named values, got \'{"status": "open"}\'',
    ),
    ("explain_query", {"sql": "SELECT 1", "analyze": "false"}, "analyze"),
]


@pytest.mark.parametrize(("tool", "arguments"), ACCEPTED)
def test_arguments_the_schema_accepts_the_server_accepts(tool: str, arguments: dict[str, Any]) -> None:
    operation = CATALOG[tool]
    assert schema_accepts(operation, arguments)
    assert server_accepts(operation, arguments) == (True, "")


@pytest.mark.parametrize(("tool", "arguments", "message"), REFUSED)
def test_arguments_the_schema_refuses_the_server_refuses_saying_what_to_send(
    tool: str, arguments: dict[str, Any], message: str
) -> None:
    operation = CATALOG[tool]
    assert not schema_accepts(operation, arguments)
    accepted, error = server_accepts(operation, arguments)
    assert not accepted and message in error


def test_the_date_pattern_accepts_exactly_the_real_dates() -> None:
    pattern = matcher(DATE)
    for year in (2, 4, 100, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9996, 9998):
        for month in range(1, 13):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                real = 1 <= day <= calendar.monthrange(year, month)[1]
                assert bool(pattern.fullmatch(text)) == real, text
    for text in ("0000-01-01", "0001-06-15", "9999-12-31", "0000-02-29", "2026-13-01", "2026-1-01"):
        assert pattern.fullmatch(text) is None, text


def test_a_timestamp_without_a_zone_is_utc_and_one_with_a_zone_keeps_it() -> None:
    from pydantic import TypeAdapter

    read = TypeAdapter(Timestamp).validate_python
    assert read("2026-01-31").isoformat() == "2026-01-31T00:00:00+00:00"
    assert read("2026-01-31 09:30").isoformat() == "2026-01-31T09:30:00+00:00"
    assert read("2026-01-31T09:30:00.25-0300").isoformat() == "2026-01-31T09:30:00.250000-03:00"
    assert read("0002-01-01T00:00+23:59").date() == date(2, 1, 1)


# ---------------------------------------------------------------- generated values, every property
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
near_text = st.text(alphabet=st.sampled_from("aoTCK-0129:+. \n,@_xz\x00é"), max_size=30)


def values_for(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values around what `prop` accepts: matching its pattern or enum, near misses, other types."""
    options: list[st.SearchStrategy[Any]] = [json_values, near_text]
    if "pattern" in prop:
        options.append(st.from_regex(prop["pattern"], fullmatch=True))
        options.append(st.from_regex(prop["pattern"], fullmatch=True).map(lambda s: s[:-1] + "x" if s else s))
    if "enum" in prop:
        options.append(st.sampled_from(prop["enum"]))
        options.append(st.sampled_from(prop["enum"]).map(str.upper))
    if "examples" in prop:
        options.append(st.sampled_from(prop["examples"]))
    if prop.get("type") == "integer":
        low, high = prop.get("minimum", -(2**63)), prop.get("maximum", 2**63)
        options.append(st.integers(min_value=low - 2, max_value=min(high, low + 200) + 2))
        options.append(st.sampled_from([high, high + 1, float(low), low + 0.5]))
    if prop.get("type") == "string" and "maxLength" in prop:
        options.append(st.integers(prop["maxLength"] - 1, prop["maxLength"] + 1).map(lambda n: "a" * n))
    return st.one_of(options)


AGREEMENT = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPERTIES = [(op, name) for op in OPERATIONS for name in op.input_schema["properties"]]


def for_every_argument(test: Callable[..., None]) -> Callable[..., None]:
    """Runs `test(operation, name, data)` for every argument of every tool, 120 drawn calls each."""
    ids = [f"{op.name}.{n}" for op, n in PROPERTIES]
    return pytest.mark.parametrize(("operation", "name"), PROPERTIES, ids=ids)(
        AGREEMENT(given(data=st.data())(test))
    )


def drawn_arguments(operation: Operation, name: str, data: st.DataObject) -> dict[str, Any]:
    """The operation's required example arguments, with a value for `name` drawn from its schema."""
    required = set(operation.input_schema.get("required", []))
    baseline = {key: value for key, value in operation.examples[0].items() if key in required}
    return baseline | {name: data.draw(values_for(operation.input_schema["properties"][name]), label=name)}


@for_every_argument
def test_for_every_value_of_every_argument_the_schema_and_the_server_agree(
    operation: Operation, name: str, data: st.DataObject
) -> None:
    arguments = drawn_arguments(operation, name, data)
    accepted, error = server_accepts(operation, arguments)
    assert schema_accepts(operation, arguments) == accepted, (arguments, error)
    if not accepted:
        assert error and "Traceback" not in error and "pydantic" not in error
