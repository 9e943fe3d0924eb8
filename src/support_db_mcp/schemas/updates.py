"""update_ticket's contract: which fields to change, the version the caller saw, and what changed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from support_db_mcp.schemas.base import ToolInput
from support_db_mcp.schemas.fields import MAX_TAGS, TIMESTAMP_HELP, Priority, Status, Tags, Timestamp
from support_db_mcp.schemas.keys import AssigneeKey, TicketArgument, UserKey
from support_db_mcp.schemas.tickets import (
    TITLE_SCHEMA,
    FieldChange,
    RequestId,
    SqlStatements,
    TicketSummary,
    Title,
)

CHANGES = ("status", "priority", "assignee_id", "title", "add_tags", "remove_tags")


class TicketChange(ToolInput):
    """The arguments of update_ticket: a ticket and the fields to change (at least one)."""

    ticket: TicketArgument
    status: Annotated[
        Status | None, Field(description="open, in_progress, resolved or closed.", examples=["in_progress"])
    ] = None
    priority: Annotated[
        Priority | None, Field(description="low, normal, high or urgent.", examples=["high"])
    ] = None
    assignee_id: Annotated[
        AssigneeKey,
        Field(
            description="Assign to this active agent or admin: a user id ('7'), or 'me' for the acting "
            "user; 'none' unassigns. Leave out to keep the assignee.",
            examples=["me", "none", "7"],
        ),
    ] = None
    title: Annotated[
        Title | None,
        Field(
            description="A new title, 1 to 200 characters; blank or left out keeps the title.",
            json_schema_extra=TITLE_SCHEMA,
            examples=["Refund not received"],
        ),
    ] = None
    add_tags: Annotated[
        Tags,
        Field(
            description=f"Tags to put on the ticket, separated by commas (created if new; at most {MAX_TAGS} "
            'per ticket), e.g. "vip, refund".',
            examples=["vip", "vip, refund"],
        ),
    ] = Field(default_factory=list)
    remove_tags: Annotated[
        Tags,
        Field(
            description='Tags to take off the ticket, separated by commas, e.g. "billing"; a tag it does '
            "not have is left alone (the note says so).",
            examples=["billing", "billing, vip"],
        ),
    ] = Field(default_factory=list)
    expected_updated_at: Annotated[
        Timestamp | None,
        Field(
            description="The ticket's updated_at as you last read it: if it has changed since, nothing is "
            f"written and the error gives the current value (optimistic concurrency). {TIMESTAMP_HELP}",
            examples=["2026-01-31T09:30:00.123456Z"],
        ),
    ] = None
    actor: Annotated[
        UserKey | None,
        Field(
            description="Who makes the change (an active agent or admin, by id or e-mail). Only when the "
            "server has no acting user (SUPPORT_DB_ACTOR, or the user of the HTTP token); then required.",
            examples=["agent@example.com"],
        ),
    ] = None
    request_id: RequestId = None

    def across_arguments(self) -> str | None:
        if not any(name in self.model_fields_set for name in CHANGES):
            return f"nothing to change: give at least one of {', '.join(CHANGES)}"
        both = sorted(set(self.add_tags) & set(self.remove_tags))
        if both:
            return f"tags both added and removed: {', '.join(both)}; give each in one list only"
        return None

    @property
    def changes_assignee(self) -> bool:
        return "assignee_id" in self.model_fields_set


class UpdateTicketResult(BaseModel):
    ticket: TicketSummary = Field(description="The ticket after the update.")
    changes: list[FieldChange] = Field(
        description="What changed, field by field (one entry per tag added or removed); empty when "
        "nothing had to change."
    )
    replayed: bool = Field(
        default=False,
        description="True when request_id matched an earlier update: its changes, and the ticket now.",
    )
    note: str | None = Field(default=None, description="Why nothing changed, or what was left alone.")
    sql_statements: SqlStatements
