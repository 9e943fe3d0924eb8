"""Counting the SQL statements a piece of work sends, so every tool can report it.

One listener on SQLAlchemy's Engine class adds to the counter of the current task (a context
variable), so concurrent calls never mix their counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class CapturedStatement:
    """One statement as the driver received it: SQL with $n placeholders and the bound values."""

    sql: str
    parameters: Any


@dataclass
class StatementLog:
    statements: list[CapturedStatement] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


_current: ContextVar[StatementLog | None] = ContextVar("support_db_mcp_statements", default=None)


def _record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    log = _current.get()
    if log is not None:
        log.statements.append(CapturedStatement(statement, parameters))


def install_statement_counter() -> None:
    """Idempotent: listen once on every engine of the process."""
    if not event.contains(Engine, "before_cursor_execute", _record):
        event.listen(Engine, "before_cursor_execute", _record)


@contextmanager
def count_statements() -> Iterator[StatementLog]:
    """Collect the statements sent inside the block (nested blocks each see their own)."""
    install_statement_counter()
    log = StatementLog()
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)
