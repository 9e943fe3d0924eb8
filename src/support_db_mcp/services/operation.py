"""What an operation is: one tool the server offers, with its models, how it runs and what it may change.

The catalog of them is services/operations.py; this module is the type, its checks, and the input
contract each operation publishes (built once per operation).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from support_db_mcp.errors import InvalidInputError
from support_db_mcp.schemas.base import ToolInput, describe_validation_error
from support_db_mcp.schemas.contract import InputContract
from support_db_mcp.schemas.json_schema import input_schema
from support_db_mcp.services.actors import Actor

if TYPE_CHECKING:
    from support_db_mcp.db import Database
    from support_db_mcp.explain import Explainer


class Access(StrEnum):
    READ = "read"  # a read-only session (READ ONLY transaction, or the replica)
    WRITE = "write"  # one read-write transaction, committed when the service returns
    EXPLAIN = "explain"  # the explain engine, on its own read-only login


class Runtime(Protocol):
    """What an operation may use: the server's database and its explain engine."""

    @property
    def database(self) -> Database: ...

    @property
    def explainer(self) -> Explainer | None: ...


# (session, inputs) -> output of a read: the session is a ReadSession (db/engine.py), a pooled
# connection on the read tools' fast path or a session in a transaction (explain_query, tests).
Service = Callable[[Any, Any], Awaitable[BaseModel]]
# A write gets who it is done for (the acting user of the call, or None) as an argument.
Writer = Callable[[AsyncSession, Any, Actor | None], Awaitable[BaseModel]]
Runner = Callable[[Runtime, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    description: str  # what the tool's caller (a model) reads: limits, units, truncation
    inputs: type[ToolInput]
    output: type[BaseModel]
    access: Access
    examples: tuple[Mapping[str, Any], ...]
    service: Service | None = None  # (session, inputs) -> output, for READ
    writer: Writer | None = None  # (session, inputs, actor) -> output, for WRITE, in one transaction
    runner: Runner | None = field(default=None, repr=False)  # (runtime, inputs) -> output, otherwise
    destructive: bool = False
    idempotent: bool = True
    # input name -> its closed set of values, known only once the catalog exists (published as `enum`)
    choices: Callable[[], Mapping[str, list[str]]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        ways = {Access.READ: self.service, Access.WRITE: self.writer, Access.EXPLAIN: self.runner}
        if ways[self.access] is None or sum(way is not None for way in ways.values()) != 1:
            raise TypeError(f"{self.name}: a {self.access.value} operation has exactly its own way to run")

    @property
    def read_only(self) -> bool:
        return self.access is not Access.WRITE

    @property
    def explainable(self) -> bool:
        """Whether explain_query can explain the SQL it sends (it only reads, on one session)."""
        return self.access is Access.READ and self.service is not None

    @property
    def input_schema(self) -> dict[str, Any]:
        """What clients are shown as this tool's input schema (a copy: the contract keeps its own)."""
        return copy.deepcopy(input_contract(self).schema)

    def parse(self, arguments: Mapping[str, Any] | None) -> Any:
        """The arguments as the service takes them; a caller's mistake is one plain-sentence error.

        The model's messages come first (they know the field); then the published schema, which
        the server enforces as it is (see schemas/contract.py).
        """
        arguments = dict(arguments or {})
        try:
            inputs = self.inputs.model_validate(arguments)
        except ValidationError as error:
            raise InvalidInputError(describe_validation_error(error, self.inputs)) from None
        problems = input_contract(self).problems(arguments)
        if problems:
            raise InvalidInputError("; ".join(problems))
        return inputs

    async def run(self, runtime: Runtime, inputs: Any, *, actor: Actor | None = None) -> BaseModel:
        """Run with parsed `inputs`; a write is done for `actor` (see services/actors.py)."""
        if self.runner is not None:
            return await self.runner(runtime, inputs)
        if self.writer is not None:
            async with runtime.database.write() as session:
                return await self.writer(session, inputs, actor)
        assert self.service is not None
        service = self.service
        return await runtime.database.run_read(lambda session: service(session, inputs))


def input_contract(operation: Operation) -> InputContract:
    """The operation's published input schema (shaped from its model, with its choices as `enum`)
    and the check the server makes against it; built once per operation."""
    return _contract(operation.name, operation.inputs, operation.choices)


@functools.cache
def _contract(
    name: str, inputs: type[ToolInput], choices: Callable[[], Mapping[str, list[str]]] | None
) -> InputContract:
    schema = input_schema(inputs)
    for argument, values in (choices() if choices else {}).items():
        schema["properties"][argument]["enum"] = values
    return InputContract(schema)
