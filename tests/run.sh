#!/usr/bin/env bash
# The whole test suite, as CI runs it: OS packages the tests use, then install into .venv, lint,
# check formatting, type-check, test. Extra arguments go to pytest (e.g. `bash tests/run.sh -k search -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

# OS packages (pgbouncer, PostgreSQL 15 with contrib and hypopg, ...): the list is tests/os-packages.txt.
bash tests/install_os_packages.sh

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# tests/clients/ checks the server with real clients: the MCP Inspector 0.15.0 and the TypeScript
# SDK with Ajv (npm registry, into a cache folder outside the repo) and Debian's chromium (apt).
bash tests/clients/install.sh
echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy (strict, src/)" && .venv/bin/mypy
echo "== pytest" && .venv/bin/python -m pytest "$@"
