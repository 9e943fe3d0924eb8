"""update_ticket: change a ticket's status, priority, assignee, title and tags in one transaction.

The ticket row is locked (SELECT ... FOR UPDATE) before it is compared, so two concurrent updates
run one after the other and the second sees the first's result: `expected_updated_at` is then a
reliable version check. A field given with the value it already has is not a change; an update
that changes nothing writes nothing (its updated_at stays) and says so.

Statements: the users it names, the locked ticket (with its tags), the update, the tags when they
change, and its history: 4, 5 with tags, 2 when nothing changes; plus the request_id's claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.db.statements import count_statements
from support_db_mcp.errors import ConflictError, InvalidInputError, NotFoundError
from support_db_mcp.models import Ticket
from support_db_mcp.schemas.fields import MAX_TAGS
from support_db_mcp.schemas.keys import ME, TicketRef
from support_db_mcp.schemas.tickets import FieldChange
from support_db_mcp.schemas.updates import TicketChange, UpdateTicketResult
from support_db_mcp.services import history, idempotency, tagging, users
from support_db_mcp.services.actors import Actor, email_of
from support_db_mcp.services.history import Change
from support_db_mcp.services.ticket_rows import summary_columns, summary_from, summary_of, tickets_table

TOOL = "update_ticket"
_tickets = cast(Table, Ticket.__table__)  # as the Table it is, for a Core UPDATE


def _ticket_statement(by: str, *, locked: bool) -> Select[Any]:
    """The ticket's summary row with its tags, by id or number; locked (FOR UPDATE) for a change."""
    statement = (
        select(*summary_columns()).select_from(summary_from).where(tickets_table.c[by] == bindparam("key"))
    )
    return statement.with_for_update(of=tickets_table) if locked else statement


_LOCKED = {by: _ticket_statement(by, locked=True) for by in ("id", "number")}
_CURRENT = {by: _ticket_statement(by, locked=False) for by in ("id", "number")}


async def read_summary(session: AsyncSession, ref: TicketRef, *, lock: bool = False) -> Mapping[str, Any]:
    """The ticket's summary row by name (ticket_rows.SUMMARY_KEYS, `tags` among them); NotFoundError
    if there is none."""
    by, key = ("id", ref.id) if ref.id is not None else ("number", ref.number)
    statements = _LOCKED if lock else _CURRENT
    row = (await session.execute(statements[by], {"key": key})).one_or_none()
    if row is None:
        raise NotFoundError(f"no ticket with {ref}; search_tickets lists existing tickets")
    return {**row._mapping, "tags": list(row.tags or [])}


def shown_time(moment: datetime) -> str:
    """A timestamp as the tools print it (UTC, microseconds, Z), to be sent back as it is."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _acting(people: users.People, actor: Actor | None, change: TicketChange) -> users.Person:
    """Who makes the change: the server's acting user, or else the `actor` argument; staff only."""
    if actor is not None and change.actor is not None:
        named = people.get(change.actor)
        if named is None or named.email != actor.email:
            raise InvalidInputError(
                f"this server acts as {actor}; leave out actor (it is for servers without an acting user)"
            )
    key = actor.email if actor is not None else change.actor
    if key is None:
        raise InvalidInputError(
            "actor is required (the agent or admin who makes the change, by id or e-mail), because this "
            "server has no acting user (SUPPORT_DB_ACTOR)"
        )
    person = users.require(people, key, role="actor")
    if not person.is_staff:
        raise InvalidInputError(f"{person} is a {person.role.value}; only agents and admins change tickets")
    return person


def _field_changes(
    change: TicketChange, current: Mapping[str, Any], assignee: users.Person | None
) -> tuple[dict[str, Any], list[Change], list[str], list[str]]:
    """(column values to set, the changes as history shows them, tags to add, tags to remove)."""
    values: dict[str, Any] = {}
    changes: list[Change] = []
    for name in ("status", "priority", "title"):
        wanted = getattr(change, name)
        if wanted is not None and wanted != current[name]:
            values[name] = wanted
            changes.append(Change(name, str(current[name]), str(wanted)))
    if change.changes_assignee and (assignee.id if assignee else None) != current["assignee_id"]:
        values["assignee_id"] = assignee.id if assignee else None
        changes.append(Change("assignee", current["assignee_email"], assignee.email if assignee else None))
    tags = current["tags"]
    added = [tag for tag in change.add_tags if tag not in tags]
    removed = [tag for tag in change.remove_tags if tag in tags]
    changes += [Change("tag", None, tag) for tag in added] + [Change("tag", tag, None) for tag in removed]
    return values, changes, added, removed


def _left_alone(change: TicketChange, current: Mapping[str, Any]) -> str | None:
    absent = [tag for tag in change.remove_tags if tag not in current["tags"]]
    present = [tag for tag in change.add_tags if tag in current["tags"]]
    parts = []
    if present:
        parts.append(f"already tagged {', '.join(present)}")
    if absent:
        parts.append(f"not tagged {', '.join(absent)}, so nothing to remove")
    return "; ".join(parts) or None


async def update_ticket(
    session: AsyncSession, *, change: TicketChange, actor: Actor | None = None
) -> UpdateTicketResult:
    """Apply `change` in the caller's transaction (it commits); see the module for the rules."""
    change.refuse_conflicts()
    key = idempotency.WriteKey.of(TOOL, change, email_of(actor))
    with count_statements() as statements:
        stored = await idempotency.claim(session, key) if key is not None else None
        if stored is not None:
            current = await read_summary(session, change.ticket)
            replayed = await history.changes_of_request(
                session, ticket_id=current["id"], request_id=stored.request_id
            )
        else:
            assignee_key = change.assignee_id
            people = await users.find_users(
                session, [email_of(actor), change.actor, assignee_key if assignee_key != ME else None]
            )
            acting = _acting(people, actor, change)
            assignee = None  # `me` is the acting user, whom _acting found to be active staff
            if assignee_key is not None:
                assignee = acting if assignee_key == ME else users.require_assignable(people, assignee_key)
            current = await read_summary(session, change.ticket, lock=True)
            expected = change.expected_updated_at
            if expected is not None and expected != current["updated_at"]:
                raise ConflictError(
                    f"{current['number']} was changed at {shown_time(current['updated_at'])}, after the "
                    f"expected_updated_at {shown_time(expected)} you gave, so nothing was written: read it "
                    "again with get_ticket, then retry with expected_updated_at="
                    f"{shown_time(current['updated_at'])} if the change still makes sense"
                )
            values, changes, added, removed = _field_changes(change, current, assignee)
            tag_names = sorted({*current["tags"], *added} - set(removed))
            if len(tag_names) > MAX_TAGS:
                raise InvalidInputError(
                    f"a ticket has at most {MAX_TAGS} tags; {current['number']} would have {len(tag_names)}"
                )
            if changes:
                updated_at = await session.scalar(
                    update(_tickets)
                    .where(_tickets.c.id == current["id"])
                    .values(**values, updated_at=func.now())
                    .returning(_tickets.c.updated_at)
                )
                if added or removed:
                    await session.execute(*tagging.retag(current["id"], added=added, removed=removed))
                await history.record(
                    session,
                    ticket_id=current["id"],
                    actor_id=acting.id,
                    tool=TOOL,
                    changes=changes,
                    request_id=change.request_id,
                    settle=idempotency.settle(key, ticket_id=current["id"]) if key is not None else None,
                )
            elif key is not None:
                settled = idempotency.settle(key, ticket_id=current["id"])
                await session.execute(settled.statement, settled.values)
    if stored is not None:
        return UpdateTicketResult(
            ticket=summary_of(current),
            changes=replayed,
            replayed=True,
            note="request_id matched an earlier update: these are its changes, and the ticket as it is now",
            sql_statements=statements.count,
        )
    note = _left_alone(change, current)
    if not changes:
        note = "nothing changed: the ticket already has these values" + (f" ({note})" if note else "")
        unchanged = summary_of(current)
        return UpdateTicketResult(ticket=unchanged, changes=[], note=note, sql_statements=statements.count)
    after = {**current, **values, "updated_at": updated_at}
    if "assignee_id" in values:
        after |= _assignee_columns(assignee)
    shown: list[FieldChange] = [each.shown for each in changes]
    ticket = summary_of({**after, "tags": tag_names})
    return UpdateTicketResult(ticket=ticket, changes=shown, note=note, sql_statements=statements.count)


def _assignee_columns(assignee: users.Person | None) -> dict[str, Any]:
    return {
        "assignee_id": assignee.id if assignee else None,
        "assignee_full_name": assignee.full_name if assignee else None,
        "assignee_email": assignee.email if assignee else None,
    }
