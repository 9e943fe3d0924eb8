"""Reusable input types of the tools, each with a validator whose message a person can act on
(the inputs that name a row are in keys.py).

Only a tool error's message reaches the client, so every check here names the field, the bad value
and what is accepted. Each type also says what its published JSON Schema is (one plain type per
argument, so a form shows one plain control), and its validator accepts at least every value that
schema accepts, matching with the same regular expression (patterns.py). The server refuses what
the published schema refuses (schemas/contract.py), so the two accept the same set; Python callers
may also pass lists, enum members, integers and datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from support_db_mcp.models import TicketPriority, TicketStatus
from support_db_mcp.schemas.base import shown
from support_db_mcp.schemas.patterns import (
    BLANK,
    NO_NUL,
    TIMESTAMP,
    listed,
    matcher,
    one_of,
    padded,
)

MAX_TAGS = 10
_TAG = r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}"
_STORED_TAG = matcher(r"[a-z0-9][a-z0-9 _.-]{0,49}")
_TIMESTAMP = matcher(TIMESTAMP)


# ---------------------------------------------------------------- validators with readable messages
def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\x00) characters")
    return value


def _one_of(enum_class: type[StrEnum], field: str) -> BeforeValidator:
    allowed = [member.value for member in enum_class]

    def check(value: Any) -> Any:
        if isinstance(value, enum_class) or (isinstance(value, str) and value in allowed):
            return value
        if value is None:
            raise ValueError(f"{field} cannot be null: leave it out instead")
        raise ValueError(f"unknown {field} {shown(value)}; expected one of: {', '.join(allowed)}")

    return BeforeValidator(check)


def sized(field: str, low: int, high: int) -> AfterValidator:
    """Strip surrounding blanks, then require low..high characters."""

    def check(value: str) -> str:
        value = value.strip(BLANK)
        if not low <= len(value) <= high:
            raise ValueError(f"{field} must be {low} to {high:,} characters long, got {len(value):,}")
        return value

    return AfterValidator(check)


def at_most(high: int) -> AfterValidator:
    """Text of at most `high` characters (publish it with json_schema_extra maxLength)."""

    def check(value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and len(value) > high:
            raise ValueError(
                f"{info.field_name} must be at most {high:,} characters long, got {len(value):,}"
            )
        return value

    return AfterValidator(check)


def listify(value: Any) -> Any:
    """Accept a single value where a list is expected: status="open" means ["open"]."""
    if isinstance(value, str | StrEnum):
        return [value]
    return value


def _comma_list(value: Any) -> Any:
    """'open, in_progress' -> ['open', 'in_progress']; a Python list or enum member passes."""
    if isinstance(value, str) and not isinstance(value, StrEnum):
        return [item.strip(BLANK) for item in value.split(",")]
    return listify(value)


def _distinct(values: list[Any] | None) -> list[Any] | None:
    return None if values is None else list(dict.fromkeys(values))


def whole_number(value: Any, info: ValidationInfo) -> Any:
    """An integer; a number written as text is refused, since the schema says integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{info.field_name} must be a whole number, got {shown(value)}")
    return value


def between(low: int, high: int) -> BeforeValidator:
    """A whole number in low..high (publish the bounds with json_schema_extra minimum/maximum)."""

    def check(value: Any, info: ValidationInfo) -> int:
        number = int(whole_number(value, info))
        if not low <= number <= high:
            raise ValueError(f"{info.field_name} must be between {low:,} and {high:,}, got {number}")
        return number

    return BeforeValidator(check)


def _timestamp(value: Any, info: ValidationInfo) -> Any:
    field = info.field_name
    if value is None or isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _TIMESTAMP.fullmatch(value.strip(BLANK)):
        # the pattern admits only real dates and times, all of which fromisoformat reads
        parsed = datetime.fromisoformat(value.strip(BLANK).replace("z", "Z"))
    else:
        raise ValueError(
            f"{field} must be a date or time like 2026-01-31 or 2026-01-31T09:30:00Z, got {shown(value)}"
        )
    if parsed is None or parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=UTC)


TIMESTAMP_HELP = "A date (2026-01-31) or date and time (2026-01-31T09:30:00Z); UTC when no zone is given."
# A point in time: a date, optionally with a time and a zone (no zone means UTC). Published as a
# string with the exact pattern (no `format`: strict validators without format plugins refuse it).
Timestamp = Annotated[
    datetime, BeforeValidator(_timestamp), WithJsonSchema({"type": "string", "pattern": padded(TIMESTAMP)})
]


def normalise_tag(raw: str) -> str:
    """Tags are stored lower-case with single spaces."""
    return " ".join(raw.strip().lower().split())


def _normalise_tags(value: list[str]) -> list[str]:
    tags: list[str] = []
    for raw in value:
        tag = normalise_tag(raw)
        if not _STORED_TAG.fullmatch(tag):
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
# Text PostgreSQL can store.
CleanText = Annotated[str, AfterValidator(_no_nul), WithJsonSchema({"type": "string", "pattern": NO_NUL})]


def _choices(enum_class: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "pattern": padded(listed(one_of(member.value for member in enum_class)))}


# One value or several separated by commas, a filter matching any of them: "open, in_progress".
# Published as one text argument (a form shows one plain field, and the pattern says exactly
# which lists are accepted), kept as a list inside.
StatusFilter = Annotated[
    list[Status] | None,
    BeforeValidator(_comma_list),
    AfterValidator(_distinct),
    WithJsonSchema(_choices(TicketStatus)),
    Field(
        description="Only tickets with this status, or any of several separated by commas: open, "
        "in_progress, resolved, closed.",
        examples=["open", "open, in_progress"],
    ),
]
PriorityFilter = Annotated[
    list[Priority] | None,
    BeforeValidator(_comma_list),
    AfterValidator(_distinct),
    WithJsonSchema(_choices(TicketPriority)),
]


Tags = Annotated[
    list[CleanText],
    BeforeValidator(_comma_list),
    AfterValidator(_normalise_tags),
    # published as text: tags separated by commas, "billing, vip" (a tag cannot hold a comma)
    WithJsonSchema({"type": "string", "pattern": padded(listed(_TAG, at_most=MAX_TAGS))}),
]
