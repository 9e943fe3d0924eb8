"""Who a write is done for: the acting identity, passed to every write service as an argument.

Over stdio it is SUPPORT_DB_ACTOR; over HTTP the user the request's bearer token maps to
(SUPPORT_DB_HTTP_TOKENS), else SUPPORT_DB_ACTOR. The MCP layer works it out per request and hands
it to the service, so the services never look at transports or at anything global. With no actor,
writes name their users explicitly (creator, author, actor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import ConfigurationError, InvalidInputError
from support_db_mcp.schemas.keys import ME
from support_db_mcp.services.users import People, Person, UserKey, find_users


@dataclass(frozen=True)
class Actor:
    email: str  # lower-case, as users.email is stored
    source: str  # where it was configured, for messages: "SUPPORT_DB_ACTOR", "the HTTP token"

    def __str__(self) -> str:
        return f"{self.email} ({self.source})"


def email_of(actor: Actor | None) -> str | None:
    return actor.email if actor is not None else None


def acting_person(people: People, actor: Actor | None) -> Person | None:
    """The acting user as found among `people` (looked up with the call's other users)."""
    if actor is None:
        return None
    person = people.get(actor.email)
    if person is None or not person.is_active:
        raise InvalidInputError(
            f"the acting user {actor} is not an active user of this database; fix the configuration"
        )
    return person


def resolve_me(key: UserKey | None, actor: Actor | None, *, field: str) -> UserKey | None:
    """`me` means the acting user; without one it is an error that says how to set one."""
    if key != ME:
        return key
    if actor is None:
        raise InvalidInputError(
            f"{field} 'me' needs an acting user, and this server has none: give a user id, or start the "
            "server with SUPPORT_DB_ACTOR (over HTTP, a token of SUPPORT_DB_HTTP_TOKENS)"
        )
    return actor.email


def on_behalf_allowed(acting: Person | None, person: Person, *, role: str) -> None:
    """Writing in another user's name (a ticket or comment for a customer) is for agents and admins."""
    if acting is not None and acting.id != person.id and not acting.is_staff:
        raise InvalidInputError(
            f"{acting} is a {acting.role.value} and may act only in their own name; leave out {role}, "
            f"or act as an agent or admin to write for {person.email}"
        )


async def check_acting_users(session: AsyncSession, configured: Mapping[str, str]) -> None:
    """At start: every e-mail the configuration acts for (with where it is set) is an active user."""
    people = await find_users(session, list(configured))
    missing = [
        f"{email} ({source})"
        for email, source in configured.items()
        if (person := people.get(email)) is None or not person.is_active
    ]
    if missing:
        raise ConfigurationError(
            f"the server is configured to act for {', '.join(missing)}, but no active user has that "
            "e-mail address; create the user, or fix the configuration"
        )
