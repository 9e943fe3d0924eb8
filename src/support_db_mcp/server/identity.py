"""Who a request acts for: the user its HTTP bearer token maps to, else the server's acting user.

The HTTP token check (server/http.py) puts the token's user into the ASGI scope of the request,
where no client can write; the tools read it back from the request the SDK hands them. Over stdio
(or in process) there is no request scope, and the server's SUPPORT_DB_ACTOR applies.
"""

from __future__ import annotations

from typing import Any, Final

from mcp.server.mcpserver import Context

from support_db_mcp.services.actors import Actor

SCOPE_KEY: Final = "support_db_mcp.actor"
FROM_TOKEN: Final = "the HTTP bearer token"


def actor_of(ctx: Context[Any, Any], default: Actor | None) -> Actor | None:
    scope = getattr(ctx.request_context.request, "scope", None)
    email = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    return Actor(email, FROM_TOKEN) if isinstance(email, str) else default
