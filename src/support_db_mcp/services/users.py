"""The users a write names (creator, author, assignee, acting user), found in one statement, and the
rules about who may do what.

Every write tool looks up all the users it needs at once: one cached statement whatever mix of ids
and e-mail addresses it was given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import BigInteger, String, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import InvalidInputError, NotFoundError
from support_db_mcp.models import User, UserRole
from support_db_mcp.schemas.tickets import UserSummary

STAFF_ROLES = frozenset({UserRole.AGENT, UserRole.ADMIN})
users_table = User.__table__
_COLUMNS = (
    users_table.c.id,
    users_table.c.email,
    users_table.c.full_name,
    users_table.c.role,
    users_table.c.is_active,
)
_USERS_BY_KEY = select(*_COLUMNS).where(
    or_(
        users_table.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))),
        users_table.c.email == any_(bindparam("emails", type_=ARRAY(String))),
    )
)


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    full_name: str
    role: UserRole
    is_active: bool

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def summary(self) -> UserSummary:
        return UserSummary(id=self.id, full_name=self.full_name, email=self.email)

    def __str__(self) -> str:
        return f"user {self.id} ({self.email})"


UserKey = int | str  # an id, or an e-mail address (lower-case)


@dataclass(frozen=True)
class People:
    """The users found for a set of keys."""

    found: tuple[Person, ...]

    def get(self, key: UserKey | None) -> Person | None:
        for person in self.found:
            if key in (person.id, person.email):
                return person
        return None


async def find_users(session: AsyncSession, keys: Iterable[UserKey | None]) -> People:
    """The users named by id or e-mail (None keys are skipped): one statement."""
    wanted = [key for key in keys if key is not None]
    if not wanted:
        return People(())
    values = {
        "ids": [key for key in wanted if isinstance(key, int)],
        "emails": [key for key in wanted if isinstance(key, str)],
    }
    rows = await session.execute(_USERS_BY_KEY, values)
    return People(tuple(Person(*row) for row in rows))


def described(key: UserKey) -> str:
    return f"email {key}" if isinstance(key, str) else f"id {key}"


def require(people: People, key: UserKey, *, role: str) -> Person:
    """The active user `key`, who is to act as `role` ("creator", "author", ...)."""
    person = people.get(key)
    if person is None:
        raise NotFoundError(f"no user with {described(key)}; the {role} must be an existing user")
    if not person.is_active:
        raise InvalidInputError(f"{person} is deactivated and cannot be the {role}")
    return person


def require_assignable(people: People, key: UserKey) -> Person:
    person = people.get(key)
    if person is None:
        raise NotFoundError(f"no user with {described(key)} to assign the ticket to")
    if not person.is_staff or not person.is_active:
        state = "a" if person.is_active else "an inactive"
        raise InvalidInputError(
            f"{person} is {state} {person.role.value}; "
            "tickets can be assigned only to active agents or admins"
        )
    return person


async def create_customer(session: AsyncSession, *, email: str, full_name: str) -> tuple[Person, bool]:
    """A new customer with this address, in the caller's transaction; never an agent or admin.

    When another transaction created the address meanwhile, that user is returned instead (the
    second value says whether this call created it): one statement, two in that race.
    """
    statement = (
        pg_insert(User)
        .values(email=email, full_name=full_name, role=UserRole.CUSTOMER)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(*_COLUMNS)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is not None:
        return Person(*row), True
    existing = (await find_users(session, [email])).get(email)
    assert existing is not None, "the conflicting user is committed, so it is visible now"
    return existing, False
