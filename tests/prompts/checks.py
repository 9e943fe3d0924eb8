"""Static checks for the known traps of SQLAlchemy guides, run over every example in prompts/.

Each function takes source text and returns the problems it found (empty when clean). The tests
run them over our examples, and over small snippets with each trap, to prove they bite.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

from support_db_mcp import models

PIP_INSTALL = re.compile(r"pip install[^\n`]*")
SQLALCHEMY_REQUIREMENT = re.compile(r"""(?<![\w\[-])["']?sqlalchemy(?P<extras>\[[^\]]*\])?""", re.IGNORECASE)


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Calls of `name` or `something.name`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                found.append(node)
    return found


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None}


# ---------------------------------------------------------------- sqlalchemy[asyncio]
def sqlalchemy_without_asyncio_extra(text: str) -> list[str]:
    """`pip install` lines (and requirement strings) that install SQLAlchemy without [asyncio]."""
    problems = []
    for line in PIP_INSTALL.findall(text):
        for match in SQLALCHEMY_REQUIREMENT.finditer(line):
            if "asyncio" not in (match["extras"] or ""):
                problems.append(f"installs SQLAlchemy without the asyncio extra: {line.strip()}")
    return problems


# ---------------------------------------------------------------- Enum values_callable
def enums_storing_names(source: str) -> list[str]:
    """sqlalchemy Enum(PyEnum) columns without values_callable store member names, not values."""
    tree = ast.parse(source)
    problems = []
    for call in _calls(tree, "Enum"):
        takes_a_class = bool(call.args) and isinstance(call.args[0], ast.Name | ast.Attribute)
        if takes_a_class and "values_callable" not in _keywords(call):
            problems.append(f"line {call.lineno}: Enum({ast.unparse(call.args[0])}) without values_callable")
    return problems


# ---------------------------------------------------------------- autocommit
def autocommit_arguments(source: str) -> list[str]:
    tree = ast.parse(source)
    return [
        f"line {call.lineno}: {ast.unparse(call.func)}(autocommit=...) is 1.x API"
        for name in ("async_sessionmaker", "sessionmaker", "AsyncSession", "Session")
        for call in _calls(tree, name)
        if "autocommit" in _keywords(call)
    ]


# ---------------------------------------------------------------- joinedload of a collection
def _collections() -> set[tuple[str, str]]:
    return {
        (mapper.class_.__name__, relationship.key)
        for mapper in models.Base.registry.mappers
        for relationship in mapper.relationships
        if relationship.uselist
    }


def joined_collections_without_unique(source: str) -> list[str]:
    """joinedload(Model.collection) needs .unique() on the result; selectinload is the usual choice."""
    tree = ast.parse(source)
    collections = _collections()
    problems = []
    for call in _calls(tree, "joinedload"):
        for argument in call.args:
            if (
                isinstance(argument, ast.Attribute)
                and isinstance(argument.value, ast.Name)
                and (argument.value.id, argument.attr) in collections
                and ".unique()" not in source
            ):
                problems.append(f"line {call.lineno}: joinedload({ast.unparse(argument)}) without .unique()")
    return problems


# ---------------------------------------------------------------- the URL from the environment
def _reads_environment(node: ast.expr) -> bool:
    text = ast.unparse(node)
    return text.startswith(("os.environ[", "os.environ.get(", "os.getenv("))


def engine_urls_not_normalised(source: str) -> list[str]:
    """create_async_engine(os.environ[...]) takes the URL as written: postgresql:// then means
    psycopg (not installed with asyncpg) and postgres:// is no scheme at all."""
    tree = ast.parse(source)
    return [
        f"line {call.lineno}: {ast.unparse(call.func)}({ast.unparse(call.args[0])}) without naming the driver"
        for call in _calls(tree, "create_async_engine")
        if call.args and _reads_environment(call.args[0])
    ]


# ---------------------------------------------------------------- pytest-asyncio 1.x
def _fixture_decorator(function: ast.AsyncFunctionDef | ast.FunctionDef) -> ast.expr | None:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target).endswith("fixture"):
            return decorator
    return None


def async_fixture_problems(source: str) -> list[str]:
    """Async fixtures: @pytest_asyncio.fixture, and a loop scope as wide as the fixture's scope."""
    tree = ast.parse(source)
    problems = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.AsyncFunctionDef):
            continue
        decorator = _fixture_decorator(function)
        if decorator is None:
            continue
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) != "pytest_asyncio.fixture":
            problems.append(f"line {function.lineno}: {function.name} needs @pytest_asyncio.fixture")
            continue
        keywords = _keywords(decorator) if isinstance(decorator, ast.Call) else {}
        scope = keywords.get("scope")
        loop_scope = keywords.get("loop_scope")
        wide = scope is not None and ast.literal_eval(scope) != "function"
        if wide and (loop_scope is None or ast.literal_eval(loop_scope) != ast.literal_eval(scope)):
            problems.append(
                f"line {function.lineno}: {function.name}: scope={ast.unparse(scope)}, no such loop_scope"
            )
    return problems


def sessions_not_joined(source: str) -> list[str]:
    """In test set-ups, sessions must join the outer transaction with create_savepoint."""
    tree = ast.parse(source)
    problems = []
    for name in ("AsyncSession", "async_sessionmaker"):
        for call in _calls(tree, name):
            mode = _keywords(call).get("join_transaction_mode")
            if mode is None or ast.literal_eval(mode) != "create_savepoint":
                problems.append(f"line {call.lineno}: {name}(...) not joined with create_savepoint")
    return problems


# ---------------------------------------------------------------- names and decorators that exist
def _import_namespace(tree: ast.Module) -> dict[str, Any]:
    """Execute only the example's import statements: what its names really refer to."""
    namespace: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        try:
            exec(compile(ast.Module(body=[node], type_ignores=[]), "<imports>", "exec"), namespace)
        except ModuleNotFoundError:
            continue  # a module of the example itself (its app.py): running the example checks it
    return namespace


def _resolve(expression: ast.expr, namespace: dict[str, Any]) -> tuple[bool, Any]:
    if isinstance(expression, ast.Name):
        return (expression.id in namespace, namespace.get(expression.id))
    if isinstance(expression, ast.Attribute):
        known, value = _resolve(expression.value, namespace)
        if not known:
            return (False, None)
        if isinstance(value, types.ModuleType) or inspect.isclass(value):
            if not hasattr(value, expression.attr):
                raise AttributeError(f"{ast.unparse(expression.value)} has no attribute {expression.attr!r}")
            return (True, getattr(value, expression.attr))
    return (False, None)


def decorators_that_do_not_exist(source: str) -> list[str]:
    """Every imported decorator exists and accepts the keywords it is given (@cache(ttl=...) does not)."""
    tree = ast.parse(source)
    namespace = _import_namespace(tree)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            try:
                known, value = _resolve(target, namespace)
            except AttributeError as error:
                problems.append(f"line {decorator.lineno}: @{ast.unparse(target)}: {error}")
                continue
            if not known or not isinstance(decorator, ast.Call):
                continue
            try:
                signature = inspect.signature(value)
            except (TypeError, ValueError):
                continue
            try:
                signature.bind_partial(*[None] * len(decorator.args), **dict.fromkeys(_keywords(decorator)))
            except TypeError as error:
                problems.append(f"line {decorator.lineno}: @{ast.unparse(decorator)}: {error}")
    return problems


def models_that_do_not_exist(source: str) -> list[str]:
    """relationship("Name") strings name a class of the example or of support_db_mcp.models."""
    tree = ast.parse(source)
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    ours = {mapper.class_.__name__ for mapper in models.Base.registry.mappers}
    problems = []
    for call in _calls(tree, "relationship"):
        for argument in call.args[:1]:
            target = argument.value if isinstance(argument, ast.Constant) else None
            if isinstance(target, str) and target not in defined | ours:
                problems.append(f"line {call.lineno}: relationship({target!r}) names no model")
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == models.__name__:
            problems += [f"models has no {a.name}" for a in node.names if not hasattr(models, a.name)]
    return problems


def pyflakes(folder: Path) -> list[str]:
    """ruff's pyflakes rules (undefined and unused names, redefinitions) over the example's files."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F",
         "--output-format", "concise", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [line for line in result.stdout.splitlines() if ": F" in line]


ALL_SOURCE_CHECKS = (
    engine_urls_not_normalised,
    enums_storing_names,
    autocommit_arguments,
    joined_collections_without_unique,
    async_fixture_problems,
    decorators_that_do_not_exist,
    models_that_do_not_exist,
)
