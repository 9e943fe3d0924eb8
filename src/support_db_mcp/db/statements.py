"""Counting the SQL statements a piece of work sends, so every tool can report it.

One listener on SQLAlchemy's Engine class records into every counting block active in the
current task (a context variable), so concurrent calls never mix their counts and an outer block
also sees what inner blocks count. Transaction control (SAVEPOINT and its release or rollback,
SET LOCAL of timeouts) is not counted: it is bookkeeping, not work the query asked for.
Each log also adds up the time its statements spent in the driver (sent, run, rows received), so
a call can tell its SQL time from its Python time (the benchmark's stage breakdown).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_TRANSACTION_CONTROL = ("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ", "SET LOCAL ")


@dataclass(frozen=True)
class CapturedStatement:
    """One statement as the driver received it: SQL with $n placeholders and the bound values."""

    sql: str
    parameters: Any


@dataclass
class StatementLog:
    statements: list[CapturedStatement] = field(default_factory=list)
    seconds: float = 0.0  # time the statements spent in the driver, round trips included

    @property
    def count(self) -> int:
        return len(self.statements)


_active: ContextVar[tuple[StatementLog, ...]] = ContextVar("support_db_mcp_statements", default=())


_STARTED = "support_db_mcp_started"


def _record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    logs = _active.get()
    if logs and not statement.startswith(_TRANSACTION_CONTROL):
        captured = CapturedStatement(statement, parameters)
        for log in logs:
            log.statements.append(captured)
        if context is not None:
            setattr(context, _STARTED, perf_counter())


def _time(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    started = getattr(context, _STARTED, None)
    if started is not None:
        elapsed = perf_counter() - started
        for log in _active.get():
            log.seconds += elapsed


def record_statement(statement: str, parameters: Any, seconds: float) -> None:
    """Count a statement sent straight to the driver, around SQLAlchemy (services/ticket_rows.py)."""
    logs = _active.get()
    if logs:
        captured = CapturedStatement(statement, parameters)
        for log in logs:
            log.statements.append(captured)
            log.seconds += seconds


def install_statement_counter() -> None:
    """Idempotent: listen once on every engine of the process."""
    if not event.contains(Engine, "before_cursor_execute", _record):
        event.listen(Engine, "before_cursor_execute", _record)
        event.listen(Engine, "after_cursor_execute", _time)


@contextmanager
def count_statements() -> Iterator[StatementLog]:
    """Collect the statements sent inside the block (enclosing blocks see them too)."""
    install_statement_counter()
    log = StatementLog()
    token = _active.set((*_active.get(), log))
    try:
        yield log
    finally:
        _active.reset(token)
