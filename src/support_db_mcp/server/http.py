"""The streamable HTTP transport: the SDK's ASGI app behind a bearer-token check, served by uvicorn.

Security, in the order a request meets it:
1. the token (when SUPPORT_DB_HTTP_TOKEN, SUPPORT_DB_HTTP_TOKENS or SUPPORT_DB_HTTP_TOKENS_FILE is
   set): every HTTP request must carry `Authorization: Bearer <token>` with one of the tokens,
   compared in constant time; otherwise 401. A token of SUPPORT_DB_HTTP_TOKENS acts for its own user:
   several agents share one server, and each one's writes are recorded as theirs;
2. DNS-rebinding protection, done by the SDK on the MCP endpoint: the Host header must be a loopback
   name or one of SUPPORT_DB_ALLOWED_HOSTS (421 otherwise) and an Origin header, when present, a
   loopback origin or one of SUPPORT_DB_ALLOWED_ORIGINS (403 otherwise).
Binding anything but loopback needs an explicit allowed-hosts list, so the server is never reachable
under a name nobody chose.
"""

from __future__ import annotations

import hmac
import logging
import sys
from collections.abc import Mapping
from typing import Final

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from support_db_mcp.config import Settings
from support_db_mcp.errors import SupportDBError
from support_db_mcp.server.identity import SCOPE_KEY

log = logging.getLogger(__name__)

MCP_PATH: Final = "/mcp"
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")
# The same lists the SDK uses for loopback binds (lowlevel/server.py), kept when more are added.
_LOOPBACK_ALLOWED_HOSTS: Final = ("127.0.0.1:*", "localhost:*", "[::1]:*")
_LOOPBACK_ALLOWED_ORIGINS: Final = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


class HTTPConfigurationError(SupportDBError):
    """The HTTP transport was asked to start in a way that would be unsafe."""


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK_HOSTS


def transport_security(settings: Settings, host: str) -> TransportSecuritySettings:
    """Host/Origin checks for a bind address: loopback names always, configured ones on top."""
    if is_loopback(host):
        hosts = [*_LOOPBACK_ALLOWED_HOSTS, *settings.allowed_hosts]
        origins = [*_LOOPBACK_ALLOWED_ORIGINS, *settings.allowed_origins]
    elif settings.allowed_hosts:
        hosts = list(settings.allowed_hosts)
        origins = list(settings.allowed_origins)
    else:
        raise HTTPConfigurationError(
            f"refusing to listen on {host} without an allowed-hosts list: set SUPPORT_DB_ALLOWED_HOSTS "
            "(or --allowed-host) to the names clients use to reach this server, e.g. "
            "'mcp.example.com,10.0.0.5:*', so that DNS-rebinding requests are refused"
        )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class BearerTokenMiddleware:
    """Refuse every request (HTTP or WebSocket) that does not carry one of the configured bearer
    tokens; pass on the user a token acts for in the request's scope (server/identity.py)."""

    def __init__(self, app: ASGIApp, tokens: Mapping[str, str | None]) -> None:
        self.app = app
        self._tokens = [(token.encode(), user) for token, user in tokens.items()]

    def _match(self, scope: Scope) -> tuple[bool, str | None]:
        scheme, _, presented = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False, None
        given = presented.strip().encode()
        found, user = False, None
        # Constant time, and every token compared: the response time says nothing about how much of
        # a guess was right, nor about which token it came close to.
        for token, acting in self._tokens:
            if hmac.compare_digest(given, token):
                found, user = True, acting
        return found, user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        authorized, user = self._match(scope)
        if authorized:
            scope = {**scope, SCOPE_KEY: user}  # set by us on every request: never the client's
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        # the access log is off at INFO (server/http.py serve_http), so refusals are logged here
        log.warning(
            "refused %s %s from %s: no valid bearer token", scope.get("method", "-"), scope["path"], client[0]
        )
        if scope["type"] == "websocket":  # none are served; refuse before anything else looks
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse(
            {
                "error": "unauthorized",
                "message": "this server requires a bearer token: send the header "
                "'Authorization: Bearer <token>' with the value of SUPPORT_DB_HTTP_TOKEN, or with one of "
                "the tokens of SUPPORT_DB_HTTP_TOKENS",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="support-db-mcp"'},
        )
        await response(scope, receive, send)


def create_http_app(server: MCPServer, settings: Settings, *, host: str = "127.0.0.1") -> ASGIApp:
    """The ASGI app for `host`: MCP at /mcp, stateless; the token check around it when configured.

    The SDK's app runs its session manager (and with it our lifespan) from its own ASGI lifespan,
    which the wrapper passes through untouched.
    """
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        # A stateless request gets its answer as one JSON body: an SSE stream per request cost a
        # task group, memory streams and event framing for a single message.
        json_response=True,
        transport_security=transport_security(settings, host),
        host=host,
    )
    tokens = settings.bearer_tokens()
    if tokens:
        app = BearerTokenMiddleware(app, tokens)
    elif not is_loopback(host):
        log.warning(
            "listening on %s without SUPPORT_DB_HTTP_TOKEN: anyone who can reach this address can use "
            "the database through it",
            host,
        )
    return app


class _StartupErrors:
    """Keep a failed start-up (database unreachable, schema too old) as our error, not a traceback.

    Starlette reports a failed lifespan with the traceback text while the exception is being
    handled; we take the exception from there, silence the traceback, and re-raise it after uvicorn
    has stopped, so the command line prints the one-line message as it does for stdio.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.error: SupportDBError | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            error = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(error, SupportDBError):
                self.error = error
                message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        await self.app(scope, receive, send_quietly)


async def serve_http(server: MCPServer, settings: Settings, *, host: str, port: int) -> None:
    """Serve until interrupted (uvicorn turns SIGINT/SIGTERM into a graceful shutdown)."""
    app = _StartupErrors(create_http_app(server, settings, host=host))
    level = settings.log_level_for(stdio=False)
    quiet = level != "DEBUG"
    if quiet:
        # one INFO line per request ("Terminating session: None") says nothing in stateless mode
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=level.lower(),
        lifespan="on",
        access_log=not quiet,  # a line per request costs CPU on the request path; DEBUG keeps it
    )
    try:
        await uvicorn.Server(config).serve()
    except SystemExit as stop:  # uvicorn exits the process when start-up or binding fails
        if app.error is not None:
            raise app.error from None
        if stop.code:
            raise SupportDBError(
                f"the HTTP server did not start on {host}:{port}; see the log above"
            ) from None
        raise
