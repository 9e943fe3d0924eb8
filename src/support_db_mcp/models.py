"""SQLAlchemy models of the support desk.

Every index here serves a query in services/: the comment beside it names the query, and the
plan tests in tests/services/test_indexes.py show the planner using it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TICKET_NUMBER_PREFIX = "TCK-"
# The number is derived from the identity column inside PostgreSQL, so two concurrent inserts can
# never produce the same number; it widens past six digits instead of wrapping.
TICKET_NUMBER_SQL = "('TCK-'::text || lpad((id)::text, GREATEST(6, length((id)::text)), '0'::text))"
SEARCH_VECTOR_SQL = (
    "(setweight(to_tsvector('english'::regconfig, COALESCE(title, ''::text)), 'A'::\"char\") || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(description, ''::text)), 'B'::\"char\"))"
)
TEXT_SEARCH_CONFIG = "english"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserRole(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def _pg_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    # values_callable stores 'in_progress', not the member name 'IN_PROGRESS', so that raw SQL
    # (status = 'open') and the ORM agree.
    return Enum(
        enum_class,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


user_role_enum = _pg_enum(UserRole, "user_role")
ticket_status_enum = _pg_enum(TicketStatus, "ticket_status")
ticket_priority_enum = _pg_enum(TicketPriority, "ticket_priority")


ticket_tags = Table(
    "ticket_tags",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # The primary key (ticket_id, tag_id) serves "tags of these tickets"; this one serves the
    # tag filter of search_tickets and the foreign key to tags.
    Index("ix_ticket_tags_tag_id_ticket_id", "tag_id", "ticket_id"),
)


# Secrets of this installation (one database), made by migration 0004: `cursor` signs pagination
# cursors, so every server process of the database accepts the cursors of the others.
installation_secrets = Table(
    "installation_secrets",
    Base.metadata,
    Column("name", String(50), primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    CheckConstraint("octet_length(secret) >= 16", name="secret_length"),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[UserRole] = mapped_column(user_role_enum, server_default=UserRole.CUSTOMER.value)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # E-mail addresses are stored lower-case so that look-ups by address use the unique index.
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(Text, Computed(TICKET_NUMBER_SQL, persisted=True), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(ticket_status_enum, server_default=TicketStatus.OPEN.value)
    priority: Mapped[TicketPriority] = mapped_column(
        ticket_priority_enum, server_default=TicketPriority.NORMAL.value
    )
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), deferred=True
    )

    creator: Mapped[User] = relationship(foreign_keys=[creator_id], lazy="raise")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="raise")
    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tags, order_by=Tag.name, lazy="raise")
    comments: Mapped[list[Comment]] = relationship(
        back_populates="ticket", order_by="(Comment.created_at, Comment.id)", lazy="raise"
    )

    __table_args__ = (
        # search_tickets with no filter, and every filter the planner prefers to apply while
        # walking the newest-first order: ORDER BY created_at DESC, id DESC LIMIT n.
        Index("ix_tickets_created_at_id", created_at.desc(), id.desc()),
        # status filter (one or several), newest first.
        Index("ix_tickets_status_created_at_id", "status", created_at.desc(), id.desc()),
        # "open tickets of one assignee, newest first": equality columns first, then the sort, so
        # an assignee with no open tickets costs one index probe, not a walk of every open ticket.
        # Also serves the foreign key to users (assignee_id leads).
        Index("ix_tickets_assignee_status_created_at", "assignee_id", "status", created_at.desc(), id.desc()),
        # "the unassigned queue, newest first" (search_tickets unassigned=true): a partial index,
        # since `assignee_id IS NULL` in the index above gives no order (PostgreSQL sorts every
        # unassigned ticket of the status first) and the queue is a small part of all tickets.
        Index(
            "ix_tickets_unassigned_created_at",
            created_at.desc(),
            id.desc(),
            postgresql_where=assignee_id.is_(None),
        ),
        # creator filter newest first; serves the foreign key to users.
        Index("ix_tickets_creator_created_at", "creator_id", created_at.desc(), id.desc()),
        # free-text search: search_vector @@ websearch_to_tsquery(...). fastupdate off: no pending
        # list that every search must scan (and that makes the planner overprice the index).
        Index(
            "ix_tickets_search_vector",
            "search_vector",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    body: Mapped[str] = mapped_column(Text)
    is_internal: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    ticket: Mapped[Ticket] = relationship(back_populates="comments", lazy="raise")
    author: Mapped[User] = relationship(lazy="raise")

    __table_args__ = (
        # get_ticket's comments oldest first, the comment_count of search_tickets, and the
        # foreign key to tickets.
        Index("ix_comments_ticket_id_created_at", "ticket_id", "created_at", "id"),
    )


class TicketEvent(Base):
    """One change made through the tools (create_ticket, update_ticket, add_comment): the history
    get_ticket shows. Values are stored as text as the tools showed them (a status name, an
    assignee's e-mail, a tag, a comment's id)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    tool: Mapped[str] = mapped_column(String(50))
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # The idempotency key of the call that made the change, so a replay can show its changes.
    request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        # get_ticket's history (the latest events of one ticket) and the foreign key to tickets.
        Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),
    )


class WriteRequest(Base):
    """The idempotency key of one write call (create_ticket, update_ticket, add_comment).

    The fingerprint is a hash of the call's arguments and acting user: a retry with the same key
    and the same arguments gets what the first call stored; the same key with other arguments is
    refused. The ticket and comment are what the call wrote, so that a replay can return them.
    """

    __tablename__ = "write_requests"

    request_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tool: Mapped[str] = mapped_column(String(50))
    # NULL for keys stored before fingerprints existed (migration 0005): those replay unchecked.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The foreign keys (a deleted ticket or comment takes its keys with it) are served by these.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
