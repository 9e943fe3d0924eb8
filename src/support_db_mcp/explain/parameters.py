"""The values of a statement's $n placeholders, sent to PostgreSQL as bind parameters.

A caller's values are JSON (strings, numbers, booleans, null, lists); the driver wants the Python
type of each parameter, which PostgreSQL infers when it prepares the statement. So a JSON value is
turned into that type here (`"42"` for a bigint, `"2026-01-01"` for a timestamp), and a value
that cannot be is refused with the parameter's number and type. The values never enter the SQL
text. Values captured from one of our tools are already the driver's own and are sent unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from uuid import UUID

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.explain.safety import CheckedQuery


class ParameterError(InvalidInputError):
    """A value in `params` does not fit the type PostgreSQL gives its placeholder."""


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a whole number")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    raise ValueError("expected a whole number")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("expected a number") from None


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    return float(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "t": True, "yes": True, "on": True, "1": True}
    words |= {"false": False, "f": False, "no": False, "off": False, "0": False}
    if isinstance(value, str | int) and str(value).strip().lower() in words:
        return words[str(value).strip().lower()]
    raise ValueError("expected true or false")


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _iso(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            return parse(value.strip())
        except (AttributeError, ValueError):
            raise ValueError(
                "expected an ISO 8601 string such as 2026-01-31 or 2026-01-31T12:00:00Z"
            ) from None

    return convert


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _uuid(value: Any) -> UUID:
    return UUID(str(value))


def _seconds(value: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number of seconds")
    return timedelta(seconds=value)


_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), _integer),
    "numeric": _decimal,
    **dict.fromkeys(("float4", "float8"), _float),
    "bool": _boolean,
    **dict.fromkeys(("text", "varchar", "bpchar", "name", "citext", "unknown", "xml"), _text),
    "date": _iso(date.fromisoformat),
    **dict.fromkeys(("timestamp", "timestamptz"), _iso(datetime.fromisoformat)),
    **dict.fromkeys(("time", "timetz"), _iso(time.fromisoformat)),
    "interval": _seconds,
    "uuid": _uuid,
    **dict.fromkeys(("json", "jsonb"), _json),
}


# SQL's names for the driver's type names, for messages
_SQL_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
}


def _convert(type_name: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "array" or type_name.endswith("[]"):
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list")
        element = type_name.removesuffix("[]").lstrip("_")
        return [_convert(element, "scalar", item) for item in value]
    converter = _BY_TYPE.get(type_name)
    if converter is not None:
        return converter(value)
    # enums, domains and other types the driver sends as text
    return _text(value)


def driver_values(types: Sequence[tuple[str, str]], values: Sequence[Any]) -> tuple[Any, ...]:
    """The JSON `values` as the Python types of the placeholders ((type name, kind) per $n)."""
    converted = []
    for number, ((type_name, kind), value) in enumerate(zip(types, values, strict=True), start=1):
        try:
            converted.append(_convert(type_name, kind, value))
        except (ValueError, TypeError, OverflowError) as error:
            raise ParameterError(
                f"params[{number - 1}] ({json.dumps(shown(value))[:80]}) does not fit ${number}, "
                f"which PostgreSQL reads as {_SQL_NAMES.get(type_name, type_name)}: {error}"
            ) from None
    return tuple(converted)


def shown(value: Any) -> Any:
    """A parameter as JSON shows it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [shown(item) for item in value]
    if isinstance(value, Enum):
        return shown(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, dict):
        return {str(key): shown(item) for key, item in value.items()}
    return str(value)


@dataclass(frozen=True)
class BoundStatement:
    """A checked statement and the values of its $n placeholders (None: no values, generic plan).

    `from_driver`: the values are the driver's own (captured from one of our tools), not JSON.
    """

    checked: CheckedQuery
    values: tuple[Any, ...] | None = None
    from_driver: bool = False

    @classmethod
    def bind(
        cls, checked: CheckedQuery, values: Sequence[Any] | None, *, from_driver: bool = False
    ) -> BoundStatement:
        given = list(values or [])
        if checked.param_count == 0 and given:
            raise InvalidInputError(
                f"{len(given)} params were given but the query has no $1 placeholder; "
                "write $1, $2, ... where the values go"
            )
        if given and len(given) != checked.param_count:
            raise InvalidInputError(
                f"the query uses $1..${checked.param_count} but {len(given)} params were given"
            )
        for value in given:
            if isinstance(value, str) and "\x00" in value:
                raise InvalidInputError("a parameter contains a NUL character")
        return cls(checked=checked, values=tuple(given) if given else None, from_driver=from_driver)

    @property
    def parameters(self) -> list[Any]:
        return [shown(value) for value in self.values] if self.values is not None else []
