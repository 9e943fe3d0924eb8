"""explain_query's contract: its arguments and the plan, findings and verified advice it returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from support_db_mcp.schemas.base import ToolInput
from support_db_mcp.schemas.fields import CleanText

MAX_SQL_CHARS = 20_000
MAX_PARAMS = 100


class ExplainRequest(ToolInput):
    """The arguments of explain_query: one query with its values, or one of our tools with its arguments."""

    sql: Annotated[
        CleanText | None,
        Field(
            max_length=MAX_SQL_CHARS,
            description="One read-only query (SELECT, WITH ... SELECT, VALUES or TABLE), without EXPLAIN. "
            "Use $1, $2, ... for values and pass them in `params`. Leave out when using `tool`.",
            examples=["SELECT id, title FROM tickets WHERE assignee_id = $1 AND status = 'open' LIMIT 20"],
        ),
    ] = None
    params: Annotated[
        list[Any] | None,
        Field(
            max_length=MAX_PARAMS,
            description="Values of $1..$n in order (strings, numbers, booleans, null or lists); each is "
            "sent to PostgreSQL as a bind parameter of the statement, never pasted into its text.",
            examples=[[7]],
        ),
    ] = None
    tool: Annotated[
        str | None,
        Field(
            max_length=100,
            description="Explain exactly the SQL this tool runs (all of its statements) instead of `sql`.",
            examples=["search_tickets"],
        ),
    ] = None
    arguments: Annotated[
        dict[str, Any] | None,
        Field(
            description='Arguments of `tool`, as you would pass them to it, e.g. {"assignee_id": 7}.',
            examples=[{"assignee_id": 7, "status": "open"}],
        ),
    ] = None
    analyze: Annotated[
        bool,
        Field(
            description="true (default): run the query with EXPLAIN (ANALYZE, BUFFERS) inside a read-only "
            "transaction that is always rolled back, for real row counts and times; false: the estimated "
            "plan only, without running the query."
        ),
    ] = True


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
    verdict: str = Field(
        default="",
        description="What the plan did (rows returned, read, sorted) and whether the findings found work "
        "to save; says so when every table is too small for the planner's choice to mean much.",
    )


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
