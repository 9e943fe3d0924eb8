"""The inputs that name a row: a ticket, a user, an assignee (with "me" and "none"), a user id, and
the idempotency key of a write. Each is published as one plain text or integer field, and checked
with the same regular expression it publishes (patterns.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from support_db_mcp.models import TICKET_NUMBER_PREFIX
from support_db_mcp.schemas.base import shown
from support_db_mcp.schemas.fields import whole_number
from support_db_mcp.schemas.patterns import BLANK, EMAIL, ID_DIGITS, TICKET_NUMBER_DIGITS, matcher, padded

MAX_ID = 2**63 - 1
_ID = matcher(ID_DIGITS)
_EMAIL = matcher(EMAIL)
IDEMPOTENCY_KEY = r"[A-Za-z0-9._:-]{1,100}"
_IDEMPOTENCY_KEY = matcher(IDEMPOTENCY_KEY)
_TICKET_NUMBER = matcher(rf"[Tt][Cc][Kk]-({TICKET_NUMBER_DIGITS})")
TICKET_KEY_PATTERN = padded(rf"[Tt][Cc][Kk]-{TICKET_NUMBER_DIGITS}|{ID_DIGITS}")
USER_KEY_PATTERN = padded(f"{ID_DIGITS}|{EMAIL}")


def _positive_id(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    number = whole_number(value, info)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"{info.field_name} must be a positive id, got {shown(number)}")
    return int(number)


UserId = Annotated[
    int, BeforeValidator(_positive_id), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID})
]

# The acting user (SUPPORT_DB_ACTOR, or the user of the HTTP token) where a user id is asked for.
ME = "me"
NOBODY = "none"
ASSIGNEE_PATTERN = padded(f"{ID_DIGITS}|[Mm][Ee]|[Nn][Oo][Nn][Ee]")
_ASSIGNEE = matcher(ASSIGNEE_PATTERN)


def _assignee(value: Any, info: ValidationInfo) -> int | str | None:
    """A user id, "me" (the acting user) or "none" (nobody). Null is refused even from Python: a
    null argument reads as "left out" (keep the assignee), so unassigning is said with "none"."""
    field = info.field_name
    if value is None:
        raise ValueError(f"{field} cannot be null: send 'none' for no assignee, or leave it out")
    if isinstance(value, str):
        if not _ASSIGNEE.fullmatch(value):
            raise ValueError(
                f"{field} must be a user id like '7', 'me' (the acting user) or 'none', got {shown(value)}"
            )
        text = value.strip(BLANK).lower()
        if text in (ME, NOBODY):
            return ME if text == ME else None
        value = int(text)
    return int(_positive_id(value, info))


# An agent or admin by id, "me", or "none"; published as text (a form shows one plain field);
# Python callers may pass an integer id.
AssigneeKey = Annotated[
    int | str | None,
    BeforeValidator(_assignee),
    WithJsonSchema({"type": "string", "pattern": ASSIGNEE_PATTERN}),
]


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
        text = value.strip(BLANK)
        if _ID.fullmatch(text):
            return cls(id=int(text))
        match = _TICKET_NUMBER.fullmatch(text)
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
    # Published as text (a form shows one plain field), e.g. "123" or "TCK-000123".
    WithJsonSchema({"type": "string", "pattern": TICKET_KEY_PATTERN, "maxLength": 100}),
]
# The required `ticket` argument of the tools that work on one ticket.
TicketArgument = Annotated[
    TicketKey,
    Field(
        description="The ticket's id (e.g. 123) or its number (e.g. TCK-000123), as text.",
        examples=["TCK-000123", "123"],
    ),
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
    text = value.strip(BLANK)
    if _ID.fullmatch(text):
        return int(text)
    if not _EMAIL.fullmatch(text) or len(text) > 320:
        raise ValueError(f"{field} {shown(value)} is neither a user id nor an e-mail address")
    return text.lower()


# A user given by id ("42") or e-mail address; published as text.
UserKey = Annotated[
    int | str,
    BeforeValidator(_user_key),
    WithJsonSchema({"type": "string", "pattern": USER_KEY_PATTERN, "maxLength": 320}),
]


def _idempotency_key(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    key = value.strip(BLANK)
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError(
            f"{info.field_name} {shown(value)} is not valid: use 1 to 100 letters, digits, '.', '_', ':' "
            "or '-' (a UUID fits)"
        )
    return key


# A caller's key for making a write safe to retry (a UUID fits).
IdempotencyKey = Annotated[
    str,
    AfterValidator(_idempotency_key),
    WithJsonSchema({"type": "string", "pattern": padded(IDEMPOTENCY_KEY)}),
]
