"""The MCP-facing contract: pydantic inputs and outputs of the tools.

Validation messages are written for a person: they name the field, the bad value and what is
accepted, because only a tool error's message reaches the client.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from support_db_mcp.models import TICKET_NUMBER_PREFIX, TicketPriority, TicketStatus

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_TAGS = 10
_TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,49}$")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_PATTERN = re.compile(rf"^{TICKET_NUMBER_PREFIX}(\d{{1,18}})$", re.IGNORECASE)


# ---------------------------------------------------------------- validators with readable messages
def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\x00) characters")
    return value


def _one_of(enum_class: type[StrEnum], field: str) -> BeforeValidator:
    allowed = [member.value for member in enum_class]

    def check(value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in allowed:
            return value.strip().lower()
        if isinstance(value, enum_class):
            return value
        raise ValueError(f"unknown {field} {value!r}; expected one of: {', '.join(allowed)}")

    return BeforeValidator(check)


def _sized(field: str, low: int, high: int) -> AfterValidator:
    """Strip surrounding white space, then require low..high characters."""

    def check(value: str) -> str:
        value = value.strip()
        if not low <= len(value) <= high:
            raise ValueError(f"{field} must be {low} to {high:,} characters long, got {len(value):,}")
        return value

    return AfterValidator(check)


def _listify(value: Any) -> Any:
    """Accept a single value where a list is expected: status="open" means ["open"]."""
    if isinstance(value, str | StrEnum):
        return [value]
    return value


def _bounded(field: str, low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{field} must be between {low} and {high}, got {value}")
        return value

    return AfterValidator(check)


def _aware(value: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def normalise_tag(raw: str) -> str:
    """Tags are stored lower-case with single spaces."""
    return " ".join(raw.strip().lower().split())


def _normalise_tags(value: list[str]) -> list[str]:
    tags: list[str] = []
    for raw in value:
        tag = normalise_tag(raw)
        if not _TAG_PATTERN.match(tag):
            raise ValueError(
                f"tag {raw!r} is not valid: use 1 to 50 characters, letters, digits, space, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per ticket, got {len(tags)}")
    return tags


def _positive_id(field: str) -> AfterValidator:
    def check(value: int) -> int:
        if value < 1 or value > 2**63 - 1:
            raise ValueError(f"{field} must be a positive id, got {value}")
        return value

    return AfterValidator(check)


# ---------------------------------------------------------------- reusable input types
Status = Annotated[TicketStatus, _one_of(TicketStatus, "status")]
Priority = Annotated[TicketPriority, _one_of(TicketPriority, "priority")]
UserId = Annotated[int, _positive_id("user id"), Field(json_schema_extra={"minimum": 1})]
Timestamp = Annotated[datetime, AfterValidator(_aware)]
CleanText = Annotated[str, AfterValidator(_no_nul)]


class TicketRef(BaseModel):
    """A ticket named by its id or its number, resolved from what the caller typed."""

    id: int | None = None
    number: str | None = None

    @classmethod
    def parse(cls, value: int | str) -> TicketRef:
        if isinstance(value, bool):
            raise ValueError("ticket must be an id like 123 or a number like TCK-000123")
        if isinstance(value, int):
            if value < 1 or value > 2**63 - 1:
                raise ValueError(f"ticket id must be a positive integer, got {value}")
            return cls(id=value)
        text = value.strip()
        if text.isdigit():
            return cls.parse(int(text))
        match = _NUMBER_PATTERN.match(text)
        if match is None:
            raise ValueError(f"ticket {value!r} is neither an id like 123 nor a number like TCK-000123")
        digits = str(int(match.group(1)))
        return cls(number=f"{TICKET_NUMBER_PREFIX}{digits.zfill(6)}")

    def __str__(self) -> str:
        return f"id {self.id}" if self.id is not None else f"number {self.number}"


def _ticket_ref(value: Any) -> TicketRef:
    if isinstance(value, TicketRef):
        return value
    if not isinstance(value, int | str):
        raise ValueError("ticket must be an id like 123 or a number like TCK-000123")
    return TicketRef.parse(value)


def _user_key(value: Any) -> int | str:
    """A user named by id or by e-mail address."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("creator must be a user id like 42 or an e-mail address like ana@example.com")
    if isinstance(value, int):
        if value < 1 or value > 2**63 - 1:
            raise ValueError(f"creator id must be a positive integer, got {value}")
        return value
    text = value.strip()
    if text.isdigit():
        return _user_key(int(text))
    if not _EMAIL_PATTERN.match(text) or len(text) > 320:
        raise ValueError(f"creator {value!r} is neither a user id nor an e-mail address")
    return text.lower()


TicketKey = Annotated[
    TicketRef,
    BeforeValidator(_ticket_ref),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^(TCK-)?[0-9]+$"}],
            "description": "The ticket's id (e.g. 123) or its number (e.g. 'TCK-000123').",
        }
    ),
]


# ---------------------------------------------------------------- tool parameters (shared with the services)
SearchText = Annotated[
    CleanText | None,
    Field(
        max_length=500,
        description='Free text over title and description, web-search syntax: words, "a phrase", '
        "or, -excluded. Matches English word stems (refund matches refunds, refunded).",
    ),
]
StatusFilter = Annotated[
    Annotated[list[Status], Field(max_length=4)] | None,
    BeforeValidator(_listify),
    Field(description="Only these statuses (any of them)."),
]
PriorityFilter = Annotated[
    Annotated[list[Priority], Field(max_length=4)] | None,
    BeforeValidator(_listify),
    Field(description="Only these priorities (any of them)."),
]
AssigneeFilter = Annotated[UserId | None, Field(description="Only tickets assigned to this user id.")]
CreatorFilter = Annotated[UserId | None, Field(description="Only tickets created by this user id.")]
TagFilter = Annotated[CleanText | None, Field(max_length=50, description="Only tickets with this tag.")]
CreatedAfter = Annotated[
    Timestamp | None,
    Field(description="Only tickets created at or after this time (ISO 8601; UTC if no zone)."),
]
CreatedBefore = Annotated[
    Timestamp | None, Field(description="Only tickets created before this time (ISO 8601; UTC if no zone).")
]
PageSize = Annotated[
    int,
    _bounded("limit", 1, MAX_PAGE),
    Field(
        description=f"Tickets per page, 1 to {MAX_PAGE}.",
        json_schema_extra={"minimum": 1, "maximum": MAX_PAGE},
    ),
]
Cursor = Annotated[
    str | None,
    Field(max_length=512, description="The next_cursor of the previous page, with the same filters."),
]


# ---------------------------------------------------------------- service inputs
class TicketSearch(BaseModel):
    """Filters of search_tickets; every filter is optional and they combine with AND."""

    model_config = ConfigDict(frozen=True)

    text: SearchText = None
    status: StatusFilter = None
    priority: PriorityFilter = None
    assignee_id: AssigneeFilter = None
    creator_id: CreatorFilter = None
    tag: TagFilter = None
    created_after: CreatedAfter = None
    created_before: CreatedBefore = None
    limit: PageSize = DEFAULT_PAGE
    cursor: Cursor = None

    def filters_fingerprint_source(self) -> dict[str, Any]:
        """The filters that a cursor is bound to (not the page size, not the cursor)."""
        return self.model_dump(mode="json", exclude={"limit", "cursor"})


Title = Annotated[
    CleanText,
    _sized("title", 1, 200),
    Field(
        description="Short summary, 1 to 200 characters.",
        json_schema_extra={"minLength": 1, "maxLength": 200},
    ),
]
Description = Annotated[
    CleanText,
    _sized("description", 1, 20_000),
    Field(
        description="What happened, 1 to 20,000 characters.",
        json_schema_extra={"minLength": 1, "maxLength": 20_000},
    ),
]
CreatorKey = Annotated[
    int | str,
    BeforeValidator(_user_key),
    Field(description="Who reports the ticket: a user id (e.g. 42) or e-mail address."),
]
NewPriority = Annotated[Priority, Field(description="low, normal (default), high or urgent.")]
AssigneeId = Annotated[UserId | None, Field(description="Agent or admin to assign the ticket to (user id).")]
Tags = Annotated[
    list[CleanText],
    AfterValidator(_normalise_tags),
    Field(description=f"Up to {MAX_TAGS} tags; new ones are created. Stored lower-case."),
]


RequestId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Idempotency key (e.g. a UUID): a retried create with the same request_id returns "
        "the ticket the first call stored instead of storing a second one.",
    ),
]


class NewTicket(BaseModel):
    """What create_ticket stores."""

    model_config = ConfigDict(frozen=True)

    title: Title
    description: Description
    creator: CreatorKey
    priority: NewPriority = TicketPriority.NORMAL
    assignee_id: AssigneeId = None
    tags: Tags = Field(default_factory=list)
    request_id: RequestId = None


# ---------------------------------------------------------------- outputs
class UserSummary(BaseModel):
    id: int
    full_name: str
    email: str


class TicketSummary(BaseModel):
    id: int
    number: str = Field(description="Human ticket number, e.g. TCK-000123.")
    title: str
    status: TicketStatus
    priority: TicketPriority
    creator: UserSummary
    assignee: UserSummary | None
    tags: list[str]
    comment_count: int
    created_at: datetime
    updated_at: datetime


class CommentOut(BaseModel):
    id: int
    author: UserSummary
    body: str
    internal: bool = Field(description="Internal notes are visible to agents only.")
    created_at: datetime


class TicketDetail(TicketSummary):
    description: str
    comments: list[CommentOut] = Field(description="Oldest first.")


class SearchTicketsResult(BaseModel):
    tickets: list[TicketSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` with the same filters for the next page; null on the last page."
    )
    note: str | None = Field(default=None, description="How to get more, when there is more.")
    sql_statements: int = Field(description="SQL statements this call ran.")


class GetTicketResult(BaseModel):
    ticket: TicketDetail
    sql_statements: int = Field(description="SQL statements this call ran.")


class CreateTicketResult(BaseModel):
    ticket: TicketDetail
    replayed: bool = Field(
        default=False,
        description="True when request_id matched an earlier create: this is the ticket it stored.",
    )
    sql_statements: int = Field(description="SQL statements this call ran.")


# ---------------------------------------------------------------- explain_query
ExplainSQL = Annotated[
    CleanText | None,
    Field(
        max_length=20_000,
        description="One read-only query (SELECT, WITH ... SELECT, VALUES or TABLE), without EXPLAIN. "
        "Use $1, $2, ... for values and pass them in `params`. Leave empty when using `tool`.",
    ),
]
ExplainParams = Annotated[
    list[Any] | None,
    Field(
        max_length=100,
        description="Values of $1..$n in order (strings, numbers, booleans, null or lists); each is "
        "given to PostgreSQL as a typed parameter, never pasted into the SQL.",
    ),
]
ExplainToolName = Annotated[
    Literal["search_tickets", "get_ticket"] | None,
    Field(description="Explain exactly the SQL this tool runs (all of its statements) instead of `sql`."),
]
ExplainArguments = Annotated[
    dict[str, Any] | None,
    Field(description='Arguments of `tool`, as you would pass them to it, e.g. {"assignee_id": 7}.'),
]
ExplainAnalyze = Annotated[
    bool,
    Field(
        description="true (default): run the query with EXPLAIN (ANALYZE, BUFFERS) inside a read-only "
        "transaction that is always rolled back, for real row counts and times; false: the estimated "
        "plan only, without running the query."
    ),
]

Severity = Literal["critical", "warning", "info"]
FindingKind = Literal[
    "seq_scan_filter",
    "rows_removed_by_filter",
    "index_covers_part_of_filter",
    "limit_reads_whole_input",
    "misestimate",
    "sort_spill",
    "hash_spill",
    "nested_loop_many_loops",
    "cartesian_product",
    "timeout",
]


class ExplainPlanNode(BaseModel):
    """One node of a plan. Row counts and times are totals over all loops, not per-loop averages."""

    node: str = Field(description="Position in the tree: '1' is the root, '1.2' its second child.")
    node_type: str = Field(description="e.g. 'Index Scan', 'Seq Scan', 'Nested Loop', 'Sort'.")
    label: str = Field(description="The node as EXPLAIN prints it, with direction, index and table.")
    relation: str | None = Field(default=None, description="schema.table scanned, if any.")
    alias: str | None = None
    index: str | None = Field(default=None, description="Index used, if any.")
    estimated_rows: float = Field(description="Planner's estimate of rows per loop.")
    startup_cost: float
    total_cost: float
    actual_rows: int | None = Field(default=None, description="Rows returned, over all loops (ANALYZE).")
    loops: int | None = Field(default=None, description="How many times the node ran (ANALYZE).")
    time_ms: float | None = Field(
        default=None, description="Time in this node and below, over all loops (ANALYZE)."
    )
    shared_hit_blocks: int | None = Field(default=None, description="8 kB pages found in shared buffers.")
    shared_read_blocks: int | None = Field(default=None, description="8 kB pages read from disk or OS cache.")
    rows_removed_by_filter: int | None = Field(default=None, description="Over all loops (ANALYZE).")
    rows_removed_by_join_filter: int | None = None
    conditions: dict[str, str] = Field(
        default_factory=dict, description="Index Cond, Recheck Cond, Filter, Hash Cond, Join Filter, ..."
    )
    sort_key: list[str] = Field(default_factory=list)
    sort_method: str | None = None
    spilled_to_disk: bool = Field(
        default=False, description="A sort, hash or aggregate that used temp files."
    )
    children: list[ExplainPlanNode] = Field(default_factory=list)


class ExplainedStatement(BaseModel):
    statement: int = Field(description="1-based number of the statement, in the order it ran.")
    sql: str
    parameters: list[Any] = Field(description="Values of $1..$n as explained.")
    analyzed: bool = Field(description="true: ANALYZE ran it; false: estimated plan only.")
    total_cost: float = Field(description="The planner's cost of the whole statement (arbitrary units).")
    planning_ms: float | None = None
    execution_ms: float | None = Field(default=None, description="With ANALYZE: how long it ran.")
    plan: ExplainPlanNode
    nodes_cut: int = Field(default=0, description="Plan nodes left out because the plan is very large.")


class IndexSuggestion(BaseModel):
    create_index: str = Field(description="The statement to run, CONCURRENTLY so writes are not blocked.")
    verified: bool = Field(
        description="true: the index was tried (hypothetically with hypopg, or built inside a "
        "rolled-back transaction) and the planner used it with a lower cost."
    )
    method: Literal["hypopg", "rolled_back_build", "not_verified"]
    cost_before: float = Field(description="Planner cost of the statement without the index.")
    cost_after: float | None = Field(default=None, description="Planner cost with the index.")
    time_before_ms: float | None = Field(default=None, description="Execution time without it (ANALYZE).")
    time_after_ms: float | None = Field(
        default=None, description="Execution time with it (ANALYZE, built index only)."
    )
    used_by_planner: bool | None = Field(default=None, description="Whether the new plan uses the index.")
    note: str = Field(description="How it was verified, or why it was not.")


class ExplainFinding(BaseModel):
    severity: Severity
    kind: FindingKind
    statement: int = Field(description="Which explained statement this is about (see `plan`).")
    node: str = Field(
        description="The plan node: its position and label, e.g. '1.1 Seq Scan on public.tickets'."
    )
    message: str
    evidence: dict[str, int | float | str] = Field(description="The figures the finding rests on.")
    advice: str | None = Field(default=None, description="What to do, when it is not an index.")
    suggestion: IndexSuggestion | None = Field(default=None, description="A verified index that fixes it.")


class ExplainQueryResult(BaseModel):
    plan_text: str = Field(description="The plan(s) as an indented tree, totals over loops.")
    plan: list[ExplainedStatement] = Field(
        description="One entry per explained statement: one for `sql`, every statement for `tool`."
    )
    findings: list[ExplainFinding] = Field(description="Most severe first; empty when nothing stands out.")
    notes: list[str] = Field(default_factory=list, description="What the tool did or could not do.")
    sql_statements: int = Field(description="SQL statements this call ran (its own, not the plan's).")
    elapsed_ms: float = Field(description="How long this call took.")
