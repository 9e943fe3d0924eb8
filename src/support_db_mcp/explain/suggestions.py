"""Which index suggestions of one call are tried, and how: hypopg where installed, else a short
rolled-back build on the server's login, else shown as not verified, with the reason."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from support_db_mcp.explain.answer import Run
from support_db_mcp.explain.connection import Deadline, ExplainLimits, LoginRole
from support_db_mcp.explain.verification import unverified, verify_by_building, verify_with_hypopg

MAX_VERIFIED = 3  # suggestions tried per call; later ones are shown as not verified


async def verify_suggestions(
    connection: AsyncConnection,
    role: LoginRole,
    run: Run,
    *,
    owner: AsyncEngine | None,
    limits: ExplainLimits,
    analyze: bool,
    deadline: Deadline,
    extensions: set[str],
) -> None:
    """Try each distinct suggestion of the call once, within the time the call has left."""
    for explained in run.explained:
        for finding in explained.findings:
            candidate = finding.candidate
            if candidate is None or candidate in run.verifications:
                continue
            before = explained.plan
            if len(run.verifications) >= MAX_VERIFIED:
                verification = unverified(before, "not verified: only the first suggestions are tried")
            elif candidate.method == "gin_trgm" and "pg_trgm" not in extensions:
                verification = unverified(
                    before,
                    "not verified: a trigram index needs the pg_trgm extension (CREATE EXTENSION pg_trgm)",
                )
            elif "hypopg" in extensions:
                verification = await verify_with_hypopg(
                    connection,
                    candidate,
                    explained.bound,
                    before,
                    role=role,
                    limits=limits,
                    deadline=deadline,
                )
            elif owner is not None:
                verification = await verify_by_building(
                    owner,
                    candidate,
                    explained.bound,
                    before,
                    analyze=analyze and not explained.timed_out,
                    role=role,
                    limits=limits,
                    deadline=deadline,
                )
            else:
                verification = unverified(
                    before, "not verified: hypopg is not installed and the index could not be built to try it"
                )
            run.verifications[candidate] = verification
