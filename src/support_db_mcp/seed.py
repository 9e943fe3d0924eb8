"""Deterministic, realistic demo data, bulk-loaded with COPY.

The same plan and seed give the same rows. Large loads drop the secondary indexes and foreign
keys of the loaded tables first and rebuild them once at the end (what pg_restore does), all in
one transaction, so a failed load changes nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
from sqlalchemy.engine import URL

from support_db_mcp import seed_vocabulary as words
from support_db_mcp.progress import ProgressBar
from support_db_mcp.services import bulk_load
from support_db_mcp.services.provisioning import asyncpg_dsn

log = logging.getLogger(__name__)

CHUNK = 25_000
LONG_THREAD_EVERY = 997  # every 997th ticket gets a long thread of comments
LONG_THREAD_COMMENTS = 50
REBUILD_THRESHOLD = 50_000


@dataclass(frozen=True)
class SeedPlan:
    users: int
    tickets: int
    comments_per_ticket: int
    rng_seed: int = 20261125
    days: int = 730


@dataclass(frozen=True)
class SeedReport:
    users: int
    tickets: int
    comments: int
    tags: int
    seconds: float
    rebuilt_indexes: bool


@dataclass(frozen=True)
class _People:
    customers: list[int]
    agents: list[int]
    busy_agents: list[int]  # the last agent never gets open work: "an assignee with no open tickets"


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [value for value, _ in pairs], [weight for _, weight in pairs]


def _user_rows(plan: SeedPlan, rng: random.Random, first_id: int) -> tuple[list[tuple[object, ...]], _People]:
    admins = 1 if plan.users >= 3 else 0
    agents = max(1, plan.users // 10) if plan.users >= 2 else 0
    rows: list[tuple[object, ...]] = []
    customers: list[int] = []
    agent_ids: list[int] = []
    created = datetime.now(UTC) - timedelta(days=plan.days + 30)
    for index in range(plan.users):
        user_id = first_id + index
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        email = f"{first}.{last}.{user_id}@{rng.choice(words.DOMAINS)}".lower()
        if index < admins:
            role = "admin"
        elif index < admins + agents:
            role = "agent"
            agent_ids.append(user_id)
        else:
            role = "customer"
            customers.append(user_id)
        active = role != "customer" or rng.random() > 0.03
        rows.append((user_id, email, f"{first} {last}", role, active, created))
    if not customers:
        customers = [row[0] for row in rows]  # type: ignore[misc]
    busy = agent_ids[:-1] if len(agent_ids) > 1 else agent_ids
    return rows, _People(customers=customers, agents=agent_ids, busy_agents=busy)


def _title(rng: random.Random, template: str) -> str:
    return template.format(
        n=rng.randint(10_000, 99_999),
        plan=rng.choice(words.PLANS),
        product=rng.choice(words.PRODUCTS),
        action=rng.choice(words.ACTIONS),
        day=rng.choice(words.WEEKDAYS),
    )


def _description(rng: random.Random) -> str:
    details = rng.sample(words.DETAILS, rng.randint(1, 3))
    text = " ".join([rng.choice(words.OPENINGS), *details, rng.choice(words.CLOSINGS)])
    return text.replace("{plan}", rng.choice(words.PLANS))


# (ticket rows, (ticket_id, tag_id) links, comment rows) of one chunk of tickets
_Chunk = tuple[list[tuple[object, ...]], list[tuple[int, int]], list[tuple[object, ...]]]


class _Generator:
    """Builds the rows of one chunk of tickets, with their tags and comments."""

    def __init__(self, plan: SeedPlan, people: _People, tag_ids: dict[str, int], ids: dict[str, int]) -> None:
        self.plan = plan
        self.rng = random.Random(plan.rng_seed + 1)
        self.people = people
        self.tag_ids = tag_ids
        self.extra_tag_ids = [tag_ids[name] for name in words.EXTRA_TAGS]
        self.next_ticket = ids["tickets"] + 1
        self.next_comment = ids["comments"] + 1
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=plan.days)
        self.step = timedelta(days=plan.days) / max(plan.tickets, 1)
        self.status_old = _weighted(words.STATUS_OLD)
        self.status_recent = _weighted(words.STATUS_RECENT)
        self.priorities = _weighted(words.PRIORITIES)

    def chunk(self, first: int, size: int) -> _Chunk:
        rng, plan, people = self.rng, self.plan, self.people
        recent_from = int(plan.tickets * 0.85)
        statuses_old = rng.choices(self.status_old[0], self.status_old[1], k=size)
        statuses_new = rng.choices(self.status_recent[0], self.status_recent[1], k=size)
        priorities = rng.choices(self.priorities[0], self.priorities[1], k=size)
        creators = rng.choices(people.customers, k=size)
        templates = rng.choices(range(len(words.TITLES)), k=size)
        comment_counts = rng.choices(range(2 * plan.comments_per_ticket + 1), k=size)
        tickets: list[tuple[object, ...]] = []
        links: list[tuple[int, int]] = []
        comments: list[tuple[object, ...]] = []
        for offset in range(size):
            position = first + offset
            ticket_id = self.next_ticket
            self.next_ticket += 1
            status = statuses_new[offset] if position >= recent_from else statuses_old[offset]
            created = self.start + self.step * (position + rng.random())
            creator = creators[offset]
            pool = people.busy_agents if status in ("open", "in_progress") else people.agents
            assigned = pool and (status != "open" or rng.random() < 0.6) and rng.random() < 0.95
            assignee = rng.choice(pool) if assigned else None
            template, topic = words.TITLES[templates[offset]]
            ticket_tags = {self.tag_ids[topic]}
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                ticket_tags.add(rng.choice(self.extra_tag_ids))
            links.extend((ticket_id, tag_id) for tag_id in sorted(ticket_tags))

            count = comment_counts[offset]
            if plan.comments_per_ticket and position % LONG_THREAD_EVERY == 0:
                count = LONG_THREAD_COMMENTS
            updated = created
            responder = (
                assignee
                if assignee is not None
                else (rng.choice(people.agents) if people.agents else creator)
            )
            for index in range(count):
                updated = min(updated + timedelta(minutes=rng.randint(5, 2_880)), self.now)
                from_agent = index % 2 == 0
                body = rng.choice(words.COMMENT_BODIES)
                internal = from_agent and body.startswith("Internal:")
                comments.append(
                    (
                        self.next_comment,
                        ticket_id,
                        responder if from_agent else creator,
                        body,
                        internal,
                        updated,
                    )
                )
                self.next_comment += 1
            tickets.append(
                (
                    ticket_id,
                    _title(rng, template),
                    _description(rng),
                    status,
                    priorities[offset],
                    creator,
                    assignee,
                    created,
                    updated,
                )
            )
        return tickets, links, comments


async def _copy_chunk(connection: asyncpg.Connection, rows: _Chunk) -> None:
    tickets, links, comments = rows
    await bulk_load.copy_rows(
        connection,
        "tickets",
        ("id", "title", "description", "status", "priority", "creator_id", "assignee_id",
         "created_at", "updated_at"),
        tickets,
    )  # fmt: skip
    await bulk_load.copy_rows(connection, "ticket_tags", ("ticket_id", "tag_id"), links)
    await bulk_load.copy_rows(
        connection,
        "comments",
        ("id", "ticket_id", "author_id", "body", "is_internal", "created_at"),
        comments,
    )


async def seed(
    url: URL, plan: SeedPlan, *, show_progress: bool = False, on_phase: Callable[[str], None] | None = None
) -> SeedReport:
    """Add `plan`'s users, tickets and comments to the database at `url`, in one transaction."""
    started = time.perf_counter()
    rng = random.Random(plan.rng_seed)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    comment_total = 0
    try:
        async with connection.transaction():
            await bulk_load.prepare_session(connection)
            await bulk_load.lock_tables(connection)
            ids = await bulk_load.max_ids(connection)
            existing = await bulk_load.count_tickets(connection)
            rebuild = plan.tickets >= REBUILD_THRESHOLD and plan.tickets >= existing
            indexes: list[tuple[str, str]] = []
            keys: list[tuple[str, str, str]] = []
            if rebuild:
                indexes = await bulk_load.secondary_indexes(
                    connection, ("tickets", "comments", "ticket_tags")
                )
                keys = await bulk_load.foreign_keys(connection, ("tickets", "comments", "ticket_tags"))
                await bulk_load.drop_foreign_keys(connection, keys)
                await bulk_load.drop_indexes(connection, [name for name, _ in indexes])

            user_rows, people = _user_rows(plan, rng, ids["users"] + 1)
            await bulk_load.copy_rows(
                connection,
                "users",
                ("id", "email", "full_name", "role", "is_active", "created_at"),
                user_rows,
            )
            tag_ids = await bulk_load.upsert_tags(
                connection, sorted({topic for _, topic in words.TITLES} | set(words.EXTRA_TAGS))
            )

            generator = _Generator(plan, people, tag_ids, ids)
            bar = ProgressBar("tickets", plan.tickets) if show_progress else None
            chunk = generator.chunk(0, min(CHUNK, plan.tickets))
            for first in range(0, plan.tickets, CHUNK):
                rows, following = chunk, first + CHUNK
                # PostgreSQL ingests this chunk while a worker thread generates the next one: the two
                # take about as long, and they run on different cores.
                async with anyio.create_task_group() as group:
                    group.start_soon(_copy_chunk, connection, rows)
                    if following < plan.tickets:
                        size = min(CHUNK, plan.tickets - following)
                        chunk = await anyio.to_thread.run_sync(generator.chunk, following, size)
                comment_total += len(rows[2])
                if bar is not None:
                    bar.advance(len(rows[0]))
            if bar is not None:
                bar.close()

            if rebuild:
                if on_phase:
                    on_phase(f"rebuilding {len(indexes)} indexes and {len(keys)} foreign keys")
                await bulk_load.create_indexes(connection, [definition for _, definition in indexes])
                await bulk_load.add_foreign_keys(connection, keys)
            await bulk_load.advance_identities(connection)
            if on_phase:
                on_phase("analyzing tables")
            await bulk_load.analyze(connection)
    finally:
        await connection.close()
    return SeedReport(
        users=plan.users,
        tickets=plan.tickets,
        comments=comment_total,
        tags=len(tag_ids),
        seconds=time.perf_counter() - started,
        rebuilt_indexes=rebuild,
    )
