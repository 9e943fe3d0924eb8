"""Render a prompt exactly as prompts/get does, without the MCP layer: its spec reads the facts on
the test's session, composition picks the pieces, the template renders within the budget."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.config import Settings
from support_db_mcp.explain import Explainer
from support_db_mcp.server.prompts import SPECS, Reading, compose


async def facts_of(
    session: AsyncSession, settings: Settings, name: str, explainer: Explainer | None = None, **arguments: str
) -> Any:
    return await SPECS[name].read(session, Reading(arguments, settings, explainer))


async def render(
    session: AsyncSession, settings: Settings, name: str, explainer: Explainer | None = None, **arguments: str
) -> str:
    return compose(name, await facts_of(session, settings, name, explainer, **arguments))
