"""prompts/get, checked by the spec before it reaches a prompt: an unknown prompt, an unknown or
non-text argument and a missing required one are JSON-RPC -32602 errors that name the problem."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from mcp import MCPError
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver.prompts import Prompt
from mcp.types import INVALID_PARAMS


def argument_problem(prompts: Mapping[str, Prompt], name: Any, arguments: Any) -> str | None:
    """Why a prompts/get request cannot be served as asked (None: it can).

    The spec's answer to an unknown prompt or a missing required argument is -32602 (invalid
    params); the SDK would answer code 0 (or -32603) and log a traceback, so every request is
    checked against the prompt's declared arguments before it reaches the prompt.
    """
    prompt = prompts.get(name) if isinstance(name, str) else None
    if prompt is None:
        return f"unknown prompt {name!r}; the prompts are: {', '.join(prompts)}"
    given = arguments if isinstance(arguments, Mapping) else {}
    declared = {argument.name: argument for argument in prompt.arguments or []}
    for key, value in given.items():
        if key not in declared:
            close = difflib.get_close_matches(str(key), declared, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"it takes: {', '.join(declared) or 'none'}"
            return f"prompt {prompt.name} has no argument {key!r}; {hint}"
        if value is not None and not isinstance(value, str):
            return f"prompt {prompt.name}: argument {key!r} must be text, got {type(value).__name__}"
    for argument in declared.values():
        value = given.get(argument.name)
        if argument.required and (not isinstance(value, str) or not value.strip()):
            about = f" ({argument.description})" if argument.description else ""
            return f"prompt {prompt.name} needs the argument {argument.name!r}{about}"
    return None


def checked_prompt_requests(prompts: Mapping[str, Prompt]) -> ServerMiddleware[Any]:
    async def check(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get":
            params = ctx.params or {}
            problem = argument_problem(prompts, params.get("name"), params.get("arguments"))
            if problem is not None:
                raise MCPError(code=INVALID_PARAMS, message=problem, data={"prompt": params.get("name")})
        return await call_next(ctx)

    return check
