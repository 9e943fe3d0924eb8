"""Reusable input types of the tools, each with a validator whose message a person can act on.

Only a tool error's message reaches the client, so every check here names the field, the bad value
and what is accepted. Each type also says what its published JSON Schema is, so the schema and
the validator accept the same values (see json_schema.py, which shapes the whole input schema).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from support_db_mcp.models import TICKET_NUMBER_PREFIX, TicketPriority, TicketStatus
from support_db_mcp.schemas.base import shown

MAX_ID = 2**63 - 1
MAX_TAGS = 10
_TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,49}$")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_PATTERN = re.compile(rf"^{TICKET_NUMBER_PREFIX}(\d{{1,18}})$", re.IGNORECASE)
# What a timestamp input may look like: a date, optionally a time, optionally a zone (UTC if none).
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?"
    r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
TICKET_KEY_PATTERN = r"^ *([Tt][Cc][Kk]-)?[0-9]{1,19} *$"
USER_KEY_PATTERN = r"^ *([0-9]{1,19}|[^@ ]+@[^@ ]+[.][^@ ]+) *$"


# ---------------------------------------------------------------- validators with readable messages
def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\x00) characters")
    return value


def _one_of(enum_class: type[StrEnum], field: str) -> BeforeValidator:
    allowed = [member.value for member in enum_class]

    def check(value: Any) -> Any:
        if isinstance(value, enum_class):
            return value
        if isinstance(value, str) and value.strip().lower() in allowed:
            return value.strip().lower()
        raise ValueError(f"unknown {field} {shown(value)}; expected one of: {', '.join(allowed)}")

    return BeforeValidator(check)


def sized(field: str, low: int, high: int) -> AfterValidator:
    """Strip surrounding white space, then require low..high characters."""

    def check(value: str) -> str:
        value = value.strip()
        if not low <= len(value) <= high:
            raise ValueError(f"{field} must be {low} to {high:,} characters long, got {len(value):,}")
        return value

    return AfterValidator(check)


def listify(value: Any) -> Any:
    """Accept a single value where a list is expected: status="open" means ["open"], params=7 [7].

    A command-line client (the MCP Inspector's `--tool-arg status=open`) sends one value as a bare
    string or number; a list stays a list, and anything else is left for the field to refuse.
    """
    if isinstance(value, str | StrEnum | int | float):  # bool is an int
        return [value]
    return value


def _whole_number(value: Any, info: ValidationInfo) -> Any:
    """An integer; a number written as text is refused, since the schema says integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{info.field_name} must be a whole number, got {shown(value)}")
    return value


def between(low: int, high: int) -> BeforeValidator:
    """A whole number in low..high (publish the bounds with json_schema_extra minimum/maximum)."""

    def check(value: Any, info: ValidationInfo) -> int:
        number = int(_whole_number(value, info))
        if not low <= number <= high:
            raise ValueError(f"{info.field_name} must be between {low:,} and {high:,}, got {number}")
        return number

    return BeforeValidator(check)


def _timestamp(value: Any, info: ValidationInfo) -> datetime:
    field = info.field_name
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _TIMESTAMP.match(value.strip()):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{field} {shown(value)} is not a real date or time") from None
    else:
        raise ValueError(
            f"{field} must be a date or time like 2026-01-31 or 2026-01-31T09:30:00Z, got {shown(value)}"
        )
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


TIMESTAMP_HELP = "A date (2026-01-31) or date and time (2026-01-31T09:30:00Z); UTC when no zone is given."
# A point in time: a date, optionally with a time and a zone (no zone means UTC).
Timestamp = Annotated[
    datetime, BeforeValidator(_timestamp), WithJsonSchema({"type": "string", "pattern": TIMESTAMP_PATTERN})
]


def normalise_tag(raw: str) -> str:
    """Tags are stored lower-case with single spaces."""
    return " ".join(raw.strip().lower().split())


def _normalise_tags(value: list[str]) -> list[str]:
    tags: list[str] = []
    for raw in value:
        tag = normalise_tag(raw)
        if not _TAG_PATTERN.match(tag):
            raise ValueError(
                f"tag {shown(raw)} is not valid: use 1 to 50 characters, letters, digits, space, '_', '-' "
                "or '.', starting with a letter or digit"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per ticket, got {len(tags)}")
    return tags


# ---------------------------------------------------------------- reusable types
Status = Annotated[TicketStatus, _one_of(TicketStatus, "status")]
Priority = Annotated[TicketPriority, _one_of(TicketPriority, "priority")]
CleanText = Annotated[str, AfterValidator(_no_nul)]


def _positive_id(value: Any, info: ValidationInfo) -> int:
    number = _whole_number(value, info)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{info.field_name} must be a positive id, got {shown(number)}")
    return int(number)


UserId = Annotated[int, BeforeValidator(_positive_id), Field(json_schema_extra={"minimum": 1})]


class TicketRef(BaseModel):
    """A ticket named by its id or its number, resolved from what the caller typed."""

    id: int | None = None
    number: str | None = None

    @classmethod
    def parse(cls, value: int | str) -> TicketRef:
        if isinstance(value, bool):
            raise ValueError("ticket must be an id like 123 or a number like TCK-000123")
        if isinstance(value, int):
            if value < 1 or value > MAX_ID:
                raise ValueError(f"ticket id must be a positive integer, got {value}")
            return cls(id=value)
        text = value.strip()
        if text.isdigit():
            return cls.parse(int(text))
        match = _NUMBER_PATTERN.match(text)
        if match is None:
            raise ValueError(f"ticket {shown(value)} is neither an id like 123 nor a number like TCK-000123")
        digits = str(int(match.group(1)))
        return cls(number=f"{TICKET_NUMBER_PREFIX}{digits.zfill(6)}")

    def __str__(self) -> str:
        return f"id {self.id}" if self.id is not None else f"number {self.number}"


def _ticket_ref(value: Any) -> TicketRef:
    if isinstance(value, TicketRef):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int | str):
        raise ValueError("ticket must be an id like 123 or a number like TCK-000123")
    return TicketRef.parse(value)


TicketKey = Annotated[
    TicketRef,
    BeforeValidator(_ticket_ref),
    # Published as text (a form shows one plain field); an integer id is accepted too.
    WithJsonSchema({"type": "string", "pattern": TICKET_KEY_PATTERN}),
]


def _user_key(value: Any, info: ValidationInfo) -> int | str:
    """A user named by id or by e-mail address (stored lower-case)."""
    field = info.field_name
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{field} must be a user id like 42 or an e-mail address like ana@example.com")
    if isinstance(value, int):
        if value < 1 or value > MAX_ID:
            raise ValueError(f"{field} id must be a positive integer, got {value}")
        return value
    text = value.strip()
    if text.isdigit():
        return _user_key(int(text), info)
    if not _EMAIL_PATTERN.match(text) or len(text) > 320:
        raise ValueError(f"{field} {shown(value)} is neither a user id nor an e-mail address")
    return text.lower()


# A user given by id (42) or e-mail address; published as text, an integer id is accepted too.
UserKey = Annotated[
    int | str,
    BeforeValidator(_user_key),
    WithJsonSchema({"type": "string", "pattern": USER_KEY_PATTERN, "maxLength": 320}),
]


Tags = Annotated[
    list[CleanText],
    BeforeValidator(listify),
    AfterValidator(_normalise_tags),
    Field(description=f"Up to {MAX_TAGS} tags; new ones are created. Stored lower-case."),
]
